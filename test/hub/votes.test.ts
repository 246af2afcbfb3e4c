// One vote per vantage per check, from the latest round (DESIGN.md, "Dedupe and quorum"), and
// the synthetic_probe_* series the hub feeds to /pushgateway/metrics: one per check × vantage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProbeResult } from '../../proto/result.ts'
import { encodeResult } from '../../proto/codec.ts'
import { mergeVote, representative, type VoteState } from '../../hub/store/vote.ts'
import { loadHubConfig } from '../../hub/config.ts'
import { startHub, type Hub } from '../../hub/server.ts'
import { makeKeys, metricValue, postBatch, result, scrape, scrapeFed, sign, silentLogger, startTestHub, tempDir, type AgentSigner, type TestDir } from './helpers.ts'

const INTERVAL = 30_000
const RULE = { interval_ms: INTERVAL, stale_after_ms: 3 * INTERVAL }
const NOW = 1_800_000_000_000
const ROUND = Math.floor(NOW / INTERVAL)

function r(agent: string, fields: Partial<ProbeResult> = {}): ProbeResult {
  return result({ check: 'shop', vantage: 'eu-west', agent_id: agent, round: ROUND, ...fields }, NOW)
}

function fold(results: ProbeResult[], start?: VoteState): VoteState | undefined {
  return results.reduce<VoteState | undefined>((v, x) => merge(v, x) ?? v, start)
}

function merge(v: VoteState | undefined, x: ProbeResult, owned = false): VoteState | undefined {
  return mergeVote(v, x, encodeResult(x), RULE, NOW, owned)
}

describe('mergeVote', () => {
  it('is up when any agent of the vantage succeeded in the round, whatever the order', () => {
    const down = r('eu-1', { success: false, error_code: 'TIMEOUT' })
    const up = r('eu-2')
    for (const order of [[down, up], [up, down]]) {
      const v = fold(order)!
      expect([v.vote, v.agents.sort(), v.result.result_id]).toEqual(['up', ['eu-1', 'eu-2'], up.result_id])
    }
  })

  it('is challenged when none succeeded and one was challenged, else down', () => {
    const challenged = r('eu-1', { success: false, challenged: true, error_code: 'CHALLENGE_CLOUDFLARE' })
    const down = r('eu-2', { success: false })
    expect(fold([down, challenged])!.vote).toBe('challenged')
    expect(fold([down])!.vote).toBe('down')
  })

  it('marks a down vote impaired only when every failing agent reported its network impaired', () => {
    const impaired = r('eu-1', { success: false, vantage_impaired: true })
    expect(fold([impaired])).toMatchObject({ vote: 'down', impaired: true })
    expect(fold([impaired, r('eu-2', { success: false })])).toMatchObject({ vote: 'down', impaired: false })
  })

  it('takes the latest round; an older round never overrides it', () => {
    const v = fold([r('eu-1', { round: ROUND - 1, success: false }), r('eu-1')])!
    expect([v.vote, v.round]).toEqual(['up', ROUND])
    expect(merge(v, r('eu-2', { round: ROUND - 1, success: false }))).toBeUndefined()
    const next = merge(v, r('eu-2', { round: ROUND + 1, success: false }))!
    expect([next.vote, next.round, next.agents]).toEqual(['down', ROUND + 1, ['eu-2']])
  })

  it('lets no stale result vote (an outbox replaying after an outage)', () => {
    expect(merge(undefined, r('eu-1', { round: ROUND - 4 }))).toBeUndefined()
  })

  it('keeps the representative’s bytes, which decode to the whole result', () => {
    const down = r('eu-1', { success: false, error_code: 'TIMEOUT', http: { status_code: 503, redirects: 0, final_url: 'https://x/', body_bytes: 1 } })
    const up = r('eu-2', { http: { status_code: 200, redirects: 0, final_url: 'https://x/', body_bytes: 9 } })
    const v = fold([down, up])!
    expect(representative(v)).toEqual(up)
    expect(representative(v)).toBe(representative(v)) // decoded once
    expect(representative(fold([down])!).http?.status_code).toBe(503)
  })

  it('copies a vote it does not own and updates one it owns in place', () => {
    const first = fold([r('eu-1', { success: false })])!
    const shared = merge(first, r('eu-2'))!
    expect(shared).not.toBe(first)
    expect([first.vote, first.agents]).toEqual(['down', ['eu-1']]) // left as it was
    const owned = merge(shared, r('eu-3'), true)!
    expect(owned).toBe(shared)
    expect(owned.agents).toEqual(['eu-1', 'eu-2', 'eu-3'])
  })
})

