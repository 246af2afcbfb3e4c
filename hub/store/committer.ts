// Group commit: batches submitted in the same turn of the event loop (in the ingest writer, all
// those that arrived while the last group was being written) are written in one transaction,
// and each caller's promise settles only after that COMMIT returned (durably: see
// hub/store/result-log.ts). That is the "ack only after the batch is committed" rule, without
// one fsync per batch.
import type { BatchInput, BatchOutcome } from './store.ts'

/** What the committer writes through: a Store (in-process) or a ResultLog (the ingest writer thread). */
export interface GroupWriter<In, Out> {
  /** One transaction for all the inputs; per input, its outcome or the Error that rolled it back. */
  applyBatches(inputs: readonly In[]): (Out | Error)[]
}

/** The store could not take the batch (disk full, I/O error, shutting down): retry later. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError'
}

interface Pending<In, Out> {
  input: In
  resolve: (outcome: Out) => void
  reject: (err: Error) => void
}

export class Committer<In = BatchInput, Out = BatchOutcome> {
  private queue: Pending<In, Out>[] = []
  private scheduled = false
  private closed = false
  private idle: (() => void)[] = []

  constructor(
    private readonly store: GroupWriter<In, Out>,
    /** Most batches per transaction, so one flush never holds its thread for long. */
    private readonly maxBatches = 256,
  ) {}

  submit(input: In): Promise<Out> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the hub is shutting down'))
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject })
      this.schedule()
    })
  }

  /** Refuses new batches and resolves once everything already submitted is committed. */
  async drain(): Promise<void> {
    this.closed = true
    if (this.isIdle()) return
    await new Promise<void>((resolve) => this.idle.push(resolve))
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    // setImmediate, not a microtask: lets every batch submitted in this turn join the group.
    setImmediate(this.flush)
  }

  private readonly flush = (): void => {
    this.scheduled = false
    const group = this.queue.splice(0, this.maxBatches)
    if (this.queue.length > 0) this.schedule()
    if (group.length > 0) this.commit(group)
    this.notifyIdle()
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && !this.scheduled
  }

  private notifyIdle(): void {
    if (this.isIdle()) for (const done of this.idle.splice(0)) done()
  }

  private commit(group: Pending<In, Out>[]): void {
    let outcomes: (Out | Error)[]
    try {
      outcomes = this.store.applyBatches(group.map((p) => p.input))
    } catch (err) {
      // The transaction itself failed: nothing of this group is stored, nothing is acknowledged.
      const error = err instanceof Error ? err : new Error(String(err))
      for (const p of group) p.reject(new StoreUnavailableError(`the store could not commit: ${error.message}`, { cause: error }))
      return
    }
    group.forEach((p, i) => {
      const outcome = outcomes[i]
      if (outcome instanceof Error) {
        p.reject(new StoreUnavailableError(`the store could not commit this batch: ${outcome.message}`, { cause: outcome }))
      } else {
        p.resolve(outcome)
      }
    })
  }
}
