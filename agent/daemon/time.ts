// Time as the daemon sees it: a wall clock (agent/core's Clock) and timers, both injectable so
// tests drive scheduling, backoff and refresh by advancing a fake clock instead of sleeping.
import type { Clock } from '../core/probe.ts'

export type { Clock }
export { systemClock } from '../core/probe.ts'

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Node's longest timer; longer waits are re-armed (a timer firing early is handled by callers). */
export const MAX_TIMER_MS = 2 ** 31 - 1

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/** Resolves after `ms` (or at once when `signal` aborts: waits are for retries, never for correctness). */
export function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      timers.clearTimeout(handle)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const handle = timers.setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
