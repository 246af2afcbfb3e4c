// What fires, from hand-built quorum snapshots: every alert with its labels and annotations,
// severities, the certificate thresholds (short-lived included), `for` holds, maintenance.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { certSeverity, certThresholds, DAY_MS } from '../../hub/alerts/certs.ts'
import { MaintenanceBook } from '../../hub/alerts/maintenance.ts'
import { startAlerting, type Alerting } from '../../hub/alerts/notifier.ts'
import { evaluateRules, type RulesContext } from '../../hub/alerts/rules.ts'
import { ConfigError, type HubConfig } from '../../hub/config.ts'
import type { CheckView } from '../../hub/quorum/types.ts'
import { FakeTime } from '../agent/fake-time.ts'
import { metricValue } from '../hub/helpers.ts'
import {
  API,
  DAY,
  hubConfig,
  MX,
  outageView,
  registry,
  SHOP,
  silent,
  snapshot,
  snapshotSource,
  T0,
  tls,
  vantage,
  view,
} from './fixtures.ts'

const ctx = (config: HubConfig, now = T0, extra: Partial<RulesContext> = {}): RulesContext => ({
  config,
  now,
  runbook_base: 'http://hub.test:8080/runbooks',
  ...extra,
})

describe('alert rules', () => {
  const config = hubConfig(SHOP + API + MX)

  it('QuorumOutage: labels, severity from the check, failing vantages, errors, runbook', () => {
    const { conditions, suppressed } = evaluateRules(snapshot([outageView(T0 - 60_000), view('api')]), ctx(config))
    expect(suppressed).toEqual([])
    expect(conditions).toHaveLength(1)
    const [c] = conditions
    expect(c.labels).toEqual({ alertname: 'QuorumOutage', check: 'shop', type: 'http', target: 'https://shop.example/', severity: 'page' })
    expect(c.annotations).toEqual({
      summary: 'shop (http https://shop.example/) is down from 2 of 3 voting vantages: eu, us',
      description: 'eu: connect ECONNREFUSED 192.0.2.1:443 (ECONNREFUSED)\nus: HTTP 503 (STATUS_MISMATCH)',
      failing_vantages: 'eu,us',
      runbook_url: 'https://wiki.example/shop',
    })
    expect(c.active_since).toBe(T0 - 60_000)
    expect(c.for_ms).toBe(0)
    expect(c.review_path).toBe('/review?check=shop')
  })

  it('severity defaults to critical, runbook to <base>/<Alert>.md', () => {
    const api = view('api', { state: 'outage', severity: '', vantages: [vantage('eu', 'down', {}, 'api'), vantage('us', 'down', {}, 'api')] })
    const [c] = evaluateRules(snapshot([api]), ctx(config)).conditions
    expect(c.labels.severity).toBe('critical')
    expect(c.annotations.runbook_url).toBe('http://hub.test:8080/runbooks/QuorumOutage.md')
    expect(c.annotations.description).toBe('eu: failed\nus: failed')
  })

  it('pending and ok raise nothing', () => {
    const pending = outageView(T0, { state: 'pending' })
    expect(evaluateRules(snapshot([pending, view('api')]), ctx(config)).conditions).toEqual([])
  })

  it('QuorumUnknown: label check, held for the check’s quorum.for', () => {
    const unknown = view('shop', { state: 'unknown', eligible: 1, vantages: [vantage('eu', 'up'), vantage('us', 'stale'), vantage('edge', 'muted')] })
    const [c] = evaluateRules(snapshot([unknown]), ctx(config)).conditions
    expect(c.name).toBe('QuorumUnknown')
    expect(c.labels).toEqual({ alertname: 'QuorumUnknown', check: 'shop', type: 'http', target: 'https://shop.example/', severity: 'warning' })
    expect(c.annotations.summary).toBe('shop (http https://shop.example/) cannot be decided: 1 voting vantage, 2 needed')
    expect(c.annotations.description).toBe('Votes: eu: up, us: stale, edge: muted.')
    expect(c.annotations.runbook_url).toBe('https://wiki.example/shop')
    expect(c.for_ms).toBe(120_000)
    expect(c.active_since).toBe(T0)
  })

  it('QuorumUnknown for a check no vantage has reported yet also waits stale_after (a fresh hub never pages)', () => {
    const fresh = view('shop', { state: 'unknown', eligible: 0, vantages: [{ ...vantage('eu', 'stale'), latest: null }, { ...vantage('us', 'stale'), latest: null }] })
    const [c] = evaluateRules(snapshot([fresh]), ctx(config)).conditions
    expect(c.name).toBe('QuorumUnknown')
    expect(c.for_ms).toBe(120_000 + config.checks.get('shop')!.stale_after_ms)
  })

  it('QuorumChallenged when every vantage with a result is challenged', () => {
    const challenged = view('api', {
      all_challenged: true,
      eligible: 0,
      state: 'unknown',
      vantages: [vantage('eu', 'challenged', { error_code: 'CHALLENGE_CLOUDFLARE' }, 'api'), vantage('us', 'challenged', { error_code: 'CHALLENGE_CLOUDFLARE' }, 'api')],
    })
    const found = evaluateRules(snapshot([challenged]), ctx(config)).conditions
    expect(found.map((c) => c.name)).toEqual(['QuorumUnknown', 'QuorumChallenged'])
    const c = found[1]
    expect(c.labels).toEqual({ alertname: 'QuorumChallenged', check: 'api', type: 'http', target: 'https://api.example/', severity: 'warning' })
    expect(c.annotations.summary).toContain('every vantage is answered with a bot/WAF challenge (CHALLENGE_CLOUDFLARE)')
    expect(c.annotations.challenged_vantages).toBe('eu,us')
    expect(c.annotations.runbook_url).toBe('http://hub.test:8080/runbooks/QuorumChallenged.md')
    expect(c.for_ms).toBe(60_000) // api: interval 30s, for defaults to 2 × interval
  })

  it('VantageStale per stale agent (never seen ones too), never suppressed by a check’s maintenance', () => {
    const { conditions } = evaluateRules(
      snapshot([], [
        { vantage: 'eu', agent: 'eu-1', last_seen: T0 - 5 * 60_000 },
        { vantage: 'us', agent: 'us-2', last_seen: 0 },
      ]),
      ctx(config, T0, { maintenance: () => ({ reason: 'everything' }) }),
    )
    expect(conditions.map((c) => c.labels)).toEqual([
      { alertname: 'VantageStale', vantage: 'eu', agent: 'eu-1', severity: 'warning' },
      { alertname: 'VantageStale', vantage: 'us', agent: 'us-2', severity: 'warning' },
    ])
    expect(conditions[0].annotations).toMatchObject({
      summary: 'Agent eu-1 of vantage eu has not reported for 5m',
      last_seen: '2026-11-22T09:55:00.000Z',
      runbook_url: 'http://hub.test:8080/runbooks/VantageStale.md',
    })
    expect(conditions[1].annotations.summary).toBe('Agent us-2 of vantage us has never reported')
    expect(conditions[0].review_path).toBe('/review?vantage=eu')
  })
})

