import { describe, expect, it } from 'vitest'
import type { CheckSpec } from '../../proto/check.ts'
import { nullLogger } from '../../agent/core/probe.ts'
import { hashName, MAX_SPREAD_MS, nextFireAt, phaseOf, Scheduler, Semaphore } from '../../agent/daemon/scheduler.ts'
import { FakeTime } from './fake-time.ts'

const T0 = 1_800_000_000_000 // a round boundary for every interval used here

function check(name: string, intervalMs = 30_000, extra: Partial<CheckSpec> = {}): CheckSpec {
  return { name, type: 'http', target: `http://127.0.0.1/${name}`, interval_ms: intervalMs, timeout_ms: 5_000, ...extra }
}

interface Fired {
  check: string
  round: number
  at: number
}

function recorder(time: FakeTime, opts: { concurrency?: number; hold?: (c: CheckSpec) => Promise<void> } = {}) {
  const fired: Fired[] = []
  const scheduler = new Scheduler({
    clock: time,
    timers: time,
    concurrency: opts.concurrency ?? 16,
    logger: nullLogger,
    run: async (c, round) => {
      fired.push({ check: c.name, round, at: time.now() })
      await opts.hold?.(c)
    },
  })
  return { fired, scheduler }
}

/** A promise the test resolves by hand: a probe that takes exactly as long as the test says. */
function gate() {
  let open!: () => void
  const promise = new Promise<void>((resolve) => (open = resolve))
  return { promise, open }
}

describe('phase', () => {
  it('is a stable hash of the name, inside the first part of the round', () => {
    expect(hashName('shop-home')).toBe(hashName('shop-home'))
    expect(hashName('')).toBe(0x811c9dc5) // FNV-1a offset basis: the same on every platform
    for (const interval of [1_000, 30_000, 3_600_000]) {
      const phase = phaseOf('shop-home', interval)
      expect(phase).toBe(phaseOf('shop-home', interval))
      expect(phase).toBeGreaterThanOrEqual(0)
      expect(phase).toBeLessThan(Math.min(interval / 2, MAX_SPREAD_MS))
    }
  })

  it('spreads different checks over the spread window', () => {
    const phases = new Set(Array.from({ length: 200 }, (_, i) => Math.floor(phaseOf(`check-${i}`, 60_000) / 1000)))
    expect(phases.size).toBe(10) // every second of the 10 s window is used
  })

  it('nextFireAt lands on round × interval + phase', () => {
    expect(nextFireAt(T0 + 1, 30_000, 500)).toBe(T0 + 500)
    expect(nextFireAt(T0 + 500, 30_000, 500)).toBe(T0 + 500)
    expect(nextFireAt(T0 + 501, 30_000, 500)).toBe(T0 + 30_500)
    expect(nextFireAt(T0 + 1, 30_000, 500, T0 / 30_000 + 2)).toBe(T0 + 60_500)
  })
})

