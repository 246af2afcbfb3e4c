// The write side of the results: what an ack waits for. One row of `results` per result (its id
// in arrival order, the unique result_id for dedupe, the protobuf bytes the agent signed) and
// the per-agent replay check, committed durably: with sync 'full' (the default), the connection
// that writes results runs synchronous=FULL, so COMMIT returns only once the WAL is fsynced.
//
// The votes live in memory (hub/store/store.ts) and reach the votes table through saveVotes(),
// about once a second, in a transaction of their own, with the mark of the results they reflect:
// a crash in between only leaves them behind, and the next start replays the results past
// votes_mark into them. The history index is another file's (hub/store/history.ts).
//
// In the hub, a ResultLog runs on the ingest writer thread's own connection (hub/ingest/writer.ts),
// so SQLite's work and the fsync stay off the event loop; tests and tools run one in-process.
import { createHash } from 'node:crypto'
import { openDatabase, type Database, type Statement } from './sqlite.ts'
import type { VoteState } from './vote.ts'

/**
 * One signed batch, verified, as the log stores it: column by column (cheap to pass between
 * threads). Every result is of the batch's vantage (ingest refuses any other).
 */
export interface LogBatch {
  agent_id: string
  vantage: string
  seq: number
  /** The agent's count of results it had to drop (outbox full), as last reported. */
  dropped: number
  result_ids: readonly string[]
  checks: readonly string[]
  started_ats: readonly string[]
  /** The vantage.v1.ProbeResult bytes of each result as its agent signed them, stored as they are. */
  bodies: readonly Uint8Array[]
  /** Hub clock, unix ms. */
  received_at: number
}

export type LogOutcome =
  | {
      ok: true
      /** Indexes (into the batch) of the results stored now: not seen before. */
      accepted: number[]
      duplicates: number
      /** The id of the last result stored now (ids grow in commit order), 0 if none was. */
      last_id: number
    }
  | { ok: false; reason: 'replayed_seq'; error: string }

/** A row of the votes table: a vote as it was last saved, its result by id. */
export type VoteRecord = Omit<VoteState, 'result' | 'body'> & { result_id: string }

export type StoreSync = 'full' | 'normal'

interface SeqRow {
  seq: number
  results_digest: string
}

export class ResultLog {
  private readonly sql: {
    insertResult: Statement
    getSeq: Statement<SeqRow>
    putSeq: Statement
    putVote: Statement
    putVotesMark: Statement
  }
  /** A nested transaction function runs as a SAVEPOINT: a throw rolls back that batch only. */
  private readonly applyOne: ResultLog['applyOneUnwrapped']

