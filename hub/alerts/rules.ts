// Which alerts hold, from one quorum snapshot: a pure function of the snapshot, the config and
// the time, so tests feed it hand-built snapshots. Level-based, as Prometheus' rules are: the
// result is the full set of conditions that hold now; notifier.ts turns changes into messages.
import type { HubCheck, HubConfig } from '../config.ts'
import type { CheckView, QuorumSnapshot } from '../quorum/types.ts'
import type { CertInfo, ProbeResult } from '../../proto/result.ts'
import { certSeverity, certThresholds, formatLeft, type CertSeverity } from './certs.ts'
import { CRITICAL, WARNING, type AlertCondition, type AlertName } from './model.ts'

export interface RulesContext {
  config: HubConfig
  /** Unix ms. */
  now: number
  /** The maintenance window a check is in now, if any; without it, the snapshot's `in_maintenance` decides. */
  maintenance?: (check: string, now: number) => { reason: string } | null
  /** Where runbooks live: `<base>/<AlertName>.md` is every alert's default `runbook_url`. */
  runbook_base: string
}

export interface Evaluation {
  /** Conditions that hold and may be sent. */
  conditions: AlertCondition[]
  /** Conditions that hold but are not sent: the check is inside a maintenance window. */
  suppressed: { condition: AlertCondition; reason: string }[]
}

export function evaluateRules(snapshot: QuorumSnapshot, ctx: RulesContext): Evaluation {
  const out: Evaluation = { conditions: [], suppressed: [] }
  for (const view of snapshot.checks) {
    const check = ctx.config.checks.get(view.name)
    const found = checkConditions(view, check, ctx)
    if (found.length === 0) continue
    // The windows themselves when given (exact at this instant), else the engine's flag.
    const window = ctx.maintenance ? ctx.maintenance(view.name, ctx.now) : view.in_maintenance ? { reason: maintenanceReason(check, ctx.now) } : null
    if (window) for (const condition of found) out.suppressed.push({ condition, reason: window.reason })
    else out.conditions.push(...found)
  }
  for (const stale of snapshot.stale_agents) {
    const never = !stale.last_seen
    out.conditions.push({
      name: 'VantageStale',
      labels: { alertname: 'VantageStale', vantage: stale.vantage, agent: stale.agent, severity: WARNING },
      annotations: {
        summary: never
          ? `Agent ${stale.agent} of vantage ${stale.vantage} has never reported`
          : `Agent ${stale.agent} of vantage ${stale.vantage} has not reported for ${formatLeft(ctx.now - stale.last_seen)}`,
        description: `${never ? 'The hub has accepted no batch from it.' : `The hub last accepted a batch from it at ${iso(stale.last_seen)}.`} Without another agent reporting, its vantage casts no vote.`,
        last_seen: never ? 'never' : iso(stale.last_seen),
        runbook_url: runbook(ctx, 'VantageStale'),
      },
      review_path: `/review?vantage=${encodeURIComponent(stale.vantage)}`,
      for_ms: 0,
    })
  }
  return out
}

