// Every reason the hub rejects a batch for, declared once with its HTTP status and gRPC code.
// Agents and dashboards match on `reason` (the label of hub_ingest_rejected_total), never on
// the message, which is for people.
import { status as GrpcStatus } from '@grpc/grpc-js'

export const REJECTIONS = {
  oversize: { http: 413, grpc: GrpcStatus.RESOURCE_EXHAUSTED, meaning: 'the body is larger than ingest.max_body' },
  malformed: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, meaning: 'not a flattened JWS, or its payload is not a valid ResultBatch' },
  unknown_kid: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED, meaning: 'no agent with this id (JWS kid) is registered in hub.yaml' },
  wrong_alg: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED, meaning: 'the JWS is not signed with EdDSA' },
  bad_signature: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED, meaning: "the signature does not verify with the agent's registered key" },
  agent_mismatch: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED, meaning: 'the batch or a result names another agent than the signer' },
  foreign_vantage: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED, meaning: "the batch or a result claims a vantage that is not the agent's" },
  clock_skew: { http: 400, grpc: GrpcStatus.FAILED_PRECONDITION, meaning: "sent_at is too far from the hub's clock (ingest.max_clock_skew)" },
  replayed_seq: { http: 409, grpc: GrpcStatus.ALREADY_EXISTS, meaning: "the batch's seq is not above the agent's last accepted seq" },
} as const

export type RejectReason = keyof typeof REJECTIONS

export const REJECT_REASONS = Object.keys(REJECTIONS) as RejectReason[]

/** A batch refused for a reason of the agent's making: answer 4xx, count, never retry as is. */
export class IngestRejection extends Error {
  override readonly name = 'IngestRejection'
  constructor(
    readonly reason: RejectReason,
    message: string,
    /** The agent the batch claimed to come from, when known (logs). */
    readonly agent?: string,
    /** The batch's seq, when it was read (verified) before the rejection. */
    readonly seq?: number,
  ) {
    super(message)
  }

  get httpStatus(): number {
    return REJECTIONS[this.reason].http
  }

  get grpcCode(): GrpcStatus {
    return REJECTIONS[this.reason].grpc
  }
}

/** Trailer metadata key carrying the reason of a rejected gRPC Push. */
export const GRPC_REASON_KEY = 'vantage-reason'
