// The edge worker in real workerd (miniflare), bundled as `wrangler deploy` bundles it, against a
// real hub (startHub) and real HTTP targets on loopback: cron ticks probe the assigned checks,
// the hub verifies and stores the signed results; a tampered assignment is refused; an
// unreachable hub leaves results queued (Durable Object bound) or counted as dropped (unbound).
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProbeResult } from '../../proto/result.ts'
import type { KeyPair } from '../../proto/keys.ts'
import type { Hub } from '../../hub/server.ts'
import { closedPort } from '../helpers/net-servers.ts'
import { makeKeys, startTestHub, tempDir, type TestDir } from '../hub/helpers.ts'
import { buildWorker, removeBundle, startEdgeWorker, type EdgeWorker } from './helpers.ts'
import { startHubProxy, type HubProxy } from './hub-proxy.ts'

const BYPASS = 'bypass-7d1f0c2e9a'
const RUN_TOKEN = 'manual-run-token-0123456789abcdef'
const CHECKS = ['site-up', 'site-challenged', 'site-503', 'site-closed'] as const

let t: TestDir
let keys: Record<string, KeyPair>
let hub: Hub
let proxy: HubProxy
let target: { origin: string; requests: { path: string; headers: http.IncomingHttpHeaders }[]; close(): Promise<void> }
const workers: EdgeWorker[] = []

beforeAll(async () => {
  t = tempDir('vantage-edge-')
  keys = await makeKeys(t, ['hub', 'edge-1', 'edge-2', 'edge-3', 'edge-4', 'impostor'])
  target = await startTarget()
  const closed = await closedPort(net.createServer())
  hub = await startTestHub(
    t,
    `hub_key: ./keys/hub.jwk
vantages:
  edge: { region: global, capabilities: [http, tcp, smtp] }
agents:
  - { id: edge-1, vantage: edge, public_key: ./keys/edge-1.pub.jwk }
  - { id: edge-2, vantage: edge, public_key: ./keys/edge-2.pub.jwk }
  - { id: edge-3, vantage: edge, public_key: ./keys/edge-3.pub.jwk }
  - { id: edge-4, vantage: edge, public_key: ./keys/edge-4.pub.jwk }
checks:
  - name: site-up
    type: http
    target: ${target.origin}/hop
    interval: 1m
    http:
      body_contains: All systems go
      bypass_header: { name: X-Synthetic-Bypass, value_env: BYPASS_TOKEN }
  - { name: site-challenged, type: http, target: "${target.origin}/challenge", interval: 1m }
  - { name: site-503, type: http, target: "${target.origin}/down", interval: 1m }
  - { name: site-closed, type: http, target: "http://127.0.0.1:${closed}/", interval: 1m, timeout: 5s }
  # Needs the Node agent: the hub never assigns it to the edge vantage.
  - { name: cert, type: tls, target: "127.0.0.1:${closed}", interval: 1m }
`,
  )
  proxy = await startHubProxy(hub.httpUrl)
  const bundle = await buildWorker()
  console.log(`edge worker bundle (wrangler deploy --dry-run): ${bundle.bytes} bytes, ${bundle.gzipBytes} bytes gzip`)
})

afterAll(async () => {
  await Promise.allSettled(workers.map((w) => w.close()))
  await proxy?.close()
  await hub?.close()
  await target?.close()
  if (workers.length) removeBundle(await buildWorker())
  t?.cleanup()
})

async function worker(agentId: string, opts: { hubUrl?: string; queue?: boolean } = {}): Promise<EdgeWorker> {
  const w = await startEdgeWorker({
    hubUrl: opts.hubUrl ?? hub.httpUrl,
    agentId,
    agentKeys: keys[agentId],
    hubPublicJwk: keys.hub.publicJwk,
    queue: opts.queue,
    bindings: { BYPASS_TOKEN: BYPASS, MANUAL_RUN_TOKEN: RUN_TOKEN },
  })
  workers.push(w)
  return w
}