function checkConditions(view: CheckView, check: HubCheck | undefined, ctx: RulesContext): AlertCondition[] {
  const found: AlertCondition[] = []
  const base = { check: view.name, type: view.type, target: view.target }
  const review_path = `/review?check=${encodeURIComponent(view.name)}`
  const runbookFor = (name: AlertName) => view.runbook_url ?? check?.runbook_url ?? runbook(ctx, name)
  const of = `${view.name} (${view.type} ${view.target})`

  if (view.state === 'outage') {
    const down = view.vantages.filter((v) => v.vote === 'down')
    const names = down.map((v) => v.vantage)
    found.push({
      name: 'QuorumOutage',
      labels: { alertname: 'QuorumOutage', ...base, severity: view.severity || check?.severity || CRITICAL },
      annotations: {
        summary: `${of} is down from ${view.down} of ${view.eligible} voting vantages: ${names.join(', ')}`,
        description: down.map((v) => `${v.vantage}: ${resultError(v.latest)}`).join('\n'),
        failing_vantages: names.join(','),
        runbook_url: runbookFor('QuorumOutage'),
      },
      review_path,
      active_since: view.since,
      for_ms: 0, // the engine already held the quorum for `for`
    })
  }

  if (view.state === 'unknown') {
    const votes = view.vantages.map((v) => `${v.vantage}: ${v.vote}`).join(', ')
    found.push({
      name: 'QuorumUnknown',
      labels: { alertname: 'QuorumUnknown', ...base, severity: WARNING },
      annotations: {
        summary: `${of} cannot be decided: ${view.eligible} voting vantage${view.eligible === 1 ? '' : 's'}, ${view.min_down} needed`,
        description: votes ? `Votes: ${votes}.` : 'No vantage has reported this check.',
        runbook_url: runbookFor('QuorumUnknown'),
      },
      review_path,
      active_since: view.since,
      // Hold it as long as an outage would have to hold: a hub restart or one late round never pages.
      // A check no vantage has reported yet (a fresh hub, a new check) also waits stale_after, the
      // time its agents have to report at all.
      for_ms: (check?.quorum.for_ms ?? 0) + (view.vantages.every((v) => v.latest === null) ? (check?.stale_after_ms ?? 0) : 0),
    })
  }

  if (view.all_challenged) {
    const seen = view.vantages.filter((v) => v.vote === 'challenged')
    const signatures = [...new Set(seen.map((v) => v.latest?.error_code).filter((c): c is string => !!c))]
    found.push({
      name: 'QuorumChallenged',
      labels: { alertname: 'QuorumChallenged', ...base, severity: WARNING },
      annotations: {
        summary: `${of}: every vantage is answered with a bot/WAF challenge${signatures.length ? ` (${signatures.join(', ')})` : ''}; the monitors are blocked, not necessarily the site`,
        description: seen.map((v) => `${v.vantage}: ${v.latest?.error_code ?? 'challenged'}`).join('\n'),
        challenged_vantages: seen.map((v) => v.vantage).join(','),
        runbook_url: runbookFor('QuorumChallenged'),
      },
      review_path,
      for_ms: check?.quorum.for_ms ?? 0,
    })
  }

  const cert = earliestCertificate(view, ctx.now)
  if (cert) {
    const left = cert.expires_at - ctx.now
    const t = certThresholds(cert.lifetime_ms)
    found.push({
      name: 'CertificateExpiringSoon',
      labels: { alertname: 'CertificateExpiringSoon', ...base, severity: cert.severity },
      annotations: {
        summary:
          left <= 0
            ? `The certificate of ${of} has expired (${formatLeft(left)}, at ${iso(cert.expires_at)})`
            : `The certificate of ${of} expires in ${formatLeft(left)} (${iso(cert.expires_at)})`,
        description:
          `Seen from ${cert.vantage}${cert.cert ? `: ${cert.cert.subject}, issued by ${cert.cert.issuer}` : ''}. ` +
          (t.short_lived
            ? `Short-lived certificate (lifetime ${formatLeft(cert.lifetime_ms!)}): warning under a third of it, critical under a ninth.`
            : 'Warning under 21 days, critical under 7.'),
        expires_at: iso(cert.expires_at),
        vantage: cert.vantage,
        runbook_url: runbookFor('CertificateExpiringSoon'),
      },
      review_path,
      for_ms: 0,
    })
  }
  return found
}

interface CertFinding {
  vantage: string
  expires_at: number
  lifetime_ms: number | null
  cert: CertInfo | null
  severity: CertSeverity
}

/**
 * The certificate that deserves the alert: over the latest result of every vantage that still
 * reports (stale results may show a certificate renewed since), the most severe finding, the
 * earliest expiry among equals.
 */
function earliestCertificate(view: CheckView, now: number): CertFinding | null {
  let best: CertFinding | null = null
  for (const v of view.vantages) {
    const tls = v.latest?.tls
    if (v.vote === 'stale' || !tls || tls.earliest_cert_expiry === null || tls.earliest_cert_expiry === undefined) continue
    const expiresAt = tls.earliest_cert_expiry * 1000
    // The certificate that expires first: usually the leaf; an intermediate when it expires sooner.
    const cert = tls.chain?.find((c) => c.not_after === tls.earliest_cert_expiry) ?? tls.leaf ?? null
    const lifetime = cert && cert.not_before && cert.not_after > cert.not_before ? (cert.not_after - cert.not_before) * 1000 : null
    const severity = certSeverity(expiresAt, lifetime, now)
    if (!severity) continue
    const finding: CertFinding = { vantage: v.vantage, expires_at: expiresAt, lifetime_ms: lifetime, cert, severity }
    if (!best || rank(severity) > rank(best.severity) || (rank(severity) === rank(best.severity) && expiresAt < best.expires_at)) best = finding
  }
  return best
}

const rank = (s: CertSeverity) => (s === 'critical' ? 2 : 1)

function maintenanceReason(check: HubCheck | undefined, now: number): string {
  const w = check?.maintenance?.find((m) => m.start <= now && now < m.end)
  return w?.reason || 'maintenance window'
}

function resultError(r: ProbeResult | null): string {
  if (!r) return 'no result'
  if (r.error) return r.error_code ? `${r.error} (${r.error_code})` : r.error
  if (r.error_code) return r.error_code
  if (r.http?.status_code) return `HTTP ${r.http.status_code}`
  return 'failed'
}

function runbook(ctx: RulesContext, name: AlertName): string {
  return `${ctx.runbook_base.replace(/\/+$/, '')}/${name}.md`
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}
