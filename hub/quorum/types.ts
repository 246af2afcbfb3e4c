// The quorum view of every check: what the engine decides, what /metrics, the review API,
// the review page and the alerting read. The engine (hub/quorum/engine.ts) is its only writer.
import type { CheckType, ProbeResult } from '../../proto/result.ts'

export type CheckState = 'ok' | 'pending' | 'outage' | 'unknown'
export const CHECK_STATES: readonly CheckState[] = ['ok', 'pending', 'outage', 'unknown']

/** One vote per vantage. Stale, muted and challenged vantages cast no vote (DESIGN.md). */
export type VantageVote = 'up' | 'down' | 'challenged' | 'stale' | 'muted'
export const VANTAGE_VOTES: readonly VantageVote[] = ['up', 'down', 'challenged', 'stale', 'muted']

export interface VantageView {
  vantage: string
  region: string
  failure_domain?: string
  vote: VantageVote
  /** Its agents' canaries failed too: the vantage's own network is the problem (no down vote). */
  impaired: boolean
  /** Agents of this vantage that reported the latest round. */
  agents: string[]
  /** The result behind the vote: evidence for the operator. Null when nothing was ever reported. */
  latest: ProbeResult | null
  /** Unix ms when this vantage's vote last changed. */
  since: number
  mute?: { reason: string; until: number | null; by?: string }
  /**
   * Added (always set by the engine; optional so hand-made fixtures stay valid): whether this vantage's vote counts toward the quorum (up, or down and not impaired;
   * never challenged, stale or muted).
   */
  eligible?: boolean
}

export interface CheckView {
  name: string
  type: CheckType
  target: string
  state: CheckState
  /** Unix ms when `state` was entered. */
  since: number
  vantages: VantageView[]
  /**
   * How many eligible (voting) vantages, how many of them down, and K. Counted in voting units:
   * vantages that share a `failure_domain` count once (a vantage without one is its own unit).
   */
  eligible: number
  down: number
  min_down: number
  /** Added: eligible units with an up vote (same counting as `eligible` and `down`). */
  up?: number
  /** Some eligible vantages up and some down. */
  disagreement: boolean
  /** Unix ms since when the disagreement holds, null when there is none. */
  disagreement_since: number | null
  /** Every vantage with a result is challenged: the monitors are blocked, not the site. */
  all_challenged: boolean
  /** Vantages saw different leaf certificates (fingerprints) for the same target. */
  cert_mismatch: boolean
  /** The open incident, when the check is in outage (or was until resolve_after). */
  incident_id: number | null
  severity: string
  runbook_url?: string
  /** Operator acknowledgement note, if any. */
  ack?: { note: string; by?: string; at: number }
  /** Inside a maintenance window: alerts suppressed, recording continues. */
  in_maintenance: boolean
}

export interface StaleAgent {
  vantage: string
  agent: string
  /** Unix ms of the agent's last accepted batch; 0 when it never pushed. */
  last_seen: number
}

export interface QuorumSnapshot {
  /** Unix ms when the snapshot was computed (the engine's clock). */
  at: number
  checks: CheckView[]
  stale_agents: StaleAgent[]
}

export interface Incident {
  id: number
  check: string
  started_at: number
  ended_at: number | null
  failing_vantages: string[]
  /** First and last failing results per vantage, with their errors. */
  evidence: { vantage: string; first: ProbeResult; last: ProbeResult }[]
  /** Added: unix ms when the down quorum began (the `pending` that led to the outage). */
  pending_since?: number
  /** Added: why it ended: the check recovered, or it was removed from the config. */
  resolution?: 'recovered' | 'check_removed' | null
  /** Added: operator notes (POST /api/v1/checks/{name}/ack) made while it was open. */
  acks?: { note: string; by?: string; at: number }[]
}

/** Added: what changed in one evaluation (QuorumEngine.onChange). */
export interface QuorumChange {
  /** Names of the checks whose view changed (state, votes, flags, mute, ack). */
  checks: string[]
  /** State transitions, in order. */
  transitions: { check: string; from: CheckState; to: CheckState; at: number; incident_id: number | null }[]
  /** Whether the set of stale agents changed. */
  stale_agents: boolean
}
