// The generic webhook against a real local HTTP server that verifies the HMAC signature.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startAlerting, type Alerting } from '../../hub/alerts/notifier.ts'
import { signWebhook, verifyWebhook } from '../../hub/alerts/signature.ts'
import type { HubConfig } from '../../hub/config.ts'
import { FakeTime } from '../agent/fake-time.ts'
import { eventually } from '../helpers/alertmanager.ts'
import { metricValue } from '../hub/helpers.ts'
import { hubConfig, outageView, registry, SHOP, silent, snapshot, snapshotSource, T0, vantage, view } from './fixtures.ts'
import { recordingServer, type RecordingServer, type Received } from './receivers.ts'

const SECRET = 'webhook-secret-0123456789'

describe('generic webhook', () => {
  let server: RecordingServer
  let alerting: Alerting | undefined
  beforeEach(async () => {
    server = await recordingServer()
  })
  afterEach(async () => {
    alerting?.stop()
    alerting = undefined
    await server.close()
  })

  function start(secret: string | null = SECRET) {
    const time = new FakeTime(T0)
    const config: HubConfig = hubConfig(SHOP)
    config.alerting.webhook = { url: `${server.url}/hooks/vantage`, secret }
    const source = snapshotSource(snapshot([outageView(T0 - 60_000)]))
    const reg = registry()
    alerting = startAlerting({
      config,
      snapshot: source.get,
      clock: time,
      timers: time,
      logger: silent(),
      registry: reg,
      external_url: 'http://hub.test:8080',
      retry: { min_ms: 1000, max_ms: 8000 },
      random: () => 1,
    })
    const sent = async (result: string) => metricValue(await reg.metrics(), 'hub_alerts_sent_total', { receiver: 'webhook', result }) ?? 0
    return { time, source, sent }
  }
  /** What the receiving side does: verify against its own clock (here, the fake one). */
  const verify = (r: Received, time: FakeTime) => verifyWebhook(SECRET, r.raw, r.headers, time.now() / 1000)

  it('posts firing and resolved alerts as signed JSON', async () => {
    const { time, source, sent } = start()
    const firing = await eventually('the firing alert', () => server.received[0])
    expect(firing.path).toBe('/hooks/vantage')
    expect(firing.headers['content-type']).toBe('application/json')
    expect(firing.headers['x-vantage-signature']).toBe(signWebhook(SECRET, firing.raw))
    expect(firing.headers['x-vantage-timestamp']).toBe(String(T0 / 1000))
    expect(verify(firing, time)).toMatchObject({ ok: true })
    expect(firing.json).toEqual({
      severity: 'page',
      source: 'vantage',
      summary: 'shop (http https://shop.example/) is down from 2 of 3 voting vantages: eu, us',
      alertname: 'QuorumOutage',
      labels: { alertname: 'QuorumOutage', check: 'shop', type: 'http', target: 'https://shop.example/', severity: 'page' },
      annotations: {
        summary: 'shop (http https://shop.example/) is down from 2 of 3 voting vantages: eu, us',
        description: 'eu: connect ECONNREFUSED 192.0.2.1:443 (ECONNREFUSED)\nus: HTTP 503 (STATUS_MISMATCH)',
        failing_vantages: 'eu,us',
        runbook_url: 'https://wiki.example/shop',
      },
      status: 'firing',
      starts_at: new Date(T0 - 60_000).toISOString(),
      ends_at: null,
      fingerprint: expect.any(String),
      generator_url: 'http://hub.test:8080/review?check=shop',
      delivery_id: firing.headers['x-vantage-delivery'],
      sent_at: T0 / 1000,
    })
    await eventually('the delivery counted', async () => (await sent('ok')) === 1)

    await time.advance(30_000)
    source.set(snapshot([view('shop')]))
    alerting!.evaluate()
    const resolved = await eventually('the resolved alert', () => server.received[1])
    expect(verify(resolved, time)).toMatchObject({ ok: true })
    expect(resolved.json).toMatchObject({ status: 'resolved', alertname: 'QuorumOutage', ends_at: new Date(T0 + 30_000).toISOString() })
    expect(resolved.json.delivery_id).not.toBe(firing.json.delivery_id)
    await eventually('both deliveries counted', async () => (await sent('ok')) === 2)
  })

  it('the receiver rejects tampered bodies, wrong secrets and replays', async () => {
    const { time } = start()
    const r = await eventually('the firing alert', () => server.received[0])
    const tampered = Buffer.from(r.raw.toString().replace('"severity":"page"', '"severity":"info"'))
    expect(verifyWebhook(SECRET, tampered, r.headers, time.now() / 1000)).toEqual({ ok: false, reason: 'bad signature' })
    expect(verifyWebhook('another-secret', r.raw, r.headers, time.now() / 1000)).toEqual({ ok: false, reason: 'bad signature' })
    expect(verifyWebhook(SECRET, r.raw, { ...r.headers, 'x-vantage-signature': undefined }, time.now() / 1000)).toMatchObject({ ok: false })
    // The same delivery replayed 10 minutes later.
    expect(verifyWebhook(SECRET, r.raw, r.headers, time.now() / 1000 + 600)).toEqual({ ok: false, reason: 'stale or future timestamp (replay?)' })
    // A fresh timestamp header on an old body does not help: the signed body carries sent_at.
    expect(verifyWebhook(SECRET, r.raw, { ...r.headers, 'x-vantage-timestamp': String(time.now() / 1000 + 600) }, time.now() / 1000 + 600)).toEqual({
      ok: false,
      reason: 'timestamp header differs from sent_at',
    })
  })

  it('retries 5xx with backoff, each attempt freshly signed under one delivery id; drops what the receiver refuses', async () => {
    server.respond(503, 502)
    const { time, source, sent } = start()
    await eventually('the first attempt', async () => (await sent('error')) === 1)
    await time.advance(1000)
    await eventually('the second attempt', async () => (await sent('error')) === 2)
    await time.advance(1999)
    expect(server.received).toHaveLength(2)
    await time.advance(1)
    await eventually('delivered on the third attempt', async () => (await sent('ok')) === 1)
    expect(server.received.map((r) => r.status)).toEqual([503, 502, 200])
    expect(new Set(server.received.map((r) => r.json.delivery_id)).size).toBe(1)
    expect(server.received.map((r) => r.json.sent_at)).toEqual([T0 / 1000, T0 / 1000 + 1, T0 / 1000 + 3])
    for (const r of server.received) expect(verifyWebhook(SECRET, r.raw, r.headers, (r.json.sent_at as number) + 1)).toMatchObject({ ok: true })

    // A 400 is the receiver saying no: dropped, not retried.
    server.respond(400)
    source.set(snapshot([view('shop')]))
    alerting!.evaluate()
    await eventually('the refused resolve', async () => (await sent('rejected')) === 1)
    await time.advance(60_000)
    expect(server.received).toHaveLength(4)
    expect(alerting!.pending()).toEqual({ webhook: 0 })
  })

  it('re-sends at once when what the alert says changes, not when only its prose does', async () => {
    const { time, source } = start()
    await eventually('the firing alert', () => server.received[0])
    // Another error text from the same failing vantages: news for nobody.
    source.set(snapshot([outageView(T0 - 60_000, { vantages: [vantage('eu', 'down', { error: 'timeout after 10001 ms' }), vantage('us', 'down'), vantage('edge', 'up')] })]))
    alerting!.evaluate()
    await time.advance(59_000)
    expect(server.received).toHaveLength(1)
    // A third vantage fails: sent at once.
    source.set(snapshot([outageView(T0 - 60_000, { down: 3, vantages: [vantage('eu', 'down'), vantage('us', 'down'), vantage('edge', 'down')] })]))
    alerting!.evaluate()
    const update = await eventually('the update', () => server.received[1])
    expect((update.json.annotations as Record<string, string>).failing_vantages).toBe('eu,us,edge')
    expect(update.json.starts_at).toBe(new Date(T0 - 60_000).toISOString())
    // And every resend_interval (1m) after.
    await time.advance(60_000)
    await eventually('the re-send', () => server.received[2])
    expect(server.received[2].json.status).toBe('firing')
  })

  it('without a secret the messages are sent unsigned', async () => {
    start(null)
    const r = await eventually('the firing alert', () => server.received[0])
    expect(r.headers['x-vantage-signature']).toBeUndefined()
    expect(r.headers['x-vantage-timestamp']).toBe(String(T0 / 1000))
    expect(r.json.status).toBe('firing')
  })
})
