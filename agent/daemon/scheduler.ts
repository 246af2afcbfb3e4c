// Runs each assigned check once per round, aligned to the round grid rather than to when the
// agent started: check C fires at `round × interval + phase(C)`, and phase(C) depends only on
// the check's name. Every vantage therefore probes the same round of C within clock skew, while
// different checks are spread over the first part of their interval (no thundering herd).
//
// A round still running when the next one is due is skipped and counted, never stacked; a
// small semaphore caps how many probes run at once.
import type { CheckSpec } from '../../proto/check.ts'
import type { Logger } from '../core/probe.ts'
import { MAX_TIMER_MS, type Clock, type Timers } from './time.ts'

/** Phases spread over at most this much of the interval (and at most half of it). */
export const MAX_SPREAD_MS = 10_000

export type RunCheck = (check: CheckSpec, round: number) => Promise<void>

export interface SchedulerOptions {
  clock: Clock
  timers: Timers
  /** Most probes running at once. */
  concurrency: number
  run: RunCheck
  logger: Logger
}

export interface ReconcileSummary {
  added: string[]
  updated: string[]
  removed: string[]
  unchanged: number
  invalid: string[]
}

export interface SchedulerStats {
  checks: number
  running: number
  /** Rounds that fired while the previous round of the same check was still running. */
  skipped_overrun: number
  /** Rounds that waited for a concurrency slot until their round was over. */
  skipped_late: number
}

