// vantage.v1.Ingest/PushStream: one long-lived bidirectional stream per agent; each SignedBatch
// written is answered by one PushAck, in order. The pusher keeps one batch in flight, so the
// next ack on the stream is the answer to the batch just written.
//
// The stream is opened on first use and dropped on any failure (the next send opens a new one);
// grpc-js reconnects the channel underneath.
import * as grpc from '@grpc/grpc-js'
import type { PushAck, SignedBatch } from '../../proto/batch.ts'
import { decodePushAck, encodeSignedBatch, INGEST_METHODS } from '../../proto/codec.ts'
import type { FlattenedJWS } from '../../proto/envelope.ts'
import { describeError, RejectedError, TransientError } from './errors.ts'
import type { Transport } from './transport.ts'

export interface GrpcTransportOptions {
  /** host:port (hub.grpc). */
  address: string
  /** The hub must ack a batch within this (default 30 s). */
  ackTimeoutMs?: number
}

/** Status codes that mean "try again": the hub or the network, not the batch. */
const RETRY_CODES = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ABORTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.CANCELLED,
])

/** Trailer with the hub's reason code (hub/ingest/errors.ts GRPC_REASON_KEY). */
const REASON_TRAILER = 'vantage-reason'

type Stream = grpc.ClientDuplexStream<SignedBatch, PushAck>

interface Waiter {
  resolve(ack: PushAck): void
  reject(err: Error): void
}

export class GrpcTransport implements Transport {
  readonly name = 'grpc'
  private readonly client: grpc.Client
  private readonly ackTimeoutMs: number
  private stream: Stream | null = null
  private waiter: Waiter | null = null

  constructor(opts: GrpcTransportOptions) {
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 30_000
    this.client = new grpc.Client(opts.address, grpc.credentials.createInsecure(), {
      // Notice a dead hub on an idle stream instead of waiting for the ack timeout.
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      // Fail fast while the hub is down; the pusher's backoff does the waiting.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 5_000,
    })
  }

  send(jws: FlattenedJWS, seq: number, signal: AbortSignal): Promise<PushAck> {
    if (this.waiter) return Promise.reject(new Error('GrpcTransport: one batch at a time'))
    if (signal.aborted) return Promise.reject(new TransientError('push cancelled'))
    const stream = this.open()
    return new Promise<PushAck>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        this.waiter = null
      }
      const fail = (err: Error) => {
        // Whatever went wrong, this stream's ack order can no longer be trusted: start over.
        this.drop(stream)
        reject(err)
      }
      const onAbort = () => {
        finish()
        fail(new TransientError('push cancelled'))
      }
      const timer = setTimeout(() => {
        finish()
        fail(new TransientError(`no ack for seq ${seq} within ${this.ackTimeoutMs} ms`))
      }, this.ackTimeoutMs)
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiter = {
        resolve: (ack) => {
          finish()
          // A refusal may come without a seq (the hub could not read the batch): it is still ours.
          if (ack.seq !== seq && !ack.reason) return fail(new TransientError(`ack for seq ${ack.seq} while waiting for ${seq}`))
          resolve(ack)
        },
        reject: (err) => {
          finish()
          reject(err)
        },
      }
      stream.write({ jws: JSON.stringify(jws) })
    })
  }

  async close(): Promise<void> {
    if (this.stream) {
      const stream = this.stream
      this.stream = null
      // Half-close politely, then cancel whatever is left so the channel can shut.
      stream.end()
      stream.cancel()
    }
    this.client.close()
  }

  private open(): Stream {
    if (this.stream) return this.stream
    const stream: Stream = this.client.makeBidiStreamRequest(
      INGEST_METHODS.PushStream,
      (msg: SignedBatch) => Buffer.from(encodeSignedBatch(msg)),
      (bytes: Buffer) => decodePushAck(bytes),
    )
    stream.on('data', (ack: PushAck) => {
      const waiter = this.waiter
      if (waiter) waiter.resolve(ack)
    })
    stream.on('error', (err: grpc.ServiceError) => this.ended(stream, classify(err)))
    stream.on('end', () => this.ended(stream, new TransientError('the hub closed the push stream')))
    this.stream = stream
    return stream
  }

  private ended(stream: Stream, err: Error): void {
    if (this.stream === stream) this.stream = null
    const waiter = this.waiter
    if (waiter) waiter.reject(err)
  }

  private drop(stream: Stream): void {
    if (this.stream === stream) this.stream = null
    stream.cancel()
  }
}

function classify(err: grpc.ServiceError): Error {
  const text = `gRPC ${grpc.status[err.code] ?? err.code}: ${err.details || describeError(err)}`
  if (err.code === undefined || RETRY_CODES.has(err.code)) return new TransientError(text, undefined, { cause: err })
  // The hub refused the call itself (e.g. UNAUTHENTICATED): its reason code is in the trailers.
  const reason = err.metadata?.get(REASON_TRAILER)[0]
  return new RejectedError(typeof reason === 'string' ? reason : `grpc_${grpc.status[err.code]?.toLowerCase() ?? err.code}`, text)
}
