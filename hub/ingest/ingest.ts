// The one ingest pipeline behind POST /v1/results and the gRPC Ingest service:
// size → parse → verify signature → vantage is the agent's → seq not replayed → commit → ack.
// Nothing is stored before the signature verified; nothing is acknowledged before it is committed.
import type { PushAck, ResultBatch } from '../../proto/batch.ts'
import { EnvelopeError, verifyBatchWithBodies, type FlattenedJWS } from '../../proto/envelope.ts'
import type { Clock, Logger } from '../../agent/core/probe.ts'
import type { AgentInfo, HubConfig } from '../config.ts'
import type { HubMetrics, Transport } from '../metrics/metrics.ts'
import type { Committer } from '../store/committer.ts'
import type { VoteRule } from '../store/vote.ts'
import { IngestRejection, type RejectReason } from './errors.ts'
import { verifyOnThreadPool } from './signature.ts'

export interface IngestDeps {
  config: () => HubConfig
  committer: Committer
  metrics: HubMetrics
  clock: Clock
  logger: Logger
}

/** A batch whose signature, sender and vantage checked out, not yet stored. */
export interface VerifiedBatch {
  batch: ResultBatch
  /** Each result's protobuf bytes as signed (views into the verified payload): what is stored. */
  bodies: Uint8Array[]
  agent: AgentInfo
  /** The config snapshot it was verified against (its votes use the same one). */
  cfg: HubConfig
  transport: Transport
  /** performance.now() when it arrived. */
  started: number
}

export class Ingest {
  constructor(private readonly deps: IngestDeps) {}

  /**
   * Verifies and stores one signed batch and returns its ack. Throws IngestRejection (4xx: the
   * agent's fault, counted by reason) or StoreUnavailableError (5xx: retry later).
   */
  async push(jws: string | Uint8Array | FlattenedJWS, transport: Transport): Promise<PushAck> {
    return this.commit(await this.verify(jws, transport))
  }

  /** Everything before the store: size, parse, signature, sender, vantage. Stores nothing. */
  async verify(jws: string | Uint8Array | FlattenedJWS, transport: Transport): Promise<VerifiedBatch> {
    // The committer holds its next group for this batch (briefly) while it is verified.
    const verified = this.deps.committer.expect()
    try {
      return await this.verifyNow(jws, transport)
    } finally {
      verified()
    }
  }

  private async verifyNow(jws: string | Uint8Array | FlattenedJWS, transport: Transport): Promise<VerifiedBatch> {
    const started = performance.now()
    const cfg = this.deps.config() // one snapshot per batch: a reload mid-batch cannot mix two configs
    let batch: ResultBatch
    let bodies: Uint8Array[]
    try {
      ;({ batch, bodies } = await verifyBatchWithBodies(jws, (kid) => cfg.agents.get(kid)?.public_key, {
        now: this.deps.clock.now(),
        maxSkewMs: cfg.ingest.max_clock_skew_ms,
        maxBytes: cfg.ingest.max_body_bytes,
        verifySignature: verifyOnThreadPool,
      }))
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err
      throw this.reject(envelopeReason(err), describeEnvelopeError(err), transport, err.kid)
    }

    const agent = cfg.agents.get(batch.agent_id)!
    if (batch.vantage !== agent.vantage) {
      throw this.reject(
        'foreign_vantage',
        `agent ${agent.id} belongs to vantage ${agent.vantage}, but its batch claims vantage ${batch.vantage}`,
        transport,
        agent.id,
        batch.seq,
      )
    }
    const foreign = batch.results.findIndex((r) => r.vantage !== agent.vantage)
    if (foreign >= 0) {
      throw this.reject(
        'foreign_vantage',
        `agent ${agent.id} belongs to vantage ${agent.vantage}, but results[${foreign}] (check ${batch.results[foreign].check}) claims vantage ${batch.results[foreign].vantage}`,
        transport,
        agent.id,
        batch.seq,
      )
    }
    return { batch, bodies, agent, cfg, transport, started }
  }

  /**
   * Hands a verified batch to the committer at once (before any await), so batches committed
   * in call order are checked against the seq high-water mark in that order; resolves with
   * the ack once the batch is committed.
   */
  async commit(v: VerifiedBatch): Promise<PushAck> {
    const { committer, metrics, clock, logger } = this.deps
    const { batch, bodies, agent, cfg, transport } = v
    const outcome = await committer.submit({
      agent_id: agent.id,
      vantage: agent.vantage,
      seq: batch.seq,
      dropped: batch.dropped,
      results: batch.results,
      bodies,
      received_at: clock.now(),
      rule: (name) => voteRule(cfg, name, agent.vantage),
    })
    if (!outcome.ok) throw this.reject(outcome.reason, outcome.error, transport, agent.id, batch.seq)

    metrics.batches.inc({ transport })
    metrics.resultsAccepted.inc(outcome.accepted)
    metrics.resultsDuplicate.inc(outcome.duplicates)
    metrics.ingestDuration.observe({ transport }, (performance.now() - v.started) / 1000)
    logger.debug(
      { agent: agent.id, vantage: agent.vantage, seq: batch.seq, transport, accepted: outcome.accepted, duplicates: outcome.duplicates },
      'batch accepted',
    )
    return { seq: batch.seq, accepted: outcome.accepted, duplicates: outcome.duplicates }
  }

  /** Counts and logs a rejection; transports call it for what they refuse before push(). */
  reject(reason: RejectReason, message: string, transport: Transport, agent?: string, seq?: number): IngestRejection {
    this.deps.metrics.rejected.inc({ reason })
    this.deps.logger.warn({ agent, reason, transport, seq, error: message }, 'batch rejected')
    return new IngestRejection(reason, message, agent, seq)
  }
}

/** Votes only for configured checks, from the vantages that are assigned to run them. */
export function voteRule(cfg: HubConfig, checkName: string, vantage: string): VoteRule | null {
  const check = cfg.checks.get(checkName)
  if (!check || !check.vantages.includes(vantage)) return null
  return { interval_ms: check.spec.interval_ms, stale_after_ms: check.stale_after_ms }
}

function envelopeReason(err: EnvelopeError): RejectReason {
  switch (err.reason) {
    case 'oversize':
    case 'malformed':
    case 'unknown_kid':
    case 'wrong_alg':
    case 'bad_signature':
    case 'agent_mismatch':
    case 'clock_skew':
      return err.reason
    default:
      // expired / bad_claims belong to agent tokens, not batches.
      return 'malformed'
  }
}

/** The envelope's message, said as a sentence about the agent. */
function describeEnvelopeError(err: EnvelopeError): string {
  switch (err.reason) {
    case 'unknown_kid':
      return `unknown agent ${JSON.stringify(err.kid)}: no agent with this id is registered in the hub's config`
    case 'oversize':
    case 'malformed':
      return err.kid ? `batch from agent ${err.kid}: ${err.message}` : `batch rejected: ${err.message}`
    default:
      return `batch from agent ${err.kid}: ${err.message}`
  }
}