function results(agentId: string, check: string): ProbeResult[] {
  return hub.store.history({ check, vantage: 'edge', limit: 100 }).filter((r) => r.agent_id === agentId)
}

function seen(agentId: string) {
  return [...hub.store.agentsSeen()].find((a) => a.agent_id === agentId)
}

/** Results reach the store through the hub's committer: wait for them. */
async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('edge worker in workerd', () => {
  it('a cron tick probes the assigned http checks; the hub verifies and stores the signed results', async () => {
    const w = await worker('edge-1')
    const before = target.requests.length
    expect(await w.tick()).toMatchObject({ outcome: 'ok' })
    for (const check of CHECKS) await waitFor(`${check} stored`, () => results('edge-1', check).length === 1)

    const [up] = results('edge-1', 'site-up')
    expect(up).toMatchObject({ type: 'http', vantage: 'edge', region: 'global', agent_id: 'edge-1', success: true, challenged: false })
    expect(up.http).toMatchObject({ status_code: 200, redirects: 1, final_url: `${target.origin}/up` })
    expect(up.http!.body_bytes).toBeGreaterThan(0)
    expect(up.http!.headers?.['content-type']).toBe('text/html; charset=utf-8')
    // What fetch() cannot measure is absent, not invented.
    expect(up.http).not.toHaveProperty('phases')
    expect(up.http).not.toHaveProperty('http_version')
    expect(up.tls).toBeUndefined()
    expect(up.duration_seconds).toBeGreaterThanOrEqual(0)

    const [challenged] = results('edge-1', 'site-challenged')
    expect(challenged).toMatchObject({ success: false, challenged: true, error_code: 'CHALLENGE_CLOUDFLARE' })
    expect(challenged.http?.status_code).toBe(403)

    const [down] = results('edge-1', 'site-503')
    expect(down).toMatchObject({ success: false, challenged: false, error_code: 'HTTP_STATUS_UNEXPECTED' })
    expect(down.error).toBe('status 503, expected 200-299')

    const [closed] = results('edge-1', 'site-closed')
    expect(closed).toMatchObject({ success: false, challenged: false })
    expect(closed.error_code).toMatch(/^CONNECTION_(RESET|REFUSED)$/)
    expect(closed.http?.status_code).toBe(0)

    // The identity header on every request; the bypass token (a worker secret) where the check asks.
    const mine = target.requests.slice(before)
    expect(mine.map((r) => r.path).sort()).toEqual(['/challenge', '/down', '/hop', '/up'])
    for (const r of mine) expect(r.headers['x-vantage-probe']).toBe('edge-1')
    expect(mine.find((r) => r.path === '/up')!.headers['x-synthetic-bypass']).toBe(BYPASS)
    expect(mine.find((r) => r.path === '/down')!.headers['x-synthetic-bypass']).toBeUndefined()

    // The tls check is not the edge's: not assigned, so not even skipped.
    expect(w.logs.find((l) => l.msg.includes('cannot run checks of this type'))).toBeUndefined()
    expect(w.logs.find((l) => l.msg === 'config accepted')).toMatchObject({ level: 'info', agent: 'edge-1', checks: 4 })
    expect(w.logs.find((l) => l.msg === 'probe finished' && l.check === 'site-503')).toMatchObject({ level: 'warn', vantage: 'edge', agent: 'edge-1', error_code: 'HTTP_STATUS_UNEXPECTED' })
    expect(w.logs.find((l) => l.msg === 'batch delivered')).toMatchObject({ accepted: 4, duplicates: 0 })
    const first = seen('edge-1')!
    expect(first).toMatchObject({ vantage: 'edge', dropped: 0 })

    // The next tick: the config is unchanged (304, kept in the isolate), seq increases.
    expect(await w.tick(Math.floor(Date.now() / 60_000) * 60_000 + 60_000)).toMatchObject({ outcome: 'ok' })
    await waitFor('second round stored', () => CHECKS.every((c) => results('edge-1', c).length === 2))
    expect(seen('edge-1')!.seq).toBeGreaterThan(first.seq)
    expect(w.logs.filter((l) => l.msg === 'config accepted')).toHaveLength(1)
  })

  it('serves /health, and runs on demand only with the MANUAL_RUN_TOKEN (compared in constant time)', async () => {
    const w = workers[0]
    const health = await w.fetch('/health')
    expect(health.status).toBe(200)
    expect(health.json).toMatchObject({ status: 'ok', agent_id: 'edge-1', error: null, last_run: { trigger: 'cron', vantage: 'edge', probed: 4, failed: 3 } })

    expect((await w.fetch('/run', { method: 'POST' })).status).toBe(401)
    expect((await w.fetch('/run', { method: 'POST', headers: { authorization: `Bearer ${RUN_TOKEN}x` } })).status).toBe(401)
    expect((await w.fetch('/run', { method: 'POST', headers: { authorization: 'Bearer short' } })).status).toBe(401)
    expect((await w.fetch('/run')).status).toBe(405)
    const before = results('edge-1', 'site-up').length
    const run = await w.fetch('/run', { method: 'POST', headers: { authorization: `Bearer ${RUN_TOKEN}` } })
    expect(run.status).toBe(200)
    expect(run.json).toMatchObject({ trigger: 'manual', agent_id: 'edge-1', vantage: 'edge', config_problem: null, error: null, delivery: { queue: 'none', delivered_batches: 1, delivered_results: 4 } })
    expect((run.json.probed as { check: string }[]).map((p) => p.check).sort()).toEqual([...CHECKS].sort())
    await waitFor('manual run stored', () => results('edge-1', 'site-up').length === before + 1)
    expect((await w.fetch('/nope')).status).toBe(404)
  })

  it('refuses a tampered assignment: nothing is probed, the refusal is logged and reported', async () => {
    proxy.mode = {
      kind: 'tamper',
      edit: (payload) => {
        const checks = payload.checks as { target: string }[]
        for (const c of checks) c.target = `${target.origin}/evil`
      },
    }
    const w = await worker('edge-2', { hubUrl: proxy.url })
    const before = target.requests.length
    expect(await w.tick()).toMatchObject({ outcome: 'ok' })
    const refused = w.logs.find((l) => l.msg.startsWith("REFUSED the hub's config"))
    expect(refused).toMatchObject({ level: 'error', agent: 'edge-2', reason: 'bad_signature' })
    expect(refused!.msg).toContain('nothing is probed')
    expect(w.logs.find((l) => l.msg === 'probe finished')).toBeUndefined()

    // Signed, but by a key that is not the pinned hub key: refused the same way. The manual
    // run's report says why.
    proxy.mode = { kind: 'impostor', keys: keys.impostor }
    const run = await w.fetch('/run', { method: 'POST', headers: { authorization: `Bearer ${RUN_TOKEN}` } })
    expect(run.json).toMatchObject({ config_version: null, config_source: null, config_problem: { kind: 'refused', reason: 'bad_signature' }, probed: [] })
    expect(target.requests.slice(before)).toEqual([])
    expect(CHECKS.flatMap((c) => results('edge-2', c))).toEqual([])

    // Once a good config is in use, a tampered one never replaces it: the worker keeps probing
    // what the hub assigned.
    proxy.mode = { kind: 'pass' }
    await w.tick()
    await waitFor('edge-2 results', () => results('edge-2', 'site-up').length === 1)
    proxy.mode = { kind: 'tamper', edit: (payload) => void (payload.checks = []) }
    const kept = await w.fetch('/run', { method: 'POST', headers: { authorization: `Bearer ${RUN_TOKEN}` } })
    expect(kept.json).toMatchObject({ config_source: 'kept', config_problem: { kind: 'refused', reason: 'bad_signature' } })
    expect(kept.json.probed).toHaveLength(4)
    expect(target.requests.slice(before).some((r) => r.path === '/evil')).toBe(false)
    proxy.mode = { kind: 'pass' }
  })

  it('with a Durable Object queue, results of a run the hub missed are delivered at the next run', async () => {
    const w = await worker('edge-3', { hubUrl: proxy.url, queue: true })
    const minute = Math.floor(Date.now() / 60_000) * 60_000
    await w.tick(minute)
    await waitFor('first run stored', () => results('edge-3', 'site-up').length === 1)
    const firstSeq = seen('edge-3')!.seq

    proxy.mode = { kind: 'down' }
    await w.tick(minute + 60_000)
    expect(w.logs.filter((l) => l.msg === 'probe finished' && l.check === 'site-up')).toHaveLength(2) // probed with the kept config
    expect(w.logs.find((l) => l.msg === 'batch queued for the next run')).toMatchObject({ results: 4 })
    expect(results('edge-3', 'site-up')).toHaveLength(1)

    proxy.mode = { kind: 'pass' }
    await w.tick(minute + 120_000)
    await waitFor('queued and new results stored', () => CHECKS.every((c) => results('edge-3', c).length === 3))
    const delivered = w.logs.filter((l) => l.msg === 'batch delivered')
    expect(delivered.map((l) => l.queued)).toEqual([false, true, false])
    expect(delivered[1].seq as number).toBeGreaterThan(firstSeq)
    expect(delivered[2].seq as number).toBeGreaterThan(delivered[1].seq as number)
    expect(seen('edge-3')).toMatchObject({ seq: delivered[2].seq, dropped: 0 })
  })

  it('without a queue binding, results of a run the hub missed are lost and counted in the next batch', async () => {
    const w = await worker('edge-4', { hubUrl: proxy.url })
    const minute = Math.floor(Date.now() / 60_000) * 60_000
    await w.tick(minute)
    await waitFor('first run stored', () => results('edge-4', 'site-up').length === 1)

    proxy.mode = { kind: 'down' }
    await w.tick(minute + 60_000)
    expect(w.logs.find((l) => l.msg.startsWith('results lost: no queue binding'))).toMatchObject({ level: 'error', lost: 4, dropped_total: 4 })

    proxy.mode = { kind: 'pass' }
    await w.tick(minute + 120_000)
    await waitFor('third run stored', () => results('edge-4', 'site-up').length === 2)
    expect(seen('edge-4')).toMatchObject({ dropped: 4 })
    const health = await w.fetch('/health')
    expect(health.json).toMatchObject({ last_run: { dropped_total: 4, delivered_batches: 1 } })
  })

  it('a misconfigured worker says which setting is wrong, never a secret', async () => {
    const w = await startEdgeWorker({
      hubUrl: hub.httpUrl,
      agentId: 'edge-1',
      agentKeys: keys['edge-1'],
      hubPublicJwk: keys.hub.publicJwk,
      bindings: { AGENT_PRIVATE_KEY: 'not-json-secret-material' },
    })
    workers.push(w)
    expect((await w.tick()).outcome).toBe('exception')
    const health = await w.fetch('/health')
    expect(health.status).toBe(503)
    expect(health.json).toMatchObject({ status: 'misconfigured' })
    expect(health.json.error).toMatch(/^AGENT_PRIVATE_KEY: not JSON/)
    expect(w.raw.join('\n')).not.toContain('not-json-secret-material')
  })
})

async function startTarget() {
  const requests: { path: string; headers: http.IncomingHttpHeaders }[] = []
  const server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? '', headers: req.headers })
    switch (req.url) {
      case '/hop':
        return res.writeHead(302, { location: '/up' }).end()
      case '/up':
        return res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html><p>All systems go</p></html>')
      case '/challenge':
        return res
          .writeHead(403, { 'cf-mitigated': 'challenge', 'content-type': 'text/html' })
          .end('<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>')
      case '/down':
        return res.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance')
      default:
        return res.writeHead(404).end('not found')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
