// POST /v1/results against a real hub on loopback: the happy path, dedupe, and every rejection
// reason DESIGN.md lists, each with its status, reason and counter, the hub serving on after.
import http from 'node:http'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import * as jose from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeBatch } from '../../proto/codec.ts'
import { signBatch } from '../../proto/envelope.ts'
import type { KeyPair } from '../../proto/keys.ts'
import type { Hub } from '../../hub/server.ts'
import { makeKeys, metricValue, postBatch, result, scrape, sign, startTestHub, tempDir, type AgentSigner, type TestDir } from './helpers.ts'

let t: TestDir
let hub: Hub
let keys: Record<string, KeyPair>
let eu1: AgentSigner

const YAML = `hub_key: ./keys/hub.jwk
agents:
  - { id: eu-1, vantage: eu-west, region: eu, public_key: ./keys/eu-1.pub.jwk }
  - { id: us-1, vantage: us-east, region: us, public_key: ./keys/us-1.pub.jwk }
checks:
  - { name: shop, type: http, target: "https://shop.example/", interval: 30s }
`

beforeAll(async () => {
  t = tempDir()
  keys = await makeKeys(t, ['hub', 'eu-1', 'us-1', 'ghost'])
  hub = await startTestHub(t, YAML)
  eu1 = { id: 'eu-1', vantage: 'eu-west', keys: keys['eu-1'], seq: 0 }
})
afterAll(async () => {
  await hub?.close()
  t?.cleanup()
})

const euResult = (fields: Parameters<typeof result>[0] extends infer P ? Partial<P> : never = {}) =>
  result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1', ...fields })

async function rejected(reason: string): Promise<number> {
  return metricValue(await scrape(hub), 'hub_ingest_rejected_total', { reason }) ?? NaN
}

/** Posts, expects a rejection with `reason` and `status`, and checks nothing was stored and the counter moved. */
async function expectRejected(body: unknown, status: number, reason: string, contentType?: string): Promise<string> {
  const before = { stored: hub.store.resultCount(), counted: await rejected(reason) }
  const res = await postBatch(hub, body, contentType)
  expect(res.json.reason, JSON.stringify(res.json)).toBe(reason)
  expect(res.status).toBe(status)
  expect(typeof res.json.error).toBe('string')
  expect(hub.store.resultCount()).toBe(before.stored)
  expect(await rejected(reason)).toBe(before.counted + 1)
  return res.json.error as string
}

