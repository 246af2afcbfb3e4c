// The SQLite store on its own: migrations, group commit, one savepoint per batch, replay marks.
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeResult, encodeResult } from '../../proto/codec.ts'
import { Committer, StoreUnavailableError } from '../../hub/store/committer.ts'
import { MIGRATIONS } from '../../hub/store/migrations.ts'
import { openDatabase } from '../../hub/store/sqlite.ts'
import { ResultLog } from '../../hub/store/result-log.ts'
import { HISTORY_FILE, HistoryIndex } from '../../hub/store/history.ts'
import { Store, STORE_FILE, type BatchInput } from '../../hub/store/store.ts'
import { representative } from '../../hub/store/vote.ts'
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

  it('stores each result as the protobuf bytes its agent signed, and reads them back', () => {
    t = tempDir()
    const store = Store.open(t.dir)
    const signed = input('eu-1', 1)
    signed.bodies = signed.results.map(encodeResult)
    const unsigned = input('eu-2', 1) // no bodies (a caller without the payload): encoded by the store
    expect(store.applyBatches([signed, unsigned])).toEqual([
      { ok: true, accepted: 2, duplicates: 0 },
      { ok: true, accepted: 2, duplicates: 0 },
    ])
    store.close()
    const db = openDatabase(join(t.dir, STORE_FILE), { readonly: true })
    const rows = db.prepare<{ result_id: string; body: Uint8Array; json: string | null }>('SELECT result_id, body, json FROM results ORDER BY id').all()
    db.close()
    const all = [...signed.results, ...unsigned.results]
    expect(rows.map((r) => r.result_id)).toEqual(all.map((r) => r.result_id))
    expect(rows.map((r) => r.json)).toEqual([null, null, null, null])
    expect(rows.slice(0, 2).map((r) => Buffer.from(r.body))).toEqual(signed.bodies.map((b) => Buffer.from(b)))
    expect(rows.map((r) => decodeResult(r.body))).toEqual(all)
    const reopened = Store.open(t.dir)
    expect(all.map((r) => reopened.result(r.result_id))).toEqual(all)
    reopened.close()
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
    const bad = input('eu-2', 1, 2)
    // Its second result cannot be bound: the insert throws after the first one went in.
    bad.bodies = [encodeResult(bad.results[0]), {} as Uint8Array]
    const [a, b] = store.applyBatches([good, bad])
    expect(a).toEqual({ ok: true, accepted: 2, duplicates: 0 })
    expect(b).toBeInstanceOf(Error)
    expect(good.results.every((r) => store.result(r.result_id))).toBe(true)
    expect(bad.results.some((r) => store.result(r.result_id))).toBe(false) // the savepoint undid its first insert
    expect([...store.agentsSeen()].map((s) => s.agent_id)).toEqual(['eu-1'])
    store.close()
  })
})

