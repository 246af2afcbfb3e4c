// Coalescing commits per check (hub/quorum/engine.ts): a check quiet for coalesceMs is evaluated
// at the commit (leading edge), commits within its interval are evaluated once when it ends
// (trailing), readers evaluate what is deferred first, stop() drops it. Time is the fake clock
// the harness injects with its timers (the engine measures the interval on it): no sleeps.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { QUORUM_COALESCE_MS } from '../../hub/quorum/engine.ts'
import { Harness, T0, THREE } from './harness.ts'

const S = 1000
const W = 100 // the interval these tests use (the default, spelled out)

const check = (name: string, quorum = '{ min_down: 2, for: 1m, resolve_after: 1m }') =>
  `  - { name: ${name}, type: http, target: "https://${name}.example/", interval: 30s, vantages: [eu, us, ap], quorum: ${quorum} }\n`

const yaml = (...checks: string[]) => `${THREE}checks:\n${checks.join('')}`

let h: Harness
afterEach(() => h?.cleanup())

/** Every evaluate() call from now on, as the checks it was asked for ('*' for all). */
function evaluations(harness: Harness): string[][] {
  const calls: string[][] = []
  const original = harness.engine.evaluate.bind(harness.engine)
  vi.spyOn(harness.engine, 'evaluate').mockImplementation((only?: Iterable<string>, force?: boolean) => {
    calls.push(only === undefined ? ['*'] : [...only].sort())
    original(only, force)
  })
  return calls
}

