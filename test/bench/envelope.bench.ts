// Throughput of the signed envelope: sign (encode + Ed25519) on the agent, verify + decode on
// the hub, per batch size. Beside it, plain JSON of the same batch as a yardstick for size and
// codec speed. Prints figures, asserts nothing.
//   node --import tsx test/bench/envelope.bench.ts
import { decodeBatch, decodeBatchHeads, encodeBatch } from '../../proto/codec.ts'
import { signBatch, verifyBatch, verifyBatchHeads } from '../../proto/envelope.ts'
import { generateKeyPair, importPrivate, importPublic } from '../../proto/keys.ts'
import type { ResultBatch } from '../../proto/batch.ts'
import { batchOf } from '../proto/fixtures.ts'
import { httpsResult } from './https-result.ts'

const BUDGET_MS = Number(process.env.BENCH_MS ?? 1000)

/** Runs `fn` repeatedly for about BUDGET_MS after a short warm-up; returns operations per second. */
async function rate(fn: () => unknown): Promise<number> {
  const warmUntil = performance.now() + BUDGET_MS / 5
  while (performance.now() < warmUntil) await fn()
  let ops = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < BUDGET_MS) {
    await fn()
    ops++
    elapsed = performance.now() - start
  }
  return (ops * 1000) / elapsed
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(1))

const pair = await generateKeyPair('eu-1')
const privateKey = await importPrivate(pair.privateJwk)
const publicKey = await importPublic(pair.publicJwk)
const lookup = (kid: string) => (kid === 'eu-1' ? publicKey : undefined)

console.log(`node ${process.version}, ${BUDGET_MS} ms per figure`)
console.log(
  ['results', 'protobuf B', 'JWS B', 'JSON B', 'sign/s', 'verify+decode/s', 'results verified/s', 'encode/s', 'decode/s', 'JSON str+parse/s']
    .map((h) => h.padStart(12))
    .join(' '),
)
for (const n of [1, 100, 1000]) {
  const batch = batchOf(n, { sentAt: Date.now() })
  const bytes = encodeBatch(batch)
  const jws = JSON.stringify(await signBatch(batch, { kid: 'eu-1', privateKey }))
  const json = JSON.stringify(batch)
  const verifyOpts = { now: batch.sent_at, maxSkewMs: 3_600_000 }

  const sign = await rate(() => signBatch(batch, { kid: 'eu-1', privateKey }))
  const verify = await rate(() => verifyBatch(jws, lookup, verifyOpts))
  const encode = await rate(() => encodeBatch(batch))
  const decode = await rate(() => decodeBatch(bytes))
  const jsonRate = await rate(() => JSON.parse(JSON.stringify(batch)))
  console.log(
    [n, bytes.length, jws.length, json.length, fmt(sign), fmt(verify), fmt(verify * n), fmt(encode), fmt(decode), fmt(jsonRate)]
      .map((v) => String(typeof v === 'number' ? v : v).padStart(12))
      .join(' '),
  )
}

// Decoding alone, and as the hub's ingest decodes (each result down to its head, with its signed bytes):
// the results of batchOf (http, no TLS), and results shaped like an https check's (the shape of
// test/bench/https-result.ts: http phases and the TLS block).
function httpsBatch(n: number): ResultBatch {
  const now = Date.now()
  const agent = { id: 'eu-1', vantage: 'eu-west', region: 'eu' }
  const results = Array.from({ length: n }, (_, k) => httpsResult(agent, k, { checks: 50, intervalMs: 30_000 }, now))
  return { agent_id: agent.id, vantage: agent.vantage, seq: 1, sent_at: now, results, dropped: 0 }
}

console.log('\nµs per result')
console.log(['results', 'decode', 'decode heads', 'verify+decode', 'verify+heads'].map((h) => h.padStart(14)).join(' '))
for (const [label, batch] of [
  ['100', batchOf(100, { sentAt: Date.now() })],
  ['1000', batchOf(1000, { sentAt: Date.now() })],
  ['100 https', httpsBatch(100)],
] as const) {
  const n = batch.results.length
  const bytes = encodeBatch(batch)
  const jws = JSON.stringify(await signBatch(batch, { kid: 'eu-1', privateKey }))
  const verifyOpts = { now: batch.sent_at, maxSkewMs: 3_600_000 }
  const perResult = (opsPerSecond: number) => (1e6 / opsPerSecond / n).toFixed(2)
  const figures = [
    await rate(() => decodeBatch(bytes)),
    await rate(() => decodeBatchHeads(bytes)),
    await rate(() => verifyBatch(jws, lookup, verifyOpts)),
    await rate(() => verifyBatchHeads(jws, lookup, verifyOpts)),
  ]
  console.log([label, ...figures.map(perResult)].map((v) => v.padStart(14)).join(' '))
}
