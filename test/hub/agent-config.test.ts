// GET /v1/agents/{id}/config: signed by the hub's key, authenticated by the agent's JWT, and
// config reload (a bad file keeps the running config; ingest goes on).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgentToken, verifyJson } from '../../proto/envelope.ts'
import type { KeyPair } from '../../proto/keys.ts'
import { AGENT_CONFIG_TYP, type AgentConfig } from '../../hub/agent-config/plugin.ts'
import type { Hub } from '../../hub/server.ts'
import { makeKeys, metricValue, postBatch, result, scrape, sign, startTestHub, tempDir, type TestDir } from './helpers.ts'

let t: TestDir
let hub: Hub
let keys: Record<string, KeyPair>

const yaml = (extraCheck = '') => `hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
  us-east: { region: us }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
  - { id: us-1, vantage: us-east, public_key: ./keys/us-1.pub.jwk }
checks:
  - name: shop
    type: http
    target: https://shop.example/
    interval: 30s
    http: { expect_status: ["200-299"], bypass_header: { name: X-Synthetic-Bypass, value_env: BYPASS_TOKEN } }
  - { name: us-only, type: tcp, target: "db.example:5432", vantages: [us-east] }
${extraCheck}`

beforeAll(async () => {
  t = tempDir()
  keys = await makeKeys(t, ['hub', 'eu-1', 'us-1', 'ghost'])
  hub = await startTestHub(t, yaml())
})
afterAll(async () => {
  await hub?.close()
  t?.cleanup()
})

const token = (id: string, key = keys[id].privateJwk, now = Date.now()) => createAgentToken(id, key, now)

async function getConfig(id: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${hub.httpUrl}/v1/agents/${id}/config`, { headers })
}

async function fetchConfig(id: string): Promise<{ res: Response; config: AgentConfig }> {
  const res = await getConfig(id, { authorization: `Bearer ${await token(id)}` })
  expect(res.status).toBe(200)
  // As an agent does: verify with the pinned hub public key.
  const { payload, kid } = await verifyJson<AgentConfig>(await res.text(), keys.hub.publicJwk, { typ: AGENT_CONFIG_TYP })
  expect(kid).toBe('hub')
  return { res, config: payload }
}

describe('GET /v1/agents/{id}/config', () => {
  it("answers the agent's identity and assigned checks, signed by the hub's key", async () => {
    const { res, config } = await fetchConfig('eu-1')
    expect(config.agent).toEqual({ id: 'eu-1', vantage: 'eu-west', region: 'eu' })
    expect(config.checks).toEqual([
      {
        name: 'shop',
        type: 'http',
        target: 'https://shop.example/',
        interval_ms: 30_000,
        timeout_ms: 10_000,
        http: { expect_status: ['200-299'], bypass_header: { name: 'X-Synthetic-Bypass', value_env: 'BYPASS_TOKEN' } },
      },
    ])
    expect(Math.abs(config.issued_at - Date.now())).toBeLessThan(5000)
    expect(res.headers.get('etag')).toBe(`"${config.version}"`)

    const us = await fetchConfig('us-1')
    expect(us.config.checks.map((c) => c.name)).toEqual(['shop', 'us-only'])
    expect(us.config.version).not.toBe(config.version)
  })

  it('answers 304 when the agent already has this version', async () => {
    const { config } = await fetchConfig('eu-1')
    const res = await getConfig('eu-1', { authorization: `Bearer ${await token('eu-1')}`, 'if-none-match': `"${config.version}"` })
    expect(res.status).toBe(304)
  })

  const refusals: [string, () => Promise<Record<string, string>>, number, string][] = [
    ['no token', async () => ({}), 401, 'unauthorized'],
    ['a token signed by another key', async () => ({ authorization: `Bearer ${await token('eu-1', keys['us-1'].privateJwk)}` }), 401, 'bad_signature'],
    ['an unknown agent', async () => ({ authorization: `Bearer ${await token('ghost')}` }), 401, 'unknown_kid'],
    ['an expired token', async () => ({ authorization: `Bearer ${await token('eu-1', keys['eu-1'].privateJwk, Date.now() - 10 * 60_000)}` }), 401, 'expired'],
    ['not a JWT', async () => ({ authorization: 'Bearer not.a.jwt' }), 401, 'malformed'],
    ["another agent's token", async () => ({ authorization: `Bearer ${await token('us-1')}` }), 403, 'agent_mismatch'],
  ]

  it.each(refusals)('refuses %s', async (_name, headers, status, reason) => {
    const res = await getConfig('eu-1', await headers())
    expect(res.status).toBe(status)
    const body = (await res.json()) as { error: string; reason: string }
    expect(body.reason).toBe(reason)
    expect(body.error.length).toBeGreaterThan(10)
    if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it('counts requests by outcome', async () => {
    const text = await scrape(hub)
    expect(metricValue(text, 'hub_agent_config_requests_total', { outcome: 'rejected' })).toBe(refusals.length)
    expect(metricValue(text, 'hub_agent_config_requests_total', { outcome: 'not_modified' })).toBe(1)
  })
})

describe('config reload', () => {
  it('serves the new checks after a reload, and keeps the running config when the new file is bad', async () => {
    const before = (await fetchConfig('eu-1')).config

    t.write('hub.yaml', yaml('  - { name: dns-check, type: dns, target: example.org }\n'))
    expect(await hub.reload()).toEqual({ ok: true, changed: ['checks'] })
    const after = (await fetchConfig('eu-1')).config
    expect(after.checks.map((c) => c.name)).toEqual(['shop', 'dns-check'])
    expect(after.version).not.toBe(before.version)

    t.write('hub.yaml', yaml('  - { name: broken, type: dns, target: example.org, timout: 5s }\n'))
    const failed = await hub.reload()
    expect(failed.ok).toBe(false)
    expect(failed.ok === false && failed.error).toMatch(/hub\.yaml:15: checks\[2\]\.timout: unknown key/)
    expect((await fetchConfig('eu-1')).config.version).toBe(after.version)
    expect(metricValue(await scrape(hub), 'hub_config_reloads_total', { outcome: 'failed' })).toBe(1)

    // Ingest goes on under the kept config.
    const agent = { id: 'eu-1', vantage: 'eu-west', keys: keys['eu-1'], seq: 100 }
    const res = await postBatch(hub, await sign(agent, [result({ check: 'dns-check', type: 'dns', vantage: 'eu-west', agent_id: 'eu-1' })]))
    expect(res.status).toBe(200)
  })

  it('accepts batches without a gap while reloading', async () => {
    const agent = { id: 'us-1', vantage: 'us-east', keys: keys['us-1'], seq: 0 }
    t.write('hub.yaml', yaml())
    const pushes = Array.from({ length: 20 }, async (_, i) => {
      if (i % 5 === 0) await hub.reload()
      return postBatch(hub, await sign(agent, [result({ check: 'shop', vantage: 'us-east', agent_id: 'us-1' })], { seq: 1000 + i }))
    })
    // Concurrent batches of one agent may arrive out of seq order; only replays may be refused.
    const statuses = (await Promise.all(pushes)).map((r) => (r.status === 200 ? 'ok' : String(r.json.reason)))
    expect(statuses.filter((s) => s !== 'ok' && s !== 'replayed_seq')).toEqual([])
    expect(statuses).toContain('ok')
  })
})
