// The history indexer: a thread of the hub that keeps the history index (hub/store/history.ts)
// up to date, about once a second, in steps (HistoryIndex.step), concurrently with the
// ingest writer (its own file, its own lock). HistoryIndexer is the hub's end of it. If the
// thread dies, it is logged and started again a little later; meanwhile history queries read
// what is past the mark from the results themselves.
import { parentPort, workerData, type Worker } from 'node:worker_threads'
import type { Logger } from '../../agent/core/probe.ts'
// Not store.ts: this thread needs the history file alone, not the store's modules.
import { HISTORY_INDEX_MS, HistoryIndex } from './history.ts'
import { startThread } from './threads.ts'

const MODULE = new URL(import.meta.url)

/** Before a failed indexer thread is started again (ms). */
const RESTART_MS = 5000

type ToIndexer = { type: 'close' }
type FromIndexer = { type: 'ready' } | { type: 'failed'; error: string }

/** Indexes until told to close; then indexes what is left and exits. */
function serve(port: NonNullable<typeof parentPort>, file: string): void {
  const index = HistoryIndex.open(file)
  let timer: ReturnType<typeof setTimeout> | null = null
  let failed = false
  const tick = (): void => {
    timer = null
    try {
      // One step at a time, the close message may come between two.
      if (index.step() > 0) timer = setTimeout(tick, 0)
      else timer = setTimeout(tick, HISTORY_INDEX_MS)
      failed = false
    } catch (err) {
      // Logged once per failure spell, tried again at the next tick.
      if (!failed) port.postMessage({ type: 'failed', error: (err as Error).message } satisfies FromIndexer)
      failed = true
      timer = setTimeout(tick, HISTORY_INDEX_MS)
    }
  }
  port.on('message', (msg: ToIndexer) => {
    if (msg.type !== 'close') return
    if (timer !== null) clearTimeout(timer)
    try {
      index.catchUp()
    } finally {
      index.close()
      port.close()
    }
  })
  port.postMessage({ type: 'ready' } satisfies FromIndexer)
  tick()
}

if (parentPort && workerData?.vantageHistoryIndexer) serve(parentPort, workerData.vantageHistoryIndexer as string)

export class HistoryIndexer {
  private worker: Worker
  private closing: Promise<void> | null = null
  private restart: ReturnType<typeof setTimeout> | null = null

  private constructor(
    private readonly file: string,
    private readonly logger: Logger,
    private readonly restartMs: number,
  ) {
    this.worker = this.spawn()
  }

  /** Starts the indexer on the store in `file` (opened and migrated); resolves once it has opened the history file. */
  static async start(file: string, logger: Logger, opts: { restartMs?: number } = {}): Promise<HistoryIndexer> {
    const indexer = new HistoryIndexer(file, logger, opts.restartMs ?? RESTART_MS)
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: FromIndexer) => {
        if (msg.type !== 'ready') return
        indexer.worker.off('exit', onExit)
        resolve()
      }
      const onExit = (code: number) => reject(new Error(`the history indexer could not start (exit code ${code})`))
      indexer.worker.once('message', onMessage)
      indexer.worker.once('exit', onExit)
    })
    return indexer
  }

  private spawn(): Worker {
    const worker = startThread(MODULE, { vantageHistoryIndexer: this.file })
    worker.on('message', (msg: FromIndexer) => {
      if (msg.type === 'failed') this.logger.error({ error: msg.error }, 'history index step failed: trying again')
    })
    worker.on('error', (err) => this.logger.error({ error: err.message }, 'history indexer failed'))
    worker.on('exit', (code) => {
      if (this.closing || this.worker !== worker) return
      this.logger.error({ code }, `history indexer exited: starting a new one in ${this.restartMs / 1000} s`)
      this.restart = setTimeout(() => {
        this.restart = null
        if (!this.closing) this.worker = this.spawn()
      }, this.restartMs)
      this.restart.unref?.()
    })
    return worker
  }

  /** Indexes what is left, then stops the thread. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (this.restart !== null) clearTimeout(this.restart)
      const worker = this.worker
      if (worker.threadId === -1) return resolve() // already gone
      worker.once('exit', () => resolve())
      worker.postMessage({ type: 'close' } satisfies ToIndexer)
    })
    return this.closing
  }
}
