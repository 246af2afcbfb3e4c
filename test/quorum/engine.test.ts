// The quorum state machine with an injected clock and timers, over a real store: every
// transition, `for` gating, hysteresis, what casts no vote, failure domains, fractions, mutes,
// late results, incidents and their evidence, acks, and a restart.
import { afterEach, describe, expect, it } from 'vitest'
import { FakeTime } from '../agent/fake-time.ts'
import { Harness, T0, THREE } from './harness.ts'

const S = 1000
const M = 60_000

const check = (quorum: string, vantages = '[eu, us, ap]', extra = '') =>
  `  - { name: shop, type: http, target: "https://shop.example/", interval: 30s, vantages: ${vantages}, quorum: ${quorum}${extra} }\n`

const yaml = (quorum = '{ min_down: 2, for: 1m, resolve_after: 1m }', vantages?: string, extra?: string) =>
  `${THREE}checks:\n${check(quorum, vantages, extra)}`

let h: Harness
afterEach(() => h?.cleanup())

describe('state machine', () => {
  it('goes unknown → ok → pending → outage → ok, opening and closing one incident', async () => {
    h = new Harness({ yaml: yaml() })
    expect(h.view()).toMatchObject({ state: 'unknown', since: T0, eligible: 0, min_down: 2 })

    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', since: T0, eligible: 3, up: 3, down: 0, disagreement: false })
    await h.time.advance(30 * S)

    h.votes({ eu: 'down', us: 'down', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'pending', since: T0 + 30 * S, down: 2, disagreement: true, incident_id: null })
    await h.time.advance(30 * S)
    h.votes({ eu: 'down', us: 'down', ap: 'up' })
    expect(h.view().state).toBe('pending')
    // `for: 1m` after the pending began, the timer declares the outage (no new vote needed).
    await h.time.advance(30 * S)
    const outage = h.view()
    expect(outage).toMatchObject({ state: 'outage', since: T0 + 90 * S })
    expect(outage.incident_id).toBeGreaterThan(0)
    expect(h.engine.incidents({ open: true }).map((i) => i.id)).toEqual([outage.incident_id])

    // Recovery: resolve_after (1m) of fewer than K down.
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    expect(h.view().state).toBe('outage')
    await h.time.advance(30 * S)
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    expect(h.view().state).toBe('outage')
    await h.time.advance(30 * S)
    expect(h.view()).toMatchObject({ state: 'ok', since: T0 + 150 * S, incident_id: null })

    expect(h.transitions()).toEqual(['unknown→ok', 'ok→pending', 'pending→outage', 'outage→ok'])
    const [incident] = h.engine.incidents()
    expect(incident).toMatchObject({
      id: outage.incident_id,
      check: 'shop',
      started_at: T0 + 90 * S,
      pending_since: T0 + 30 * S,
      ended_at: T0 + 150 * S,
      resolution: 'recovered',
      failing_vantages: ['eu', 'us'],
    })
  })

  it('a pending that clears goes straight back to ok', async () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'down', us: 'down', ap: 'up' })
    expect(h.view().state).toBe('pending')
    await h.time.advance(30 * S)
    h.votes({ eu: 'up', us: 'down', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', since: T0 + 30 * S })
    expect(h.transitions()).toEqual(['unknown→pending', 'pending→ok'])
    expect(h.engine.incidents()).toEqual([])
  })

  it('a 1-minute dip with `for: 5m` never reaches outage', async () => {
    h = new Harness({ yaml: yaml('{ min_down: 2, for: 5m, resolve_after: 30s }') })
    await h.rounds(2, { eu: 'up', us: 'up', ap: 'up' })
    await h.rounds(2, { eu: 'down', us: 'down', ap: 'down' }) // one minute down
    await h.rounds(20, { eu: 'up', us: 'up', ap: 'up' })
    expect(h.transitions()).toEqual(['unknown→ok', 'ok→pending', 'pending→ok'])
    expect(h.engine.incidents()).toEqual([])
  })

  it('a dip that lasts `for` does reach outage, exactly `for` after it began', async () => {
    // The `for` arithmetic to the millisecond: every commit evaluated at once (with coalescing,
    // a deferred commit's pending would begin when its interval ends; coalesce.test.ts).
    h = new Harness({ yaml: yaml('{ min_down: 2, for: 5m, resolve_after: 30s }'), coalesceMs: 0 })
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    await h.time.advance(30 * S)
    const began = h.now()
    await h.rounds(10, { eu: 'down', us: 'down', ap: 'down' })
    expect(h.view()).toMatchObject({ state: 'outage', since: began + 5 * M })
  })

  it('`for: 0` goes from ok to outage on the first down quorum', async () => {
    h = new Harness({ yaml: yaml('{ min_down: 2, for: 0s, resolve_after: 30s }') })
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    await h.time.advance(30 * S)
    h.votes({ eu: 'down', us: 'down' })
    expect(h.view().state).toBe('outage')
    expect(h.transitions()).toEqual(['unknown→ok', 'ok→pending', 'pending→outage'])
  })

  it('recovers only after resolve_after without a down quorum (hysteresis)', async () => {
    h = new Harness({ yaml: yaml('{ min_down: 2, for: 30s, resolve_after: 1m }') })
    await h.rounds(3, { eu: 'down', us: 'down', ap: 'down' })
    expect(h.view().state).toBe('outage')
    // Flapping up/down every round: never a whole minute clear.
    for (let i = 0; i < 4; i++) {
      await h.rounds(1, { eu: 'up', us: 'up', ap: 'up' })
      await h.rounds(1, { eu: 'down', us: 'down', ap: 'up' })
    }
    expect(h.view().state).toBe('outage')
    const clearFrom = h.now()
    await h.rounds(1, { eu: 'up', us: 'up', ap: 'up' })
    expect(h.view().state).toBe('outage')
    await h.rounds(1, { eu: 'up', us: 'up', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', since: clearFrom + M })
    expect(h.transitions().filter((t) => t === 'outage→ok')).toHaveLength(1)
    expect(h.engine.incidents()).toHaveLength(1)
  })

  it('is unknown when fewer than K vantages are eligible, and leaves it when enough vote', () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'down' })
    expect(h.view()).toMatchObject({ state: 'unknown', eligible: 1, down: 1, min_down: 2 })
    h.votes({ us: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 2 })
  })

  it('an outage nobody can see any more is unknown with its incident still open; a down quorum resumes the same incident', async () => {
    h = new Harness({ yaml: yaml('{ min_down: 2, for: 30s, resolve_after: 30s }') })
    await h.rounds(2, { eu: 'down', us: 'down', ap: 'down' })
    const { incident_id: id } = h.view()
    expect(id).not.toBeNull()
    await h.rounds(4, { eu: 'down' }) // us and ap go stale
    expect(h.view()).toMatchObject({ state: 'unknown', incident_id: id })
    expect(h.engine.incident(id!)!.ended_at).toBeNull()
    h.votes({ eu: 'down', us: 'down' })
    expect(h.view()).toMatchObject({ state: 'outage', incident_id: id })
    expect(h.engine.incidents()).toHaveLength(1)
    expect(h.transitions()).toEqual(['unknown→pending', 'pending→outage', 'outage→unknown', 'unknown→outage'])
  })
})