describe('Scheduler', () => {
  it('aligns rounds across vantages whatever their start time', async () => {
    // Two vantages: one starts 3.1 s into a round, the other 17.2 s in and with its clock 400 ms ahead.
    const a = new FakeTime(T0 + 3_100)
    const b = new FakeTime(T0 + 17_200 + 400)
    const va = recorder(a)
    const vb = recorder(b)
    const checks = [check('shop-home'), check('api', 10_000)]
    va.scheduler.reconcile(checks, 'v1')
    vb.scheduler.reconcile(checks, 'v1')
    await a.advanceTo(T0 + 120_000)
    await b.advanceTo(T0 + 120_000 + 400)

    for (const c of checks) {
      const phase = phaseOf(c.name, c.interval_ms)
      const ra = va.fired.filter((f) => f.check === c.name)
      const rb = vb.fired.filter((f) => f.check === c.name)
      // Every fire is on the grid, in the round it names, on both vantages.
      for (const f of [...ra, ...rb]) {
        expect(f.at).toBe(f.round * c.interval_ms + phase)
        expect(Math.floor(f.at / c.interval_ms)).toBe(f.round)
      }
      // The rounds both vantages were up for are probed by both.
      const firstB = Math.ceil((T0 + 17_600 - phase) / c.interval_ms)
      expect(ra.map((f) => f.round).filter((r) => r >= firstB)).toEqual(rb.map((f) => f.round))
      expect(rb.length).toBeGreaterThan(2)
    }
    await va.scheduler.stop()
    await vb.scheduler.stop()
  })

  it('never runs more probes at once than the concurrency limit', async () => {
    const time = new FakeTime(T0)
    let active = 0
    let peak = 0
    const gates: ReturnType<typeof gate>[] = []
    const { fired, scheduler } = recorder(time, {
      concurrency: 2,
      hold: async () => {
        active++
        peak = Math.max(peak, active)
        const g = gate()
        gates.push(g)
        await g.promise
        active--
      },
    })
    scheduler.reconcile(['a', 'b', 'c', 'd', 'e'].map((n) => check(n, 60_000)), 'v1')
    await time.advance(MAX_SPREAD_MS)
    expect(fired).toHaveLength(2)
    expect(scheduler.stats().running).toBe(2)
    // As slots free up, the waiting checks run (still inside their round).
    gates[0].open()
    gates[1].open()
    await time.advance(0)
    expect(fired).toHaveLength(4)
    gates[2].open()
    gates[3].open()
    await time.advance(0)
    expect(fired).toHaveLength(5)
    gates[4].open()
    await scheduler.stop()
    expect(peak).toBe(2)
  })

  it('skips, and counts, a round whose previous round is still running', async () => {
    const time = new FakeTime(T0)
    const g = gate()
    const { fired, scheduler } = recorder(time, { hold: () => g.promise })
    const c = check('slow', 10_000, { timeout_ms: 30_000 })
    scheduler.reconcile([c], 'v1')
    const phase = phaseOf('slow', 10_000)
    await time.advanceTo(T0 + phase) // round 0 starts and hangs
    await time.advanceTo(T0 + 20_000 + phase) // rounds 1 and 2 come due
    expect(fired.map((f) => f.round)).toEqual([T0 / 10_000])
    expect(scheduler.stats().skipped_overrun).toBe(2)
    g.open()
    await time.advanceTo(T0 + 30_000 + phase) // round 3 runs again: not stacked, not lost
    expect(fired.map((f) => f.round)).toEqual([T0 / 10_000, T0 / 10_000 + 3])
    await scheduler.stop()
  })

  it('skips a round that waited for a slot past its end', async () => {
    const time = new FakeTime(T0)
    const g = gate()
    // One slot: "hog" (phase first) holds it through the whole round of "starved".
    const names = ['hog', 'starved']
    const [hog, starved] = names.map((n) => check(n, 2_000))
    expect(phaseOf('hog', 2_000)).not.toBe(phaseOf('starved', 2_000))
    const first = phaseOf('hog', 2_000) < phaseOf('starved', 2_000) ? hog : starved
    const second = first === hog ? starved : hog
    const { fired, scheduler } = recorder(time, { concurrency: 1, hold: (c) => (c === first ? g.promise : Promise.resolve()) })
    scheduler.reconcile([first, second], 'v1')
    await time.advanceTo(T0 + 1_000) // both fired; `second` waits for the slot
    expect(fired.map((f) => f.check)).toEqual([first.name])
    await time.advanceTo(T0 + 2_000) // the round is over
    g.open()
    await time.advance(0)
    expect(scheduler.stats().skipped_late).toBe(1)
    expect(fired.map((f) => f.check)).toEqual([first.name])
    await scheduler.stop()
  })

  it('reconciles by version: unchanged is a no-op, changed restarts, missing stops', async () => {
    const time = new FakeTime(T0)
    const { fired, scheduler } = recorder(time)
    const a = check('a', 60_000)
    const b = check('b', 60_000)
    expect(scheduler.reconcile([a, b], 'v1')).toMatchObject({ added: ['a', 'b'] })
    // Same version: nothing changes, even with a different list.
    expect(scheduler.reconcile([a], 'v1')).toMatchObject({ added: [], removed: [], unchanged: 2 })
    await time.advance(60_000)
    expect(fired.map((f) => f.check).sort()).toEqual(['a', 'b'])

    // v2: a changed (new target), b not resent (stops), c added. Key order does not matter.
    const a2 = { ...check('a', 60_000), target: 'http://127.0.0.1/a2' }
    const bReordered = Object.fromEntries(Object.entries(b).reverse()) as unknown as CheckSpec
    expect(scheduler.reconcile([a2, check('c', 60_000)], 'v2')).toEqual({
      added: ['c'],
      updated: ['a'],
      removed: ['b'],
      unchanged: 0,
      invalid: [],
    })
    expect(scheduler.reconcile([a2, check('c', 60_000), bReordered], 'v3')).toMatchObject({ added: ['b'], unchanged: 2 })
    expect(scheduler.reconcile([a2, check('c', 60_000)], 'v4')).toMatchObject({ removed: ['b'], unchanged: 2 })
    fired.length = 0
    await time.advance(60_000)
    expect(fired.map((f) => f.check).sort()).toEqual(['a', 'c'])
    await scheduler.stop()
    expect(time.timers).toBe(0)
  })

  it('skips invalid checks and keeps the rest', () => {
    const time = new FakeTime(T0)
    const { scheduler } = recorder(time)
    const summary = scheduler.reconcile([check('ok'), check('ok'), check('zero', 0)], 'v1')
    expect(summary.added).toEqual(['ok'])
    expect(summary.invalid).toEqual(['ok', 'zero'])
  })

  it('waits for the round it is meant for when a timer fires early', async () => {
    const time = new FakeTime(T0 + 1)
    const { fired, scheduler } = recorder(time)
    scheduler.reconcile([check('x', 30_000)], 'v1')
    // The wall clock is stepped back 5 s (NTP) while the timer is pending: it must not probe early.
    time.jump(-5_000)
    await time.advance(20_000)
    expect(fired).toHaveLength(1)
    expect(fired[0].at).toBe(fired[0].round * 30_000 + phaseOf('x', 30_000))
    await scheduler.stop()
  })
})

describe('Semaphore', () => {
  it('hands slots over first come first served', async () => {
    const s = new Semaphore(1)
    const order: number[] = []
    const r1 = await s.acquire()
    const p2 = s.acquire().then((r) => (order.push(2), r))
    const p3 = s.acquire().then((r) => (order.push(3), r))
    expect(s.queued).toBe(2)
    r1()
    r1() // a second release is ignored
    ;(await p2)()
    ;(await p3)()
    expect(order).toEqual([2, 3])
    expect(s.active).toBe(0)
  })
})