describe('CertificateExpiringSoon', () => {
  const config = hubConfig(SHOP + API + MX)
  /** A check whose vantages saw certificates issued `lifetime` before expiring `left` from T0. */
  const certView = (certs: { v: string; left: number; lifetime: number; vote?: 'up' | 'stale' | 'down' }[], name = 'shop') =>
    view(name, { vantages: certs.map((c) => vantage(c.v, c.vote ?? 'up', { tls: tls(T0 + c.left - c.lifetime, T0 + c.left, c.v) }, name)) })
  const certAlert = (v: CheckView) => evaluateRules(snapshot([v]), ctx(config)).conditions.find((c) => c.name === 'CertificateExpiringSoon')

  it('the fixed thresholds for certificates of 63 days or more: warning under 21 days, critical under 7', () => {
    expect(certAlert(certView([{ v: 'eu', left: 30 * DAY, lifetime: 90 * DAY }]))).toBeUndefined()
    expect(certAlert(certView([{ v: 'eu', left: 21 * DAY, lifetime: 90 * DAY }]))).toBeUndefined()
    const warn = certAlert(certView([{ v: 'eu', left: 20 * DAY, lifetime: 90 * DAY }]))!
    expect(warn.labels).toEqual({ alertname: 'CertificateExpiringSoon', check: 'shop', type: 'http', target: 'https://shop.example/', severity: 'warning' })
    expect(warn.annotations).toMatchObject({
      summary: 'The certificate of shop (http https://shop.example/) expires in 20d 0h (2026-12-12T10:00:00.000Z)',
      expires_at: '2026-12-12T10:00:00.000Z',
      vantage: 'eu',
      runbook_url: 'https://wiki.example/shop',
    })
    expect(warn.annotations.description).toBe('Seen from eu: CN=shop.example, issued by CN=Test CA. Warning under 21 days, critical under 7.')
    expect(certAlert(certView([{ v: 'eu', left: 7 * DAY, lifetime: 398 * DAY }]))!.labels.severity).toBe('warning')
    expect(certAlert(certView([{ v: 'eu', left: 6 * DAY, lifetime: 398 * DAY }]))!.labels.severity).toBe('critical')
    // Exactly 63 days is not short-lived.
    expect(certAlert(certView([{ v: 'eu', left: 20 * DAY, lifetime: 63 * DAY }]))!.labels.severity).toBe('warning')
  })

  it('an expired certificate is critical', () => {
    const c = certAlert(certView([{ v: 'eu', left: -DAY - 3_600_000, lifetime: 90 * DAY }]))!
    expect(c.labels.severity).toBe('critical')
    expect(c.annotations.summary).toBe('The certificate of shop (http https://shop.example/) has expired (expired 1d 1h ago, at 2026-11-21T09:00:00.000Z)')
  })

  it('short-lived certificates: warning under a third of the lifetime, critical under a ninth', () => {
    // A 6-day certificate: warning under 2 days, critical under 16 hours.
    expect(certAlert(certView([{ v: 'eu', left: 2.1 * DAY, lifetime: 6 * DAY }]))).toBeUndefined()
    const warn = certAlert(certView([{ v: 'eu', left: 1.9 * DAY, lifetime: 6 * DAY }]))!
    expect(warn.labels.severity).toBe('warning')
    expect(warn.annotations.description).toContain('Short-lived certificate (lifetime 6d 0h): warning under a third of it, critical under a ninth.')
    expect(certAlert(certView([{ v: 'eu', left: 17 * 3_600_000, lifetime: 6 * DAY }]))!.labels.severity).toBe('warning')
    expect(certAlert(certView([{ v: 'eu', left: 15 * 3_600_000, lifetime: 6 * DAY }]))!.labels.severity).toBe('critical')
    // A 45-day certificate: 15 and 5 days, not 21 and 7.
    expect(certAlert(certView([{ v: 'eu', left: 20 * DAY, lifetime: 45 * DAY }]))).toBeUndefined()
    expect(certAlert(certView([{ v: 'eu', left: 14 * DAY, lifetime: 45 * DAY }]))!.labels.severity).toBe('warning')
    expect(certAlert(certView([{ v: 'eu', left: 6 * DAY, lifetime: 45 * DAY }]))!.labels.severity).toBe('warning')
    expect(certAlert(certView([{ v: 'eu', left: 4 * DAY, lifetime: 45 * DAY }]))!.labels.severity).toBe('critical')
  })

  it('one alert per check: the most severe finding, the earliest expiry across vantages', () => {
    const c = certAlert(
      certView([
        { v: 'eu', left: 30 * DAY, lifetime: 90 * DAY },
        { v: 'us', left: 10 * DAY, lifetime: 90 * DAY },
        { v: 'edge', left: 15 * DAY, lifetime: 90 * DAY },
      ]),
    )!
    expect(c.labels.severity).toBe('warning')
    expect(c.annotations.vantage).toBe('us')
    expect(c.annotations.expires_at).toBe(new Date(T0 + 10 * DAY).toISOString())
    // A short-lived certificate seen by one vantage can be more severe than an earlier long-lived one.
    const mixed = certAlert(
      certView([
        { v: 'eu', left: 10 * DAY, lifetime: 90 * DAY }, // warning
        { v: 'us', left: 12 * 3_600_000 + 10 * DAY, lifetime: 0 }, // unknown lifetime: warning
        { v: 'edge', left: 11 * DAY, lifetime: 30 * DAY }, // 30-day cert: critical under 3.3 days, warning under 10: none
      ]),
    )!
    expect(mixed.annotations.vantage).toBe('eu')
    // eu expires first but is only a warning (a 30-day certificate: critical under 3.3 days).
    const critical = certAlert(certView([{ v: 'eu', left: 5 * DAY, lifetime: 30 * DAY }, { v: 'us', left: 6 * DAY, lifetime: 90 * DAY }]))!
    expect([critical.labels.severity, critical.annotations.vantage]).toEqual(['critical', 'us'])
  })

  it('ignores stale vantages (their certificate may have been renewed since) and results without TLS', () => {
    expect(certAlert(certView([{ v: 'eu', left: 3 * DAY, lifetime: 90 * DAY, vote: 'stale' }, { v: 'us', left: 60 * DAY, lifetime: 90 * DAY }]))).toBeUndefined()
    expect(certAlert(view('shop'))).toBeUndefined()
    // A down vantage still saw the certificate (e.g. expired: that is why it is down).
    expect(certAlert(certView([{ v: 'eu', left: -DAY, lifetime: 90 * DAY, vote: 'down' }]))!.labels.severity).toBe('critical')
  })

  it('uses the certificate that expires first (an intermediate) and SMTP results', () => {
    const t = tls(T0 - 80 * DAY, T0 + 10 * DAY)
    const intermediate = { ...t.leaf!, subject: 'CN=Intermediate', not_before: (T0 - 3 * DAY) / 1000, not_after: (T0 + 2 * DAY) / 1000 }
    const smtp = view('mx', {
      type: 'smtp',
      target: 'mx.example:25',
      vantages: [vantage('eu', 'up', { type: 'smtp', tls: { ...t, earliest_cert_expiry: intermediate.not_after, chain: [t.leaf!, intermediate] } }, 'mx')],
    })
    const c = certAlert(smtp)!
    // The intermediate lives 5 days: warning under 1.67 days, so 2 days left is not due (the
    // fixed thresholds would have made it critical).
    expect(c).toBeUndefined()
    const later = evaluateRules(snapshot([smtp]), ctx(config, T0 + 0.5 * DAY)).conditions.find((x) => x.name === 'CertificateExpiringSoon')!
    expect(later.labels).toEqual({ alertname: 'CertificateExpiringSoon', check: 'mx', type: 'smtp', target: 'mx.example:25', severity: 'warning' })
    expect(later.annotations.description).toContain('CN=Intermediate')
  })

  it('certThresholds and certSeverity', () => {
    expect(certThresholds(null)).toEqual({ warning_ms: 21 * DAY_MS, critical_ms: 7 * DAY_MS, short_lived: false })
    expect(certThresholds(9 * DAY_MS)).toEqual({ warning_ms: 3 * DAY_MS, critical_ms: DAY_MS, short_lived: true })
    expect(certSeverity(T0 + 2.5 * DAY_MS, 9 * DAY_MS, T0)).toBe('warning')
    expect(certSeverity(T0 + 0.5 * DAY_MS, 9 * DAY_MS, T0)).toBe('critical')
    expect(certSeverity(T0 + 4 * DAY_MS, 9 * DAY_MS, T0)).toBeNull()
  })
})

