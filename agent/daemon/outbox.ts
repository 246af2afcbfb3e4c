// The durable outbox: every result is committed to SQLite before anything tries to send it, and
// leaves only when the hub has acknowledged the batch that carried it. A SIGKILL at any moment
// loses nothing that add() returned for, and doubles nothing (a re-sent batch keeps its seq and
// its results, so the hub recognises it).
//
// Batches are frozen when they are formed: the rows get the batch's seq, and the batch row keeps
// the `dropped` counter it reported. Until it is acked, nextBatch() hands back that same batch;
// it is never re-split, even across restarts.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { decodeResult, encodeResult } from '../../proto/codec.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { openDatabase, type Database } from './sqlite.ts'

export interface OutboxOptions {
  /** Most results kept; beyond it the oldest (not yet in a batch) are dropped and counted. */
  max: number
  /** Milliseconds since the epoch (the first seq of a fresh outbox, batch creation times). */
  now?: () => number
}

export interface OutboxBatch {
  seq: number
  /** The outbox's dropped counter when the batch was formed (a counter, never reset). */
  dropped: number
  results: ProbeResult[]
}

export interface OutboxStats {
  queued: number
  /** Results in a batch that was formed (sent, or about to be) and not acked yet. */
  in_flight: number
  dropped_total: number
  next_seq: number
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS results (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  result_id TEXT NOT NULL,
  body BLOB NOT NULL,           -- the result's protobuf bytes (vantage.v1.ProbeResult)
  batch_seq INTEGER             -- set once the result is frozen into a batch
);
CREATE INDEX IF NOT EXISTS results_batch ON results(batch_seq);
CREATE TABLE IF NOT EXISTS batches (
  seq INTEGER PRIMARY KEY,
  dropped INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`

function prepare(db: Database) {
  return {
    count: db.prepare<{ n: number }>('SELECT count(*) AS n FROM results'),
    countInFlight: db.prepare<{ n: number }>('SELECT count(*) AS n FROM results WHERE batch_seq IS NOT NULL'),
    insert: db.prepare('INSERT INTO results (result_id, body) VALUES (?, ?)'),
    dropOldest: db.prepare('DELETE FROM results WHERE id IN (SELECT id FROM results WHERE batch_seq IS NULL ORDER BY id LIMIT ?)'),
    openBatch: db.prepare<{ seq: number; dropped: number }>('SELECT seq, dropped FROM batches ORDER BY seq LIMIT 1'),
    freeze: db.prepare('UPDATE results SET batch_seq = ? WHERE id IN (SELECT id FROM results WHERE batch_seq IS NULL ORDER BY id LIMIT ?)'),
    insertBatch: db.prepare('INSERT INTO batches (seq, dropped, created_at) VALUES (?, ?, ?)'),
    batchResults: db.prepare<{ body: Uint8Array }>('SELECT body FROM results WHERE batch_seq = ? ORDER BY id'),
    deleteResults: db.prepare('DELETE FROM results WHERE batch_seq = ?'),
    deleteBatch: db.prepare('DELETE FROM batches WHERE seq = ?'),
    moveResults: db.prepare('UPDATE results SET batch_seq = ? WHERE batch_seq = ?'),
    moveBatch: db.prepare('UPDATE batches SET seq = ? WHERE seq = ?'),
    peek: db.prepare<{ id: number; body: Uint8Array }>('SELECT id, body FROM results ORDER BY id LIMIT ?'),
    getMeta: db.prepare<{ value: number }>('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
    bumpMeta: db.prepare('UPDATE meta SET value = value + ? WHERE key = ?'),
  }
}

export class Outbox {
  private readonly max: number
  private readonly now: () => number
  private readonly sql: ReturnType<typeof prepare>
  /** Rows in the table, kept in memory so add() does not count 100k rows each time. */
  private queued: number

  private constructor(
    private readonly db: Database,
    opts: OutboxOptions,
  ) {
    this.max = opts.max
    this.now = opts.now ?? Date.now
    this.sql = prepare(db)
    this.queued = this.sql.count.get()?.n ?? 0
  }

  /** Opens (creating when needed) `dir/outbox.sqlite`. */
  static open(dir: string, opts: OutboxOptions): Outbox {
    if (!Number.isInteger(opts.max) || opts.max < 1) throw new Error(`outbox max must be a positive integer, got ${opts.max}`)
    mkdirSync(dir, { recursive: true })
    const db = openDatabase(join(dir, 'outbox.sqlite'))
    // WAL keeps readers and the writer apart; FULL syncs each commit, so add() is durable
    // against power loss too, not only against a killed process.
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec(SCHEMA)
    const now = opts.now ?? Date.now
    // A fresh outbox starts its seq at the current time in milliseconds, so an agent whose data
    // directory was wiped never reuses a seq the hub has already seen (and would call a replay).
    db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('next_seq', Math.floor(now()))
    db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, 0)').run('dropped_total')
    return new Outbox(db, opts)
  }

  /**
   * Stores one result; durable when this returns. Returns how many old results it dropped.
   * Encoding here means a result that does not fit the contract fails now (CodecError), instead
   * of poisoning a batch the hub would refuse forever.
   */
  add(result: ProbeResult): number {
    const body = encodeResult(result)
    return this.db.transaction((): number => {
      this.sql.insert.run(result.result_id, body)
      this.queued++
      if (this.queued <= this.max) return 0
      // Over the bound: drop the oldest results, but never one that is part of a formed batch
      // (that batch may already be at the hub; re-sending it must carry the same results).
      const { changes } = this.sql.dropOldest.run(this.queued - this.max)
      this.queued -= changes
      this.sql.bumpMeta.run(changes, 'dropped_total')
      return changes
    })()
  }

  /**
   * The next batch to send: the oldest un-acked batch if there is one (same seq, same results,
   * same dropped counter as before), else a new one of at most `limit` of the oldest results.
   * Null when there is nothing to send.
   */
  nextBatch(limit: number): OutboxBatch | null {
    // A batch never exceeds the bound, so the bound can always drop something outside it.
    const size = Math.max(1, Math.min(limit, this.max))
    return this.db.transaction((): OutboxBatch | null => {
      const open = this.sql.openBatch.get()
      if (open) return { seq: open.seq, dropped: open.dropped, results: this.resultsOf(open.seq) }
      const seq = this.meta('next_seq')
      if (this.sql.freeze.run(seq, size).changes === 0) return null
      const dropped = this.meta('dropped_total')
      this.sql.insertBatch.run(seq, dropped, Math.floor(this.now()))
      this.sql.setMeta.run(seq + 1, 'next_seq')
      return { seq, dropped, results: this.resultsOf(seq) }
    })()
  }

  /** The hub acknowledged batch `seq`: its results leave the outbox. Unknown seqs are ignored. */
  ack(seq: number): number {
    return this.db.transaction((): number => {
      const { changes } = this.sql.deleteResults.run(seq)
      this.sql.deleteBatch.run(seq)
      this.queued -= changes
      return changes
    })()
  }

  /**
   * Gives an un-acked batch a fresh seq, at least `atLeast` (same results). Only for a hub that
   * refuses the seq itself as a replay; the results still dedupe at the hub by result_id.
   */
  renumber(seq: number, atLeast = 0): number {
    return this.db.transaction((): number => {
      const fresh = Math.max(this.meta('next_seq'), atLeast)
      this.sql.moveResults.run(fresh, seq)
      this.sql.moveBatch.run(fresh, seq)
      this.sql.setMeta.run(fresh + 1, 'next_seq')
      return fresh
    })()
  }

  /** The oldest `n` stored results (inspection and tests). */
  peek(n: number): { id: number; result: ProbeResult }[] {
    return this.sql.peek.all(n).map((row) => ({ id: row.id, result: decodeResult(row.body) }))
  }

  stats(): OutboxStats {
    return {
      queued: this.queued,
      in_flight: this.sql.countInFlight.get()?.n ?? 0,
      dropped_total: this.meta('dropped_total'),
      next_seq: this.meta('next_seq'),
    }
  }

  get size(): number {
    return this.queued
  }

  close(): void {
    if (this.db.open) this.db.close()
  }

  private resultsOf(seq: number): ProbeResult[] {
    return this.sql.batchResults.all(seq).map((row) => decodeResult(row.body))
  }

  private meta(key: string): number {
    return this.sql.getMeta.get(key)?.value ?? 0
  }
}
