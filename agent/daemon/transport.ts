// How a signed batch reaches the hub. Each transport answers the hub's PushAck for the batch, or
// throws TransientError (retry later) or RejectedError (the hub refused it).
import type { PushAck } from '../../proto/batch.ts'
import type { FlattenedJWS } from '../../proto/envelope.ts'

export interface Transport {
  readonly name: string
  send(jws: FlattenedJWS, seq: number, signal: AbortSignal): Promise<PushAck>
  close(): Promise<void>
}
