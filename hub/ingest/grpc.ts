// The gRPC side of ingest: `vantage.v1.Ingest/Push` and the bidirectional `PushStream`,
// served by @grpc/grpc-js with a hand-built service definition over proto/codec.ts (no
// proto-loader). Both methods go through the same Ingest.push as POST /v1/results.
//
//   Push:       a rejected batch ends the call with a non-OK status (see errors.ts), the details
//               say why and the trailer `vantage-reason` holds the reason code.
//   PushStream: one PushAck per SignedBatch, in order; a rejected batch is answered in-band
//               (PushAck.reason/.error set) and the stream goes on. Only a store failure ends the
//               stream, with UNAVAILABLE: the agent reconnects and re-sends what was not acked.
import * as grpc from '@grpc/grpc-js'
import type { Http2Server, ServerHttp2Session } from 'node:http2'
import type { PushAck } from '../../proto/batch.ts'
import { decodeSignedBatchBytes, encodePushAck, encodeSignedBatch, decodePushAck, INGEST_METHODS } from '../../proto/codec.ts'
import type { Logger } from '../../agent/core/probe.ts'
import { StoreUnavailableError } from '../store/committer.ts'
import { GRPC_REASON_KEY, IngestRejection } from './errors.ts'
import type { Ingest } from './ingest.ts'

/** Requests stay raw bytes until the handler, so a malformed message is counted, not crashed on. */
export const INGEST_SERVICE = {
  Push: {
    path: INGEST_METHODS.Push,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (ack: PushAck) => Buffer.from(encodePushAck(ack)),
    responseDeserialize: (bytes: Buffer) => decodePushAck(bytes),
    originalName: 'push',
  },
  PushStream: {
    path: INGEST_METHODS.PushStream,
    requestStream: true,
    responseStream: true,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (ack: PushAck) => Buffer.from(encodePushAck(ack)),
    responseDeserialize: (bytes: Buffer) => decodePushAck(bytes),
    originalName: 'pushStream',
  },
} satisfies grpc.ServiceDefinition

/** SignedBatch bytes for a client built on INGEST_SERVICE (tests, tools). */
export function signedBatchBytes(jws: string): Buffer {
  return Buffer.from(encodeSignedBatch({ jws }))
}

export interface GrpcIngestOptions {
  ingest: Ingest
  logger: Logger
  maxBodyBytes: () => number
  host: string
  port: number
}

/** Most batches of one stream being verified or committed at once; beyond, reading pauses. */
const STREAM_WINDOW = 64

