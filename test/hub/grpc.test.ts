// vantage.v1.Ingest over a real gRPC connection: Push, PushStream, rejections as statuses (Push)
// and in-band acks (PushStream), and garbage on the port.
import http2 from 'node:http2'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import * as grpc from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PushAck } from '../../proto/batch.ts'
import { GRPC_REASON_KEY } from '../../hub/ingest/errors.ts'
import { INGEST_SERVICE, SESSION_WINDOW_BYTES, signedBatchBytes, STREAM_WINDOW_BYTES } from '../../hub/ingest/grpc.ts'
import type { Hub } from '../../hub/server.ts'
import { makeKeys, metricValue, result, scrape, sign, startTestHub, tempDir, type AgentSigner, type TestDir } from './helpers.ts'

let t: TestDir
let hub: Hub
let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>
let eu1: AgentSigner

const Client = grpc.makeGenericClientConstructor(INGEST_SERVICE, 'Ingest')

beforeAll(async () => {
  t = tempDir()
  const keys = await makeKeys(t, ['hub', 'eu-1'])
  hub = await startTestHub(
    t,
    `hub_key: ./keys/hub.jwk
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
checks:
  - { name: shop, type: http, target: "https://shop.example/" }
`,
  )
  eu1 = { id: 'eu-1', vantage: 'eu-west', keys: keys['eu-1'], seq: 0 }
  client = new Client(hub.grpcAddress, grpc.credentials.createInsecure()) as typeof client
})
afterAll(async () => {
  client?.close()
  await hub?.close()
  t?.cleanup()
})

const euResult = () => result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1' })

async function batchBytes(fields: Parameters<typeof sign>[2] = {}, results = [euResult()]): Promise<Buffer> {
  return signedBatchBytes(JSON.stringify(await sign(eu1, results, fields)))
}

function push(bytes: Buffer): Promise<PushAck> {
  return new Promise((resolve, reject) => {
    ;(client.Push as (b: Buffer, cb: (err: grpc.ServiceError | null, ack: PushAck) => void) => void)(bytes, (err, ack) =>
      err ? reject(err) : resolve(ack),
    )
  })
}

async function pushError(bytes: Buffer): Promise<grpc.ServiceError> {
  try {
    await push(bytes)
  } catch (err) {
    return err as grpc.ServiceError
  }
  throw new Error('expected the Push to fail')
}

describe('gRPC Ingest', () => {
  it('Push stores a batch and acks it', async () => {
    const ack = await push(await batchBytes({}, [euResult(), euResult()]))
    expect(ack).toEqual({ seq: eu1.seq, accepted: 2, duplicates: 0 })
    expect(metricValue(await scrape(hub), 'hub_ingest_batches_total', { transport: 'grpc' })).toBe(1)
  })

  it('Push answers a rejection with a status, its details, and the reason in the trailer', async () => {
    const err = await pushError(await batchBytes({ vantage: 'us-east' }))
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED)
    expect(err.details).toBe('agent eu-1 belongs to vantage eu-west, but its batch claims vantage us-east')
    expect(err.metadata.get(GRPC_REASON_KEY)).toEqual(['foreign_vantage'])

    const skew = await pushError(await batchBytes({ sent_at: Date.now() - 10 * 60_000 }))
    expect([skew.code, skew.metadata.get(GRPC_REASON_KEY)[0]]).toEqual([grpc.status.FAILED_PRECONDITION, 'clock_skew'])

    await push(await batchBytes())
    const replay = await pushError(await batchBytes({ seq: eu1.seq - 1 }))
    expect([replay.code, replay.metadata.get(GRPC_REASON_KEY)[0]]).toEqual([grpc.status.ALREADY_EXISTS, 'replayed_seq'])
  })

  it('Push refuses bytes that are not a SignedBatch, and an oversized message, counting both', async () => {
    const before = await scrape(hub)
    const bad = await pushError(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]))
    expect([bad.code, bad.metadata.get(GRPC_REASON_KEY)[0]]).toEqual([grpc.status.INVALID_ARGUMENT, 'malformed'])
    expect(bad.details).toMatch(/not a vantage.v1.SignedBatch/)

    const big = await pushError(signedBatchBytes('x'.repeat(5 * 1024 * 1024)))
    expect([big.code, big.metadata.get(GRPC_REASON_KEY)[0]]).toEqual([grpc.status.RESOURCE_EXHAUSTED, 'oversize'])

    const after = await scrape(hub)
    for (const reason of ['malformed', 'oversize']) {
      expect(metricValue(after, 'hub_ingest_rejected_total', { reason })).toBe(metricValue(before, 'hub_ingest_rejected_total', { reason })! + 1)
    }
  })

  it('PushStream acks every batch in order, rejections in-band, and the stream goes on', async () => {
    const call = (client.PushStream as () => grpc.ClientDuplexStream<Buffer, PushAck>)()
    const acks: PushAck[] = []
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (ack: PushAck) => acks.push(ack))
      call.on('end', resolve)
      call.on('error', reject)
    })
    const shared = euResult()
    const messages = [
      await batchBytes({}, [shared, euResult()]),
      await batchBytes({}, [shared]), // duplicate result
      await batchBytes({ vantage: 'us-east' }), // rejected in-band
      Buffer.from('not protobuf at all'), // malformed
    ]
    for (let i = 0; i < 20; i++) messages.push(await batchBytes())
    for (const m of messages) call.write(m)
    call.end()
    await done

    expect(acks).toHaveLength(messages.length)
    expect(acks[0]).toEqual({ seq: eu1.seq - 22, accepted: 2, duplicates: 0 })
    expect(acks[1]).toEqual({ seq: eu1.seq - 21, accepted: 0, duplicates: 1 })
    expect(acks[2]).toMatchObject({ seq: eu1.seq - 20, reason: 'foreign_vantage', accepted: 0 })
    expect(acks[2].error).toMatch(/claims vantage us-east/)
    expect(acks[3]).toMatchObject({ seq: 0, reason: 'malformed' })
    // In order: the accepted seqs increase one by one.
    expect(acks.slice(4).map((a) => a.seq)).toEqual(Array.from({ length: 20 }, (_, i) => eu1.seq - 19 + i))
    expect(acks.slice(4)).toEqual(acks.slice(4).map((a) => ({ seq: a.seq, accepted: 1, duplicates: 0 })))
  })

  it('survives random bytes on the gRPC port and keeps serving', async () => {
    const [host, port] = [hub.grpcAddress.slice(0, hub.grpcAddress.lastIndexOf(':')), Number(hub.grpcAddress.split(':').pop())]
    for (const bytes of [randomBytes(8192), Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + randomBytes(512).toString('latin1'), 'latin1')]) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(port, host, () => socket.end(bytes))
        socket.on('error', () => resolve())
        socket.on('close', () => resolve())
        socket.resume()
      })
    }
    expect(await push(await batchBytes())).toMatchObject({ seq: eu1.seq, accepted: 1 })
    expect((await fetch(`${hub.httpUrl}/-/ready`)).status).toBe(200)
  })

  it('offers agents flow-control windows a whole batch fits in, not HTTP/2\'s 64 KiB', async () => {
    const session = http2.connect(`http://${hub.grpcAddress}`)
    try {
      // The hub's second SETTINGS frame, and a WINDOW_UPDATE for the connection, right after the first.
      await expect.poll(() => session.remoteSettings.initialWindowSize).toBe(STREAM_WINDOW_BYTES)
      await expect.poll(() => session.state.remoteWindowSize).toBe(SESSION_WINDOW_BYTES)
    } finally {
      session.destroy()
    }
  })
})