  /** Writes through `db`, which the caller opened with configureConnection and migrated (hub/store/store.ts). */
  constructor(private readonly db: Database) {
    this.sql = {
      insertResult: db.prepare(
        'INSERT OR IGNORE INTO results (result_id, check_name, vantage, started_at, received_at, body) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      getSeq: db.prepare('SELECT seq, results_digest FROM agent_seq WHERE agent_id = ?'),
      putSeq: db.prepare(
        `INSERT OR REPLACE INTO agent_seq (agent_id, vantage, seq, results_digest, last_seen, dropped) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      putVote: db.prepare(
        `INSERT OR REPLACE INTO votes
           (check_name, vantage, round, interval_ms, vote, impaired, agents, n_results, n_success, n_challenged,
            n_down, n_down_impaired, result_id, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      putVotesMark: db.prepare('UPDATE votes_mark SET saved_through = max(saved_through, ?)'),
    }
    this.applyOne = db.transaction(this.applyOneUnwrapped.bind(this))
  }

  /**
   * A log on a connection of its own to a store the hub already opened (and migrated), for a
   * thread of its own: the fsync in each COMMIT (sync 'full') blocks only that thread.
   */
  static open(file: string, sync: StoreSync = 'full'): ResultLog {
    const db = openDatabase(file)
    try {
      configureConnection(db, sync)
      return new ResultLog(db)
    } catch (err) {
      db.close()
      throw err
    }
  }

  /** SQLite's synchronous setting of this connection: 2 = FULL (COMMIT fsyncs), 1 = NORMAL. */
  get synchronous(): number {
    return this.db.pragma('synchronous', { simple: true }) as number
  }

  /**
   * Stores batches in one transaction (one savepoint each, so a failing batch does not take the
   * others down). Returns, per input, its outcome or the Error that rolled it back. When this
   * returns, every `ok` outcome is committed (and, with sync 'full', on disk): it may be acknowledged.
   */
  applyBatches(inputs: readonly LogBatch[]): (LogOutcome | Error)[] {
    const outcomes: (LogOutcome | Error)[] = []
    this.db
      .transaction(() => {
        for (const input of inputs) {
          try {
            outcomes.push(this.applyOne(input))
          } catch (err) {
            outcomes.push(err instanceof Error ? err : new Error(String(err)))
          }
        }
      })
      .immediate()
    return outcomes
  }

  /** One batch; runs as a SAVEPOINT inside applyBatches' transaction (see the constructor). */
  private applyOneUnwrapped(input: LogBatch): LogOutcome {
    const digest = digestOf(input.result_ids)
    const last = this.sql.getSeq.get(input.agent_id)
    if (last && (input.seq < last.seq || (input.seq === last.seq && digest !== last.results_digest))) {
      return {
        ok: false,
        reason: 'replayed_seq',
        error:
          input.seq < last.seq
            ? `batch seq ${input.seq} from agent ${input.agent_id} is a replay: the hub has already accepted seq ${last.seq}`
            : `batch seq ${input.seq} from agent ${input.agent_id} was already used for a different batch (seq must increase with every batch)`,
      }
    }
    // seq === last.seq with the same results is the agent retrying after a lost ack: every
    // result is already stored, so it is acknowledged as duplicates.
    const accepted: number[] = []
    let lastId = 0
    const { result_ids, checks, started_ats, bodies, vantage, received_at } = input
    const insert = this.sql.insertResult
    for (let i = 0; i < result_ids.length; i++) {
      // The same result_id again changes nothing: it is counted once.
      const { changes, lastInsertRowid } = insert.run(result_ids[i], checks[i], vantage, started_ats[i], received_at, bodies[i])
      if (changes !== 0) {
        accepted.push(i)
        lastId = Number(lastInsertRowid)
      }
    }
    this.sql.putSeq.run(input.agent_id, vantage, Math.max(input.seq, last?.seq ?? 0), digest, received_at, input.dropped)
    return { ok: true, accepted, duplicates: result_ids.length - accepted.length, last_id: lastId }
  }

  /**
   * Saves `votes`, which reflect every result up to id `through`, in a transaction of its own
   * (never an ack's). Returns false when it failed: they are offered again next time.
   */
  saveVotes(votes: Iterable<VoteRecord>, through: number): boolean {
    if (!this.db.open) return false
    try {
      this.db
        .transaction(() => {
          // Each (check, vantage) once, however many results it took since the last time.
          for (const v of votes) {
            this.sql.putVote.run(
              v.check, v.vantage, v.round, v.interval_ms, v.vote, v.impaired ? 1 : 0, JSON.stringify(v.agents),
              v.n_results, v.n_success, v.n_challenged, v.n_down, v.n_down_impaired, v.result_id, v.updated_at,
            )
          }
          this.sql.putVotesMark.run(through)
        })
        .immediate()
      return true
    } catch {
      return false
    }
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

/**
 * The pragmas of a connection to the store. WAL with synchronous=NORMAL survives a killed
 * process (a commit's WAL frames reach the OS with write() before COMMIT returns) but may lose
 * the last commits on power loss or an OS crash; its checkpoints still fsync the WAL before
 * copying it, so the database stays consistent. An ack makes the agent delete its copy, so the
 * connection that writes results runs synchronous=FULL with sync 'full' (COMMIT fsyncs the WAL);
 * the others (reads, the quorum tables) stay NORMAL.
 */
export function configureConnection(db: Database, writesResults: StoreSync | false): void {
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${writesResults === 'full' ? 'FULL' : 'NORMAL'}`)
  db.pragma('foreign_keys = ON')
  // The writer's working set (the last pages of results and of its indexes, the history index's
  // insertion points): SQLite's default 2 MiB cache would read them back from the OS all the time.
  if (writesResults !== false) db.pragma(`cache_size = ${-WRITER_CACHE_KIB}`)
}

/** Page cache of the connection that writes results, in KiB. */
const WRITER_CACHE_KIB = 32 * 1024

/** Every result with id <= this is in the votes table. */
export function readVotesMark(db: Database): number {
  return db.prepare<{ saved_through: number }>('SELECT saved_through FROM votes_mark').get()?.saved_through ?? 0
}

/** Identifies a batch's content independently of its signature and sent_at. */
function digestOf(resultIds: readonly string[]): string {
  const h = createHash('sha256')
  for (const id of resultIds) h.update(id).update('\n')
  return h.digest('base64url')
}
