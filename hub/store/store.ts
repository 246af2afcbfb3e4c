// The hub's SQLite store, as the event loop sees it: the latest vote per (check, vantage) and the
// agents seen (in memory, mirroring what is committed), result history and lookups, and the
// quorum engine's tables. Results are written by a ResultLog (hub/store/result-log.ts): in the
// hub, the ingest writer thread's (hub/ingest/writer.ts), which tells this store what it committed
// (committed()); in tests and tools, one of its own (applyBatches()).
//
// The votes reach the votes table about once a second (the log's saveVotes()): a crash between
// a commit and that only leaves them behind, and open() replays the results past votes_mark into
// the votes. The history index is a file of its own (hub/store/history.ts), attached here for
// reading: in the hub a thread of its own keeps it; a store written in-process steps it itself.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { decodeResult, encodeResult } from '../../proto/codec.ts'
import type { ProbeResult, ResultHead } from '../../proto/result.ts'
import { migrate } from './migrations.ts'
import { openDatabase, type Database, type Statement } from './sqlite.ts'
import { QuorumTables } from './quorum.ts'
import { attachHistory, HISTORY_INDEX_MS, HistoryIndex, readHistoryMark } from './history.ts'
import { configureConnection, readVotesMark, ResultLog, type LogBatch, type StoreSync, type VoteRecord } from './result-log.ts'
import { detachBody, knownResult, mergeVote, type VoteRule, type VoteState } from './vote.ts'

export type { StoreSync, VoteRecord } from './result-log.ts'

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

/** A batch a ResultLog committed (and made durable): what the votes and the agents seen take from it. */
export interface CommittedBatch {
  agent_id: string
  vantage: string
  seq: number
  dropped: number
  received_at: number
  /** The batch's results (their heads) and their bytes as signed. */
  results: readonly ResultHead[]
  bodies: readonly Uint8Array[]
  /** Which of them were stored now (not duplicates), in batch order: indexes into `results`. */
  accepted: readonly number[]
  /** The id of the last of them (ids grow in commit order), 0 if none. */
  last_id: number
  rule: (check: string) => VoteRule | null
}

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

/** Votes to save, and the id of the last result they reflect. */
export interface UnsavedVotes {
  votes: VoteRecord[]
  through: number
}

export interface StoreOptions {
  /**
   * full (default): an acknowledged result survives power loss and OS crashes (every commit of
   * results fsyncs the WAL); normal: it survives the hub process being killed. See result-log.ts.
   */
  sync?: StoreSync
  /**
   * How each (check, vantage) votes, as ingest would say: used at open to replay into the votes
   * the results a crash left out of them. Without it those results are indexed, not replayed.
   */
  rule?: (check: string, vantage: string) => VoteRule | null
  /**
   * Who writes the results. 'here' (default): this store's own ResultLog (applyBatches()).
   * 'elsewhere': a ResultLog on another connection (the hub's ingest writer thread), which reports
   * its commits through committed() and is handed the votes to save through persistVotes.
   */
  writer?: 'here' | 'elsewhere'
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
  /**
   * With writer 'elsewhere': hands the votes changed since the last call to the writer, which
   * saves them. Returns false when they could not be handed over (they are offered again next time).
   */
  persistVotes: (unsaved: UnsavedVotes) => boolean = () => false
  /** The quorum engine's rows (state, mutes, acks, incidents). */
  readonly quorum: QuorumTables
  private readonly commitListeners = new Set<CommitListener>()
  private readonly votes = new Map<string, VoteState>()
  private readonly seen = new Map<string, AgentSeen>()
  /** The writer, when it is this store's (writer 'here'). */
  private readonly log: ResultLog | null
  /** The history index's upkeep, when results are written here (else the hub's indexer thread's). */
  private readonly historyIndex: HistoryIndex | null
  /** The id of the last result taken into the votes. */
  private votesThrough = 0
  private readonly sql: {
    getResult: Statement<ResultRow>
    countResults: Statement<{ n: number }>
    maxId: Statement<{ id: number | null }>
    history: Statement<HistoryRow>
    historyAllVantages: Statement<HistoryRow>
    historyTail: Statement<HistoryRow>
  }
  private indexTimer: ReturnType<typeof setInterval> | null = null
  /** Votes changed in memory since they were last saved to the votes table. */
  private readonly unsavedVotes = new Map<string, VoteState>()

