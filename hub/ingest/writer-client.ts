// The hub's end of the ingest writer (hub/ingest/writer.ts): hands it verified batches as they
// come, in order, and calls each batch's callback with the outcome, in commit order and at once
// (not a promise turn later), so the hub's view (the votes) follows the commits in order and
// before any ack. If the worker dies, what it had in hand is answered "unavailable" (the agents
// retry; a batch it committed comes back as duplicates) and a new worker takes over.
import { Worker } from 'node:worker_threads'
import type { Logger } from '../../agent/core/probe.ts'
import type { LogBatch, StoreSync, VoteRecord } from '../store/result-log.ts'
import type { FromWorker, ToWorker, WorkerSetup, WriteOutcome } from './writer.ts'

const ENTRY = new URL('./writer-entry.mjs', import.meta.url)

export interface IngestWriterOptions {
  file: string
  sync: StoreSync
  logger: Logger
}

interface Running {
  worker: Worker
  ready: Promise<void>
  pending: Map<number, (outcome: WriteOutcome) => void>
  closed: Promise<void> | null
}

export class IngestWriter {
  private running: Running
  private nextId = 1
  private closing = false

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
    const worker = new Worker(ENTRY, { workerData: { vantageIngestWorker: setup }, execArgv: withoutLoaders(process.execArgv) })
    const pending = new Map<number, (outcome: WriteOutcome) => void>()
    let readyResolve!: () => void
    let readyReject!: (err: Error) => void
    const ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve
      readyReject = reject
    })
    const running: Running = { worker, ready, pending, closed: null }
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        readyResolve()
        return
      }
      const settle = pending.get(msg.id)
      pending.delete(msg.id)
      settle?.(msg.outcome)
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
      if (!this.closing && this.running === running) {
        this.opts.logger.error({ code }, 'ingest writer exited: starting a new one')
        this.running = this.spawn()
      }
    })
    return running
  }

  /** Hands a verified batch to the writer now; `done` is called with its outcome (see above). */
  write(batch: LogBatch, done: (outcome: WriteOutcome) => void): void {
    if (this.closing) {
      done({ ok: false, reason: 'unavailable', error: 'the hub is shutting down', storeError: false })
      return
    }
    const id = this.nextId++
    this.running.pending.set(id, done)
    this.running.worker.postMessage({ type: 'write', id, batch } satisfies ToWorker)
  }

  /** Hands votes to save with the next history index step (see Store.persistVotes). */
  persistVotes(votes: VoteRecord[]): boolean {
    if (this.closing) return false
    this.running.worker.postMessage({ type: 'index', votes } satisfies ToWorker)
    return true
  }

  /** Saves `votes` with a last index step, lets every batch handed over commit, stops the worker. */
  close(votes: VoteRecord[] = []): Promise<void> {
    if (this.running.closed) return this.running.closed
    const { worker } = this.running
    worker.postMessage({ type: 'index', votes } satisfies ToWorker)
    this.closing = true
    this.running.closed = new Promise<void>((resolve) => {
      worker.once('exit', () => resolve())
      worker.postMessage({ type: 'close' } satisfies ToWorker)
    })
    return this.running.closed
  }
}

/**
 * The hub's node flags (--cpu-prof, --inspect, …) without its module loaders: writer-entry.mjs
 * registers the TypeScript loader itself, and a second one would transform twice.
 */
function withoutLoaders(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (/^--(import|require|loader|experimental-loader)$/.test(argv[i]) || argv[i] === '-r') i++
    else if (!/^--(import|require|loader|experimental-loader)=/.test(argv[i])) out.push(argv[i])
  }
  return out
}