describe('POST /v1/results', () => {
  it('stores a signed batch and acknowledges it after commit', async () => {
    const results = [euResult(), euResult({ success: false, error: 'status 503', error_code: 'HTTP_STATUS_UNEXPECTED' })]
    const res = await postBatch(hub, await sign(eu1, results))
    expect(res).toEqual({ status: 200, json: { seq: eu1.seq, accepted: 2, duplicates: 0 } })
    for (const r of results) expect(hub.store.result(r.result_id)).toEqual(r)
    const text = await scrape(hub)
    expect(metricValue(text, 'hub_ingest_batches_total', { transport: 'http' })).toBe(1)
    expect(metricValue(text, 'hub_ingest_results_accepted_total')).toBe(2)
    expect(metricValue(text, 'synthetic_vantage_last_seen_timestamp_seconds', { vantage: 'eu-west', agent: 'eu-1' })).toBeGreaterThan(0)
  })

  it('dedupes by result_id: a result delivered twice is acknowledged and counted once', async () => {
    const first = euResult()
    await postBatch(hub, await sign(eu1, [first]))
    const stored = hub.store.resultCount()
    const res = await postBatch(hub, await sign(eu1, [first, euResult(), first]))
    expect(res.json).toEqual({ seq: eu1.seq, accepted: 1, duplicates: 2 })
    expect(hub.store.resultCount()).toBe(stored + 1)
  })

  it('acknowledges an exact re-send of the last batch as duplicates (a retry after a lost ack)', async () => {
    const results = [euResult(), euResult()]
    const jws = await sign(eu1, results)
    expect((await postBatch(hub, jws)).json).toEqual({ seq: eu1.seq, accepted: 2, duplicates: 0 })
    expect((await postBatch(hub, jws)).json).toEqual({ seq: eu1.seq, accepted: 0, duplicates: 2 })
    // Re-signed (new sent_at), same seq and results: still a retry.
    const again = await sign(eu1, results, { seq: eu1.seq })
    expect(await postBatch(hub, again)).toEqual({ status: 200, json: { seq: eu1.seq, accepted: 0, duplicates: 2 } })
  })

  it('rejects a replayed seq, and the same seq with other results', async () => {
    await postBatch(hub, await sign(eu1, [euResult()]))
    const old = await expectRejected(await sign(eu1, [euResult()], { seq: eu1.seq - 1 }), 409, 'replayed_seq')
    expect(old).toMatch(/batch seq \d+ from agent eu-1 is a replay: the hub has already accepted seq \d+/)
    const reused = await expectRejected(await sign(eu1, [euResult()], { seq: eu1.seq }), 409, 'replayed_seq')
    expect(reused).toMatch(/was already used for a different batch/)
  })

  it('rejects a forged signature', async () => {
    // Signed with us-1's key but claiming to be eu-1.
    const forged = await signBatch(
      { agent_id: 'eu-1', vantage: 'eu-west', seq: ++eu1.seq, sent_at: Date.now(), dropped: 0, results: [euResult()] },
      { kid: 'eu-1', privateKey: keys['us-1'].privateJwk },
    )
    expect(await expectRejected(forged, 401, 'bad_signature')).toMatch(/agent eu-1: signature does not verify/)
    // A genuine batch with its payload swapped.
    const genuine = await sign(eu1, [euResult()])
    const other = await sign(eu1, [euResult()])
    await expectRejected({ ...genuine, payload: other.payload }, 401, 'bad_signature')
  })

  it('rejects an unknown agent', async () => {
    const ghost = { id: 'ghost', vantage: 'eu-west', keys: keys.ghost, seq: 0 }
    const error = await expectRejected(await sign(ghost, [result({ check: 'shop', vantage: 'eu-west', agent_id: 'ghost' })]), 401, 'unknown_kid')
    expect(error).toBe('unknown agent "ghost": no agent with this id is registered in the hub\'s config')
  })

  it('rejects an agent claiming another vantage, in the batch or in a result', async () => {
    const error = await expectRejected(await sign(eu1, [euResult({ vantage: 'us-east' })], { vantage: 'us-east' }), 403, 'foreign_vantage')
    expect(error).toBe('agent eu-1 belongs to vantage eu-west, but its batch claims vantage us-east')
    const inResult = await expectRejected(await sign(eu1, [euResult(), euResult({ vantage: 'us-east' })]), 403, 'foreign_vantage')
    expect(inResult).toMatch(/results\[1\] \(check shop\) claims vantage us-east/)
  })

  it('rejects a result attributed to another agent', async () => {
    const error = await expectRejected(await sign(eu1, [euResult({ agent_id: 'us-1' })]), 403, 'agent_mismatch')
    expect(error).toMatch(/agent eu-1: results\[0\] claims agent "us-1"/)
  })

  it('rejects a batch from 10 minutes ago (clock skew)', async () => {
    const error = await expectRejected(await sign(eu1, [euResult()], { sent_at: Date.now() - 10 * 60_000 }), 400, 'clock_skew')
    expect(error).toMatch(/agent eu-1: sent_at is \d+ ms behind the hub's clock/)
  })

  it('rejects a batch not signed with EdDSA', async () => {
    const payload = encodeBatch({ agent_id: 'eu-1', vantage: 'eu-west', seq: ++eu1.seq, sent_at: Date.now(), dropped: 0, results: [euResult()] })
    const hs = await new jose.FlattenedSign(payload)
      .setProtectedHeader({ alg: 'HS256', kid: 'eu-1', typ: 'vantage-batch' })
      .sign(new TextEncoder().encode('a shared secret is not a signature'))
    expect(await expectRejected(hs, 401, 'wrong_alg')).toMatch(/alg is "HS256", only EdDSA is accepted/)
  })

  it('rejects malformed bodies: random bytes, not a JWS, a wrong media type, nothing', async () => {
    await expectRejected(randomBytes(2048), 400, 'malformed')
    await expectRejected({ hello: 'world' }, 400, 'malformed')
    await expectRejected('', 400, 'malformed')
    const wrongType = await expectRejected(JSON.stringify(await sign(eu1, [euResult()])), 415, 'malformed', 'text/plain')
    expect(wrongType).toMatch(/takes a flattened JWS as application\/json, not text\/plain/)
    // A signed payload that is not a ResultBatch.
    const notBatch = await new jose.FlattenedSign(randomBytes(64))
      .setProtectedHeader({ alg: 'EdDSA', kid: 'eu-1', typ: 'vantage-batch' })
      .sign(await jose.importJWK(keys['eu-1'].privateJwk, 'EdDSA'))
    expect(await expectRejected(notBatch, 400, 'malformed')).toMatch(/signed payload is not a batch/)
  })

  it('rejects a 10 MB body with 413 before reading it, and a chunked one while reading', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 'a')
    const before = await rejected('oversize')
    for (const chunked of [false, true]) {
      const res = await rawPost(hub.httpUrl, big, chunked)
      expect(res.status).toBe(413)
      expect(JSON.parse(res.body)).toEqual({ error: 'the body is over the 4194304-byte limit (ingest.max_body)', reason: 'oversize' })
    }
    expect(await rejected('oversize')).toBe(before + 2)
  })

  it('answers random bytes on the HTTP port with 400 and keeps serving', async () => {
    const reply = await rawExchange(hub.httpUrl, randomBytes(4096))
    expect(reply).toMatch(/^HTTP\/1\.1 400/)
    const res = await postBatch(hub, await sign(eu1, [euResult()]))
    expect(res.status).toBe(200)
    expect((await fetch(`${hub.httpUrl}/-/healthy`)).status).toBe(200)
  })
})

/** POSTs `body` with node:http (fetch cannot send a body the server refuses mid-way). */
function rawPost(base: string, body: Buffer, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' }
    if (!chunked) headers['content-length'] = body.length
    const req = http.request(`${base}/v1/results`, { method: 'POST', headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode!, body: text }))
    })
    // The hub answers and closes before the whole body is sent: EPIPE/ECONNRESET is expected.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err)
    })
    if (chunked) {
      for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024))
      req.end()
    } else {
      req.end(body)
    }
  })
}

/** Writes raw bytes to the HTTP port and returns whatever comes back before the close. */
function rawExchange(base: string, bytes: Buffer): Promise<string> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes))
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (c: string) => (text += c))
    socket.on('close', () => resolve(text))
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)))
  })
}
