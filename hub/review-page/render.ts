// The review page's HTML, rendered on the server from the quorum view (pure functions of a page
// model: no I/O). Everything that comes from outside — check and vantage names, targets, error
// texts a target chose, operator notes — goes through esc(); nothing from a result is ever used
// as a URL. The page's script (assets.ts) re-fetches <main> and swaps it in.
import type { ProbeResult } from '../../proto/result.ts'
import type { CheckView, Incident, QuorumSnapshot, StaleAgent, VantageView } from '../quorum/types.ts'
import { PAGE_CSS, PAGE_JS } from './assets.ts'

export interface VantageRow {
  name: string
  region: string
  failure_domain: string | null
  mute: { reason: string; until: number | null; by?: string } | null
  agents: { id: string; last_seen: number | null; stale: boolean }[]
}

export interface OverviewModel {
  at: number
  snapshot: QuorumSnapshot
  vantages: VantageRow[]
  /** `?vantage=V`: only the checks this vantage runs. */
  vantage: string | null
}

export interface DetailModel {
  at: number
  view: CheckView
  interval_ms: number
  stale_after_ms: number
  quorum: { min_down: number | string; for_ms: number; resolve_after_ms: number }
  /** This check's latest incidents, newest first. */
  incidents: Incident[]
  /** Each vantage's results of the last hour, newest first. */
  history: Map<string, ProbeResult[]>
  /** Start of the timeline (unix ms). */
  from: number
  stale_agents: StaleAgent[]
}

export interface Chrome {
  /** Signed in with the session cookie: offer to sign out. */
  session: boolean
}

export const REFRESH_MS = 5000
export const HISTORY_MS = 60 * 60 * 1000

// ---------------------------------------------------------------------------------------------
// Escaping and formatting

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text for HTML content and double-quoted attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c])
}

/** "4s", "3m 05s", "2h 10m", "3d 4h". */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

function utc(ms: number, now: number): string {
  const iso = new Date(ms).toISOString()
  return Math.abs(now - ms) < 20 * 3600_000 ? `${iso.slice(11, 19)} UTC` : `${iso.slice(0, 16).replace('T', ' ')} UTC`
}

/** <time> with the UTC time, and how long ago (or ahead) it is. */
function when(ms: number, now: number, relative = true): string {
  const rel = relative ? (ms <= now ? ` (${span(now - ms)} ago)` : ` (in ${span(ms - now)})`) : ''
  return `<time datetime="${esc(new Date(ms).toISOString())}">${esc(utc(ms, now))}</time>${rel}`
}

function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return ''
  const ms = s * 1000
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 100) return `${ms.toFixed(1)} ms`
  return s < 1 ? `${ms.toFixed(0)} ms` : `${s.toFixed(2)} s`
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

// ---------------------------------------------------------------------------------------------
// Small pieces

function stateBadge(state: string): string {
  return `<span class="state s-${esc(state)}">${esc(state)}</span>`
}

function voteBadge(v: Pick<VantageView, 'vote' | 'impaired'>): string {
  if (v.impaired) return '<span class="vote v-impaired" title="its own canaries fail too: no down vote">down · impaired</span>'
  return `<span class="vote v-${esc(v.vote)}">${esc(v.vote)}</span>`
}

function checkLink(name: string): string {
  return `<a href="?check=${esc(encodeURIComponent(name))}">${esc(name)}</a>`
}

function muteButton(vantage: string, muted: boolean): string {
  return muted
    ? `<button type="button" class="btn" data-action="unmute" data-vantage="${esc(vantage)}" aria-label="Unmute vantage ${esc(vantage)}">Unmute</button>`
    : `<button type="button" class="btn" data-action="mute" data-vantage="${esc(vantage)}" aria-label="Mute vantage ${esc(vantage)}">Mute</button>`
}

function ackForm(check: string): string {
  const id = `ack-${check}`
  return (
    `<details class="ack" id="${esc(id)}"><summary aria-label="Acknowledge check ${esc(check)}">Acknowledge</summary>` +
    `<form data-ack="${esc(check)}"><label for="${esc(id)}-note">Note</label> ` +
    `<input id="${esc(id)}-note" name="note" required maxlength="2000" autocomplete="off" placeholder="who is on it, what is known"> ` +
    `<button type="submit" class="btn" aria-label="Save acknowledgement of ${esc(check)}">Save</button></form></details>`
  )
}

