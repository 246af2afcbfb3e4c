// Group commit: batches verified in the same turn of the event loop are written in one
// transaction, and each caller's promise settles only after that COMMIT returned and the store
// said it is durable (an fsync of the WAL on the thread pool, shared by the groups committed
// meanwhile). That is the "ack only after the batch is committed" rule, without one fsync per
// batch and without the event loop waiting for the disk.
//
// Under load, batches arrive a little apart (each is decoded on the main thread after its
// signature checked out on the thread pool), so "the same turn" alone mostly commits them one
// by one. Ingest tells the committer when a batch starts verification (expect()); a flush with
// such batches still on their way waits for them, at most maxWaitMs after the oldest queued
// batch arrived. With no other batch under verification, a batch is committed at once.
import type { BatchInput, BatchOutcome, Store } from './store.ts'

/** The store could not take the batch (disk full, I/O error, shutting down): retry later. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError'
}

interface Pending {
  input: BatchInput
  /** performance.now() when submitted. */
  at: number
  resolve: (outcome: BatchOutcome) => void
  reject: (err: Error) => void
}

export class Committer {
  private queue: Pending[] = []
  private scheduled = false
  private closed = false
  private idle: (() => void)[] = []
  /** Batches under verification (see expect()). */
  private verifying = 0
  private waitTimer: ReturnType<typeof setTimeout> | null = null
  /** Groups committed and waiting for the store to say they are durable. */
  private syncing = 0

  constructor(
    private readonly store: Store,
    private readonly onError: (err: Error, inputs: number) => void = () => {},
    /** Most batches per transaction, so one flush never holds the event loop for long. */
    private readonly maxBatches = 256,
    /** Longest a queued batch waits for batches still under verification to join its group. */
    private readonly maxWaitMs = 4,
  ) {}

  /**
   * A batch is being verified and will probably be submitted soon: flushes wait for it (for at
   * most maxWaitMs) so it shares their transaction. Call the returned function when its
   * verification ended, whatever the outcome (it may be called more than once).
   */
  expect(): () => void {
    this.verifying++
    let done = false
    return () => {
      if (done) return
      done = true
      this.verifying--
      if (this.queue.length > 0) this.schedule()
    }
  }

  submit(input: BatchInput): Promise<BatchOutcome> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the hub is shutting down'))
    return new Promise((resolve, reject) => {
      this.queue.push({ input, at: performance.now(), resolve, reject })
      this.schedule()
    })
  }

  get pending(): number {
    return this.queue.length
  }

  /** Refuses new batches and resolves once everything already submitted is committed. */
  async drain(): Promise<void> {
    this.closed = true
    if (this.queue.length > 0) this.schedule() // no more waiting for batches under verification
    if (this.isIdle()) return
    await new Promise<void>((resolve) => this.idle.push(resolve))
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    // setImmediate, not a microtask: lets every verification finishing in this turn join the group.
    setImmediate(this.flush)
  }

  private readonly flush = (): void => {
    this.scheduled = false
    if (this.waitTimer !== null) {
      clearTimeout(this.waitTimer)
      this.waitTimer = null
    }
    if (this.verifying > 0 && !this.closed && this.queue.length > 0 && this.queue.length < this.maxBatches) {
      const waited = performance.now() - this.queue[0].at
      if (waited < this.maxWaitMs) {
        // A verification ending (or this deadline) flushes again.
        this.waitTimer = setTimeout(() => {
          this.waitTimer = null
          this.schedule()
        }, this.maxWaitMs - waited)
        return
      }
    }
    const group = this.queue.splice(0, this.maxBatches)
    if (this.queue.length > 0) this.schedule()
    if (group.length > 0) this.commit(group)
    this.notifyIdle()
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && !this.scheduled && this.syncing === 0
  }

  private notifyIdle(): void {
    if (this.isIdle()) for (const done of this.idle.splice(0)) done()
  }

  private commit(group: Pending[]): void {
    let outcomes: (BatchOutcome | Error)[]
    try {
      outcomes = this.store.applyBatches(group.map((p) => p.input))
    } catch (err) {
      // The transaction itself failed: nothing of this group is stored, nothing is acknowledged.
      const error = err instanceof Error ? err : new Error(String(err))
      this.onError(error, group.length)
      for (const p of group) p.reject(new StoreUnavailableError(`the store could not commit: ${error.message}`, { cause: error }))
      return
    }
    const committed: [Pending, BatchOutcome][] = []
    group.forEach((p, i) => {
      const outcome = outcomes[i]
      if (outcome instanceof Error) {
        this.onError(outcome, 1)
        p.reject(new StoreUnavailableError(`the store could not commit this batch: ${outcome.message}`, { cause: outcome }))
      } else {
        committed.push([p, outcome])
      }
    })
    if (committed.length === 0) return
    this.syncing++
    this.store.durable().then(
      () => {
        for (const [p, outcome] of committed) p.resolve(outcome)
      },
      (err: unknown) => {
        // Committed, but not known to be on disk: not acknowledged. The agent re-sends, and the
        // results already stored count as duplicates.
        const error = err instanceof Error ? err : new Error(String(err))
        this.onError(error, committed.length)
        for (const [p] of committed) p.reject(new StoreUnavailableError(`the store could not sync to disk: ${error.message}`, { cause: error }))
      },
    ).finally(() => {
      this.syncing--
      this.notifyIdle()
    })
  }
}