describe('who votes', () => {
  it('challenged vantages cast no vote', async () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'challenged', us: 'down', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 2, down: 1, all_challenged: false })
    expect(h.vote('eu')).toMatchObject({ vote: 'challenged', eligible: false })
    await h.time.advance(30 * S)
    h.votes({ eu: 'challenged', us: 'down', ap: 'down' })
    expect(h.view()).toMatchObject({ state: 'pending', down: 2 })
  })

  it('every vantage challenged: no vote anywhere, unknown and all_challenged', async () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    await h.time.advance(30 * S)
    h.votes({ eu: 'challenged', us: 'challenged', ap: 'challenged' })
    expect(h.view()).toMatchObject({ state: 'unknown', eligible: 0, all_challenged: true, disagreement: false })
  })

  it('stale vantages cast no vote, and staleness is noticed with no traffic at all', async () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'up', us: 'up', ap: 'down' })
    await h.rounds(3, { eu: 'up', us: 'up' })
    // 90 s (stale_after = 3 × interval) after ap's round began, ap is still live; 1 ms later it is not.
    expect(h.vote('ap').vote).toBe('down')
    await h.time.advance(1)
    expect(h.vote('ap')).toMatchObject({ vote: 'stale', eligible: false, since: T0 + 90 * S + 1 })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 2, disagreement: false })

    // No traffic: the timer alone turns everyone stale, the check unknown, and tells listeners.
    const before = h.changes.length
    await h.time.advance(2 * M)
    expect(h.view()).toMatchObject({ state: 'unknown', eligible: 0 })
    expect(h.view().vantages.map((v) => v.vote)).toEqual(['stale', 'stale', 'stale'])
    expect(h.changes.length).toBeGreaterThan(before)
    expect(h.transitions()).toContain('ok→unknown')
  })

  it('two agents in one vantage count once', () => {
    h = new Harness({ yaml: yaml() })
    h.report('eu', 'down', { agent: 'eu-a' })
    h.report('eu', 'down', { agent: 'eu-b' })
    h.votes({ us: 'up', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 3, down: 1 })
    expect(h.vote('eu')).toMatchObject({ vote: 'down', agents: ['eu-a', 'eu-b'] })
    // One of them succeeding proves the vantage can reach the target: up.
    h.report('eu', 'up', { agent: 'eu-a' })
    expect(h.vote('eu')).toMatchObject({ vote: 'up', agents: ['eu-a', 'eu-b'] })
    expect(h.view()).toMatchObject({ down: 0, up: 3 })
  })

  it('an impaired vantage casts no down vote (and is shown impaired)', () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'impaired', us: 'down', ap: 'up' })
    expect(h.vote('eu')).toMatchObject({ vote: 'down', impaired: true, eligible: false })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 2, down: 1 })
    h.votes({ ap: 'impaired' })
    // ap's round now holds a success and an impaired failure: up wins, not impaired.
    expect(h.vote('ap')).toMatchObject({ vote: 'up', impaired: false })
  })

  it('impaired vantages alone cannot make a quorum: too few eligible is unknown', () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'impaired', us: 'impaired', ap: 'down' })
    expect(h.view()).toMatchObject({ state: 'unknown', eligible: 1, down: 1 })
  })

  it('down votes from one failure domain count once', async () => {
    h = new Harness({
      yaml: `
vantages:
  hel: { region: eu, failure_domain: hetzner }
  fsn: { region: eu, failure_domain: hetzner }
  us: { region: us }
  ap: { region: ap }
checks:
${check('{ min_down: 2, for: 1m }', '[hel, fsn, us, ap]')}`,
    })
    h.votes({ hel: 'down', fsn: 'down', us: 'up', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 3, down: 1, up: 2, disagreement: true })
    expect(h.vote('hel')).toMatchObject({ failure_domain: 'hetzner', eligible: true })
    await h.time.advance(30 * S)
    h.votes({ hel: 'down', fsn: 'down', us: 'down', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'pending', down: 2 })
  })

  it('correlated vantages alone are too few to decide: unknown, not a silent ok', async () => {
    h = new Harness({
      yaml: `
vantages:
  hel: { region: eu, failure_domain: hetzner }
  fsn: { region: eu, failure_domain: hetzner }
  us: { region: us }
checks:
${check('{ min_down: 2, for: 1m }', '[hel, fsn, us]')}`,
    })
    h.votes({ hel: 'up', fsn: 'up', us: 'up' })
    await h.rounds(4, { hel: 'down', fsn: 'down' }) // us goes stale
    expect(h.view()).toMatchObject({ state: 'unknown', eligible: 1, down: 1, min_down: 2 })
  })

  it('warns when min_down exceeds the failure domains a check can ever have', () => {
    h = new Harness({
      yaml: `
vantages:
  hel: { region: eu, failure_domain: hetzner }
  fsn: { region: eu, failure_domain: hetzner }
checks:
${check('{ min_down: 2 }', '[hel, fsn]')}`,
    })
    expect(h.logs.some((l) => l.check === 'shop' && String(l.msg).includes('never reach a quorum'))).toBe(true)
  })

  it('a fraction "2/3" is K = ceil(2/3 × eligible)', async () => {
    // K as eligibility changes vote by vote: every commit evaluated at once. (Coalesced, the
    // round at +60 s is decided whole: it never clears, so the pending of +30 s reaches outage.)
    h = new Harness({
      yaml: `${THREE}  sa: { region: sa }\nchecks:\n${check('{ min_down: "2/3", for: 1m }', '[eu, us, ap, sa]')}`,
      coalesceMs: 0,
    })
    h.votes({ eu: 'down', us: 'down', ap: 'up', sa: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 4, min_down: 3, down: 2 })
    await h.time.advance(30 * S)
    h.votes({ eu: 'down', us: 'down', ap: 'down', sa: 'up' })
    expect(h.view()).toMatchObject({ state: 'pending', min_down: 3, down: 3 })
    await h.time.advance(30 * S)
    // Three eligible: K = 2.
    h.votes({ eu: 'down', us: 'down', ap: 'up', sa: 'challenged' })
    expect(h.view()).toMatchObject({ state: 'pending', eligible: 3, min_down: 2, down: 2 })
    // Two eligible: K = ceil(4/3) = 2; one down is not enough.
    await h.time.advance(30 * S)
    h.votes({ eu: 'down', us: 'up', ap: 'challenged', sa: 'challenged' })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 2, min_down: 2, down: 1 })
  })
})