function ackNote(view: CheckView, now: number): string {
  if (!view.ack) return ''
  return `<p class="note"><strong>Acknowledged</strong> ${when(view.ack.at, now)}${view.ack.by ? ` by ${esc(view.ack.by)}` : ''}: ${esc(view.ack.note)}</p>`
}

function muteNote(v: VantageView, now: number): string {
  if (!v.mute) return ''
  return `<div class="sub">muted${v.mute.until !== null ? ` until ${when(v.mute.until, now)}` : ''}: ${esc(v.mute.reason)}</div>`
}

function errorCell(r: ProbeResult | null): string {
  if (!r) return '<span class="dim">no result</span>'
  const parts: string[] = []
  if (r.error) parts.push(`<span class="${r.challenged ? 'warn' : 'err'}">${esc(r.error)}</span>`)
  if (r.error_code) parts.push(`<code>${esc(r.error_code)}</code>`)
  if (r.tls?.verify_error && r.tls.verify_error !== r.error_code) parts.push(`<span class="sub">certificate: <code>${esc(r.tls.verify_error)}</code></span>`)
  return parts.length ? parts.join(' ') : r.success ? '<span class="dim">—</span>' : '<span class="err">failed</span>'
}

function statusCell(r: ProbeResult | null): string {
  if (!r) return ''
  if (r.http && r.http.status_code > 0) return `<span class="num">${esc(r.http.status_code)}</span>${r.http.http_version ? `<div class="sub">HTTP/${esc(r.http.http_version)}</div>` : ''}`
  if (r.smtp) return `<span class="num">${esc(r.smtp.banner_code)}</span>`
  if (r.dns) return esc(r.dns.rcode)
  return ''
}

function timingCell(r: ProbeResult | null): string {
  if (!r) return ''
  const total = `<span class="num">${esc(seconds(r.duration_seconds))}</span>`
  const p = r.http?.phases
  if (!p) return total
  const phases = (['resolve', 'connect', 'tls', 'processing', 'transfer'] as const)
    .filter((k) => p[k] > 0)
    .map((k) => `${k} ${esc(seconds(p[k]))}`)
    .join(' · ')
  return phases ? `${total}<div class="sub">${phases}</div>` : total
}

function tlsCell(r: ProbeResult | null, now: number): string {
  const tls = r?.tls
  if (!tls) return ''
  const out: string[] = [esc(tls.version)]
  const expiry = tls.leaf?.not_after ?? tls.earliest_cert_expiry
  if (expiry) {
    const ms = expiry * 1000
    out.push(`<div class="sub ${ms - now < 7 * 86400_000 ? 'err' : ms - now < 21 * 86400_000 ? 'warn' : ''}">expires ${esc(new Date(ms).toISOString().slice(0, 10))} (${ms > now ? `in ${esc(span(ms - now))}` : `${esc(span(now - ms))} ago`})</div>`)
  }
  const fp = tls.leaf?.fingerprint_sha256
  if (fp) out.push(`<div class="sub">sha256 <code title="${esc(fp)}">${esc(fp.replace(/:/g, '').slice(0, 16))}…</code></div>`)
  if (!tls.chain_valid || !tls.hostname_valid) out.push(`<div class="sub err">${!tls.chain_valid ? 'chain not valid' : 'wrong host'}</div>`)
  return out.join('')
}

// ---------------------------------------------------------------------------------------------
// The overview: disagreements, then outages, then everything else

/** Which section a check belongs in: the first that applies. */
export function sectionOf(view: CheckView): 'outage' | 'disagreement' | 'other' {
  if (view.state === 'outage' || view.state === 'pending') return 'outage'
  if (view.disagreement) return 'disagreement'
  return 'other'
}

function otherRank(v: CheckView): number {
  if (v.state === 'unknown') return 0
  if (v.all_challenged) return 1
  if (v.cert_mismatch) return 2
  if (v.vantages.some((x) => x.impaired || x.vote === 'down' || x.vote === 'challenged')) return 3
  return 4
}

