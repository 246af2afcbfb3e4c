// The ingest writer: a thread of the hub that writes verified batches through a ResultLog on its
// own SQLite connection, so SQLite's work for each result stays off the event loop, which
// meanwhile verifies the next batches. hub/ingest/writer-client.ts is
// the other end. Batches are taken in the order they come, committed in groups (all the batches
// that arrived while the last group was being written: hub/store/committer.ts), fsynced, and
// each answered with its outcome only then.
//
// Started through thread-entry.mjs (TypeScript via tsx, as the hub itself).
import { parentPort, workerData } from 'node:worker_threads'
import { Committer, StoreUnavailableError } from '../store/committer.ts'
import { ResultLog, type LogBatch, type LogOutcome, type StoreSync, type VoteRecord } from '../store/result-log.ts'
import type { UnsavedVotes } from '../store/store.ts'

export interface WorkerSetup {
  /** The store's file, opened and migrated by the hub. */
  file: string
  sync: StoreSync
}

export type ToWorker =
  | { type: 'write'; id: number; batch: LogBatch }
  | ({ type: 'votes' } & UnsavedVotes)
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
  /** Votes handed over to save, kept until they are (and the last result they reflect). */
  const unsaved = new Map<string, VoteRecord>()
  let through = 0
  const reply = (msg: FromWorker) => port.postMessage(msg)

  const write = (id: number, batch: LogBatch): void => {
    committer.submit(batch).then(
      (outcome) => reply({ type: 'written', id, outcome }),
      (err: unknown) => {
        // The committer names the store's error as the cause; closing has none.
        const storeError = err instanceof StoreUnavailableError && err.cause !== undefined
        reply({ type: 'written', id, outcome: { ok: false, reason: 'unavailable', error: (err as Error).message, storeError } })
      },
    )
  }

  const saveVotes = (votes: VoteRecord[], upTo: number): void => {
    for (const v of votes) unsaved.set(`${v.check}\u0000${v.vantage}`, v)
    through = Math.max(through, upTo)
    if (log.saveVotes(unsaved.values(), through)) unsaved.clear()
  }

  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'write':
        write(msg.id, msg.batch)
        break
      case 'votes':
        saveVotes(msg.votes, msg.through)
        break
      case 'close':
        void committer.drain().finally(() => {
          saveVotes([], 0)
          log.close()
          port.close()
        })
        break
    }
  })
  reply({ type: 'ready' })
}

if (parentPort && workerData?.vantageIngestWorker) serve(parentPort, workerData.vantageIngestWorker as WorkerSetup)
