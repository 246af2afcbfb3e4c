// Alerting wired into a real hub: signed results make a quorum outage, the hub sends it to a
// real Alertmanager (generatorURL and runbook on the hub), a maintenance window through the
// operator API resolves it while recording continues, recovery resolves it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Hub } from '../../hub/server.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { eventually, startAlertmanager, type AlertmanagerProcess } from '../helpers/alertmanager.ts'
import { makeKeys, metricValue, postBatch, result, scrape, sign, startTestHub, tempDir, type AgentSigner, type TestDir } from '../hub/helpers.ts'

describe('alerting in the hub', () => {
  let t: TestDir
  let hub: Hub
  let am: AlertmanagerProcess
  const agents: Record<string, AgentSigner> = {}

  beforeAll(async () => {
    am = await startAlertmanager()
    t = tempDir('vantage-alerts-hub-')
    const keys = await makeKeys(t, ['hub', 'eu-1', 'us-1'])
    agents['eu-1'] = { id: 'eu-1', vantage: 'eu-west', keys: keys['eu-1'], seq: 0 }
    agents['us-1'] = { id: 'us-1', vantage: 'us-east', keys: keys['us-1'], seq: 0 }
    hub = await startTestHub(
      t,
      `hub_key: ./keys/hub.jwk
alerting: { alertmanager: ["${am.url}"], resend_interval: 1m }
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
    quorum: { min_down: 2, for: 0s, resolve_after: 0s }
`,
    )
  })
  afterAll(async () => {
    await hub?.close()
    await am?.stop()
    t?.cleanup()
  })

  const push = async (agent: string, fields: Partial<ProbeResult>) => {
    const a = agents[agent]
    const res = await postBatch(hub, await sign(a, [result({ check: 'shop', vantage: a.vantage, agent_id: a.id, ...fields })]))
    expect(res.status).toBe(200)
  }
  const outage = async () => (await am.alerts()).find((a) => a.labels.alertname === 'QuorumOutage')

  it('sends the outage, resolves it for a maintenance window and again on recovery', async () => {
    await push('eu-1', { success: false, error: 'connect ECONNREFUSED', error_code: 'ECONNREFUSED' })
    await push('us-1', { success: false, error: 'connect ECONNREFUSED', error_code: 'ECONNREFUSED' })
    const alert = await eventually('QuorumOutage in Alertmanager', outage)
    expect(alert.labels).toEqual({ alertname: 'QuorumOutage', check: 'shop', type: 'http', target: 'https://shop.example/', severity: 'critical' })
    expect(alert.annotations.failing_vantages).toBe('eu-west,us-east')
    expect(alert.generatorURL).toBe(`${hub.httpUrl}/review?check=shop`)
    expect(alert.annotations.runbook_url).toBe(`${hub.httpUrl}/runbooks/QuorumOutage.md`)
    const runbook = await fetch(alert.annotations.runbook_url)
    expect([runbook.status, (await runbook.text()).split('\n')[0]]).toEqual([200, '# QuorumOutage'])
    expect(metricValue(await scrape(hub), 'hub_alerts_active', { alertname: 'QuorumOutage' })).toBe(1)
    await eventually('the delivery counted', async () => (metricValue(await scrape(hub), 'hub_alerts_sent_total', { receiver: am.url, result: 'ok' }) ?? 0) >= 1)

    // A maintenance window (operator API, loopback without a token): resolved, not recorded away.
    const res = await fetch(`${hub.httpUrl}/api/v1/checks/shop/maintenance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ duration: '1h', reason: 'failover test' }),
    })
    expect(res.status).toBe(201)
    const window = (await res.json()) as { id: string }
    await eventually('the outage resolved in Alertmanager', async () => !(await outage()))
    expect(hub.quorum.snapshot().checks[0]).toMatchObject({ state: 'outage', in_maintenance: true })
    const listed = (await (await fetch(`${hub.httpUrl}/api/v1/alerts`)).json()) as { suppressed: { reason: string }[] }
    expect(listed.suppressed).toEqual([expect.objectContaining({ reason: 'failover test' })])
    expect(metricValue(await scrape(hub), 'hub_alerts_suppressed', { alertname: 'QuorumOutage' })).toBe(1)

    // The window ends early: the outage that still holds fires again.
    expect((await fetch(`${hub.httpUrl}/api/v1/checks/shop/maintenance/${window.id}`, { method: 'DELETE' })).status).toBe(200)
    await eventually('the outage firing again', outage)

    // Recovery.
    await push('eu-1', { success: true })
    await eventually('the outage resolved on recovery', async () => !(await outage()))
    expect(hub.alerting.firing()).toEqual([])
  })
})