describe('votes through the hub', () => {
  let t: TestDir
  let hub: Hub
  const agents: Record<string, AgentSigner> = {}
  const YAML = `hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
  us-east: { region: us }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
  - { id: eu-2, vantage: eu-west, public_key: ./keys/eu-2.pub.jwk }
  - { id: us-1, vantage: us-east, public_key: ./keys/us-1.pub.jwk }
checks:
  - { name: shop, type: http, target: "https://shop.example/", interval: 30s }
  - { name: api, type: tls, target: "api.example:443", interval: 30s, vantages: [us-east] }
`

  beforeAll(async () => {
    t = tempDir()
    const keys = await makeKeys(t, ['hub', 'eu-1', 'eu-2', 'us-1'])
    for (const [id, vantage] of [['eu-1', 'eu-west'], ['eu-2', 'eu-west'], ['us-1', 'us-east']]) agents[id] = { id, vantage, keys: keys[id], seq: 0 }
    hub = await startTestHub(t, YAML)
  })
  afterAll(async () => {
    await hub?.close()
    t?.cleanup()
  })

  const push = async (agent: string, results: ProbeResult[]) => {
    const res = await postBatch(hub, await sign(agents[agent], results))
    expect(res.status, JSON.stringify(res.json)).toBe(200)
  }
  const now = () => Date.now()
  const round = () => Math.floor(now() / INTERVAL)
  const at = (agent: string, vantage: string, fields: Partial<ProbeResult> = {}) =>
    result({ check: 'shop', vantage, agent_id: agent, region: vantage === 'eu-west' ? 'eu' : 'us', round: round(), ...fields })
  const series = (text: string, name: string, vantage: string, check = 'shop') =>
    metricValue(text, name, { check, vantage })

  const tls = {
    version: 'TLS 1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    chain_valid: true,
    hostname_valid: true,
    verify_error: null,
    earliest_cert_expiry: 1_900_000_000,
    leaf: null,
  }
  const http = (status: number) => ({
    status_code: status,
    http_version: '1.1',
    redirects: 0,
    final_url: 'https://shop.example/',
    body_bytes: 10,
    phases: { resolve: 0, connect: 0, tls: 0, processing: 0, transfer: 0 },
  })

  it('two agents in one vantage make one vote: up if any succeeded', async () => {
    await push('eu-1', [at('eu-1', 'eu-west', { success: false, http: http(503), error_code: 'HTTP_STATUS_UNEXPECTED' })])
    await push('eu-2', [at('eu-2', 'eu-west', { http: http(200), tls, duration_seconds: 0.25 })])
    await push('us-1', [at('us-1', 'us-east', { success: false, error_code: 'TIMEOUT', duration_seconds: 10 })])

    expect(hub.store.vote('shop', 'eu-west')).toMatchObject({ vote: 'up', agents: ['eu-1', 'eu-2'] })
    expect(hub.store.vote('shop', 'us-east')).toMatchObject({ vote: 'down', agents: ['us-1'] })

    const text = await scrapeFed(hub)
    // Exactly one series per check × vantage, in the vantage's group, labelled check, type, target, vantage, region.
    const lines = text.split('\n').filter((l) => l.startsWith('synthetic_probe_success{'))
    expect(lines.sort()).toEqual([
      'synthetic_probe_success{check="shop",instance="",job="synthetic-probe",region="eu",target="https://shop.example/",type="http",vantage="eu-west"} 1',
      'synthetic_probe_success{check="shop",instance="",job="synthetic-probe",region="us",target="https://shop.example/",type="http",vantage="us-east"} 0',
    ])
    expect((await scrape(hub)).includes('synthetic_probe_')).toBe(false) // moved off /metrics
    expect(series(text, 'synthetic_probe_status_code', 'eu-west')).toBe(200) // from the succeeding agent
    expect(series(text, 'synthetic_probe_duration_seconds', 'eu-west')).toBe(0.25)
    expect(series(text, 'synthetic_probe_duration_seconds', 'us-east')).toBe(10)
    expect(series(text, 'synthetic_probe_challenged', 'eu-west')).toBe(0)
    expect(series(text, 'synthetic_probe_ssl_earliest_cert_expiry', 'eu-west')).toBe(1_900_000_000)
    expect(metricValue(text, 'synthetic_probe_tls_version_info', { vantage: 'eu-west', version: 'TLS 1.3' })).toBe(1)
    expect(series(text, 'synthetic_probe_last_run_timestamp_seconds', 'eu-west')).toBeCloseTo(now() / 1000, -1)
    expect(metricValue(await scrape(hub), 'synthetic_vantage_last_seen_timestamp_seconds', { vantage: 'eu-west', agent: 'eu-2' })).toBeGreaterThan(0)
  })

  it('a challenged vantage shows as challenged, not down', async () => {
    await push('us-1', [at('us-1', 'us-east', { round: round() + 1, success: false, challenged: true, error_code: 'CHALLENGE_CLOUDFLARE' })])
    const text = await scrapeFed(hub)
    expect([series(text, 'synthetic_probe_success', 'us-east'), series(text, 'synthetic_probe_challenged', 'us-east')]).toEqual([0, 1])
  })

  it('a stale result from an old round is stored but does not vote', async () => {
    const stale = at('eu-1', 'eu-west', { round: round() - 10, success: false, started_at: new Date(now() - 300_000).toISOString() })
    await push('eu-1', [stale])
    expect(hub.store.result(stale.result_id)).toEqual(stale)
    expect(hub.store.vote('shop', 'eu-west')).toMatchObject({ vote: 'up' })
  })

  it('a check a vantage is not assigned gets no series from it', async () => {
    await push('eu-1', [at('eu-1', 'eu-west', { check: 'api', type: 'tls', target: 'api.example:443' })])
    expect(series(await scrapeFed(hub), 'synthetic_probe_success', 'eu-west', 'api')).toBeUndefined()
  })

  it('votes survive a restart', async () => {
    await hub.close()
    const file = `${t.dir}/hub.yaml`
    hub = await startHub({ config: loadHubConfig(file, { httpListen: '127.0.0.1:0', grpcListen: '127.0.0.1:0' }), logger: silentLogger() })
    const text = await scrapeFed(hub)
    expect(series(text, 'synthetic_probe_success', 'eu-west')).toBe(1)
    expect(series(text, 'synthetic_probe_challenged', 'us-east')).toBe(1)
    expect(metricValue(await scrape(hub), 'synthetic_vantage_last_seen_timestamp_seconds', { vantage: 'us-east', agent: 'us-1' })).toBeGreaterThan(0)
  })
})
