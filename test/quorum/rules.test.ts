// The quorum's pure parts: the defaults as the config applies them, K for counts and
// fractions, the stale boundary (the store's isLive rule), and the state machine's deadlines.
import { describe, expect, it } from 'vitest'
import { encodeResult } from '../../proto/codec.ts'
import { parseHubConfig } from '../../hub/config.ts'
import { deadline, step } from '../../hub/quorum/machine.ts'
import { effectiveVote, minDownFor, tally } from '../../hub/quorum/tally.ts'
import { isLive, type VoteState } from '../../hub/store/vote.ts'
import { result } from '../hub/helpers.ts'

describe('defaults (issue 4)', () => {
  it('min_down 2, for 2 × interval, stale_after 3 × interval, resolve_after one interval', () => {
    const cfg = parseHubConfig(
      `vantages:\n  a: {}\n  b: {}\n  c: {}\nchecks:\n  - { name: shop, type: http, target: "https://shop.example/", interval: 30s }\n  - { name: one, type: http, target: "https://shop.example/", interval: 1m, vantages: [a] }\n`,
      '/tmp/hub.yaml',
    )
    const shop = cfg.checks.get('shop')!
    expect(shop.quorum).toEqual({ min_down: { count: 2 }, for_ms: 60_000, resolve_after_ms: 30_000 })
    expect(shop.stale_after_ms).toBe(90_000)
    const one = cfg.checks.get('one')!
    expect(one.quorum).toEqual({ min_down: { count: 1 }, for_ms: 120_000, resolve_after_ms: 60_000 })
    expect(one.stale_after_ms).toBe(180_000)
  })
})

describe('K', () => {
  it.each([
    [{ count: 2 }, 5, 2],
    [{ numerator: 2, denominator: 3 }, 3, 2],
    [{ numerator: 2, denominator: 3 }, 4, 3],
    [{ numerator: 2, denominator: 3 }, 2, 2],
    [{ numerator: 2, denominator: 3 }, 1, 1],
    [{ numerator: 2, denominator: 3 }, 0, 1],
    [{ numerator: 1, denominator: 2 }, 4, 2],
    [{ numerator: 3, denominator: 3 }, 7, 7],
  ])('%j of %i eligible is %i', (rule, eligible, k) => {
    expect(minDownFor(rule, eligible)).toBe(k)
  })

  it('counts failure domains once for eligibility, up and down alike', () => {
    const t = tally(
      [
        { vantage: 'hel', failure_domain: 'hetzner', vote: 'down', impaired: false },
        { vantage: 'fsn', failure_domain: 'hetzner', vote: 'up', impaired: false },
        { vantage: 'us', vote: 'down', impaired: false },
        { vantage: 'ap', vote: 'challenged', impaired: false },
        { vantage: 'sa', vote: 'down', impaired: true },
      ],
      { count: 2 },
    )
    expect(t).toMatchObject({ eligible: 2, up: 1, down: 2, condition: 'down', disagreement: true, all_challenged: false })
    expect(t.eligible_vantages).toEqual(['hel', 'fsn', 'us'])
    expect(t.failing).toEqual(['hel', 'us'])
  })
})

describe('stale', () => {
  const INTERVAL = 30_000
  const vote = (round: number): VoteState => {
    const r = result({ check: 'shop', vantage: 'eu', agent_id: 'eu-1', round }, round * INTERVAL)
    return { check: 'shop', vantage: 'eu', round, interval_ms: INTERVAL, vote: 'up', impaired: false, agents: ['eu-1'], n_results: 1, n_success: 1, n_challenged: 0, n_down: 0, n_down_impaired: 0, result: r, body: encodeResult(r), updated_at: 0 }
  }

  it('a vote is stale exactly when the store would no longer accept its round as live', () => {
    const v = vote(1000)
    const start = 1000 * INTERVAL
    for (const now of [start, start + 90_000, start + 90_001, start + 200_000]) {
      const live = isLive(v.result, { interval_ms: INTERVAL, stale_after_ms: 90_000 }, now)
      expect(effectiveVote(v, 90_000, now, false).vote === 'stale').toBe(!live)
    }
    expect(effectiveVote(v, 90_000, start, false).stale_at).toBe(start + 90_001)
    expect(effectiveVote(undefined, 90_000, start, false)).toEqual({ vote: 'stale', impaired: false, stale_at: null })
    expect(effectiveVote(v, 90_000, start, true).vote).toBe('muted')
  })
})

describe('machine', () => {
  const rule = { for_ms: 60_000, resolve_after_ms: 30_000 }
  const run = (state: 'ok' | 'pending' | 'outage' | 'unknown', condition: 'down' | 'clear' | 'insufficient', now: number, extra = {}) =>
    step({ state, since: 0, clear_since: null }, { condition, ...rule, now, incident_open: false, hold: false, ...extra })

  it('waits `for` in pending and `resolve_after` in outage, and says when', () => {
    expect(run('pending', 'down', 59_999).next.state).toBe('pending')
    expect(run('pending', 'down', 60_000).next).toEqual({ state: 'outage', since: 60_000, clear_since: null })
    expect(deadline({ state: 'pending', since: 0, clear_since: null }, { condition: 'down', ...rule })).toBe(60_000)
    const clearing = run('outage', 'clear', 10_000).next
    expect(clearing).toEqual({ state: 'outage', since: 0, clear_since: 10_000 })
    expect(deadline(clearing, { condition: 'clear', ...rule })).toBe(40_000)
    expect(step(clearing, { condition: 'clear', ...rule, now: 40_000, incident_open: true, hold: false }).next.state).toBe('ok')
    expect(step(clearing, { condition: 'down', ...rule, now: 20_000, incident_open: true, hold: false }).next).toEqual({ state: 'outage', since: 0, clear_since: null })
  })

  it('turns unknown on too few eligible, unless holding after a restart', () => {
    for (const s of ['ok', 'pending', 'outage'] as const) {
      expect(run(s, 'insufficient', 1).next.state).toBe('unknown')
      expect(run(s, 'insufficient', 1, { hold: true }).next.state).toBe(s)
    }
  })

  it('leaves unknown for pending, or for outage when its incident is still open', () => {
    expect(run('unknown', 'down', 1).transitions.map((t) => t.to)).toEqual(['pending'])
    expect(run('unknown', 'down', 1, { incident_open: true }).transitions.map((t) => t.to)).toEqual(['outage'])
    expect(run('unknown', 'clear', 1).next.state).toBe('ok')
  })
})
