// The quorum engine's rows (migration 2): per-check state, per-vantage effective votes, mutes,
// acks and incidents. Plain reads and writes; the engine (hub/quorum/engine.ts) decides what
// they hold and wraps each evaluation's writes in one transaction.
import type { ProbeResult } from '../../proto/result.ts'
import type { CheckState, Incident, VantageVote } from '../quorum/types.ts'
import type { Database, Statement } from './sqlite.ts'

export interface CheckStateRow {
  check: string
  state: CheckState
  since: number
  clear_since: number | null
  disagreement_since: number | null
  incident_id: number | null
  ack_id: number | null
}

export interface VantageVoteRow {
  check: string
  vantage: string
  vote: VantageVote
  impaired: boolean
  since: number
  down_result_id: string | null
}

export interface MuteRow {
  vantage: string
  reason: string
  until: number | null
  by: string | null
  created_at: number
}

export interface AckRow {
  id: number
  check: string
  note: string
  by: string | null
  at: number
  incident_id: number | null
}

export interface EvidenceEntry {
  vantage: string
  first: ProbeResult
  last: ProbeResult
}

export interface IncidentQuery {
  check?: string
  open?: boolean
  limit?: number
}

interface IncidentRow {
  id: number
  check_name: string
  started_at: number
  pending_since: number
  ended_at: number | null
  resolution: Incident['resolution']
  failing_vantages: string
  evidence: string
}

export class QuorumTables {
  private readonly sql: {
    putState: Statement
    putVantage: Statement
    putMute: Statement
    deleteMute: Statement
    insertAck: Statement
    getAck: Statement<AckRow & { check_name: string; acked_by: string | null }>
    insertIncident: Statement
    updateIncident: Statement
    closeIncident: Statement
    getIncident: Statement<IncidentRow>
    acksOf: Statement<{ note: string; acked_by: string | null; at: number }>
  }

  /** Set while transaction() runs (see there). */
  private lazy = false

