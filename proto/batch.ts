// What agents push to the hub (DESIGN.md, "Signed results"): the JSON shapes of the
// ResultBatch and PushAck messages in vantage.proto. Portable: no `node:` imports.
import type { ProbeResult, ResultHead } from './result.ts'

export interface ResultBatch {
  agent_id: string
  vantage: string
  /** Per agent, increasing; the hub rejects a replayed (agent_id, seq). */
  seq: number
  /** Unix milliseconds when the agent signed the batch, checked against the hub's clock. */
  sent_at: number
  results: ProbeResult[]
  /** Results this agent process had to drop so far (outbox full): a counter, reset on restart. */
  dropped: number
}

/** A batch as the hub's ingest decodes it: each result down to its head (proto/codec.ts decodeBatchHeads). */
export interface BatchOfHeads extends Omit<ResultBatch, 'results'> {
  results: ResultHead[]
}

/** The hub's answer to one batch, over gRPC and HTTP alike. */
export interface PushAck {
  seq: number
  /** Results stored. */
  accepted: number
  /** Results already stored (same result_id): acknowledged, counted once. */
  duplicates: number
  /** Set when the batch was rejected: a stable code (`bad_signature`, `replay`, …). */
  reason?: string
  /** The rejection, for humans. */
  error?: string
}

/** The gRPC request: the flattened JWS JSON, the same text as the body of POST /v1/results. */
export interface SignedBatch {
  jws: string
}
