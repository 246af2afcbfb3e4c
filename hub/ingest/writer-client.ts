// The hub's end of the ingest writer (hub/ingest/writer.ts): hands it verified batches as they
// come, in order, and calls each batch's callback with the outcome, in commit order and at once
// (not a promise turn later), so the hub's view (the votes) follows the commits in order and
// before any ack. If the worker dies, what it had in hand is answered "unavailable" (the agents
// retry; a batch it committed comes back as duplicates) and a new worker takes over, unless it
// died before it had opened the store (that would only die again: batches are then answered
// "unavailable" until the hub restarts).
import type { Worker } from 'node:worker_threads'
import type { Logger } from '../../agent/core/probe.ts'
import type { LogBatch, StoreSync } from '../store/result-log.ts'
import type { UnsavedVotes } from '../store/store.ts'
import { startThread } from '../store/threads.ts'
import type { FromWorker, ToWorker, WorkerSetup, WriteOutcome } from './writer.ts'

const MODULE = new URL('./writer.ts', import.meta.url)

export interface IngestWriterOptions {
  file: string
  sync: StoreSync
  logger: Logger
}

interface Running {
  worker: Worker
  ready: Promise<void>
  started: boolean
  pending: Map<number, (outcome: WriteOutcome) => void>
  closed: Promise<void> | null
}

export class IngestWriter {
  private running: Running
  private nextId = 1
  private closing = false
  /** Why the writer is gone for good (it died before opening the store). */
  private broken: string | null = null
  /** Called when no batch awaits its answer (see idle()). */
  private onIdle: (() => void)[] = []

  private constructor(private readonly opts: IngestWriterOptions) {
    this.running = this.spawn()
  }

  /** Starts the worker; resolves once it has opened the store. */
  static async start(opts: IngestWriterOptions): Promise<IngestWriter> {
    const writer = new IngestWriter(opts)
    await writer.running.ready
    return writer
  }

  private spawn(): Running {
    const setup: WorkerSetup = { file: this.opts.file, sync: this.opts.sync }
    const worker = startThread(MODULE, { vantageIngestWorker: setup })
    const pending = new Map<number, (outcome: WriteOutcome) => void>()
    let readyResolve!: () => void
    let readyReject!: (err: Error) => void
    const ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve
      readyReject = reject
    })
    // Awaited by start() for the first worker only; a later one that fails to start is logged.
    ready.catch(() => {})
    const running: Running = { worker, ready, started: false, pending, closed: null }
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        running.started = true
        readyResolve()
        return
      }
      const settle = pending.get(msg.id)
      pending.delete(msg.id)
      settle?.(msg.outcome)
      this.notifyIdle()
    })
    worker.on('error', (err) => {
      this.opts.logger.error({ error: err.message }, 'ingest writer failed')
      readyReject(err)
    })
    worker.on('exit', (code) => {
      for (const settle of pending.values()) {
        settle({ ok: false, reason: 'unavailable', error: `the ingest writer stopped (exit code ${code})`, storeError: true })
      }
      pending.clear()
      this.notifyIdle()
      if (this.closing || this.running !== running) return
      if (running.started) {
        this.opts.logger.error({ code }, 'ingest writer exited: starting a new one')
        this.running = this.spawn()
      } else {
        this.broken = `the ingest writer could not start (exit code ${code})`
        readyReject(new Error(this.broken))
      }
    })
    return running
  }

  /** Hands a verified batch to the writer now; `done` is called with its outcome (see above). */
  write(batch: LogBatch, done: (outcome: WriteOutcome) => void): void {
    if (this.closing || this.broken) {
      done({ ok: false, reason: 'unavailable', error: this.broken ?? 'the hub is shutting down', storeError: this.broken !== null })
      return
    }
    const id = this.nextId++
    this.running.pending.set(id, done)
    this.running.worker.postMessage({ type: 'write', id, batch } satisfies ToWorker)
  }

  /** Resolves once every batch handed over has been answered. */
  idle(): Promise<void> {
    if (this.running.pending.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.onIdle.push(resolve))
  }

  private notifyIdle(): void {
    if (this.running.pending.size === 0) for (const done of this.onIdle.splice(0)) done()
  }

  /** Hands votes to save (see Store.persistVotes). */
  persistVotes(unsaved: UnsavedVotes): boolean {
    if (this.closing || this.broken) return false
    this.running.worker.postMessage({ type: 'votes', ...unsaved } satisfies ToWorker)
    return true
  }

  /**
   * Stops the worker once it saved `votes`; batches handed over before are committed and
   * answered first (call idle() before, to take the votes they made).
   */
  close(votes: UnsavedVotes = { votes: [], through: 0 }): Promise<void> {
    if (this.running.closed) return this.running.closed
    const { worker } = this.running
    this.closing = true
    this.running.closed = new Promise<void>((resolve) => {
      worker.once('exit', () => resolve())
      if (this.broken) return void worker.terminate()
      worker.postMessage({ type: 'votes', ...votes } satisfies ToWorker)
      worker.postMessage({ type: 'close' } satisfies ToWorker)
    })
    return this.running.closed
  }
}
