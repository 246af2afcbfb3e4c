// Everything before the store: size, parse, signature, sender, vantage, clock (DESIGN.md's
// verification list). Nothing is stored before this returned; it stores nothing itself.
import type { BatchOfHeads } from '../../proto/batch.ts'
import { EnvelopeError, verifyBatchHeads } from '../../proto/envelope.ts'
import type { HubConfig } from '../config.ts'
import { IngestRejection, type RejectReason } from './errors.ts'
import { verifyNow } from './signature.ts'

export interface VerifiedBatch {
  /** Each result down to its head: its details are checked, decoded only when shown. */
  batch: BatchOfHeads
  /** Each result's protobuf bytes as signed (views into the verified payload): what is stored. */
  bodies: Uint8Array[]
}

/** Verifies one signed batch against `cfg` at `now` (unix ms); throws IngestRejection. */
export async function verifySignedBatch(jws: string | Uint8Array, cfg: HubConfig, now: number): Promise<VerifiedBatch> {
  let verified: VerifiedBatch
  try {
    verified = await verifyBatchHeads(jws, (kid) => cfg.agents.get(kid)?.public_key, {
      now,
      maxSkewMs: cfg.ingest.max_clock_skew_ms,
      maxBytes: cfg.ingest.max_body_bytes,
      verifySignature: verifyNow,
    })
  } catch (err) {
    if (!(err instanceof EnvelopeError)) throw err
    throw new IngestRejection(envelopeReason(err), describeEnvelopeError(err), err.kid)
  }
  const { batch } = verified
  const agent = cfg.agents.get(batch.agent_id)!
  if (batch.vantage !== agent.vantage) {
    throw new IngestRejection(
      'foreign_vantage',
      `agent ${batch.agent_id} belongs to vantage ${agent.vantage}, but its batch claims vantage ${batch.vantage}`,
      batch.agent_id,
      batch.seq,
    )
  }
  const foreign = batch.results.findIndex((r) => r.vantage !== agent.vantage)
  if (foreign >= 0) {
    throw new IngestRejection(
      'foreign_vantage',
      `agent ${batch.agent_id} belongs to vantage ${agent.vantage}, but results[${foreign}] (check ${batch.results[foreign].check}) claims vantage ${batch.results[foreign].vantage}`,
      batch.agent_id,
      batch.seq,
    )
  }
  return verified
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
