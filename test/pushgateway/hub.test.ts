// The Pushgateway API inside the real hub: a signed batch posted to /v1/results shows up as the
// vantage's synthetic-probe group under /pushgateway/metrics; pushes need the token from
// hub.yaml (reads stay open); the groups survive a hub restart (the feed re-writes its own).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Hub } from '../../hub/server.ts'
import { makeKeys, postBatch, result, sign, startTestHub, tempDir, type AgentSigner, type TestDir } from '../hub/helpers.ts'
import { normaliseScrape, send } from './helpers.ts'

const YAML = `hub_key: ./keys/hub.jwk
pushgateway: { token_file: ./push.token }
vantages:
  eu-west: { region: eu }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
checks:
  - { name: shop, type: http, target: "https://shop.example/", interval: 30s }
`

describe('the hub serves /pushgateway', () => {
  let t: TestDir
  let hub: Hub
  let eu1: AgentSigner
  const pg = () => `${hub.httpUrl}/pushgateway`

  beforeAll(async () => {
    t = tempDir()
    const keys = await makeKeys(t, ['hub', 'eu-1'])
    t.write('push.token', 'push-secret\n')
    hub = await startTestHub(t, YAML)
    eu1 = { id: 'eu-1', vantage: 'eu-west', keys: keys['eu-1'], seq: 0 }
  })
  afterAll(async () => {
    await hub?.close()
    t?.cleanup()
  })

  it('feeds the deduped results as the vantage group, one write per batch', async () => {
    const before = hub.pushgateway.feed!.stats.writes
    const res = await postBatch(hub, await sign(eu1, [result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1', http: { status_code: 503, redirects: 0, final_url: 'https://shop.example/', body_bytes: 12 }, success: false })]))
    expect(res.status).toBe(200)
    expect(hub.pushgateway.feed!.stats.writes).toBe(before + 1)
    const text = (await send(pg(), 'GET', '/metrics')).body
    const labels = 'check="shop",instance="",job="synthetic-probe",region="eu",target="https://shop.example/",type="http",vantage="eu-west"'
    expect(text).toContain(`synthetic_probe_success{${labels}} 0\n`)
    expect(text).toContain(`synthetic_probe_status_code{${labels}} 503\n`)
    expect(text).toContain('push_time_seconds{instance="",job="synthetic-probe",vantage="eu-west"} ')
  })

  it('needs the configured bearer token to push; scrapes stay open', async () => {
    expect((await send(pg(), 'PUT', '/metrics/job/batch', 'batch_ok 1\n')).status).toBe(401)
    expect((await send(pg(), 'PUT', '/metrics/job/batch', 'batch_ok 1\n', { authorization: 'Bearer push-secret' })).status).toBe(200)
    expect((await send(pg(), 'GET', '/metrics')).body).toContain('batch_ok{instance="",job="batch"} 1\n')
    expect((await send(pg(), 'GET', '/-/ready')).body).toBe('OK')
    // A path only Go can decode still reaches the Pushgateway API (fastify's router refuses it).
    const odd = await send(pg(), 'PUT', '/metrics/job/batch/x/%FF', 'y 1\n', { authorization: 'Bearer push-secret' })
    expect(odd.status).toBe(400)
    expect(odd.body).toContain('whose value is not utf8')
  })

  it('keeps the groups across a restart', async () => {
    const before = (await send(pg(), 'GET', '/metrics')).body
    await hub.close()
    hub = await startTestHub(t, YAML)
    const after = (await send(pg(), 'GET', '/metrics')).body
    // Pushed groups come back as they were; the feed rebuilds its groups at start (new push time).
    expect(after).toContain('batch_ok{instance="",job="batch"} 1\n')
    expect(normaliseScrape(after)).toBe(normaliseScrape(before))
    const pushTime = (text: string) => /push_time_seconds\{instance="",job="batch"\} (\S+)/.exec(text)![1]
    expect(pushTime(after)).toBe(pushTime(before))
  })
})