  private constructor(
    private readonly db: Database,
    readonly file: string,
    readonly sync: StoreSync,
    rule: StoreOptions['rule'],
    writer: NonNullable<StoreOptions['writer']>,
  ) {
    this.sql = {
      getResult: db.prepare('SELECT body, json FROM results WHERE result_id = ?'),
      countResults: db.prepare('SELECT count(*) AS n FROM results'),
      maxId: db.prepare('SELECT max(id) AS id FROM results'),
      history: db.prepare(
        `SELECT r.id, h.started_at, r.body, r.json FROM history.results_history h JOIN results r ON r.result_id = h.result_id
         WHERE h.check_name = ? AND h.vantage = ? AND h.started_at >= ?
         ORDER BY h.started_at DESC, h.result_id DESC LIMIT ?`,
      ),
      historyAllVantages: db.prepare(
        `SELECT r.id, h.started_at, r.body, r.json FROM history.results_history h JOIN results r ON r.result_id = h.result_id
         WHERE h.check_name = ? AND h.started_at >= ?
         ORDER BY h.started_at DESC, h.result_id DESC LIMIT ?`,
      ),
      // Results not indexed yet: a scan of the newest rows.
      historyTail: db.prepare(
        `SELECT id, started_at, body, json FROM results
         WHERE id > ? AND check_name = ? AND (? IS NULL OR vantage = ?) AND started_at >= ?`,
      ),
    }
    this.quorum = new QuorumTables(db)
    this.load()
    // Catch up with what the last run committed but did not save in the votes (a crash), before
    // any other writer starts; then keep up.
    const log = new ResultLog(db)
    this.votesThrough = this.maxResultId()
    if (rule) this.replayVotes(rule)
    const unsaved = this.takeUnsavedVotes()
    log.saveVotes(unsaved.votes, unsaved.through)
    this.log = writer === 'here' ? log : null
    this.historyIndex = writer === 'here' ? HistoryIndex.open(file) : null
    this.indexTimer = setInterval(() => this.indexHistory(), HISTORY_INDEX_MS)
    this.indexTimer.unref?.()
  }

  /** Opens (creating if needed) the store under `dir` and brings its schema up to date. */
  static open(dir: string, options: StoreOptions = {}): Store {
    mkdirSync(dir, { recursive: true })
    const file = join(dir, STORE_FILE)
    const db = openDatabase(file)
    try {
      const sync = options.sync ?? 'full'
      const writer = options.writer ?? 'here'
      configureConnection(db, writer === 'here' && sync)
      migrate(db, file)
      attachHistory(db, file)
      return new Store(db, file, sync, options.rule, writer)
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
      const { result, body } = storedResult(row)
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
        result,
        body,
        updated_at: row.updated_at,
      }
      this.votes.set(voteKey(state.check, state.vantage), state)
    }
    for (const row of this.db.prepare<AgentSeen>('SELECT agent_id, vantage, seq, last_seen, dropped FROM agent_seq').all()) {
      this.seen.set(row.agent_id, row)
    }
  }

  /**
   * Stores batches through this store's own ResultLog, in one transaction (one savepoint each,
   * so a failing batch does not take the others down), and takes them into the votes. Returns,
   * per input, its outcome or the Error that rolled it back. When this returns, every `ok`
   * outcome is committed (on disk, with sync 'full'): it may be acknowledged.
   */
  applyBatches(inputs: readonly BatchInput[]): (BatchOutcome | Error)[] {
    if (!this.log) throw new Error('this store is written by another connection (writer: elsewhere)')
    const batches = inputs.map((input) => toLogBatch({ ...input, bodies: input.bodies ?? input.results.map((r) => encodeResult(r)) }))
    const outcomes = this.log.applyBatches(batches)
    const committed: CommittedBatch[] = []
    const out = outcomes.map((outcome, i): BatchOutcome | Error => {
      if (outcome instanceof Error || !outcome.ok) return outcome
      const input = inputs[i]
      const { bodies } = batches[i]
      input.results.forEach((r, k) => knownResult(bodies[k], r))
      committed.push({
        agent_id: input.agent_id,
        vantage: input.vantage,
        seq: input.seq,
        dropped: input.dropped,
        received_at: input.received_at,
        results: input.results,
        bodies,
        accepted: outcome.accepted,
        last_id: outcome.last_id,
        rule: input.rule,
      })
      return { ok: true, accepted: outcome.accepted.length, duplicates: outcome.duplicates }
    })
    this.committed(committed)
    return out
  }

  /**
   * Takes committed batches (in commit order) into the votes and the agents seen, then tells
   * the listeners. The writer calls it once per commit, after the commit and before any ack.
   */
  committed(batches: readonly CommittedBatch[]): void {
    if (batches.length === 0) return
    /** Votes this commit changed: new objects of its own, updated in place by the next results. */
    const changed = new Map<string, VoteState>()
    for (const batch of batches) {
      for (const k of batch.accepted) {
        const r = batch.results[k]
        const rule = batch.rule(r.check)
        if (!rule) continue
        const key = voteKey(r.check, r.vantage)
        const mine = changed.get(key)
        const next = mergeVote(mine ?? this.votes.get(key), r, batch.bodies[k], rule, batch.received_at, mine !== undefined)
        if (next) changed.set(key, next)
      }
      this.votesThrough = Math.max(this.votesThrough, batch.last_id)
      this.seen.set(batch.agent_id, {
        agent_id: batch.agent_id,
        vantage: batch.vantage,
        seq: batch.seq,
        last_seen: batch.received_at,
        dropped: batch.dropped,
      })
    }
    for (const [k, v] of changed) {
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
    const updated = [...changed.values()]
    const agents = batches.map((b) => this.seen.get(b.agent_id)!)
    for (const listener of this.commitListeners) {
      try {
        listener(updated, agents)
      } catch {
        // As above: the batches are committed whatever a listener does.
      }
    }
  }

  /** Subscribes to commits (see CommitListener); returns the unsubscribe function. */
  onCommit(listener: CommitListener): () => void {
    this.commitListeners.add(listener)
    return () => this.commitListeners.delete(listener)
  }

  /** Merges the results past the mark (committed, not yet in the votes table) into the votes. */
  private replayVotes(rule: NonNullable<StoreOptions['rule']>): void {
    const rows = this.db
      .prepare<ResultRow & { received_at: number }>('SELECT body, json, received_at FROM results WHERE id > ? ORDER BY id')
      .iterate(readVotesMark(this.db))
    for (const row of rows) {
      const { result: r, body } = storedResult(row)
      const voteRule = rule(r.check, r.vantage)
      if (!voteRule) continue
      const key = voteKey(r.check, r.vantage)
      const next = mergeVote(this.votes.get(key), r, body, voteRule, row.received_at)
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
    this.historyIndex?.catchUp()
    const indexedTo = readHistoryMark(this.db, 'history')
    let rows =
      q.vantage === undefined
        ? this.sql.historyAllVantages.all(q.check, since, limit)
        : this.sql.history.all(q.check, q.vantage, since, limit)
    if (this.maxResultId() > indexedTo) {
      // Committed since the last index step (or indexing failed): read from the table itself.
      const tail = this.sql.historyTail.all(indexedTo, q.check, q.vantage ?? null, q.vantage ?? null, since)
      const seen = new Set(rows.map((r) => r.id))
      rows = [...rows, ...tail.filter((r) => !seen.has(r.id))]
        .sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0))
        .slice(0, limit)
    }
    return rows.map(resultOf)
  }

  /**
   * Saves the changed votes, in a transaction of their own (never an ack's); with writer
   * 'elsewhere', hands them to the writer, which does. Written in-process, also adds the results
   * committed since the last time to the history index. Runs on a timer, before history queries
   * and at close; returns false when the votes could not be saved (they are offered again).
   */
  indexHistory(): boolean {
    if (!this.db.open) return false
    const unsaved = this.takeUnsavedVotes()
    const ok = this.log ? this.log.saveVotes(unsaved.votes, unsaved.through) : this.persistVotes(unsaved)
    if (!ok) {
      // Offered again next time, unless a newer state of the same vote came meanwhile.
      for (const v of unsaved.votes) {
        const key = voteKey(v.check, v.vantage)
        if (!this.unsavedVotes.has(key)) this.unsavedVotes.set(key, this.votes.get(key)!)
      }
    }
    try {
      this.historyIndex?.catchUp()
    } catch {
      // Tried again next time; history queries read what is past the mark from the results.
    }
    return ok
  }

  /**
   * The votes changed since they were last saved, as rows, and the id of the last result they
   * reflect; they count as saved from now on. Their representatives' bytes, until now views into
   * their batches' payloads, are copied here: about once a second rather than at every commit,
   * and no vote keeps a batch alive.
   */
  takeUnsavedVotes(): UnsavedVotes {
    const votes: VoteRecord[] = []
    for (const v of this.unsavedVotes.values()) {
      detachBody(v)
      const { result, body: _body, ...vote } = v
      votes.push({ ...vote, result_id: result.result_id })
    }
    this.unsavedVotes.clear()
    return { votes, through: this.votesThrough }
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

  /** Saves what is pending (indexHistory()) and closes. With writer 'elsewhere', close the writer first. */
  close(): void {
    if (this.indexTimer !== null) clearInterval(this.indexTimer)
    this.indexTimer = null
    if (!this.db.open) return
    if (this.log) this.indexHistory()
    this.historyIndex?.close()
    this.db.close()
  }
}