describe('votes', () => {
  it('keep their representative’s bytes as a view into the batch until they are saved, then a copy of their own', () => {
    t = tempDir()
    const store = Store.open(t.dir, { writer: 'elsewhere' })
    try {
      const results = [result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1' }), result({ check: 'cart', vantage: 'eu-west', agent_id: 'eu-1' })]
      const encoded = results.map((r) => encodeResult(r))
      const payload = new Uint8Array(encoded[0].length + encoded[1].length + 10) // as a verified batch's payload
      payload.set(encoded[0], 5)
      payload.set(encoded[1], 5 + encoded[0].length)
      const bodies = [payload.subarray(5, 5 + encoded[0].length), payload.subarray(5 + encoded[0].length, 5 + encoded[0].length + encoded[1].length)]
      store.committed([{ agent_id: 'eu-1', vantage: 'eu-west', seq: 1, dropped: 0, received_at: Date.now(), results, bodies, accepted: [0, 1], last_id: 0, rule: () => RULE }])
      expect(store.vote('shop', 'eu-west')!.body.buffer).toBe(payload.buffer) // no copy per commit
      expect(representative(store.vote('cart', 'eu-west')!)).toEqual(results[1])
      expect(store.takeUnsavedVotes().votes.map((v) => v.result_id).sort()).toEqual(results.map((r) => r.result_id).sort())
      for (const [i, check] of ['shop', 'cart'].entries()) {
        const { body } = store.vote(check, 'eu-west')!
        expect(body.buffer).not.toBe(payload.buffer) // the batch's payload is no longer held
        expect(body.byteLength).toBe(body.buffer.byteLength)
        expect(body).toEqual(encoded[i])
        expect(representative(store.vote(check, 'eu-west')!)).toEqual(results[i])
      }
    } finally {
      store.close()
    }
  })
})

describe('quorum tables', () => {
  const state = (check: string) => ({ check, state: 'ok' as const, since: 1, clear_since: null, disagreement_since: null, incident_id: null, ack_id: null })

  it('take no lock for a transaction that runs no statement, and the write lock at the first one', () => {
    t = tempDir()
    const store = Store.open(t.dir, { writer: 'elsewhere' })
    const writer = openDatabase(join(t.dir, STORE_FILE))
    writer.pragma('busy_timeout = 0')
    try {
      writer.exec('BEGIN IMMEDIATE') // the ingest writer, mid-commit
      // An evaluation that changed nothing does not wait for the writer.
      expect(store.quorum.transaction(() => 'nothing to write')).toBe('nothing to write')
      writer.exec('COMMIT')
      store.quorum.transaction(() => {
        store.quorum.putState(state('shop'), 1)
        expect(store.quorum.transaction(() => store.quorum.putState(state('cart'), 1))).toBeUndefined() // nested: same transaction
        // Ours holds the write lock now: the other connection cannot take it.
        expect(() => writer.exec('BEGIN IMMEDIATE')).toThrow(/locked|busy/i)
      })
      expect(store.quorum.states().map((s) => s.check).sort()).toEqual(['cart', 'shop'])
      expect(() => store.quorum.transaction(() => {
        store.quorum.putState(state('gone'), 1)
        throw new Error('evaluation failed')
      })).toThrow('evaluation failed')
      expect(store.quorum.states().map((s) => s.check)).not.toContain('gone') // rolled back
      writer.exec('BEGIN IMMEDIATE') // and the lock was released
      writer.exec('COMMIT')
    } finally {
      writer.close()
      store.close()
    }
  })
})

describe('history', () => {
  it('answers newest first by check, vantage, since and limit, including results not indexed yet', () => {
    t = tempDir()
    const store = Store.open(t.dir)
    const at = (s: number, vantage: string, agent: string) =>
      result({ check: 'shop', vantage, agent_id: agent, started_at: new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString() })
    const eu = [3, 1, 2].map((s) => at(s, 'eu-west', 'eu-1'))
    const us = [4, 0].map((s) => at(s, 'us-east', 'us-1'))
    store.applyBatches([input('eu-1', 1, 0, { results: eu }), input('us-1', 1, 0, { vantage: 'us-east', results: us })])
    store.indexHistory()
    const later = at(5, 'eu-west', 'eu-1')
    store.applyBatches([input('eu-1', 2, 0, { results: [later, result({ check: 'other', vantage: 'eu-west', agent_id: 'eu-1' })] })])
    // `later` is committed, not indexed yet: history sees it all the same.
    const secs = (rs: { started_at: string }[]) => rs.map((r) => new Date(r.started_at).getUTCSeconds())
    expect(secs(store.history({ check: 'shop' }))).toEqual([5, 4, 3, 2, 1, 0])
    expect(secs(store.history({ check: 'shop', vantage: 'eu-west' }))).toEqual([5, 3, 2, 1])
    expect(secs(store.history({ check: 'shop', vantage: 'eu-west', limit: 2 }))).toEqual([5, 3])
    expect(secs(store.history({ check: 'shop', since: '2026-01-01T00:00:02.000Z' }))).toEqual([5, 4, 3, 2])
    expect(store.history({ check: 'shop', vantage: 'ap-south' })).toEqual([])
    expect(store.history({ check: 'shop', vantage: 'eu-west', limit: 1 })[0]).toEqual(later)
    store.close()
  })

  it('catches up with what was committed but not indexed before a crash, and answers it meanwhile', () => {
    t = tempDir()
    const store = Store.open(t.dir)
    const results = Array.from({ length: 5 }, () => result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1' }))
    store.applyBatches([input('eu-1', 1, 0, { results })])
    store.close()
    // As a SIGKILL before the indexer ran would leave it: committed results, the mark behind them.
    const history = openDatabase(join(t.dir, HISTORY_FILE))
    history.exec('DELETE FROM results_history; UPDATE results_history_mark SET indexed_to = 0')
    history.close()
    const reopened = Store.open(t.dir, { writer: 'elsewhere' }) // indexed by the hub's indexer: not here
    expect(reopened.history({ check: 'shop' }).map((r) => r.result_id).sort()).toEqual(results.map((r) => r.result_id).sort())
    const index = HistoryIndex.open(join(t.dir, STORE_FILE))
    expect(index.step()).toBe(5)
    expect(index.step()).toBe(0)
    index.close()
    const idx = openDatabase(join(t.dir, HISTORY_FILE), { readonly: true })
    expect(idx.prepare<{ n: number }>('SELECT count(*) AS n FROM results_history').get()!.n).toBe(5)
    idx.close()
    expect(reopened.history({ check: 'shop' }).map((r) => r.result_id).sort()).toEqual(results.map((r) => r.result_id).sort())
    reopened.close()
  })

  it('is indexed in a file of its own, without the results’ write lock, in steps', () => {
    t = tempDir()
    const store = Store.open(t.dir, { writer: 'elsewhere' })
    const log = ResultLog.open(join(t.dir, STORE_FILE))
    const results = Array.from({ length: 7 }, (_, i) => result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1', started_at: `2026-01-01T00:00:0${i}.000Z` }))
    log.applyBatches([{ agent_id: 'eu-1', vantage: 'eu-west', seq: 1, dropped: 0, result_ids: results.map((r) => r.result_id), checks: results.map((r) => r.check), started_ats: results.map((r) => r.started_at), bodies: results.map((r) => encodeResult(r)), received_at: Date.now() }])
    const index = HistoryIndex.open(join(t.dir, STORE_FILE))
    const writer = openDatabase(join(t.dir, STORE_FILE))
    try {
      writer.exec('BEGIN IMMEDIATE') // the ingest writer, mid-commit: an index step does not wait for it
      const started = performance.now()
      expect([index.step(3), index.step(3), index.step(3), index.step(3)]).toEqual([3, 3, 1, 0])
      expect(performance.now() - started).toBeLessThan(2000) // not the 5 s busy timeout
      writer.exec('COMMIT')
      expect(index.mark).toBe(7)
      expect(store.history({ check: 'shop', limit: 3 }).map((r) => r.started_at)).toEqual(results.slice(4).reverse().map((r) => r.started_at))
      // The results restored from an older copy (fewer of them): the index starts over.
      writer.exec('DELETE FROM results WHERE id > 2')
      expect(index.step()).toBe(2)
      expect(index.mark).toBe(2)
      expect(store.history({ check: 'shop' }).map((r) => r.started_at)).toEqual(results.slice(0, 2).reverse().map((r) => r.started_at))
    } finally {
      writer.close()
      index.close()
      log.close()
      store.close()
    }
  })

  it('writes votes once a second, not in the ack, and replays into them at open what a crash left out', () => {
    t = tempDir()
    const store = Store.open(t.dir)
    const now = Date.now()
    const round = Math.floor(now / RULE.interval_ms)
    const mk = (vantage: string, agent: string, success: boolean) =>
      result({ check: 'shop', vantage, agent_id: agent, round, success, started_at: new Date(now).toISOString() })
    const batches = [
      input('eu-1', 1, 0, { results: [mk('eu-west', 'eu-1', false)], received_at: now }),
      input('eu-2', 1, 0, { results: [mk('eu-west', 'eu-2', true)], received_at: now }),
      input('us-1', 1, 0, { vantage: 'us-east', results: [mk('us-east', 'us-1', false)], received_at: now }),
    ]
    store.applyBatches(batches)
    const votesOnDisk = () => {
      const db = openDatabase(join(t!.dir, STORE_FILE), { readonly: true })
      const rows = db.prepare<{ vantage: string; vote: string; n_results: number }>('SELECT vantage, vote, n_results FROM votes ORDER BY vantage').all()
      db.close()
      return rows
    }
    expect(votesOnDisk()).toEqual([]) // committed and acknowledged, the derived rows not yet written
    const inMemory = [store.vote('shop', 'eu-west'), store.vote('shop', 'us-east')]
    expect(inMemory.map((v) => [v?.vote, v?.n_results])).toEqual([['up', 2], ['down', 1]])
    store.indexHistory()
    expect(votesOnDisk()).toEqual([
      { vantage: 'eu-west', vote: 'up', n_results: 2 },
      { vantage: 'us-east', vote: 'down', n_results: 1 },
    ])
    store.close()

    // As a SIGKILL before the votes were ever saved would leave it.
    const db = openDatabase(join(t.dir, STORE_FILE))
    db.exec('DELETE FROM votes; UPDATE votes_mark SET saved_through = 0')
    db.close()
    const replayed = Store.open(t.dir, { rule: (check) => (check === 'shop' ? { ...RULE, stale_after_ms: 10 * 60_000 } : null) })
    expect([replayed.vote('shop', 'eu-west'), replayed.vote('shop', 'us-east')]).toEqual(inMemory.map((v) => ({ ...v, updated_at: now })))
    replayed.close()
    expect(votesOnDisk()).toHaveLength(2)
  })

  it('upgrades a store of schema 2: its results, votes and history keep working, and the per-result indexes are gone', () => {
    t = tempDir()
    const file = join(t.dir, STORE_FILE)
    const db = openDatabase(file)
    db.pragma('journal_mode = WAL')
    for (const sql of MIGRATIONS.slice(0, 2)) db.exec(sql)
    db.pragma('user_version = 2')
    const old = [1, 2, 3].map((s) => result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1', started_at: `2026-01-01T00:00:0${s}.000Z` }))
    const ins = db.prepare(
      `INSERT INTO results (result_id, check_name, vantage, agent_id, round, started_at, success, challenged, received_at, batch_seq, json)
       VALUES (?, ?, ?, ?, ?, ?, 1, 0, 1, 1, ?)`,
    )
    for (const r of old) ins.run(r.result_id, r.check, r.vantage, r.agent_id, r.round, r.started_at, JSON.stringify(r))
    db.prepare(
      `INSERT INTO votes (check_name, vantage, round, interval_ms, vote, impaired, agents, n_results, n_success, n_challenged, n_down, n_down_impaired, result_id, updated_at)
       VALUES ('shop', 'eu-west', ?, 30000, 'up', 0, '["eu-1"]', 1, 1, 0, 0, 0, ?, 1)`,
    ).run(old[2].round, old[2].result_id)
    db.prepare(`INSERT INTO agent_seq VALUES ('eu-1', 'eu-west', 1, 'x', 1, 0)`).run()
    db.close()

    const store = Store.open(t.dir)
    expect(store.vote('shop', 'eu-west')?.result).toEqual(old[2])
    expect(store.history({ check: 'shop' })).toEqual([...old].reverse())
    expect(store.result(old[0].result_id)).toEqual(old[0])
    // Old result ids still dedupe; new results join the same history.
    const fresh = result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1', started_at: '2026-01-01T00:00:04.000Z' })
    expect(store.applyBatches([input('eu-1', 2, 0, { results: [old[0], fresh] })])[0]).toEqual({ ok: true, accepted: 1, duplicates: 1 })
    expect(store.history({ check: 'shop', vantage: 'eu-west' }).map((r) => r.started_at)).toEqual([fresh, ...[...old].reverse()].map((r) => r.started_at))
    store.close()
    const check = openDatabase(file, { readonly: true })
    const indexes = check.prepare<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'results'`).all().map((r) => r.name)
    expect(indexes.some((n) => n.includes('agent') || n === 'results_by_check')).toBe(false)
    // The history index is in its own file now, and the votes have a mark of their own.
    const tables = check.prepare<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`).all().map((r) => r.name)
    expect(tables).toContain('votes_mark')
    expect(tables.filter((n) => n.startsWith('results_history'))).toEqual([])
    check.close()
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

  it('commits results with synchronous=FULL (COMMIT fsyncs the WAL) unless told sync normal', () => {
    t = tempDir()
    Store.open(t.dir).close()
    const file = join(t.dir, STORE_FILE)
    for (const [sync, expected] of [['full', 2], ['normal', 1]] as const) {
      const log = ResultLog.open(file, sync)
      expect(log.synchronous).toBe(expected)
      log.close()
    }
  })

  it('answers StoreUnavailableError, acknowledging nothing, when the transaction fails', async () => {
    t = tempDir()
    const store = Store.open(t.dir)
    store.close() // every write now fails
    const committer = new Committer(store)
    await expect(committer.submit(input('eu-1', 1))).rejects.toThrow(/the store could not commit/)
  })
})