describe('coalescing commits', () => {
  it('defaults to a window well under a second', () => {
    expect(QUORUM_COALESCE_MS).toBeGreaterThanOrEqual(100)
    expect(QUORUM_COALESCE_MS).toBeLessThanOrEqual(250)
  })

  it('a quiet check is evaluated at the commit: listeners hear of it with no read and no timer', async () => {
    h = new Harness({ yaml: yaml(check('shop')), coalesceMs: W })
    const calls = evaluations(h)
    h.report('eu', 'down')
    expect(calls).toEqual([['shop']])
    expect(h.engine.deferred()).toEqual([])
    expect(h.changes.at(-1)?.checks).toEqual(['shop'])
    // After its interval, the next commit is evaluated at once again.
    await h.time.advance(W)
    h.report('us', 'down')
    expect(calls).toEqual([['shop'], ['shop']])
    expect(h.transitions()).toEqual(['unknown→pending'])
    expect(h.changes.at(-1)?.transitions).toMatchObject([{ at: T0 + W }])
  })

  it('a burst within the interval is evaluated once, when the interval ends', async () => {
    h = new Harness({ yaml: yaml(check('shop', '{ min_down: 2, for: 0s, resolve_after: 1m }')), coalesceMs: W })
    const calls = evaluations(h)
    const changes = h.changes.length
    h.report('eu', 'down') // leading edge: one down of K = 2, still unknown
    await h.time.advance(10)
    h.report('us', 'down')
    await h.time.advance(10)
    h.report('ap', 'down')
    h.report('eu', 'down', { agent: 'eu-2' })
    expect(calls).toEqual([['shop']])
    expect(h.engine.deferred()).toEqual(['shop'])
    expect(h.changes.length).toBe(changes + 1)
    expect(h.transitions()).toEqual([])

    // Not before the interval ends (W after the leading evaluation)…
    await h.time.advance(W - 21)
    expect(calls).toEqual([['shop']])
    // …and exactly once when it does, with everything the burst brought.
    await h.time.advance(1)
    expect(calls).toEqual([['shop'], ['shop']])
    expect(h.engine.deferred()).toEqual([])
    expect(h.transitions()).toEqual(['unknown→pending', 'pending→outage'])
    expect(h.changes.at(-1)?.transitions.at(-1)).toMatchObject({ to: 'outage', at: T0 + W })
    expect(h.view()).toMatchObject({ state: 'outage', down: 3 })
    expect(h.vote('eu').agents).toEqual(['eu-1', 'eu-2'])
    expect(calls).toHaveLength(2) // the read found nothing deferred
  })

  it('under continuous load, one evaluation per check per interval', async () => {
    h = new Harness({ yaml: yaml(check('shop'), check('cart')), coalesceMs: W })
    const calls = evaluations(h)
    // A commit every 5 ms for one second, each touching both checks.
    for (let i = 0; i < 200; i++) {
      h.report(['eu', 'us', 'ap'][i % 3], i % 2 ? 'up' : 'down', { check: 'shop' })
      h.report(['eu', 'us', 'ap'][i % 3], 'up', { check: 'cart' })
      await h.time.advance(5)
    }
    const of = (name: string) => calls.filter((c) => c.includes(name)).length
    // 1 s / 100 ms: ten intervals, one evaluation each (plus the leading one).
    expect(of('shop')).toBeLessThanOrEqual(1000 / W + 1)
    expect(of('cart')).toBeLessThanOrEqual(1000 / W + 1)
    expect(of('shop')).toBeGreaterThanOrEqual(1000 / W - 1)
    // Each check's first commit at once, then checks touched together are evaluated together.
    expect(calls.slice(0, 2)).toEqual([['shop'], ['cart']])
    expect(calls.slice(2).every((c) => c.join() === 'cart,shop')).toBe(true)
    // Nothing is lost: the last commit is what the view shows.
    await h.time.advance(W)
    expect(h.engine.deferred()).toEqual([])
    const ap = h.engine.current().checks.find((c) => c.name === 'cart')!.vantages.find((v) => v.vantage === 'ap')!
    expect(ap.latest?.result_id).toBe(h.store.vote('cart', 'ap')!.result.result_id)
  })

  it('each check has its own interval: a quiet one is not held back by a busy one', () => {
    h = new Harness({ yaml: yaml(check('shop'), check('cart')), coalesceMs: W })
    const calls = evaluations(h)
    h.report('eu', 'down', { check: 'shop' })
    h.report('us', 'down', { check: 'shop' })
    expect(h.engine.deferred()).toEqual(['shop'])
    h.report('eu', 'down', { check: 'cart' })
    expect(calls).toEqual([['shop'], ['cart']])
    expect(h.engine.deferred()).toEqual(['shop'])
  })

  it('readers evaluate deferred commits first: current(), check(), snapshot(), incidents()', () => {
    h = new Harness({ yaml: yaml(check('shop', '{ min_down: 2, for: 0s, resolve_after: 1m }'), check('cart')), coalesceMs: W })
    const stateOf = (name: string) => h.engine.current().checks.find((c) => c.name === name)!.state

    // current(): what a /metrics scrape or the review page reads after a snapshot.
    h.report('eu', 'up', { check: 'cart' })
    h.report('us', 'up', { check: 'cart' })
    expect(h.engine.deferred()).toEqual(['cart'])
    expect(stateOf('cart')).toBe('ok')
    expect(h.engine.deferred()).toEqual([])

    // check(name)
    h.report('ap', 'up', { check: 'cart' })
    expect(h.engine.deferred()).toEqual(['cart'])
    expect(h.engine.check('cart')).toMatchObject({ state: 'ok', up: 3 })
    expect(h.engine.deferred()).toEqual([])

    // incidents(): a deferred commit that makes the down quorum opens the incident before the read.
    h.report('eu', 'down')
    h.report('us', 'down')
    expect(h.engine.deferred()).toEqual(['shop'])
    expect(h.engine.incidents({ open: true })).toMatchObject([{ check: 'shop', failing_vantages: ['eu', 'us'] }])
    expect(h.engine.deferred()).toEqual([])

    // snapshot()
    h.report('ap', 'down')
    expect(h.engine.snapshot().checks.find((c) => c.name === 'shop')).toMatchObject({ state: 'outage', down: 3 })
    expect(h.engine.deferred()).toEqual([])
  })

  it('the flushing read starts a new interval, so the trailing timer has nothing left to do', async () => {
    h = new Harness({ yaml: yaml(check('shop')), coalesceMs: W })
    h.report('eu', 'down')
    h.report('us', 'down')
    const calls = evaluations(h)
    expect(h.view().state).toBe('pending')
    expect(calls).toEqual([['shop']])
    await h.time.advance(W)
    expect(calls).toEqual([['shop']])
  })

  it('mutes and acks act at once, taking deferred commits of their checks with them', () => {
    h = new Harness({ yaml: yaml(check('shop')), coalesceMs: W })
    h.report('eu', 'down')
    h.report('us', 'down')
    h.report('ap', 'up')
    expect(h.engine.deferred()).toEqual(['shop'])
    const transitions = h.changes.length
    h.engine.mute('ap', { reason: 'maintenance', until: null })
    expect(h.engine.deferred()).toEqual([])
    expect(h.changes.length).toBeGreaterThan(transitions)
    expect(h.transitions()).toEqual(['unknown→pending'])
    expect(h.engine.current().checks[0].vantages.map((v) => v.vote)).toEqual(['down', 'down', 'muted'])

    h.report('eu', 'down', { agent: 'eu-2' })
    expect(h.engine.deferred()).toEqual(['shop'])
    h.engine.ack('shop', 'looking')
    expect(h.engine.deferred()).toEqual([])
    expect(h.vote('eu').agents).toEqual(['eu-1', 'eu-2'])
  })

  it('stop() drops deferred commits and their timer', async () => {
    h = new Harness({ yaml: yaml(check('shop')), coalesceMs: W })
    h.report('eu', 'down')
    h.report('us', 'down')
    expect(h.engine.deferred()).toEqual(['shop'])
    const calls = evaluations(h)
    const changes = h.changes.length
    h.engine.stop()
    expect(h.engine.deferred()).toEqual([])
    expect(h.time.timers).toBe(0)
    await h.time.advance(10 * W)
    expect(calls).toEqual([])
    expect(h.changes.length).toBe(changes)
    // A stopped engine reads what it had: it does not evaluate on read either.
    expect(h.engine.current().checks[0].state).toBe('unknown')
  })

  it('coalesceMs 0 evaluates every commit at once', () => {
    h = new Harness({ yaml: yaml(check('shop')), coalesceMs: 0 })
    const calls = evaluations(h)
    h.votes({ eu: 'down', us: 'down', ap: 'up' })
    expect(calls).toEqual([['shop'], ['shop'], ['shop']])
    expect(h.engine.deferred()).toEqual([])
    expect(h.time.timers).toBe(1) // only the deadline timer
    expect(h.transitions()).toEqual(['unknown→pending'])
  })

  it('a wall clock stepped back (with fake timers the window is the injected clock) does not hold a check back', () => {
    h = new Harness({ yaml: yaml(check('shop')), coalesceMs: W })
    const calls = evaluations(h)
    h.report('eu', 'up')
    h.time.jump(-5 * S)
    h.report('us', 'up')
    expect(calls).toEqual([['shop'], ['shop']])
    expect(h.engine.deferred()).toEqual([])
  })
})