export function renderOverviewMain(m: OverviewModel): string {
  const now = m.at
  const checks = m.vantage ? m.snapshot.checks.filter((c) => c.vantages.some((v) => v.vantage === m.vantage)) : m.snapshot.checks
  const disagreements = checks.filter((c) => sectionOf(c) === 'disagreement').sort((a, b) => (a.disagreement_since ?? 0) - (b.disagreement_since ?? 0))
  const outages = checks
    .filter((c) => sectionOf(c) === 'outage')
    .sort((a, b) => (a.state === b.state ? a.since - b.since : a.state === 'outage' ? -1 : 1))
  const others = checks.filter((c) => sectionOf(c) === 'other').map((c, i) => ({ c, i }))
  others.sort((a, b) => otherRank(a.c) - otherRank(b.c) || a.i - b.i)
  const stale = m.snapshot.stale_agents.filter((a) => !m.vantage || a.vantage === m.vantage)

  const counts = [
    plural(checks.length, 'check'),
    plural(disagreements.length, 'disagreement'),
    `${outages.filter((c) => c.state === 'outage').length} in outage`,
    `${checks.filter((c) => c.state === 'unknown').length} unknown`,
    plural(stale.length, 'stale agent'),
  ]
  const out: string[] = []
  out.push(`<p class="meta">${counts.join(' · ')} · updated ${when(now, now, false)}</p>`)
  if (m.vantage) out.push(`<p class="filter">Checks of vantage <strong>${esc(m.vantage)}</strong> · <a href="review">all checks</a></p>`)
  if (stale.length) {
    out.push(
      `<section class="banner" aria-labelledby="h-stale"><h2 id="h-stale">Stale agents</h2><ul>` +
        stale.map((a) => `<li><strong>${esc(a.agent)}</strong> (${esc(a.vantage)}): ${a.last_seen ? `last report ${when(a.last_seen, now)}` : 'never reported'}</li>`).join('') +
        `</ul></section>`,
    )
  }

  out.push(`<section aria-labelledby="h-disagreements"><h2 id="h-disagreements">Disagreements <span class="count">${disagreements.length}</span></h2>`)
  out.push(disagreements.length ? disagreements.map((c) => checkCard(c, now, 'disagreement')).join('') : '<p class="empty">No check has vantages that disagree.</p>')
  out.push('</section>')

  out.push(`<section aria-labelledby="h-outages"><h2 id="h-outages">Outages <span class="count">${outages.length}</span></h2>`)
  out.push(outages.length ? outages.map((c) => checkCard(c, now, 'outage')).join('') : '<p class="empty">No outage.</p>')
  out.push('</section>')

  out.push(`<section aria-labelledby="h-others"><h2 id="h-others">All other checks <span class="count">${others.length}</span></h2>`)
  out.push(others.length ? othersTable(others.map((o) => o.c), now) : '<p class="empty">None.</p>')
  out.push('</section>')

  const vantages = m.vantage ? m.vantages.filter((v) => v.name === m.vantage) : m.vantages
  out.push(`<section aria-labelledby="h-vantages"><h2 id="h-vantages">Vantages</h2>${vantagesTable(vantages, now)}</section>`)
  return out.join('\n')
}

