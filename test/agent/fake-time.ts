// A fake wall clock with timers, for the daemon's injectable Clock and Timers: tests advance time
// explicitly and every timer due by then fires in order, with pending promise callbacks run
// between timers (so async work a timer starts gets to continue before the next fires).
import type { Clock, Timers } from '../../agent/daemon/time.ts'

interface Pending {
  id: number
  at: number
  fn: () => void
}

export class FakeTime implements Clock, Timers {
  /** Elapsed time, what timers count in (like a monotonic clock). */
  private elapsed = 0
  /** Wall clock = elapsed + offset; jump() moves only the wall clock. */
  private offset: number
  private nextId = 1
  private pending: Pending[] = []

  constructor(startMs: number) {
    this.offset = startMs
  }

  now = (): number => this.elapsed + this.offset

  setTimeout = (fn: () => void, ms: number): unknown => {
    const timer = { id: this.nextId++, at: this.elapsed + Math.max(0, ms), fn }
    this.pending.push(timer)
    return timer.id
  }

  clearTimeout = (handle: unknown): void => {
    this.pending = this.pending.filter((t) => t.id !== handle)
  }

  /** Timers waiting to fire. */
  get timers(): number {
    return this.pending.length
  }

  /** How long until the earliest pending timer is due. */
  get nextIn(): number | undefined {
    const at = this.pending.reduce<number | undefined>((min, t) => (min === undefined || t.at < min ? t.at : min), undefined)
    return at === undefined ? undefined : at - this.elapsed
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.elapsed + ms
    await settle()
    for (;;) {
      const due = this.pending.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0]
      if (!due) break
      this.pending = this.pending.filter((t) => t !== due)
      this.elapsed = Math.max(this.elapsed, due.at)
      due.fn()
      await settle()
    }
    this.elapsed = target
    await settle()
  }

  /** Moves time forward until the wall clock reads `wallMs`. */
  async advanceTo(wallMs: number): Promise<void> {
    await this.advance(Math.max(0, wallMs - this.now()))
  }

  /** Steps the wall clock (NTP) without moving timers. */
  jump(ms: number): void {
    this.offset += ms
  }
}

/** Lets promise callbacks and I/O callbacks queued so far run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