describe('operator mutes', () => {
  it('a muted vantage casts no vote until the mute expires (noticed by the timer)', async () => {
    h = new Harness({ yaml: yaml() })
    const mute = h.engine.mute('ap', { reason: 'provider maintenance', until: T0 + 5 * M, by: 'alice' })
    expect(mute).toMatchObject({ vantage: 'ap', until: T0 + 5 * M, by: 'alice' })
    h.votes({ eu: 'up', us: 'down', ap: 'down' })
    expect(h.vote('ap')).toMatchObject({ vote: 'muted', eligible: false, mute: { reason: 'provider maintenance', until: T0 + 5 * M, by: 'alice' } })
    expect(h.view()).toMatchObject({ state: 'ok', eligible: 2, down: 1 })

    await h.rounds(9, { eu: 'up', us: 'down', ap: 'down' })
    expect(h.vote('ap').vote).toBe('muted')
    // Expiry at T0+5m, between two rounds: the timer brings ap's down vote back.
    await h.time.advance(30 * S)
    expect(h.vote('ap')).toMatchObject({ vote: 'down', eligible: true })
    expect(h.vote('ap').mute).toBeUndefined()
    expect(h.view().state).toBe('pending')
    expect(h.engine.activeMutes()).toEqual([])
    expect(h.logs.some((l) => l.msg === 'vantage mute expired' && l.vantage === 'ap')).toBe(true)
  })

  it('unmute restores the vote at once', () => {
    h = new Harness({ yaml: yaml() })
    h.engine.mute('eu', { reason: 'flaky', until: null })
    h.votes({ eu: 'down', us: 'down', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', down: 1 })
    expect(h.engine.unmute('eu')).toBe(true)
    expect(h.engine.unmute('eu')).toBe(false)
    expect(h.view()).toMatchObject({ state: 'pending', down: 2 })
    expect(h.vote('eu').vote).toBe('down')
  })
})

describe('late results', () => {
  it('a result replayed from an outbox (round older than stale_after) never votes', async () => {
    h = new Harness({ yaml: yaml() })
    await h.rounds(5, { eu: 'up', us: 'up', ap: 'up' })
    const late = ['eu', 'us', 'ap'].map((v) =>
      h.report(v, 'down', { round: h.round() - 4, started_at: new Date(h.now() - 4 * 30 * S).toISOString() }),
    )
    expect(h.view()).toMatchObject({ state: 'ok', down: 0 })
    expect(h.view().vantages.map((v) => v.vote)).toEqual(['up', 'up', 'up'])
    for (const r of late) expect(h.store.result(r.result_id)).toEqual(r) // kept in history
    expect(h.transitions()).toEqual(['unknown→ok'])
  })

  it('late results do not revive a stale vantage either', async () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    await h.rounds(5, { eu: 'up', us: 'up' })
    expect(h.vote('ap').vote).toBe('stale')
    h.report('ap', 'up', { round: h.round() - 4 })
    expect(h.vote('ap').vote).toBe('stale')
  })
})

describe('incidents, disagreement, certificates, acks', () => {
  it('keeps the first and last failing result of each failing vantage, with their errors', async () => {
    h = new Harness({ yaml: yaml('{ min_down: 2, for: 1m, resolve_after: 30s }') })
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    await h.time.advance(30 * S)
    const firstEu = h.report('eu', 'down', { error: 'first eu failure' })
    const firstUs = h.report('us', 'down', { error: 'first us failure' })
    h.report('ap', 'up')
    await h.time.advance(30 * S)
    await h.rounds(2, { eu: 'down', us: 'down', ap: 'up' })
    expect(h.view().state).toBe('outage')
    // ap joins the failure during the incident.
    h.votes({ ap: 'down' })
    const lastEu = h.report('eu', 'down', { error: 'last eu failure' })
    const lastUs = h.report('us', 'down', { error: 'last us failure' })
    const incident = h.engine.incident(h.view().incident_id!)!
    expect(incident.failing_vantages).toEqual(['eu', 'us', 'ap'])
    const ev = Object.fromEntries(incident.evidence.map((e) => [e.vantage, e]))
    expect(ev.eu.first).toMatchObject({ result_id: firstEu.result_id, error: 'first eu failure', error_code: 'CONNECTION_REFUSED' })
    expect(ev.eu.last).toMatchObject({ result_id: lastEu.result_id, error: 'last eu failure' })
    expect(ev.us.first.result_id).toBe(firstUs.result_id)
    expect(ev.us.last.result_id).toBe(lastUs.result_id)
    expect(ev.ap.first.success).toBe(false)
  })

  it('tracks since when vantages disagree', async () => {
    h = new Harness({ yaml: yaml() })
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    await h.time.advance(30 * S)
    h.votes({ eu: 'up', us: 'up', ap: 'down' })
    expect(h.view()).toMatchObject({ disagreement: true, disagreement_since: T0 + 30 * S })
    await h.rounds(3, { eu: 'up', us: 'up', ap: 'down' })
    expect(h.view().disagreement_since).toBe(T0 + 30 * S)
    h.votes({ ap: 'up' })
    expect(h.view()).toMatchObject({ disagreement: false, disagreement_since: null })
  })

  it('flags different leaf certificates seen by different vantages', () => {
    h = new Harness({ yaml: yaml() })
    const tls = (fp: string) => ({
      version: 'TLS 1.3', cipher: 'TLS_AES_128_GCM_SHA256', chain_valid: true, hostname_valid: true, verify_error: null,
      earliest_cert_expiry: 1_900_000_000,
      leaf: { subject: 'CN=shop.example', issuer: 'CN=CA', not_before: 1, not_after: 1_900_000_000, dns_names: ['shop.example'], fingerprint_sha256: fp },
    })
    h.report('eu', 'up', { tls: tls('AA:BB') })
    h.report('us', 'up', { tls: tls('aa:bb') })
    expect(h.view().cert_mismatch).toBe(false)
    h.report('ap', 'up', { tls: tls('CC:DD') })
    expect(h.view().cert_mismatch).toBe(true)
  })

  it('an ack shows on the check and its incident until the check is healthy again', async () => {
    h = new Harness({ yaml: yaml('{ min_down: 2, for: 30s, resolve_after: 30s }') })
    await h.rounds(2, { eu: 'down', us: 'down', ap: 'up' })
    expect(h.view().state).toBe('outage')
    const ack = h.engine.ack('shop', 'DNS provider incident, tracking', 'bob')
    expect(ack).toMatchObject({ note: 'DNS provider incident, tracking', by: 'bob', incident_id: h.view().incident_id })
    expect(h.view().ack).toEqual({ note: 'DNS provider incident, tracking', by: 'bob', at: h.now() })
    expect(h.engine.incident(h.view().incident_id!)!.acks).toEqual([{ note: 'DNS provider incident, tracking', by: 'bob', at: h.now() }])
    await h.rounds(2, { eu: 'up', us: 'up', ap: 'up' })
    expect(h.view().state).toBe('ok')
    expect(h.view().ack).toBeUndefined()
  })
})

describe('restart', () => {
  const OUTAGE = '{ min_down: 2, for: 30s, resolve_after: 1m }'

  it('a restarted hub neither re-opens nor forgets an outage', async () => {
    h = new Harness({ yaml: yaml(OUTAGE) })
    await h.rounds(3, { eu: 'down', us: 'down', ap: 'up' })
    const before = h.view()
    expect(before.state).toBe('outage')
    h.engine.mute('ap', { reason: 'kept across restarts', until: null })
    h.close()

    // Back 10 s later: the votes are still live.
    h = new Harness({ yaml: yaml(OUTAGE), dir: h.dir, time: new FakeTime(h.now() + 10 * S) })
    expect(h.view()).toMatchObject({ state: 'outage', since: before.since, incident_id: before.incident_id })
    expect(h.vote('ap')).toMatchObject({ vote: 'muted', mute: { reason: 'kept across restarts' } })
    expect(h.vote('eu').since).toBe(before.vantages[0].since)
    expect(h.engine.incidents()).toHaveLength(1)
    expect(h.engine.incidents({ open: true })[0].id).toBe(before.incident_id)
    expect(h.transitions()).toEqual([])

    // It still recovers (and closes that incident) by the rule.
    await h.rounds(3, { eu: 'up', us: 'up', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', incident_id: null })
    expect(h.engine.incident(before.incident_id!)).toMatchObject({ resolution: 'recovered' })
    expect(h.engine.incidents()).toHaveLength(1)
  })

  it('after a long stop, the restored outage is held for stale_after while agents report again', async () => {
    h = new Harness({ yaml: yaml(OUTAGE) })
    await h.rounds(3, { eu: 'down', us: 'down', ap: 'down' })
    const { incident_id: id, since } = h.view()
    h.close()

    h = new Harness({ yaml: yaml(OUTAGE), dir: h.dir, time: new FakeTime(h.now() + 10 * M) })
    expect(h.view()).toMatchObject({ state: 'outage', since, incident_id: id, eligible: 0 })
    await h.rounds(2, { eu: 'down', us: 'down' })
    expect(h.view()).toMatchObject({ state: 'outage', since, incident_id: id })
    expect(h.engine.incidents()).toHaveLength(1)
  })

  it('after a long stop with no agent back within stale_after, the check is unknown and its incident stays open', async () => {
    h = new Harness({ yaml: yaml(OUTAGE) })
    await h.rounds(3, { eu: 'down', us: 'down', ap: 'down' })
    const { incident_id: id } = h.view()
    h.close()

    h = new Harness({ yaml: yaml(OUTAGE), dir: h.dir, time: new FakeTime(h.now() + 10 * M) })
    await h.time.advance(90 * S)
    expect(h.view()).toMatchObject({ state: 'unknown', incident_id: id })
    expect(h.engine.incident(id!)!.ended_at).toBeNull()
    h.votes({ eu: 'up', us: 'up', ap: 'up' })
    expect(h.view()).toMatchObject({ state: 'ok', incident_id: null })
    expect(h.engine.incident(id!)).toMatchObject({ resolution: 'recovered' })
  })
})