describe('maintenance windows', () => {
  let dir: string | undefined
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    dir = undefined
  })

  const windowed = (start: string, end: string, reason = 'DB migration') =>
    hubConfig(SHOP.replace('    severity: page', `    severity: page\n    maintenance:\n      - { start: "${start}", end: "${end}", reason: "${reason}" }`) + API)

  it('hub.yaml windows parse, and bad ones name the field', () => {
    const cfg = windowed('2026-11-22T09:00:00Z', '2026-11-22T11:00:00+01:00')
    expect(cfg.checks.get('shop')!.maintenance).toEqual([{ start: Date.parse('2026-11-22T09:00:00Z'), end: Date.parse('2026-11-22T10:00:00Z'), reason: 'DB migration' }])
    expect(cfg.checks.get('api')!.maintenance).toEqual([])
    expect(() => windowed('2026-11-22T09:00:00', '2026-11-22T11:00:00Z')).toThrow(ConfigError)
    expect(() => windowed('2026-11-22T09:00:00', '2026-11-22T11:00:00Z')).toThrow(/checks\[0\]\.maintenance\[0\]\.start: "2026-11-22T09:00:00" is not an ISO 8601 time with a zone/)
    expect(() => windowed('2026-11-22T09:00:00Z', '2026-11-22T08:00:00Z')).toThrow(/maintenance\[0\]\.end: must be after start/)
    expect(() => hubConfig(SHOP.replace('    severity: page', '    severity: page\n    maintenance: [{ start: "2026-11-22T09:00:00Z", end: "2026-11-22T10:00:00Z", why: x }]'))).toThrow(
      /maintenance\[0\]\.why: unknown key/,
    )
  })

  it('suppresses a check’s alerts inside a hub.yaml window, not outside', () => {
    const cfg = windowed('2026-11-22T09:00:00Z', '2026-11-22T11:00:00Z')
    const book = new MaintenanceBook(() => cfg, null)
    const snap = snapshot([outageView(), view('api', { state: 'outage', vantages: [vantage('eu', 'down', {}, 'api'), vantage('us', 'down', {}, 'api')] })])
    const inside = evaluateRules(snap, ctx(cfg, T0, { maintenance: (c, n) => book.active(c, n) }))
    expect(inside.conditions.map((c) => c.labels.check)).toEqual(['api'])
    expect(inside.suppressed.map((s) => [s.condition.name, s.condition.labels.check, s.reason])).toEqual([['QuorumOutage', 'shop', 'DB migration']])
    const after = evaluateRules(snap, ctx(cfg, T0 + 2 * 3_600_000, { maintenance: (c, n) => book.active(c, n) }))
    expect(after.conditions.map((c) => c.labels.check)).toEqual(['shop', 'api'])
    // Without the windows, the engine's flag decides.
    const flagged = evaluateRules(snapshot([outageView(T0, { in_maintenance: true })]), ctx(cfg))
    expect(flagged.suppressed.map((s) => s.reason)).toEqual(['DB migration'])
  })

  it('API windows persist in the data dir', () => {
    dir = mkdtempSync(join(tmpdir(), 'vantage-maint-'))
    const cfg = hubConfig(SHOP)
    const file = join(dir, 'maintenance.json')
    const book = new MaintenanceBook(() => cfg, file)
    const w = book.add('shop', { start: T0, end: T0 + 3_600_000, reason: 'router swap' }, 'ops@example', T0)
    expect(JSON.parse(readFileSync(file, 'utf8')).windows).toHaveLength(1)
    const again = new MaintenanceBook(() => cfg, file)
    expect(again.active('shop', T0 + 1000)).toMatchObject({ id: w.id, reason: 'router swap', created_by: 'ops@example', source: 'api' })
    expect(again.active('shop', T0 + 3_600_000)).toBeNull()
    expect(again.end('shop', w.id, T0 + 60_000)).toMatchObject({ end: T0 + 60_000 })
    expect(new MaintenanceBook(() => cfg, file).active('shop', T0 + 120_000)).toBeNull()
  })
})

