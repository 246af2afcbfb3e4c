// The hub's SQLite store: results deduped by result_id, per-agent replay protection, and the
// latest vote per (check, vantage). Writes happen in applyBatches (one transaction for all the
// batches the committer gathered, one savepoint per batch); reads of votes and agents come
// from memory, which mirrors the committed rows (this process is the only writer).
//
// What the ack transaction writes per result is one row of `results` (its id in arrival order,
// the unique result_id for dedupe, the protobuf bytes the agent signed) and nothing else. What
// derives from the results (the history index (check, vantage, started_at), whose inserts land
// on scattered pages, and the votes table, rewritten by nearly every batch) is written by
// indexHistory in a transaction of its own, about once a second and before every history
// query, so queries always see every committed result; memory holds the current votes. A
// crash between the two only leaves the derived rows behind: the next start catches up from
// results_history_mark, indexing those results and replaying them into the votes.
import { createHash } from 'node:crypto'
import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { decodeResult, encodeResult } from '../../proto/codec.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { migrate } from './migrations.ts'
import { openDatabase, type Database, type Statement } from './sqlite.ts'
import { QuorumTables } from './quorum.ts'
import { mergeVote, type VoteRule, type VoteState } from './vote.ts'

export const STORE_FILE = 'hub.sqlite'

export interface BatchInput {
  agent_id: string
  vantage: string
  seq: number
  /** The agent's count of results it had to drop (outbox full), as last reported. */
  dropped: number
  results: ProbeResult[]
  /**
   * The vantage.v1.ProbeResult bytes of each result as its agent signed them (views into the
   * verified payload), stored as they are; encoded from `results` when absent.
   */
  bodies?: readonly Uint8Array[]
  /** Hub clock, unix ms. */
  received_at: number
  /** How a check votes; null when the check is not configured (its results are kept, not voted). */
  rule: (check: string) => VoteRule | null
}

export type BatchOutcome =
  | { ok: true; accepted: number; duplicates: number }
  | { ok: false; reason: 'replayed_seq'; error: string }

export interface AgentSeen {
  agent_id: string
  vantage: string
  seq: number
  last_seen: number
  dropped: number
}

/** A stored result: protobuf bytes, or JSON for results stored before schema 4. */
interface ResultRow {
  body: Uint8Array | null
  json: string | null
}

interface HistoryRow extends ResultRow {
  id: number
  started_at: string
}

interface SeqRow {
  seq: number
  results_digest: string
}

interface VoteRow {
  check_name: string
  vantage: string
  round: number
  interval_ms: number
  vote: VoteState['vote']
  impaired: number
  agents: string
  n_results: number
  n_success: number
  n_challenged: number
  n_down: number
  n_down_impaired: number
  updated_at: number
  body: Uint8Array | null
  json: string | null
}

/** How often committed results are added to the history index (ms). */
export const HISTORY_INDEX_MS = 1000

export type StoreSync = 'full' | 'normal'

export interface StoreOptions {
  /**
   * full (default): durable() fsyncs the WAL, so an acknowledged result survives power loss and
   * OS crashes. normal: durable() returns at once; an acknowledged result survives the hub
   * process being killed (its WAL frames are in the OS), not a power loss.
   */
  sync?: StoreSync
  /**
   * How each (check, vantage) votes, as ingest would say: used at open to replay into the votes
   * the results a crash left out of them. Without it those results are indexed, not replayed.
   */
  rule?: (check: string, vantage: string) => VoteRule | null
}

export type VoteListener = (next: VoteState, previous: VoteState | undefined) => void

/**
 * Called once after each commit that accepted at least one batch, with every vote it updated
 * (a new round counts even when the vote stayed the same) and the agents whose batches it took.
 */
export type CommitListener = (votes: readonly VoteState[], agents: readonly AgentSeen[]) => void

export class Store {
  /** Called after a commit for each (check, vantage) whose vote changed (up → down, …). */
  onVoteChange: VoteListener = () => {}
  /** The quorum engine's rows (state, mutes, acks, incidents). */
  readonly quorum: QuorumTables
  private readonly commitListeners = new Set<CommitListener>()
  private readonly votes = new Map<string, VoteState>()
  /** A nested transaction function runs as a SAVEPOINT: a throw rolls back that batch only. */
  private readonly applyOne: Store['applyOneUnwrapped']
  private readonly seen = new Map<string, AgentSeen>()
  private readonly sql: {
    insertResult: Statement
    getSeq: Statement<SeqRow>
    putSeq: Statement
    putVote: Statement
    getResult: Statement<ResultRow>
    countResults: Statement<{ n: number }>
    maxId: Statement<{ id: number | null }>
    indexRange: Statement
    putMark: Statement
    history: Statement<HistoryRow>
    historyAllVantages: Statement<HistoryRow>
    historyTail: Statement<HistoryRow>
  }
  /**
   * Every result with id <= this is in results_history and in the votes table (ids only grow:
   * nothing is deleted).
   */
  private indexedTo: number
  private indexTimer: ReturnType<typeof setInterval> | null = null
  /** Votes changed in memory since indexHistory last wrote the votes table. */
  private readonly unsavedVotes = new Map<string, VoteState>()

