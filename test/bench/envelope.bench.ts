// Throughput of the signed envelope: sign (encode + Ed25519) on the agent, verify + decode on
// the hub, per batch size. Beside it, plain JSON of the same batch as a yardstick for size and
// codec speed. Prints figures, asserts nothing.
//   node --import tsx test/bench/envelope.bench.ts
import { decodeBatch, decodeBatchWithBodies, encodeBatch } from '../../proto/codec.ts'
import { signBatch, verifyBatch, verifyBatchWithBodies } from '../../proto/envelope.ts'
import { generateKeyPair, importPrivate, importPublic } from '../../proto/keys.ts'
import type { ResultBatch } from '../../proto/batch.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { batchOf } from '../proto/fixtures.ts'

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

// Decoding alone (the hub's share of the CPU per result), and with each result's signed bytes:
// the results of batchOf (http, no TLS), and results shaped like an https check's (the shape of
// test/bench/ingest-runner.ts: http phases and the TLS block).
function httpsBatch(n: number): ResultBatch {
  const now = Date.now()
  const results = Array.from({ length: n }, (_, k): ProbeResult => {
    const check = k % 50
    const ok = k % 13 !== 0
    const target = `https://site-${check}.example/`
    return {
      ...batchOf(1).results[0],
      check: `check-${String(check).padStart(3, '0')}`,
      target,
      result_id: `0193a3b4-c5d6-7e8f-9a0b-${String(k).padStart(12, '0')}`,
      started_at: new Date(now - 120 - k).toISOString(),
      success: ok,
      duration_seconds: 0.08 + (k % 50) / 1000,
      error: ok ? null : 'expected status 200-299, got 503',
      error_code: ok ? null : 'STATUS_MISMATCH',
      http: {
        status_code: ok ? 200 : 503,
        http_version: '1.1',
        redirects: 0,
        final_url: target,
        body_bytes: 5120 + (k % 100),
        phases: { resolve: 0.0011, connect: 0.012, tls: 0.031, processing: 0.024, transfer: 0.0007 },
      },
      tls: {
        version: 'TLS 1.3',
        cipher: 'TLS_AES_256_GCM_SHA384',
        alpn: 'http/1.1',
        chain_valid: true,
        hostname_valid: true,
        verify_error: null,
        earliest_cert_expiry: 1_790_000_000,
        last_chain_expiry: 1_790_000_000,
        leaf: {
          subject: `CN=site-${check}.example`,
          issuer: "CN=R11,O=Let's Encrypt,C=US",
          not_before: 1_782_000_000,
          not_after: 1_790_000_000,
          dns_names: [`site-${check}.example`, `www.site-${check}.example`],
          fingerprint_sha256: 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
        },
      },
    }
  })
  return { agent_id: 'eu-1', vantage: 'eu-west', seq: 1, sent_at: now, results, dropped: 0 }
}

console.log('\nµs per result')
console.log(['results', 'decode', 'decode+bodies', 'verify+decode', 'verify+bodies'].map((h) => h.padStart(14)).join(' '))
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
    await rate(() => decodeBatchWithBodies(bytes)),
    await rate(() => verifyBatch(jws, lookup, verifyOpts)),
    await rate(() => verifyBatchWithBodies(jws, lookup, verifyOpts)),
  ]
  console.log([label, ...figures.map(perResult)].map((v) => v.padStart(14)).join(' '))
}
