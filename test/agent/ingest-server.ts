// A small real ingest endpoint for pusher tests: POST /v1/results and gRPC PushStream, verifying
// every batch with proto/envelope against the agent's public key, storing each result_id once
// and acking a re-sent seq idempotently (as the hub does). Tests script its failures.
import * as grpc from '@grpc/grpc-js'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { PushAck, ResultBatch } from '../../proto/batch.ts'
import { decodeSignedBatch, encodePushAck, INGEST_METHODS } from '../../proto/codec.ts'
import { EnvelopeError, verifyBatch } from '../../proto/envelope.ts'
import type { Ed25519Jwk } from '../../proto/keys.ts'
import type { ProbeResult } from '../../proto/result.ts'

/** What the next HTTP request gets, instead of a normal ack. */
export type Fault =
  | { kind: 'status'; status: number; reason?: string; headers?: Record<string, string> }
  /** Store the batch, then drop the connection without answering: the ack is lost. */
  | { kind: 'commit-then-close' }

export interface Received {
  transport: 'http' | 'grpc'
  seq: number
  result_ids: string[]
  dropped: number
  sent_at: number
}

export class IngestServer {
  readonly stored = new Map<string, ProbeResult>()
  readonly received: Received[] = []
  readonly faults: Fault[] = []
  private lastSeq = -1
  private http: Server | null = null
  private grpcServer: grpc.Server | null = null
  url = ''
  grpcAddress = ''

  constructor(private readonly agentKey: Ed25519Jwk) {}

  async start(): Promise<void> {
    this.http = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', async () => {
        const fault = this.faults.shift()
        if (fault?.kind === 'status') {
          res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers })
          return res.end(JSON.stringify({ error: `scripted ${fault.status}`, reason: fault.reason ?? 'scripted' }))
        }
        const { status, ack } = await this.ingest(Buffer.concat(chunks).toString(), 'http')
        if (fault?.kind === 'commit-then-close') return req.socket.destroy()
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(ack))
      })
    })
    await new Promise<void>((resolve) => this.http!.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`
  }

  async startGrpc(port = 0): Promise<void> {
    const server = new grpc.Server()
    server.addService(
      {
        PushStream: {
          path: INGEST_METHODS.PushStream,
          requestStream: true,
          responseStream: true,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (ack: PushAck) => Buffer.from(encodePushAck(ack)),
          responseDeserialize: (b: Buffer) => b,
        },
      },
      {
        PushStream: (call: grpc.ServerDuplexStream<Buffer, PushAck>) => {
          let chain = Promise.resolve()
          call.on('data', (bytes: Buffer) => {
            chain = chain.then(async () => {
              call.write((await this.ingest(decodeSignedBatch(bytes).jws, 'grpc')).ack)
            })
          })
          call.on('end', () => void chain.then(() => call.end()))
          call.on('error', () => {})
        },
      },
    )
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    )
    this.grpcServer = server
    this.grpcAddress = `127.0.0.1:${bound}`
  }

  stopGrpc(): void {
    this.grpcServer?.forceShutdown()
    this.grpcServer = null
  }

  async stop(): Promise<void> {
    this.stopGrpc()
    this.http?.closeAllConnections()
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()))
  }

  /** Verify, refuse a replayed seq, store each result_id once, ack. */
  private async ingest(jws: string, transport: 'http' | 'grpc'): Promise<{ status: number; ack: PushAck }> {
    let batch: ResultBatch
    try {
      batch = await verifyBatch(jws, (kid) => (kid === this.agentKey.kid ? this.agentKey : undefined), { now: Date.now(), maxSkewMs: 3_600_000 })
    } catch (err) {
      const reason = err instanceof EnvelopeError ? err.reason : 'malformed'
      return { status: 401, ack: { seq: 0, accepted: 0, duplicates: 0, reason, error: (err as Error).message } }
    }
    if (batch.seq < this.lastSeq) {
      return { status: 409, ack: { seq: batch.seq, accepted: 0, duplicates: 0, reason: 'replayed_seq', error: `seq ${batch.seq} < ${this.lastSeq}` } }
    }
    this.lastSeq = batch.seq
    this.received.push({ transport, seq: batch.seq, result_ids: batch.results.map((r) => r.result_id), dropped: batch.dropped, sent_at: batch.sent_at })
    let accepted = 0
    for (const r of batch.results) {
      if (this.stored.has(r.result_id)) continue
      this.stored.set(r.result_id, r)
      accepted++
    }
    return { status: 200, ack: { seq: batch.seq, accepted, duplicates: batch.results.length - accepted } }
  }
}
