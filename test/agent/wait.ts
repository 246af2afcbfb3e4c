// Waiting on real I/O (a local HTTP or gRPC round trip, a process's store): poll a condition,
// fail after a deadline. Time-driven behaviour is not waited for this way; tests advance a
// FakeTime instead.
export interface WaitOptions {
  /** Pause between polls (default 5 ms; more for conditions that scrape or query). */
  intervalMs?: number
  /** What was last seen, for the error when the deadline passes. */
  describe?: () => string
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5_000, opts: WaitOptions = {}): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > until) {
      const seen = opts.describe ? `\nlast seen: ${opts.describe()}` : ''
      throw new Error(`condition not met within ${timeoutMs} ms: ${cond.toString()}${seen}`)
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 5))
  }
}