function checkCard(c: CheckView, now: number, kind: 'disagreement' | 'outage'): string {
  const up = c.vantages.filter((v) => v.eligible && v.vote === 'up').map((v) => v.vantage)
  const down = c.vantages.filter((v) => v.eligible && v.vote === 'down').map((v) => v.vantage)
  const summary =
    kind === 'disagreement' || c.disagreement
      ? `Up from ${esc(up.join(', ') || 'none')}; down from ${esc(down.join(', ') || 'none')}${c.disagreement_since !== null ? `, for ${esc(span(now - c.disagreement_since))}` : ''}.`
      : `Down from ${c.down} of ${c.eligible} voting vantages (${c.min_down} needed), ${esc(c.state)} for ${esc(span(now - c.since))}.`
  const rows = c.vantages
    .map(
      (v) =>
        `<tr class="${v.vote === 'down' ? 'row-down' : ''}"><th scope="row">${esc(v.vantage)}${muteNote(v, now)}</th><td>${voteBadge(v)}</td><td>${statusCell(v.latest)}</td>` +
        `<td class="error">${errorCell(v.latest)}</td><td class="nw">${v.latest ? when(Date.parse(v.latest.started_at), now) : ''}</td>` +
        `<td class="act">${muteButton(v.vantage, v.vote === 'muted' || !!v.mute)}</td></tr>`,
    )
    .join('')
  return (
    `<article class="card card-${kind}" id="card-${esc(c.name)}" aria-labelledby="t-${esc(c.name)}">` +
    `<header><h3 id="t-${esc(c.name)}">${checkLink(c.name)} ${stateBadge(c.state)}${flags(c)}</h3>` +
    `<p class="target">${esc(c.type)} <code>${esc(c.target)}</code></p></header>` +
    `<p>${summary}${c.incident_id !== null ? ` Incident #${esc(c.incident_id)}.` : ''}</p>${ackNote(c, now)}` +
    `<div class="scroll"><table class="evidence"><caption class="sr">Latest result of each vantage for ${esc(c.name)}</caption>` +
    `<thead><tr><th scope="col">Vantage</th><th scope="col">Vote</th><th scope="col">Status</th><th scope="col">Error</th><th scope="col">Started</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>` +
    `<tbody>${rows}</tbody></table></div>${ackForm(c.name)}</article>`
  )
}

function flags(c: CheckView): string {
  const out: string[] = []
  if (c.disagreement && sectionOf(c) !== 'disagreement') out.push('<span class="flag">disagreement</span>')
  if (c.all_challenged) out.push('<span class="flag warn">all challenged</span>')
  if (c.cert_mismatch) out.push('<span class="flag warn">certificate mismatch</span>')
  if (c.in_maintenance) out.push('<span class="flag">maintenance</span>')
  if (c.ack) out.push('<span class="flag">acknowledged</span>')
  return out.length ? ` ${out.join(' ')}` : ''
}

/** What the vantages that are not up saw (challenge signatures, errors), one line each. */
function failures(c: CheckView): string {
  return c.vantages
    .filter((v) => (v.vote === 'down' || v.vote === 'challenged') && v.latest)
    .map((v) => `<div class="sub">${esc(v.vantage)}: ${v.latest!.error_code ? `<code>${esc(v.latest!.error_code)}</code>` : esc(v.latest!.error ?? 'failed')}</div>`)
    .join('')
}

function othersTable(checks: CheckView[], now: number): string {
  const rows = checks
    .map(
      (c) =>
        `<tr><th scope="row">${checkLink(c.name)}<div class="sub">${esc(c.type)} <code>${esc(c.target)}</code></div></th>` +
        `<td>${stateBadge(c.state)}<div class="sub">for ${esc(span(now - c.since))}</div></td>` +
        `<td><ul class="votes">${c.vantages.map((v) => `<li>${esc(v.vantage)} ${voteBadge(v)}</li>`).join('')}</ul></td>` +
        `<td>${flags(c).trim()}${failures(c)}${c.ack ? `<div class="sub">acknowledged: ${esc(c.ack.note)}</div>` : ''}</td></tr>`,
    )
    .join('')
  return (
    `<div class="scroll"><table class="list"><thead><tr><th scope="col">Check</th><th scope="col">State</th><th scope="col">Votes</th><th scope="col">Notes</th></tr></thead>` +
    `<tbody>${rows}</tbody></table></div>`
  )
}