/** FNV-1a: small, stable across processes and platforms (the phase must agree everywhere). */
export function hashName(name: string): number {
  let h = 0x811c9dc5
  for (const byte of new TextEncoder().encode(name)) {
    h ^= byte
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/**
 * The check's offset into each round, in [0, min(interval / 2, 10s)). The same on every vantage;
 * kept in the first half so a slightly late timer still lands in the round it was meant for.
 */
export function phaseOf(name: string, intervalMs: number): number {
  const spread = Math.max(1, Math.floor(Math.min(intervalMs / 2, MAX_SPREAD_MS)))
  return hashName(name) % spread
}

/** The first fire time at or after `now` whose round is at least `minRound`. */
export function nextFireAt(now: number, intervalMs: number, phaseMs: number, minRound = -Infinity): number {
  const round = Math.max(minRound, Math.ceil((now - phaseMs) / intervalMs))
  return round * intervalMs + phaseMs
}

interface Entry {
  spec: CheckSpec
  key: string
  phase: number
  timer: unknown
  /** Set while a round (waiting for a slot or probing) is under way. */
  running: Promise<void> | null
  stopped: boolean
}

export class Scheduler {
  private readonly entries = new Map<string, Entry>()
  /** Rounds of removed or replaced checks still finishing (stop() waits for them too). */
  private readonly orphans = new Set<Promise<void>>()
  private readonly slots: Semaphore
  private version: string | undefined
  private skippedOverrun = 0
  private skippedLate = 0
  private stopped = false

  constructor(private readonly opts: SchedulerOptions) {
    this.slots = new Semaphore(opts.concurrency)
  }

  /**
   * Makes the running set equal `checks` (a full resync: what is not listed stops). The same
   * version as last time is a no-op; a check whose spec changed is stopped and started again.
   */
  reconcile(checks: readonly CheckSpec[], version?: string): ReconcileSummary {
    const summary: ReconcileSummary = { added: [], updated: [], removed: [], unchanged: 0, invalid: [] }
    if (this.stopped || (version !== undefined && version === this.version)) {
      summary.unchanged = this.entries.size
      return summary
    }
    this.version = version
    const wanted = new Map<string, CheckSpec>()
    for (const check of checks) {
      const problem = invalidReason(check, wanted)
      if (problem) {
        // A bad check is reported and skipped; the others still run.
        summary.invalid.push(check.name)
        this.opts.logger.error({ check: check.name, reason: problem }, 'skipping invalid check')
        continue
      }
      wanted.set(check.name, check)
    }
    for (const [name, entry] of this.entries) {
      if (!wanted.has(name)) {
        this.stopEntry(entry)
        summary.removed.push(name)
      }
    }
    for (const [name, spec] of wanted) {
      const key = stableKey(spec)
      const current = this.entries.get(name)
      if (current && current.key === key) {
        summary.unchanged++
        continue
      }
      if (current) this.stopEntry(current)
      const entry: Entry = { spec, key, phase: phaseOf(name, spec.interval_ms), timer: undefined, running: null, stopped: false }
      // An update keeps the old round running to completion (its result is still valid); the
      // new spec's first round then waits for it instead of overlapping.
      if (current?.running) entry.running = current.running.finally(() => (entry.running = null))
      this.entries.set(name, entry)
      this.arm(entry)
      ;(current ? summary.updated : summary.added).push(name)
    }
    return summary
  }

  /** Stops firing; resolves when every round already under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const entry of this.entries.values()) this.stopEntry(entry)
    await this.idle()
  }

  /** Resolves when nothing is running (rounds already under way finish). */
  async idle(): Promise<void> {
    const running = [...this.entries.values()].map((e) => e.running).filter((p): p is Promise<void> => p !== null)
    await Promise.allSettled([...running, ...this.orphans])
  }

  stats(): SchedulerStats {
    return {
      checks: [...this.entries.values()].filter((e) => !e.stopped).length,
      running: this.slots.active,
      skipped_overrun: this.skippedOverrun,
      skipped_late: this.skippedLate,
    }
  }

  /** When the check fires next (tests, debug logs). */
  nextFire(name: string): number | undefined {
    const entry = this.entries.get(name)
    return entry && !entry.stopped ? nextFireAt(this.opts.clock.now(), entry.spec.interval_ms, entry.phase) : undefined
  }

  private stopEntry(entry: Entry): void {
    entry.stopped = true
    this.opts.timers.clearTimeout(entry.timer)
    if (entry.running) {
      const running = entry.running
      this.orphans.add(running)
      void running.finally(() => this.orphans.delete(running))
    }
    if (this.entries.get(entry.spec.name) === entry) this.entries.delete(entry.spec.name)
  }

  private arm(entry: Entry, minRound?: number): void {
    const now = this.opts.clock.now()
    const at = nextFireAt(now, entry.spec.interval_ms, entry.phase, minRound)
    this.setTimer(entry, at)
  }

  private setTimer(entry: Entry, at: number): void {
    const delay = Math.min(Math.max(0, at - this.opts.clock.now()), MAX_TIMER_MS)
    entry.timer = this.opts.timers.setTimeout(() => this.fire(entry, at), delay)
  }

  private fire(entry: Entry, at: number): void {
    if (entry.stopped) return
    // A timer can fire before the wall clock reaches `at` (clock adjustments, very long waits):
    // wait the rest, so the probe's started_at falls in the round it is meant for.
    if (this.opts.clock.now() < at) return this.setTimer(entry, at)
    const { spec } = entry
    const round = Math.floor(at / spec.interval_ms)
    if (entry.running) {
      this.skippedOverrun++
      this.opts.logger.warn({ check: spec.name, round }, 'previous round still running: skipping this round')
    } else {
      entry.running = this.execute(spec, round).finally(() => (entry.running = null))
    }
    this.arm(entry, round + 1)
  }

  private async execute(spec: CheckSpec, round: number): Promise<void> {
    const release = await this.slots.acquire()
    try {
      // Waited for a slot past the end of the round: the result would carry the wrong round.
      if (Math.floor(this.opts.clock.now() / spec.interval_ms) !== round) {
        this.skippedLate++
        this.opts.logger.warn({ check: spec.name, round }, 'no probe slot free during the round (concurrency limit): skipping it')
        return
      }
      await this.opts.run(spec, round)
    } catch (err) {
      // run() records failures as results; a throw here is a bug, logged but not fatal.
      this.opts.logger.error({ check: spec.name, round, err }, 'check run failed')
    } finally {
      release()
    }
  }
}

function invalidReason(check: CheckSpec, seen: Map<string, CheckSpec>): string | null {
  if (!check || typeof check.name !== 'string' || check.name === '') return 'missing name'
  if (seen.has(check.name)) return 'duplicate check name'
  if (!Number.isFinite(check.interval_ms) || check.interval_ms < 1) return `invalid interval_ms ${check.interval_ms}`
  if (!Number.isFinite(check.timeout_ms) || check.timeout_ms < 1) return `invalid timeout_ms ${check.timeout_ms}`
  return null
}

/** JSON with sorted keys: equal specs give equal keys whatever order the hub wrote them in. */
export function stableKey(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

/** A counting semaphore: acquire() resolves with a release function, first come first served. */
export class Semaphore {
  private inUse = 0
  private readonly waiting: (() => void)[] = []

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`concurrency must be a positive integer, got ${limit}`)
  }

  get active(): number {
    return this.inUse
  }

  get queued(): number {
    return this.waiting.length
  }

  async acquire(): Promise<() => void> {
    if (this.inUse < this.limit) this.inUse++
    else await new Promise<void>((resolve) => this.waiting.push(resolve))
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiting.shift()
      // Hand the slot straight to the next waiter, so inUse never dips and overshoots.
      if (next) next()
      else this.inUse--
    }
  }
}