export async function startGrpcIngest(opts: GrpcIngestOptions): Promise<{ server: grpc.Server; address: string }> {
  const { ingest, logger } = opts
  // Let messages a little over the limit through to the handler, so they are refused (and
  // counted) as oversize; grpc-js itself refuses anything far beyond (RESOURCE_EXHAUSTED).
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxBodyBytes() * 2 + 1024,
    'grpc.max_send_message_length': 64 * 1024,
  })

  /** Decodes one SignedBatch message and hands it to ingest at once (stream order); rejects with IngestRejection. */
  const push = (bytes: Buffer): Promise<PushAck> => {
    const max = opts.maxBodyBytes()
    if (bytes.length > max) {
      return Promise.reject(ingest.reject('oversize', `the message is ${bytes.length} bytes, over the ${max}-byte limit (ingest.max_body)`, 'grpc'))
    }
    let jws: Uint8Array | string
    try {
      jws = decodeSignedBatchBytes(bytes).jws
    } catch (err) {
      return Promise.reject(ingest.reject('malformed', `the message is not a vantage.v1.SignedBatch: ${(err as Error).message}`, 'grpc'))
    }
    return ingest.push(jws, 'grpc')
  }

  const pushUnary: grpc.handleUnaryCall<Buffer, PushAck> = (call, callback) => {
    push(call.request).then(
      (ack) => callback(null, ack),
      (err: unknown) => callback(toStatus(err, logger)),
    )
  }

  const pushStream: grpc.handleBidiStreamingCall<Buffer, PushAck> = (call) => {
    // Batches are handed to ingest as they arrive (in stream order: the seq check needs it),
    // so they are verified and committed together, and acknowledged in stream order (the contract).
    let acked: Promise<void> = Promise.resolve()
    let inFlight = 0
    let failed = false
    call.on('data', (bytes: Buffer) => {
      if (failed) return
      if (++inFlight >= STREAM_WINDOW) call.pause()
      const committed = push(bytes)
      committed.catch(() => {})
      acked = acked.then(async () => {
        let ack: PushAck
        try {
          ack = await committed
        } catch (err) {
          if (!(err instanceof IngestRejection)) {
            if (!failed) {
              failed = true
              call.emit('error', toStatus(err, logger))
            }
            return
          }
          ack = { seq: err.seq ?? 0, accepted: 0, duplicates: 0, reason: err.reason, error: err.message }
        } finally {
          if (--inFlight < STREAM_WINDOW && call.isPaused()) call.resume()
        }
        if (!failed && !call.cancelled) call.write(ack)
      })
    })
    call.on('end', () => {
      void acked.then(() => {
        if (!failed) call.end()
      })
    })
    call.on('error', (err) => logger.debug({ error: err.message }, 'PushStream ended with an error'))
  }

  server.addService(INGEST_SERVICE, { Push: pushUnary, PushStream: pushStream })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${formatHost(opts.host)}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    )
  })
  widenFlowControl(server, logger)
  return { server, address: `${formatHost(opts.host)}:${port}` }
}

function toStatus(err: unknown, logger: Logger): Partial<grpc.StatusObject> {
  if (err instanceof IngestRejection) {
    const metadata = new grpc.Metadata()
    metadata.set(GRPC_REASON_KEY, err.reason)
    return { code: err.grpcCode, details: err.message, metadata }
  }
  const metadata = new grpc.Metadata()
  metadata.set(GRPC_REASON_KEY, 'unavailable')
  if (err instanceof StoreUnavailableError) return { code: grpc.status.UNAVAILABLE, details: err.message, metadata }
  logger.error({ error: (err as Error)?.message ?? String(err) }, 'gRPC ingest failed')
  return { code: grpc.status.INTERNAL, details: 'internal error while ingesting the batch' }
}

/** HTTP/2 flow-control windows the hub offers its agents: a batch of 1000 results fits in one. */
export const STREAM_WINDOW_BYTES = 1024 * 1024
export const SESSION_WINDOW_BYTES = 2 * STREAM_WINDOW_BYTES

/**
 * HTTP/2's default window is 64 KiB, less than a batch of 100 results: the agent would stop in
 * mid-message until this event loop had read the first part and said so (WINDOW_UPDATE), about
 * half a millisecond per batch under load. grpc-js has no server option for it, so its sessions
 * are widened as they open, through its http2 servers (an internal field: without it, a warning
 * and the defaults; test/hub/grpc.test.ts checks the window agents are offered).
 */
function widenFlowControl(server: grpc.Server, logger: Logger): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers
  if (!(servers instanceof Map)) {
    logger.warn({}, 'gRPC ingest: cannot widen HTTP/2 flow-control windows (grpc-js internals changed): agents get 64 KiB windows')
    return
  }
  for (const http2Server of servers.keys()) {
    http2Server.on('session', (session: ServerHttp2Session) => {
      try {
        session.settings({ initialWindowSize: STREAM_WINDOW_BYTES })
        session.setLocalWindowSize(SESSION_WINDOW_BYTES)
      } catch (err) {
        logger.debug({ error: (err as Error).message }, 'gRPC ingest: session closed before its windows were widened')
      }
    })
  }
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/** Shuts the server down, waiting for calls in progress (bounded), then forcing. */
export function stopGrpc(server: grpc.Server, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown()
      resolve()
    }, graceMs)
    server.tryShutdown(() => {
      clearTimeout(timer)
      resolve()
    })
  })
}