  constructor(private readonly db: Database) {
    this.sql = {
      putState: db.prepare(
        `INSERT OR REPLACE INTO quorum_checks (check_name, state, since, clear_since, disagreement_since, incident_id, ack_id, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      putVantage: db.prepare(
        `INSERT OR REPLACE INTO quorum_vantages (check_name, vantage, vote, impaired, since, down_result_id) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      putMute: db.prepare('INSERT OR REPLACE INTO vantage_mutes (vantage, reason, until, muted_by, created_at) VALUES (?, ?, ?, ?, ?)'),
      deleteMute: db.prepare('DELETE FROM vantage_mutes WHERE vantage = ?'),
      insertAck: db.prepare('INSERT INTO check_acks (check_name, note, acked_by, at, incident_id) VALUES (?, ?, ?, ?, ?)'),
      getAck: db.prepare('SELECT id, check_name, note, acked_by, at, incident_id FROM check_acks WHERE id = ?'),
      insertIncident: db.prepare(
        `INSERT INTO incidents (check_name, started_at, pending_since, ended_at, resolution, failing_vantages, evidence)
         VALUES (?, ?, ?, NULL, NULL, ?, ?)`,
      ),
      updateIncident: db.prepare('UPDATE incidents SET failing_vantages = ?, evidence = ? WHERE id = ?'),
      closeIncident: db.prepare('UPDATE incidents SET ended_at = ?, resolution = ? WHERE id = ? AND ended_at IS NULL'),
      getIncident: db.prepare('SELECT * FROM incidents WHERE id = ?'),
      acksOf: db.prepare('SELECT note, acked_by, at FROM check_acks WHERE incident_id = ? ORDER BY id'),
    }
  }

  /**
   * Runs `fn` in one transaction (nested: a savepoint), begun at its first statement: most
   * evaluations write nothing, and then take no lock at all (the ingest writer thread holds the
   * write lock most of the time under load: waiting for it would stall the event loop). Begun
   * IMMEDIATE: it takes the write lock first (waiting for the writer's commit if need be), since
   * a transaction that read first could not write after the writer committed (SQLITE_BUSY at
   * once, no waiting).
   */
  transaction<R>(fn: () => R): R {
    if (this.db.inTransaction) return this.db.transaction(fn)()
    if (this.lazy) {
      this.begin()
      return this.db.transaction(fn)()
    }
    this.lazy = true
    try {
      const out = fn()
      if (this.db.inTransaction) this.db.exec('COMMIT')
      return out
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK')
      throw err
    } finally {
      this.lazy = false
    }
  }

  /** Every method calls it before its statement: begins the transaction() under way, if not yet. */
  private begin(): void {
    if (this.lazy && !this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE')
  }

  states(): CheckStateRow[] {
    this.begin()
    return this.db
      .prepare<{
        check_name: string
        state: CheckState
        since: number
        clear_since: number | null
        disagreement_since: number | null
        incident_id: number | null
        ack_id: number | null
      }>('SELECT * FROM quorum_checks')
      .all()
      .map((r) => ({
        check: r.check_name,
        state: r.state,
        since: r.since,
        clear_since: r.clear_since,
        disagreement_since: r.disagreement_since,
        incident_id: r.incident_id,
        ack_id: r.ack_id,
      }))
  }

  putState(s: CheckStateRow, now: number): void {
    this.begin()
    this.sql.putState.run(s.check, s.state, s.since, s.clear_since, s.disagreement_since, s.incident_id, s.ack_id, now)
  }

  vantageVotes(): VantageVoteRow[] {
    this.begin()
    return this.db
      .prepare<{ check_name: string; vantage: string; vote: VantageVote; impaired: number; since: number; down_result_id: string | null }>(
        'SELECT * FROM quorum_vantages',
      )
      .all()
      .map((r) => ({ check: r.check_name, vantage: r.vantage, vote: r.vote, impaired: r.impaired === 1, since: r.since, down_result_id: r.down_result_id }))
  }

  putVantageVote(v: VantageVoteRow): void {
    this.begin()
    this.sql.putVantage.run(v.check, v.vantage, v.vote, v.impaired ? 1 : 0, v.since, v.down_result_id)
  }

  mutes(): MuteRow[] {
    this.begin()
    return this.db
      .prepare<{ vantage: string; reason: string; until: number | null; muted_by: string | null; created_at: number }>('SELECT * FROM vantage_mutes')
      .all()
      .map((r) => ({ vantage: r.vantage, reason: r.reason, until: r.until, by: r.muted_by, created_at: r.created_at }))
  }

  putMute(m: MuteRow): void {
    this.begin()
    this.sql.putMute.run(m.vantage, m.reason, m.until, m.by, m.created_at)
  }

  deleteMute(vantage: string): boolean {
    this.begin()
    return this.sql.deleteMute.run(vantage).changes > 0
  }

  insertAck(a: Omit<AckRow, 'id'>): AckRow {
    this.begin()
    const { lastInsertRowid } = this.sql.insertAck.run(a.check, a.note, a.by, a.at, a.incident_id)
    return { ...a, id: Number(lastInsertRowid) }
  }

  ack(id: number): AckRow | undefined {
    this.begin()
    const r = this.sql.getAck.get(id)
    return r ? { id: r.id, check: r.check_name, note: r.note, by: r.acked_by, at: r.at, incident_id: r.incident_id } : undefined
  }

  openIncident(check: string, startedAt: number, pendingSince: number, failing: string[], evidence: EvidenceEntry[]): number {
    this.begin()
    const { lastInsertRowid } = this.sql.insertIncident.run(check, startedAt, pendingSince, JSON.stringify(failing), JSON.stringify(evidence))
    return Number(lastInsertRowid)
  }

  updateIncident(id: number, failing: string[], evidence: EvidenceEntry[]): void {
    this.begin()
    this.sql.updateIncident.run(JSON.stringify(failing), JSON.stringify(evidence), id)
  }

  closeIncident(id: number, endedAt: number, resolution: NonNullable<Incident['resolution']>): void {
    this.begin()
    this.sql.closeIncident.run(endedAt, resolution, id)
  }

  incident(id: number): Incident | undefined {
    this.begin()
    const row = this.sql.getIncident.get(id)
    return row ? this.toIncident(row) : undefined
  }

  /** Newest first. */
  incidents(q: IncidentQuery = {}): Incident[] {
    this.begin()
    const rows = this.db
      .prepare<IncidentRow>(
        `SELECT * FROM incidents
         WHERE (? IS NULL OR check_name = ?)
           AND (? IS NULL OR (? = 1 AND ended_at IS NULL) OR (? = 0 AND ended_at IS NOT NULL))
         ORDER BY started_at DESC, id DESC LIMIT ?`,
      )
      .all(
        q.check ?? null, q.check ?? null,
        q.open === undefined ? null : 1, q.open ? 1 : 0, q.open ? 1 : 0,
        q.limit ?? 100,
      )
    return rows.map((r) => this.toIncident(r))
  }

  private toIncident(r: IncidentRow): Incident {
    return {
      id: r.id,
      check: r.check_name,
      started_at: r.started_at,
      ended_at: r.ended_at,
      failing_vantages: JSON.parse(r.failing_vantages) as string[],
      evidence: JSON.parse(r.evidence) as EvidenceEntry[],
      pending_since: r.pending_since,
      resolution: r.resolution,
      acks: this.sql.acksOf.all(r.id).map((a) => (a.acked_by ? { note: a.note, by: a.acked_by, at: a.at } : { note: a.note, at: a.at })),
    }
  }
}
