// Waiting on real I/O (a local HTTP or gRPC round trip): poll a condition, fail after a deadline.
// Time-driven behaviour is not waited for this way; tests advance a FakeTime instead.
export async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms: ${cond.toString()}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
