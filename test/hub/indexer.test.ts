// The history indexer thread (hub/store/indexer.ts): it indexes what the writer committed, comes
// back when its thread dies, and indexes the rest when the hub closes.
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeResult } from '../../proto/codec.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { HISTORY_FILE, readHistoryMark } from '../../hub/store/history.ts'
import { HistoryIndexer } from '../../hub/store/indexer.ts'
import { ResultLog } from '../../hub/store/result-log.ts'
import { openDatabase } from '../../hub/store/sqlite.ts'
import { Store, STORE_FILE } from '../../hub/store/store.ts'
import { eventually } from '../helpers/alertmanager.ts'
import { result, tempDir, type TestDir } from './helpers.ts'

let t: TestDir | undefined
afterEach(() => t?.cleanup())

/** The history file's mark, read from outside (as another process would). */
function historyMark(dir: string): number {
  const db = openDatabase(join(dir, HISTORY_FILE), { readonly: true })
  try {
    return readHistoryMark(db, 'main')
  } finally {
    db.close()
  }
}

describe('the history indexer thread', () => {
  it('indexes what is committed, is started again when its thread dies, and indexes the rest at close', async () => {
    t = tempDir()
    const dir = t.dir
    Store.open(dir, { writer: 'elsewhere' }).close()
    const file = join(dir, STORE_FILE)
    const log = ResultLog.open(file)
    let seq = 0
    const commit = (n: number) => {
      const results: ProbeResult[] = Array.from({ length: n }, () => result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1' }))
      log.applyBatches([
        {
          agent_id: 'eu-1', vantage: 'eu-west', seq: ++seq, dropped: 0, received_at: Date.now(),
          result_ids: results.map((r) => r.result_id), checks: results.map((r) => r.check), started_ats: results.map((r) => r.started_at),
          bodies: results.map((r) => encodeResult(r)),
        },
      ])
    }
    const logged: string[] = []
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line).msg as string) })
    commit(5)
    const indexer = await HistoryIndexer.start(file, logger, { restartMs: 50 })
    try {
      await eventually('the first results indexed', () => historyMark(dir) === 5)

      // Its thread dies (as a crash would): logged, and a new one takes up from the mark.
      const worker = (indexer as unknown as { worker: Worker }).worker
      await worker.terminate()
      commit(3)
      await eventually('a new indexer thread', () => (indexer as unknown as { worker: Worker }).worker !== worker)
      await eventually('the results committed meanwhile indexed', () => historyMark(dir) === 8)
      expect(logged.some((m) => m.startsWith('history indexer exited'))).toBe(true)
    } finally {
      commit(4)
      await indexer.close() // indexes what is left before it stops
      log.close()
    }
    expect(historyMark(dir)).toBe(12)
    const store = Store.open(dir, { writer: 'elsewhere' })
    expect(store.history({ check: 'shop', limit: 100 })).toHaveLength(12)
    store.close()
  })

  it('fails to start when the store cannot be opened', async () => {
    t = tempDir()
    await expect(HistoryIndexer.start(join(t.dir, 'missing', STORE_FILE), pino({ level: 'silent' }))).rejects.toThrow(/could not start/)
  })
})