describe('the alerting loop (no receivers)', () => {
  let alerting: Alerting | undefined
  afterEach(() => alerting?.stop())

  function start(config: HubConfig, initial: ReturnType<typeof snapshot>, book?: MaintenanceBook) {
    const time = new FakeTime(T0)
    const source = snapshotSource(initial)
    const reg = registry()
    alerting = startAlerting({ config, snapshot: source.get, clock: time, timers: time, logger: silent(), registry: reg, maintenance: book, external_url: 'http://hub.test:8080' })
    return { time, source, reg }
  }

  it('holds QuorumUnknown for the check’s `for` (a hub restart or one late round never pages)', async () => {
    const cfg = hubConfig(SHOP)
    const { time, source, reg } = start(cfg, snapshot([view('shop', { state: 'unknown', since: T0, eligible: 0 })]))
    expect(alerting!.firing()).toEqual([])
    await time.advance(119_000)
    expect(alerting!.firing()).toEqual([])
    await time.advance(1_000) // the hold ends exactly now: the loop woke up for it
    expect(alerting!.firing().map((m) => [m.name, m.starts_at])).toEqual([['QuorumUnknown', T0]])
    expect(metricValue(await reg.metrics(), 'hub_alerts_active', { alertname: 'QuorumUnknown' })).toBe(1)
    source.set(snapshot([view('shop')]))
    alerting!.evaluate()
    expect(alerting!.firing()).toEqual([])
    expect(metricValue(await reg.metrics(), 'hub_alerts_active', { alertname: 'QuorumUnknown' })).toBe(0)
  })

  it('a brief challenge never pages: QuorumChallenged must hold for `for`', async () => {
    const cfg = hubConfig(API)
    const challenged = view('api', { all_challenged: true, vantages: [vantage('eu', 'challenged', {}, 'api')] })
    const { time, source } = start(cfg, snapshot([challenged]))
    await time.advance(30_000)
    source.set(snapshot([view('api')]))
    alerting!.evaluate()
    source.set(snapshot([challenged]))
    alerting!.evaluate()
    await time.advance(59_000)
    expect(alerting!.firing()).toEqual([])
    await time.advance(1_000)
    expect(alerting!.firing().map((m) => [m.name, m.starts_at])).toEqual([['QuorumChallenged', T0 + 30_000]])
  })

  it('maintenance: a firing alert resolves when its check enters a window, stays quiet inside, fires again after', async () => {
    const cfg = hubConfig(SHOP + API)
    const book = new MaintenanceBook(() => cfg, null)
    const { time, reg } = start(cfg, snapshot([outageView(T0 - 60_000)], [{ vantage: 'eu', agent: 'eu-1', last_seen: T0 - 600_000 }]), book)
    expect(alerting!.firing().map((m) => m.name).sort()).toEqual(['QuorumOutage', 'VantageStale'])
    book.add('shop', { start: T0 + 60_000, end: T0 + 3_660_000, reason: 'planned failover' }, undefined, T0)
    await time.advance(60_000) // the periodic evaluation notices the window start
    expect(alerting!.firing().map((m) => m.name)).toEqual(['VantageStale'])
    expect(alerting!.suppressed()).toEqual([
      { labels: { alertname: 'QuorumOutage', check: 'shop', type: 'http', target: 'https://shop.example/', severity: 'page' }, reason: 'planned failover' },
    ])
    const text = await reg.metrics()
    expect(metricValue(text, 'hub_alerts_suppressed', { alertname: 'QuorumOutage' })).toBe(1)
    expect(metricValue(text, 'hub_alerts_active', { alertname: 'QuorumOutage' })).toBe(0)
    expect(metricValue(text, 'hub_alerts_active', { alertname: 'VantageStale' })).toBe(1)
    await time.advance(3_600_000)
    expect(alerting!.firing().map((m) => m.name).sort()).toEqual(['QuorumOutage', 'VantageStale'])
    expect(alerting!.suppressed()).toEqual([])
  })
})
