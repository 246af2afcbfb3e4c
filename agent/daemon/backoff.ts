// Capped exponential backoff with jitter (undici's retry handler and the synthetic-monitoring
// agent's pusher use the same shape): doubling from `base` to `cap`, each wait drawn from
// [delay/2, delay) so agents that failed together do not retry together.

export interface BackoffOptions {
  baseMs?: number
  capMs?: number
  /** Uniform in [0, 1); injectable so tests get exact waits. */
  random?: () => number
}

export class Backoff {
  private attempt = 0
  private consecutive = 0
  private readonly baseMs: number
  private readonly capMs: number
  private readonly random: () => number

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 250
    this.capMs = opts.capMs ?? 30_000
    this.random = opts.random ?? Math.random
  }

  /** The wait before the next retry; each call doubles the ceiling, up to the cap. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt)
    if (ceiling < this.capMs) this.attempt++
    this.consecutive++
    return Math.round(ceiling / 2 + (ceiling / 2) * this.random())
  }

  /** Call after a success. */
  reset(): void {
    this.attempt = 0
    this.consecutive = 0
  }

  /** Failures since the last success. */
  get failures(): number {
    return this.consecutive
  }
}