function vantagesTable(vantages: VantageRow[], now: number): string {
  if (!vantages.length) return '<p class="empty">No vantage is configured.</p>'
  const rows = vantages
    .map((v) => {
      const agents = v.agents.length
        ? v.agents
            .map((a) => `<li>${esc(a.id)} ${a.stale ? '<span class="vote v-stale">stale</span>' : ''} <span class="sub">${a.last_seen ? `seen ${when(a.last_seen, now)}` : 'never seen'}</span></li>`)
            .join('')
        : '<li class="dim">no agent</li>'
      const mute = v.mute
        ? `<span class="vote v-muted">muted</span> ${esc(v.mute.reason)}${v.mute.until !== null ? `<div class="sub">until ${when(v.mute.until, now)}</div>` : '<div class="sub">until unmuted</div>'}`
        : ''
      return (
        `<tr><th scope="row"><a href="?vantage=${esc(encodeURIComponent(v.name))}">${esc(v.name)}</a><div class="sub">${esc(v.region)}${v.failure_domain ? ` · ${esc(v.failure_domain)}` : ''}</div></th>` +
        `<td><ul class="plain">${agents}</ul></td><td>${mute}</td><td class="act">${muteButton(v.name, v.mute !== null)}</td></tr>`
      )
    })
    .join('')
  return (
    `<div class="scroll"><table class="list"><thead><tr><th scope="col">Vantage</th><th scope="col">Agents</th><th scope="col">Mute</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>` +
    `<tbody>${rows}</tbody></table></div>`
  )
}

// ---------------------------------------------------------------------------------------------
// One check: every vantage's evidence and the last hour