  /** The WAL's file descriptor for durable() (opened at the first call). */
  private walFd: number | null = null
  /** The fsync in progress, and the one queued behind it (it covers commits made since). */
  private syncing: Promise<void> | null = null
  private queuedSync: Promise<void> | null = null

  private constructor(
    private readonly db: Database,
    readonly file: string,
    readonly sync: StoreSync,
    rule: StoreOptions['rule'],
  ) {
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
      getResult: db.prepare('SELECT body, json FROM results WHERE result_id = ?'),
      countResults: db.prepare('SELECT count(*) AS n FROM results'),
      maxId: db.prepare('SELECT max(id) AS id FROM results'),
      indexRange: db.prepare(
        `INSERT OR IGNORE INTO results_history (check_name, vantage, started_at, result_id)
         SELECT check_name, vantage, started_at, result_id FROM results WHERE id > ? AND id <= ?`,
      ),
      putMark: db.prepare('INSERT OR REPLACE INTO results_history_mark (one, indexed_to) VALUES (1, ?)'),
      history: db.prepare(
        `SELECT r.id, h.started_at, r.body, r.json FROM results_history h JOIN results r ON r.result_id = h.result_id
         WHERE h.check_name = ? AND h.vantage = ? AND h.started_at >= ?
         ORDER BY h.started_at DESC, h.result_id DESC LIMIT ?`,
      ),
      historyAllVantages: db.prepare(
        `SELECT r.id, h.started_at, r.body, r.json FROM results_history h JOIN results r ON r.result_id = h.result_id
         WHERE h.check_name = ? AND h.started_at >= ?
         ORDER BY h.started_at DESC, h.result_id DESC LIMIT ?`,
      ),
      // Results not indexed yet (only when indexing failed): a scan of the newest rows.
      historyTail: db.prepare(
        `SELECT id, started_at, body, json FROM results
         WHERE id > ? AND check_name = ? AND (? IS NULL OR vantage = ?) AND started_at >= ?`,
      ),
    }
    this.applyOne = db.transaction(this.applyOneUnwrapped.bind(this))
    this.quorum = new QuorumTables(db)
    this.indexedTo = (db.prepare<{ indexed_to: number }>('SELECT indexed_to FROM results_history_mark').get()?.indexed_to) ?? 0
    this.load()
    // Catch up with what the last run committed but did not index (a crash), then keep up.
    if (rule) this.replayVotes(rule)
    this.indexHistory()
    this.indexTimer = setInterval(() => this.indexHistory(), HISTORY_INDEX_MS)
    this.indexTimer.unref?.()
  }

  /** Opens (creating if needed) the store under `dir` and brings its schema up to date. */
  static open(dir: string, options: StoreOptions = {}): Store {
    mkdirSync(dir, { recursive: true })
    const file = join(dir, STORE_FILE)
    const db = openDatabase(file)
    try {
      db.pragma('journal_mode = WAL')
      // WAL with synchronous=NORMAL survives a killed process (a commit's WAL frames reach the
      // OS with write() before COMMIT returns) but may lose the last commits on power loss or
      // an OS crash; its checkpoints still fsync the WAL before copying it, so the database
      // stays consistent. An ack makes the agent delete its copy, so by default an acknowledged
      // result must survive those too: rather than synchronous=FULL, which fsyncs inside COMMIT
      // and so blocks the event loop, durable() fsyncs the WAL on the thread pool and the
      // committer acknowledges after it (see hub/store/committer.ts).
      db.pragma('synchronous = NORMAL')
      db.pragma('foreign_keys = ON')
      migrate(db, file)
      return new Store(db, file, options.sync ?? 'full', options.rule)
    } catch (err) {
      db.close()
      throw err
    }
  }

  private load(): void {
    const rows = this.db
      .prepare<VoteRow>('SELECT v.*, r.body, r.json FROM votes v JOIN results r ON r.result_id = v.result_id')
      .all()
    for (const row of rows) {
      const state: VoteState = {
        check: row.check_name,
        vantage: row.vantage,
        round: row.round,
        interval_ms: row.interval_ms,
        vote: row.vote,
        impaired: row.impaired === 1,
        agents: JSON.parse(row.agents) as string[],
        n_results: row.n_results,
        n_success: row.n_success,
        n_challenged: row.n_challenged,
        n_down: row.n_down,
        n_down_impaired: row.n_down_impaired,
        result: resultOf(row),
        updated_at: row.updated_at,
      }
      this.votes.set(voteKey(state.check, state.vantage), state)
    }
    for (const row of this.db.prepare<AgentSeen>('SELECT agent_id, vantage, seq, last_seen, dropped FROM agent_seq').all()) {
      this.seen.set(row.agent_id, row)
    }
  }

  /**
   * Stores batches in one transaction (one savepoint each, so a failing batch does not take the
   * others down). Returns, per input, its outcome or the Error that rolled it back. When this
   * returns, every `ok` outcome is committed: only then may it be acknowledged.
   */
  applyBatches(inputs: readonly BatchInput[]): (BatchOutcome | Error)[] {
    const outcomes: (BatchOutcome | Error)[] = []
    const pendingVotes = new Map<string, VoteState>()
    const pendingSeen: AgentSeen[] = []
    this.db
      .transaction(() => {
        for (const input of inputs) {
          const votes = new Map<string, VoteState>()
          try {
            const outcome = this.applyOne(input, (k) => votes.get(k) ?? pendingVotes.get(k) ?? this.votes.get(k), votes)
            outcomes.push(outcome)
            if (outcome.ok) {
              for (const [k, v] of votes) pendingVotes.set(k, v)
              pendingSeen.push({ agent_id: input.agent_id, vantage: input.vantage, seq: input.seq, last_seen: input.received_at, dropped: input.dropped })
            }
          } catch (err) {
            outcomes.push(err instanceof Error ? err : new Error(String(err)))
          }
        }
      })
      .immediate()
    // Committed: now memory may follow (the votes table follows with the history index).
    for (const [k, v] of pendingVotes) {
      const previous = this.votes.get(k)
      this.votes.set(k, v)
      this.unsavedVotes.set(k, v)
      if (previous?.vote === v.vote) continue
      try {
        this.onVoteChange(v, previous)
      } catch {
        // A listener's failure must not turn a committed batch into a failed one.
      }
    }
    for (const s of pendingSeen) this.seen.set(s.agent_id, s)
    if (pendingSeen.length > 0) {
      const updated = [...pendingVotes.values()]
      for (const listener of this.commitListeners) {
        try {
          listener(updated, pendingSeen)
        } catch {
          // As above: the batches are committed whatever a listener does.
        }
      }
    }
    return outcomes
  }

  /**
   * Resolves once every transaction committed before the call is on stable storage: an fsync of
   * the WAL on the thread pool, shared by all the callers that arrive while one is running (the
   * next starts when it ends, since it must cover their commits). With sync 'normal', at once.
   */
  durable(): Promise<void> {
    if (this.sync === 'normal') return Promise.resolve()
    if (!this.syncing) return (this.syncing = this.fsyncWal())
    this.queuedSync ??= this.syncing.then(
      () => this.startQueued(),
      () => this.startQueued(),
    )
    return this.queuedSync
  }

  private startQueued(): Promise<void> {
    this.queuedSync = null
    return (this.syncing = this.fsyncWal())
  }

  private fsyncWal(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        // The WAL exists once a transaction committed (and until the last connection closes).
        this.walFd ??= openSync(`${this.file}-wal`, 'r+')
      } catch (err) {
        reject(err)
        return
      }
      fdatasync(this.walFd, (err) => (err ? reject(err) : resolve()))
    }).finally(() => {
      if (!this.queuedSync) this.syncing = null
    })
  }

  /** Subscribes to commits (see CommitListener); returns the unsubscribe function. */
  onCommit(listener: CommitListener): () => void {
    this.commitListeners.add(listener)
    return () => this.commitListeners.delete(listener)
  }

  /** One batch; runs as a SAVEPOINT inside applyBatches' transaction (see the constructor). */
  private applyOneUnwrapped(input: BatchInput, lookup: (key: string) => VoteState | undefined, votes: Map<string, VoteState>): BatchOutcome {
    const digest = digestOf(input.results)
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
    let accepted = 0
    const { results, bodies, received_at } = input
    const insert = this.sql.insertResult
    for (let i = 0; i < results.length; i++) {
      const r = results[i]
      const { changes } = insert.run(r.result_id, r.check, r.vantage, r.started_at, received_at, bodies?.[i] ?? encodeResult(r))
      if (changes === 0) continue // the same result_id again: counted once
      accepted++
      const rule = input.rule(r.check)
      if (!rule) continue
      const key = voteKey(r.check, r.vantage)
      const next = mergeVote(lookup(key), r, rule, received_at)
      // Written once per transaction, by applyBatches, after the last batch.
      if (next) votes.set(key, next)
    }
    this.sql.putSeq.run(input.agent_id, input.vantage, Math.max(input.seq, last?.seq ?? 0), digest, input.received_at, input.dropped)
    return { ok: true, accepted, duplicates: input.results.length - accepted }
  }

  private writeVote(v: VoteState): void {
    this.sql.putVote.run(
      v.check, v.vantage, v.round, v.interval_ms, v.vote, v.impaired ? 1 : 0, JSON.stringify(v.agents),
      v.n_results, v.n_success, v.n_challenged, v.n_down, v.n_down_impaired, v.result.result_id, v.updated_at,
    )
  }

  /** Merges the results past the mark (committed, not yet in the votes table) into the votes. */
  private replayVotes(rule: NonNullable<StoreOptions['rule']>): void {
    const rows = this.db
      .prepare<ResultRow & { received_at: number }>('SELECT body, json, received_at FROM results WHERE id > ? ORDER BY id')
      .iterate(this.indexedTo)
    for (const row of rows) {
      const r = resultOf(row)
      const voteRule = rule(r.check, r.vantage)
      if (!voteRule) continue
      const key = voteKey(r.check, r.vantage)
      const next = mergeVote(this.votes.get(key), r, voteRule, row.received_at)
      if (!next) continue
      this.votes.set(key, next)
      this.unsavedVotes.set(key, next)
    }
  }

  /** The latest committed vote per (check, vantage). */
  currentVotes(): IterableIterator<VoteState> {
    return this.votes.values()
  }

  vote(check: string, vantage: string): VoteState | undefined {
    return this.votes.get(voteKey(check, vantage))
  }

  /** Agents that have pushed at least once: last accepted seq and when. */
  agentsSeen(): IterableIterator<AgentSeen> {
    return this.seen.values()
  }

  result(resultId: string): ProbeResult | undefined {
    const row = this.sql.getResult.get(resultId)
    return row ? resultOf(row) : undefined
  }

  /** Result history, newest first (the operator API builds on this). */
  history(q: { check: string; vantage?: string; since?: string; limit?: number }): ProbeResult[] {
    const since = q.since ?? ''
    const limit = q.limit ?? 100
    this.indexHistory()
    let rows =
      q.vantage === undefined
        ? this.sql.historyAllVantages.all(q.check, since, limit)
        : this.sql.history.all(q.check, q.vantage, since, limit)
    if (this.maxResultId() > this.indexedTo) {
      // Indexing failed (disk full?): the newest results are read from the table itself.
      const tail = this.sql.historyTail.all(this.indexedTo, q.check, q.vantage ?? null, q.vantage ?? null, since)
      rows = [...rows, ...tail].sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0)).slice(0, limit)
    }
    return rows.map(resultOf)
  }

  /**
   * Adds the results committed since the last run to the history index, in one transaction of
   * its own (never the ack's). Runs on a timer, before history queries and at open; returns
   * false when it failed (the results stay committed; history() then reads them directly).
   */
  indexHistory(): boolean {
    if (!this.db.open) return false
    const upTo = this.maxResultId()
    if (upTo <= this.indexedTo && this.unsavedVotes.size === 0) return true
    try {
      this.db
        .transaction(() => {
          this.sql.indexRange.run(this.indexedTo, upTo)
          // Each (check, vantage) once, however many results it took since the last time.
          for (const v of this.unsavedVotes.values()) this.writeVote(v)
          this.sql.putMark.run(upTo)
        })
        .immediate()
      this.indexedTo = upTo
      this.unsavedVotes.clear()
      return true
    } catch {
      return false
    }
  }

  private maxResultId(): number {
    return this.sql.maxId.get()?.id ?? 0
  }

  resultCount(): number {
    return this.sql.countResults.get()!.n
  }

  get isOpen(): boolean {
    return this.db.open
  }

  close(): void {
    if (this.indexTimer !== null) clearInterval(this.indexTimer)
    this.indexTimer = null
    if (!this.db.open) return
    this.indexHistory()
    this.db.close()
    if (this.walFd !== null) closeSync(this.walFd)
    this.walFd = null
  }
}

function resultOf(row: ResultRow): ProbeResult {
  return row.body ? decodeResult(row.body) : (JSON.parse(row.json!) as ProbeResult)
}

function voteKey(check: string, vantage: string): string {
  return `${check}\u0000${vantage}`
}

/** Identifies a batch's content independently of its signature and sent_at. */
function digestOf(results: readonly ProbeResult[]): string {
  const h = createHash('sha256')
  for (const r of results) h.update(r.result_id).update('\n')
  return h.digest('base64url')
}
