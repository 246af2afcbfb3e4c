// The Ingest service over real gRPC on loopback, with grpc-js serializing through proto/codec.ts:
// proves the method paths and message codecs are what a gRPC peer expects.
import * as grpc from '@grpc/grpc-js'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { PushAck, SignedBatch } from '../../proto/batch.ts'
import { decodePushAck, decodeSignedBatch, encodePushAck, encodeSignedBatch, INGEST_METHODS } from '../../proto/codec.ts'
import { signBatch, verifyBatch } from '../../proto/envelope.ts'
import { generateKeyPair, type KeyPair } from '../../proto/keys.ts'
import { batchOf } from './fixtures.ts'

const toBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
const method = (path: string, stream: boolean) => ({
  path,
  requestStream: stream,
  responseStream: stream,
  requestSerialize: (m: SignedBatch) => toBuffer(encodeSignedBatch(m)),
  requestDeserialize: (b: Buffer) => decodeSignedBatch(b),
  responseSerialize: (a: PushAck) => toBuffer(encodePushAck(a)),
  responseDeserialize: (b: Buffer) => decodePushAck(b),
})
const ingest = { Push: method(INGEST_METHODS.Push, false), PushStream: method(INGEST_METHODS.PushStream, true) }

let keys: KeyPair
let server: grpc.Server
let client: grpc.Client & Record<string, Function>

async function ack(message: SignedBatch): Promise<PushAck> {
  try {
    const batch = await verifyBatch(message.jws, (kid) => (kid === 'eu-1' ? keys.publicJwk : undefined), { now: Date.now(), maxSkewMs: 60_000 })
    return { seq: batch.seq, accepted: batch.results.length, duplicates: 0 }
  } catch (err) {
    return { seq: 0, accepted: 0, duplicates: 0, reason: (err as { reason?: string }).reason, error: (err as Error).message }
  }
}

beforeAll(async () => {
  keys = await generateKeyPair('eu-1')
  server = new grpc.Server()
  server.addService(ingest, {
    Push: (call: grpc.ServerUnaryCall<SignedBatch, PushAck>, done: grpc.sendUnaryData<PushAck>) => {
      ack(call.request).then((a) => done(null, a))
    },
    PushStream: (call: grpc.ServerDuplexStream<SignedBatch, PushAck>) => {
      let chain = Promise.resolve()
      call.on('data', (m: SignedBatch) => (chain = chain.then(async () => void call.write(await ack(m)))))
      call.on('end', () => chain.then(() => call.end()))
    },
  })
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  )
  const Client = grpc.makeClientConstructor(ingest, 'vantage.v1.Ingest')
  client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client
})

afterAll(() => {
  client?.close()
  server?.forceShutdown()
})

const signed = async (n: number, privateJwk = keys.privateJwk): Promise<SignedBatch> => {
  const jws = await signBatch(batchOf(n, { sentAt: Date.now() }), { kid: 'eu-1', privateKey: privateJwk })
  return { jws: JSON.stringify(jws) }
}

it('Push: one signed batch, one ack', async () => {
  const message = await signed(50)
  const reply = await new Promise<PushAck>((resolve, reject) =>
    client.Push(message, (err: Error | null, a: PushAck) => (err ? reject(err) : resolve(a))),
  )
  expect(reply).toMatchObject({ accepted: 50, duplicates: 0 })
  expect(reply.reason).toBeUndefined()
})

it('PushStream: acks come back in order, rejections carry their reason', async () => {
  const intruder = await generateKeyPair('eu-1')
  const messages = [await signed(1), await signed(2, intruder.privateJwk), await signed(3)]
  const call = client.PushStream() as grpc.ClientDuplexStream<SignedBatch, PushAck>
  const acks: PushAck[] = []
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (a: PushAck) => acks.push(a))
    call.on('end', resolve)
    call.on('error', reject)
  })
  for (const m of messages) call.write(m)
  call.end()
  await done
  expect(acks.map((a) => a.accepted)).toEqual([1, 0, 3])
  expect(acks[1]).toMatchObject({ reason: 'bad_signature' })
})
