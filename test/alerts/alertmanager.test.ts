// The Alertmanager API v2 client against real Alertmanagers (Debian's prometheus-alertmanager) on
// loopback. Time is a FakeTime started 30 minutes in the past, so every time the hub sends
// (startsAt, endsAt) is in Alertmanager's past or future as it would be for real: a resolve's
// endsAt must be in Alertmanager's past to end the alert.
import type { Registry } from 'prom-client'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startAlerting, type Alerting } from '../../hub/alerts/notifier.ts'
import { FakeTime } from '../agent/fake-time.ts'
import { eventually, freePort, startAlertmanager, alertmanagerConfig, type AlertmanagerProcess } from '../helpers/alertmanager.ts'
import { metricValue } from '../hub/helpers.ts'
import { outageView, registry, SHOP, silent, snapshot, snapshotSource, vantage, view, hubConfig } from './fixtures.ts'
import { recordingServer, type RecordingServer } from './receivers.ts'

const MIN = 60_000
/** A fake clock 30 minutes behind, on a whole second (Alertmanager keeps milliseconds). */
const pastStart = () => Math.floor((Date.now() - 30 * MIN) / 1000) * 1000

describe('Alertmanager API v2 client (real Alertmanager)', () => {
  let notifications: RecordingServer
  let am: AlertmanagerProcess
  const extra: AlertmanagerProcess[] = []
  let alerting: Alerting | undefined

  beforeAll(async () => {
    notifications = await recordingServer()
    am = await startAlertmanager({ config: alertmanagerConfig(`${notifications.url}/am`) })
  })
  afterEach(async () => {
    alerting?.stop()
    alerting = undefined
    await Promise.all(extra.splice(0).map((p) => p.stop()))
  })
  afterAll(async () => {
    await am?.stop()
    await notifications?.close()
  })

  const sent = async (reg: Registry, receiver: string, result: string) => metricValue(await reg.metrics(), 'hub_alerts_sent_total', { receiver, result }) ?? 0
  const outageIn = async (p: AlertmanagerProcess) => (await p.alerts()).find((a) => a.labels.alertname === 'QuorumOutage' && a.labels.check === 'shop')

  it('a firing alert shows in GET /api/v2/alerts with its labels and annotations, is re-sent while firing, and resolves with endsAt', async () => {
    const start = pastStart()
    const time = new FakeTime(start)
    const config = hubConfig(SHOP, `alerting: { alertmanager: ["${am.url}"], resend_interval: 10m }`)
    const source = snapshotSource(snapshot([outageView(start - MIN)], [], start))
    const reg = registry()
    alerting = startAlerting({ config, snapshot: source.get, clock: time, timers: time, logger: silent(), registry: reg, external_url: 'http://hub.test:8080' })

    const alert = await eventually('QuorumOutage in Alertmanager', () => outageIn(am))
    expect(alert.labels).toEqual({ alertname: 'QuorumOutage', check: 'shop', type: 'http', target: 'https://shop.example/', severity: 'page' })
    expect(alert.annotations).toEqual({
      summary: 'shop (http https://shop.example/) is down from 2 of 3 voting vantages: eu, us',
      description: 'eu: connect ECONNREFUSED 192.0.2.1:443 (ECONNREFUSED)\nus: HTTP 503 (STATUS_MISMATCH)',
      failing_vantages: 'eu,us',
      runbook_url: 'https://wiki.example/shop',
    })
    expect(Date.parse(alert.startsAt)).toBe(start - MIN) // when the check entered outage
    expect(Date.parse(alert.endsAt)).toBe(start + 40 * MIN) // valid for 4 × resend_interval
    expect(alert.generatorURL).toBe('http://hub.test:8080/review?check=shop')
    expect(alert.status.state).toBe('active')
    await eventually('the delivery counted', async () => (await sent(reg, am.url, 'ok')) === 1)
    // Alertmanager notified its receiver.
    const firing = await eventually('the firing notification', () => notifications.received.find((n) => n.json.status === 'firing'))
    expect((firing.json.alerts as { labels: Record<string, string> }[])[0].labels.check).toBe('shop')

    // Nothing new is sent before resend_interval; exactly at it, the alert is sent again.
    await time.advance(9 * MIN)
    expect(await sent(reg, am.url, 'ok')).toBe(1)
    await time.advance(MIN)
    await eventually('the re-sent alert (endsAt moved)', async () => Date.parse((await outageIn(am))?.endsAt ?? '') === start + 50 * MIN)
    await eventually('the re-send counted', async () => (await sent(reg, am.url, 'ok')) === 2)

    // Another vantage fails: the annotations change and are sent at once.
    const three = outageView(start - MIN, {
      down: 3,
      vantages: [vantage('eu', 'down', { error: 'timeout', error_code: 'TIMEOUT' }), vantage('us', 'down'), vantage('edge', 'down')],
    })
    source.set(snapshot([three]))
    alerting.evaluate()
    await eventually('the updated annotations', async () => (await outageIn(am))?.annotations.failing_vantages === 'eu,us,edge')

    // Recovery: sent once more, resolved at the resolution time.
    await time.advance(MIN)
    source.set(snapshot([view('shop')]))
    alerting.evaluate()
    const resolvedAt = time.now()
    const resolved = await eventually('the resolved notification', () => notifications.received.find((n) => n.json.status === 'resolved'))
    const [r] = resolved.json.alerts as { labels: Record<string, string>; endsAt: string; status: string }[]
    expect(r.labels.alertname).toBe('QuorumOutage')
    expect(Date.parse(r.endsAt)).toBe(resolvedAt)
    await eventually('the alert gone from GET /api/v2/alerts', async () => !(await outageIn(am)))
    expect(alerting.firing()).toEqual([])
    expect(metricValue(await reg.metrics(), 'hub_alerts_active', { alertname: 'QuorumOutage' })).toBe(0)
    expect(alerting.pending()).toEqual({ [am.url]: 0 })
  })

  it('two Alertmanagers, one down: the other gets the alerts at once, the down one is retried until delivered (the resolve too)', async () => {
    const downPort = await freePort()
    const downUrl = `http://127.0.0.1:${downPort}`
    const start = pastStart()
    const time = new FakeTime(start)
    const config = hubConfig(SHOP, `alerting: { alertmanager: ["${downUrl}", "${am.url}"], resend_interval: 10m }`)
    const source = snapshotSource(snapshot([outageView(start - MIN)], [{ vantage: 'us', agent: 'us-1', last_seen: start - 5 * MIN }], start))
    const reg = registry()
    alerting = startAlerting({
      config,
      snapshot: source.get,
      clock: time,
      timers: time,
      logger: silent(),
      registry: reg,
      retry: { min_ms: 1000, max_ms: 4000 },
      random: () => 1, // no jitter: the retry is due exactly after the step
    })

    await eventually('the alerts in the Alertmanager that is up', async () => (await am.alerts()).filter((a) => a.labels.check === 'shop' || a.labels.agent === 'us-1').length === 2)
    await eventually('a failed attempt to the one that is down', async () => (await sent(reg, downUrl, 'error')) === 2) // two alerts, one POST
    expect(alerting.pending()).toEqual({ [downUrl]: 2, [am.url]: 0 })
    await time.advance(1000) // first retry after 1 s
    await eventually('a second attempt', async () => (await sent(reg, downUrl, 'error')) === 4)

    // It comes up: the next retry (2 s: doubled) delivers.
    const late = await startAlertmanager({ port: downPort })
    extra.push(late)
    await time.advance(1999)
    expect(await sent(reg, downUrl, 'ok')).toBe(0)
    await time.advance(1)
    const alert = await eventually('the alert in the late Alertmanager', () => outageIn(late))
    expect(alert.labels.severity).toBe('page')
    expect((await late.alerts()).find((a) => a.labels.alertname === 'VantageStale')?.labels).toEqual({
      alertname: 'VantageStale',
      vantage: 'us',
      agent: 'us-1',
      severity: 'warning',
    })
    await eventually('the late delivery counted', async () => (await sent(reg, downUrl, 'ok')) === 2)
    expect(alerting.pending()).toEqual({ [downUrl]: 0, [am.url]: 0 })

    // Down again while the outage resolves: the resolve reaches the other at once, and this one
    // when it is back (a fresh Alertmanager: it counts the resolved alert it receives).
    await late.stop()
    extra.splice(0)
    source.set(snapshot([view('shop')], [{ vantage: 'us', agent: 'us-1', last_seen: start - 5 * MIN }]))
    alerting.evaluate()
    await eventually('resolved in the Alertmanager that is up', async () => !(await outageIn(am)))
    await eventually('the resolve failing to the one that is down', async () => (await sent(reg, downUrl, 'error')) === 5)
    await time.advance(1000)
    await eventually('the resolve retried', async () => (await sent(reg, downUrl, 'error')) === 6)
    const back = await startAlertmanager({ port: downPort })
    extra.push(back)
    await time.advance(2000)
    await eventually('the resolve delivered', async () => (await sent(reg, downUrl, 'ok')) === 3)
    const metrics = await (await fetch(`${back.url}/metrics`)).text()
    expect(metricValue(metrics, 'alertmanager_alerts_received_total', { status: 'resolved', version: 'v2' })).toBe(1)
    expect(await outageIn(back)).toBeUndefined()
    expect(alerting.pending()).toEqual({ [downUrl]: 0, [am.url]: 0 })
  })
})