/** A batch as the ResultLog takes it (see LogBatch): its results' heads, and their bytes as signed. */
export function toLogBatch(input: Omit<BatchInput, 'rule' | 'results' | 'bodies'> & { results: readonly ResultHead[]; bodies: readonly Uint8Array[] }): LogBatch {
  const { results } = input
  return {
    agent_id: input.agent_id,
    vantage: input.vantage,
    seq: input.seq,
    dropped: input.dropped,
    result_ids: results.map((r) => r.result_id),
    checks: results.map((r) => r.check),
    started_ats: results.map((r) => r.started_at),
    bodies: input.bodies,
    received_at: input.received_at,
  }
}

function resultOf(row: ResultRow): ProbeResult {
  return row.body ? decodeResult(row.body) : (JSON.parse(row.json!) as ProbeResult)
}

/** A stored result as a vote holds it: its head (here, the whole result) and its bytes (encoded now for an old JSON row). */
function storedResult(row: ResultRow): { result: ProbeResult; body: Uint8Array } {
  const result = resultOf(row)
  // better-sqlite3 answers a Buffer: the same bytes as a plain Uint8Array, like ingest's.
  const body = row.body ? new Uint8Array(row.body.buffer, row.body.byteOffset, row.body.byteLength) : encodeResult(result)
  knownResult(body, result)
  return { result, body }
}

function voteKey(check: string, vantage: string): string {
  return `${check}\u0000${vantage}`
}
