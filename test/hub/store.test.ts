// The SQLite store on its own: migrations, group commit, one savepoint per batch, replay marks.
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Committer, StoreUnavailableError } from '../../hub/store/committer.ts'
import { MIGRATIONS } from '../../hub/store/migrations.ts'
import { openDatabase } from '../../hub/store/sqlite.ts'
import { Store, STORE_FILE, type BatchInput } from '../../hub/store/store.ts'
import { result, tempDir, type TestDir } from './helpers.ts'

let t: TestDir | undefined
afterEach(() => t?.cleanup())

const RULE = { interval_ms: 30_000, stale_after_ms: 90_000 }

function input(agent: string, seq: number, n = 2, fields: Partial<BatchInput> = {}): BatchInput {
  return {
    agent_id: agent,
    vantage: 'eu-west',
    seq,
    dropped: 0,
    results: Array.from({ length: n }, () => result({ check: 'shop', vantage: 'eu-west', agent_id: agent })),
    received_at: Date.now(),
    rule: () => RULE,
    ...fields,
  }
}

describe('Store', () => {
  it('migrates once to the latest schema and refuses a newer one', () => {
    t = tempDir()
    Store.open(t.dir).close()
    const db = openDatabase(join(t.dir, STORE_FILE))
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`)
    db.close()
    expect(() => Store.open(t!.dir)).toThrow(/schema version \d+ is newer than this hub knows/)
  })

  it('keeps the seq high-water mark across a reopen', () => {
    t = tempDir()
    let store = Store.open(t.dir)
    expect(store.applyBatches([input('eu-1', 7)])[0]).toEqual({ ok: true, accepted: 2, duplicates: 0 })
    store.close()
    store = Store.open(t.dir)
    expect(store.applyBatches([input('eu-1', 6)])[0]).toMatchObject({ ok: false, reason: 'replayed_seq' })
    expect([...store.agentsSeen()]).toMatchObject([{ agent_id: 'eu-1', seq: 7 }])
    store.close()
  })

  it('rolls back only the batch that fails, not the others of its transaction', () => {
    t = tempDir()
    const store = Store.open(t.dir)
    const good = input('eu-1', 1)
    const bad = input('eu-2', 1, 2, {
      rule: () => {
        throw new Error('boom')
      },
    })
    const [a, b] = store.applyBatches([good, bad])
    expect(a).toEqual({ ok: true, accepted: 2, duplicates: 0 })
    expect(b).toBeInstanceOf(Error)
    expect(good.results.every((r) => store.result(r.result_id))).toBe(true)
    expect(bad.results.some((r) => store.result(r.result_id))).toBe(false) // the savepoint undid its first insert
    expect([...store.agentsSeen()].map((s) => s.agent_id)).toEqual(['eu-1'])
    store.close()
  })
})

describe('Committer', () => {
  it('commits the batches of one turn in one transaction, and answers each', async () => {
    t = tempDir()
    const store = Store.open(t.dir)
    let transactions = 0
    const apply = store.applyBatches.bind(store)
    store.applyBatches = (inputs) => {
      transactions++
      return apply(inputs)
    }
    const committer = new Committer(store)
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => committer.submit(input(`a-${i}`, 1))))
    expect(outcomes.every((o) => o.ok && o.accepted === 2)).toBe(true)
    expect(transactions).toBe(1)
    expect(store.resultCount()).toBe(20)

    await committer.drain()
    await expect(committer.submit(input('late', 1))).rejects.toBeInstanceOf(StoreUnavailableError)
    store.close()
  })

  it('answers StoreUnavailableError, acknowledging nothing, when the transaction fails', async () => {
    t = tempDir()
    const store = Store.open(t.dir)
    store.close() // every write now fails
    const committer = new Committer(store)
    await expect(committer.submit(input('eu-1', 1))).rejects.toThrow(/the store could not commit/)
  })
})
