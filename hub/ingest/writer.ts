// The ingest writer: a thread of the hub that writes verified batches through a ResultLog on its
// own SQLite connection, so SQLite's work for each result (and the history index step) stays
// off the event loop, which meanwhile verifies the next batches. hub/ingest/writer-client.ts is
// the other end. Batches are taken in the order they come, committed in groups (all the batches
// that arrived while the last group was being written: hub/store/committer.ts), fsynced, and
// each answered with its outcome only then.
//
// Started through writer-entry.mjs (TypeScript via tsx, as the hub itself).
import { parentPort, workerData } from 'node:worker_threads'
import { Committer, StoreUnavailableError } from '../store/committer.ts'
import { ResultLog, type LogBatch, type LogOutcome, type StoreSync, type VoteRecord } from '../store/result-log.ts'

/** Results committed since the last index step that make the writer take one of its own. */
const INDEX_STEP_ROWS = 10_000

export interface WorkerSetup {
  /** The store's file, opened and migrated by the hub. */
  file: string
  sync: StoreSync
}

export type ToWorker =
  | { type: 'write'; id: number; batch: LogBatch }
  | { type: 'index'; votes: VoteRecord[] }
  | { type: 'close' }

export type WriteOutcome =
  | LogOutcome
  /** The store could not take it (disk full, I/O error: storeError) or is closing: retry later. */
  | { ok: false; reason: 'unavailable'; error: string; storeError: boolean }

export type FromWorker = { type: 'ready' } | { type: 'written'; id: number; outcome: WriteOutcome }

/** Serves one parent (the hub) until it says close. */
function serve(port: NonNullable<typeof parentPort>, setup: WorkerSetup): void {
  const log = ResultLog.open(setup.file, setup.sync)
  const committer = new Committer<LogBatch, LogOutcome>(log)
  /** Votes handed over to save, kept until an index step saved them. */
  const unsaved = new Map<string, VoteRecord>()
  const reply = (msg: FromWorker) => port.postMessage(msg)
  let sinceIndex = 0

  const write = (id: number, batch: LogBatch): void => {
    committer.submit(batch).then(
      (outcome) => {
        if (outcome.ok) sinceIndex += outcome.accepted.length
        // Under load, indexed in steps of INDEX_STEP_ROWS between commits rather than in one long
        // transaction a second (which every commit behind it would wait for).
        if (sinceIndex >= INDEX_STEP_ROWS) {
          sinceIndex = 0
          setImmediate(() => index([]))
        }
        reply({ type: 'written', id, outcome })
      },
      (err: unknown) => {
        // The committer names the store's error as the cause; closing has none.
        const storeError = err instanceof StoreUnavailableError && err.cause !== undefined
        reply({ type: 'written', id, outcome: { ok: false, reason: 'unavailable', error: (err as Error).message, storeError } })
      },
    )
  }

  const index = (votes: VoteRecord[]): void => {
    for (const v of votes) unsaved.set(`${v.check}\u0000${v.vantage}`, v)
    if (log.index(unsaved.values())) unsaved.clear()
  }

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'write':
        write(msg.id, msg.batch)
        break
      case 'index':
        index(msg.votes)
        break
      case 'close':
        void committer.drain().finally(() => {
          index([])
          log.close()
          port.close()
        })
        break
    }
  })
  reply({ type: 'ready' })
}

if (parentPort && workerData?.vantageIngestWorker) serve(parentPort, workerData.vantageIngestWorker as WorkerSetup)