export function renderDetailMain(m: DetailModel): string {
  const c = m.view
  const now = m.at
  const out: string[] = []
  out.push(`<p class="meta"><a href="review">← all checks</a> · updated ${when(now, now, false)}</p>`)
  out.push(`<h2 class="check-title">${esc(c.name)} ${stateBadge(c.state)}${flags(c)}</h2>`)
  const facts: [string, string][] = [
    ['Target', `${esc(c.type)} <code>${esc(c.target)}</code>`],
    ['State', `${esc(c.state)} since ${when(c.since, now)}`],
    ['Quorum', `${c.down} of ${c.eligible} voting vantages down, ${c.min_down} needed (min_down ${esc(m.quorum.min_down)}, for ${esc(span(m.quorum.for_ms))}, resolve after ${esc(span(m.quorum.resolve_after_ms))})`],
    ['Rounds', `every ${esc(span(m.interval_ms))}; a vantage is stale after ${esc(span(m.stale_after_ms))} without a result`],
  ]
  if (c.disagreement_since !== null) facts.push(['Disagreement', `since ${when(c.disagreement_since, now)}`])
  const open = m.incidents.find((i) => i.id === c.incident_id)
  if (open) facts.push(['Incident', `#${esc(open.id)} since ${when(open.started_at, now)}: ${esc(open.failing_vantages.join(', '))}`])
  out.push(`<dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`)
  if (c.cert_mismatch) {
    const fps = [...new Set(c.vantages.map((v) => v.latest?.tls?.leaf?.fingerprint_sha256).filter((f): f is string => !!f))]
    out.push(
      `<p class="banner warn"><strong>Certificate mismatch:</strong> vantages saw ${fps.length} different leaf certificates for this target (${c.vantages
        .filter((v) => v.latest?.tls?.leaf)
        .map((v) => `${esc(v.vantage)}: <code>${esc(v.latest!.tls!.leaf!.fingerprint_sha256.replace(/:/g, '').slice(0, 16))}…</code>`)
        .join(', ')}).</p>`,
    )
  }
  if (c.all_challenged) out.push('<p class="banner warn"><strong>Every vantage is challenged:</strong> the monitors are blocked by a bot/WAF challenge, not necessarily the site.</p>')
  out.push(ackNote(c, now))
  out.push(ackForm(c.name))

  const showTls = c.vantages.some((v) => v.latest?.tls)
  const rows = c.vantages
    .map((v) => {
      const r = v.latest
      return (
        `<tr class="${v.vote === 'down' ? 'row-down' : ''}"><th scope="row">${esc(v.vantage)}<div class="sub">${esc(v.region)}${v.failure_domain ? ` · ${esc(v.failure_domain)}` : ''}</div>${muteNote(v, now)}</th>` +
        `<td class="nw">${voteBadge(v)}<div class="sub">since ${esc(span(now - v.since))}</div>${v.eligible ? '' : '<div class="sub">no vote</div>'}</td>` +
        `<td>${v.agents.length ? esc(v.agents.join(', ')) : '<span class="dim">—</span>'}</td>` +
        `<td>${statusCell(r)}</td><td class="error">${errorCell(r)}</td><td>${timingCell(r)}</td>${showTls ? `<td>${tlsCell(r, now)}</td>` : ''}` +
        `<td class="nw">${r ? when(Date.parse(r.started_at), now) : ''}${r ? `<div class="sub">round ${esc(r.round)} · ${esc(r.agent_id)}</div>` : ''}</td>` +
        `<td class="act">${muteButton(v.vantage, v.vote === 'muted' || !!v.mute)}</td></tr>`
      )
    })
    .join('')
  out.push(
    `<section aria-labelledby="h-evidence"><h2 id="h-evidence">Evidence</h2><div class="scroll"><table class="evidence">` +
      `<caption class="sr">Latest result of each vantage for ${esc(c.name)}</caption><thead><tr>` +
      ['Vantage', 'Vote', 'Agents', 'Status', 'Error', 'Timings', ...(showTls ? ['TLS'] : []), 'Started'].map((h) => `<th scope="col">${h}</th>`).join('') +
      `<th scope="col"><span class="sr">Actions</span></th></tr></thead><tbody>${rows}</tbody></table></div></section>`,
  )

  out.push(`<section aria-labelledby="h-history"><h2 id="h-history">Last hour</h2>`)
  out.push(
    `<div class="timeline">${c.vantages
      .map((v) => `<div class="tl-row"><span class="tl-name">${esc(v.vantage)}</span>${timeline(v.vantage, m.history.get(v.vantage) ?? [], m.from, now, m.interval_ms)}</div>`)
      .join('')}` +
      `<div class="tl-row tl-axis" aria-hidden="true"><span class="tl-name"></span><span>${esc(span(now - m.from))} ago</span><span>now</span></div></div>`,
  )
  out.push(
    `<p class="legend"><span class="key b-up"></span>up <span class="key b-down"></span>down <span class="key b-impaired"></span>down, impaired <span class="key b-challenged"></span>challenged <span class="key b-none"></span>no result</p></section>`,
  )

  out.push(`<section aria-labelledby="h-incidents"><h2 id="h-incidents">Incidents</h2>`)
  out.push(
    m.incidents.length
      ? `<ul class="plain">${m.incidents
          .map(
            (i) =>
              `<li>#${esc(i.id)} ${when(i.started_at, now)} – ${i.ended_at === null ? '<strong>open</strong>' : `${when(i.ended_at, now, false)} (${esc(span(i.ended_at - i.started_at))})`}: ` +
              `${esc(i.failing_vantages.join(', '))}${i.evidence.length ? `<div class="sub">${i.evidence.map((e) => `${esc(e.vantage)}: ${esc(e.last.error ?? e.last.error_code ?? 'failed')}`).join(' · ')}</div>` : ''}</li>`,
          )
          .join('')}</ul>`
      : '<p class="empty">No incident.</p>',
  )
  out.push('</section>')
  return out.join('\n')
}

type Outcome = 'up' | 'down' | 'impaired' | 'challenged'
const WORST: Outcome[] = ['down', 'impaired', 'challenged', 'up']

/** One vantage's last hour as SVG blocks: per bucket, the worst round (a round is up when any agent succeeded). */
export function timeline(vantage: string, results: readonly ProbeResult[], from: number, to: number, intervalMs: number): string {
  const n = Math.max(1, Math.min(120, Math.ceil((to - from) / Math.max(1, intervalMs))))
  const width = (to - from) / n
  const rounds = new Map<number, ProbeResult[]>()
  for (const r of results) {
    const t = Date.parse(r.started_at)
    if (!(t >= from && t < to + width)) continue
    const list = rounds.get(r.round)
    if (list) list.push(r)
    else rounds.set(r.round, [r])
  }
  const buckets: { outcomes: Map<Outcome, number>; error: string | null }[] = Array.from({ length: n }, () => ({ outcomes: new Map(), error: null }))
  for (const list of rounds.values()) {
    const t = Date.parse(list[0].started_at)
    const b = buckets[Math.min(n - 1, Math.floor((t - from) / width))]
    const outcome: Outcome = list.some((r) => r.success)
      ? 'up'
      : list.some((r) => r.challenged)
        ? 'challenged'
        : list.every((r) => r.vantage_impaired)
          ? 'impaired'
          : 'down'
    b.outcomes.set(outcome, (b.outcomes.get(outcome) ?? 0) + 1)
    if (outcome !== 'up' && b.error === null) {
      const failed = list.find((r) => !r.success)
      b.error = failed?.error ?? failed?.error_code ?? null
    }
  }
  const totals = new Map<Outcome, number>()
  const rects = buckets.map((b, i) => {
    const worst = WORST.find((o) => b.outcomes.has(o))
    for (const [o, k] of b.outcomes) totals.set(o, (totals.get(o) ?? 0) + k)
    const start = from + i * width
    const what = worst ? WORST.filter((o) => b.outcomes.has(o)).map((o) => `${o} ×${b.outcomes.get(o)}`).join(', ') : 'no result'
    const title = `${utc(start, to)}–${utc(start + width, to)}: ${what}${b.error ? ` (${b.error})` : ''}`
    return `<rect x="${i * 10}" y="0" width="9" height="10" class="b-${worst ?? 'none'}"><title>${esc(title)}</title></rect>`
  })
  const label = `${vantage}, last hour: ${WORST.filter((o) => totals.has(o)).map((o) => `${totals.get(o)} ${o}`).join(', ') || 'no results'}`
  return `<svg class="tl" viewBox="0 0 ${n * 10} 10" preserveAspectRatio="none" role="img" aria-label="${esc(label)}">${rects.join('')}</svg>`
}

// ---------------------------------------------------------------------------------------------
// Whole pages

const TOOLBAR =
  `<form class="toolbar" id="mute-options" aria-label="Mute options"><label for="mute-for">Mutes last</label> ` +
  `<select id="mute-for"><option value="1h" selected>1 hour</option><option value="4h">4 hours</option><option value="24h">1 day</option><option value="">until unmuted</option></select> ` +
  `<label for="mute-reason">reason</label> <input id="mute-reason" value="muted from the review page" maxlength="2000" autocomplete="off"></form>`

export function renderPage(title: string, main: string, chrome: Chrome): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>${esc(title)}</title><style>${PAGE_CSS}</style></head><body>` +
    `<header class="top"><h1><a href="review">Vantage review</a></h1>${TOOLBAR}` +
    (chrome.session ? `<form method="post" action="review/logout" class="logout"><button type="submit" class="btn link">Sign out</button></form>` : '') +
    `<p id="status" role="status" aria-live="polite"></p></header>` +
    `<noscript><p class="banner">Without JavaScript this page does not refresh itself, and its buttons do nothing.</p></noscript>` +
    `<main id="main" data-refresh="${REFRESH_MS}">${main}</main><script>${PAGE_JS}</script></body></html>`
  )
}

/** The sign-in form (a token, once; then the session cookie); `action` is relative to where it is served. */
export function renderLogin(action: string, next: string, message: string | null): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>Vantage review: sign in</title><style>${PAGE_CSS}</style></head><body>` +
    `<main class="login"><h1>Vantage review</h1><form method="post" action="${esc(action)}">` +
    (message ? `<p class="banner warn" role="alert">${esc(message)}</p>` : '') +
    `<label for="token">Operator token</label><input id="token" name="token" type="password" required autocomplete="current-password" autofocus>` +
    `<input type="hidden" name="next" value="${esc(next)}"><button type="submit" class="btn primary">Sign in</button>` +
    `<p class="sub">The token in the hub's <code>operator_token_file</code>. It is kept as a session cookie for 12 hours.</p></form></main></body></html>`
  )
}

/** A page that only says why not (403, 404). */
export function renderMessage(title: string, message: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<link rel="icon" href="data:,"><title>${esc(title)}</title><style>${PAGE_CSS}</style></head><body><main class="login"><h1>${esc(title)}</h1><p>${esc(message)}</p>` +
    `<p><a href="review">Vantage review</a></p></main></body></html>`
  )
}
