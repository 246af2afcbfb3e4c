// Our Pushgateway beyond the differential test: persistence across restarts, the bearer token,
// the body size limit, the per-group cap, the TTL, the hub's feed API, forwarding to a real
// Pushgateway (with retries), and the cases where we deliberately differ from 1.5.1 because the
// real one breaks its own scrape.
import { gzipSync } from 'node:zlib'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../helpers/alertmanager.ts'
import { Forwarder } from '../../hub/pushgateway/forward.ts'
import { PushStore } from '../../hub/pushgateway/store.ts'
import {
  freePort,
  normaliseApiMetrics,
  normaliseScrape,
  pushgatewayAvailable,
  send,
  startOurPushgateway,
  startRealPushgateway,
  tempDir,
  type OurPushgateway,
  type RealPushgateway,
} from './helpers.ts'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function ours(opts: Parameters<typeof startOurPushgateway>[0] = {}): Promise<OurPushgateway> {
  const pg = await startOurPushgateway(opts)
  cleanups.push(() => pg.stop())
  return pg
}

function dir(): string {
  const t = tempDir()
  cleanups.push(() => t.cleanup())
  return t.dir
}

describe('persistence', () => {
  it('keeps every group, family, HELP and push time across a restart', async () => {
    const file = join(dir(), 'pushgateway.db')
    const first = await startOurPushgateway({ store: { file } })
    const pushes: [string, string, string][] = [
      ['PUT', '/metrics/job/a/instance/i1', '# HELP m A metric.\n# TYPE m gauge\nm{x="1"} 1\nm{x="2"} NaN\n'],
      ['PUT', '/metrics/job/b/path@base64/L3Zhci90bXA', '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count 3\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 2\n'],
      ['PUT', '/metrics/job/c', 'ts 1 123\n'],
      ['POST', '/metrics/job/a/instance/i1', 'other 5\n'],
      ['PUT', '/metrics/job/d', 'gone 1\n'],
      ['DELETE', '/metrics/job/d', ''],
    ]
    for (const [m, p, b] of pushes) await send(first.url, m, p, b)
    const scrape = (await send(first.url, 'GET', '/metrics')).body
    const api = (await send(first.url, 'GET', '/api/v1/metrics')).body
    await first.stop()

    const second = await ours({ store: { file } })
    expect((await send(second.url, 'GET', '/metrics')).body).toBe(scrape)
    expect((await send(second.url, 'GET', '/api/v1/metrics')).body).toBe(api)
    expect(scrape).toContain('m{instance="i1",job="a",x="2"} NaN')
    expect(scrape).not.toContain('gone')
    // The restored store keeps checking consistency against what it restored.
    const clash = await send(second.url, 'PUT', '/metrics/job/e', '# TYPE m counter\nm 1\n')
    expect(clash.status).toBe(400)
  })
})

describe('bearer token for writes', () => {
  it('refuses PUT/POST/DELETE without the token, keeps reads open', async () => {
    const pg = await ours({ plugin: { token: 's3cret' } })
    const none = await send(pg.url, 'PUT', '/metrics/job/t', 'm 1\n')
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toContain('Bearer')
    expect((await send(pg.url, 'PUT', '/metrics/job/t', 'm 1\n', { authorization: 'Bearer wrong' })).status).toBe(401)
    expect((await send(pg.url, 'PUT', '/metrics/job/t', 'm 1\n', { authorization: 'Basic czNjcmV0' })).status).toBe(401)
    expect((await send(pg.url, 'PUT', '/metrics/job/t', 'm 1\n', { authorization: 'Bearer s3cret' })).status).toBe(200)
    expect((await send(pg.url, 'POST', '/metrics/job/t', 'n 1\n')).status).toBe(401)
    expect((await send(pg.url, 'DELETE', '/metrics/job/t')).status).toBe(401)
    const scrape = await send(pg.url, 'GET', '/metrics')
    expect(scrape.status).toBe(200)
    expect(scrape.body).toContain('m{instance="",job="t"} 1')
    expect((await send(pg.url, 'GET', '/api/v1/metrics')).status).toBe(200)
    expect((await send(pg.url, 'DELETE', '/metrics/job/t', undefined, { authorization: 'bearer s3cret' })).status).toBe(202)
    expect((await send(pg.url, 'GET', '/metrics')).body).not.toContain('job="t"')
  })

  it('reads the token per request (a config reload changes it)', async () => {
    let token: string | null = 'one'
    const pg = await ours({ plugin: { token: () => token } })
    expect((await send(pg.url, 'PUT', '/metrics/job/t', 'm 1\n', { authorization: 'Bearer one' })).status).toBe(200)
    token = 'two'
    expect((await send(pg.url, 'PUT', '/metrics/job/t', 'm 1\n', { authorization: 'Bearer one' })).status).toBe(401)
    token = null
    expect((await send(pg.url, 'PUT', '/metrics/job/t', 'm 1\n')).status).toBe(200)
  })
})

describe('limits', () => {
  it('refuses a body over the size limit with 413, and a gzip body that inflates past it with 400', async () => {
    const pg = await ours({ plugin: { maxBodyBytes: 1024 } })
    const big = 'm{x="' + 'a'.repeat(2000) + '"} 1\n'
    const res = await send(pg.url, 'PUT', '/metrics/job/big', big)
    expect(res.status).toBe(413)
    expect(res.body).toContain('1024')
    const bomb = gzipSync('m{x="' + 'a'.repeat(100_000) + '"} 1\n')
    expect(bomb.length).toBeLessThan(1024)
    const inflated = await send(pg.url, 'PUT', '/metrics/job/big', bomb, { 'content-encoding': 'gzip' })
    expect(inflated.status).toBe(400)
    expect(inflated.body).toContain('too large')
    expect((await send(pg.url, 'PUT', '/metrics/job/big', 'm 1\n')).status).toBe(200)
  })

  it('caps families and samples per group; the refusal is stamped as a failure', async () => {
    const pg = await ours({ store: { maxFamiliesPerGroup: 3, maxSamplesPerGroup: 10 } })
    expect((await send(pg.url, 'PUT', '/metrics/job/cap', 'a 1\nb 1\nc 1\n')).status).toBe(200)
    const tooMany = await send(pg.url, 'POST', '/metrics/job/cap', 'd 1\n')
    expect(tooMany.status).toBe(400)
    expect(tooMany.body).toContain('more than the per-group cap of 3')
    const lines = Array.from({ length: 11 }, (_, i) => `s{i="${i}"} 1`).join('\n') + '\n'
    const tooBig = await send(pg.url, 'PUT', '/metrics/job/cap', lines)
    expect(tooBig.status).toBe(400)
    expect(tooBig.body).toContain('11 samples, more than the per-group cap of 10')
    const scrape = (await send(pg.url, 'GET', '/metrics')).body
    expect(scrape).toContain('c{instance="",job="cap"} 1')
    expect(scrape).not.toMatch(/push_failure_time_seconds\{instance="",job="cap"\} 0\n/)
    const api = JSON.parse((await send(pg.url, 'GET', '/api/v1/metrics')).body)
    expect(api.data[0].last_push_successful).toBe(false)
  })
})

describe('grouping-key TTL', () => {
  it('is off by default, and when set drops groups whose last push is older', async () => {
    let now = 1_800_000_000_000
    const file = join(dir(), 'ttl.db')
    const pg = await ours({ store: { file, ttlMs: 60_000, now: () => now } })
    await send(pg.url, 'PUT', '/metrics/job/old', 'm 1\n')
    now += 30_000
    await send(pg.url, 'PUT', '/metrics/job/young', 'm 2\n')
    now += 31_000
    const scrape = (await send(pg.url, 'GET', '/metrics')).body
    expect(scrape).not.toContain('job="old"')
    expect(scrape).toContain('m{instance="",job="young"} 2')
    // A failed push counts as a push for the TTL too.
    now += 50_000
    expect((await send(pg.url, 'PUT', '/metrics/job/young', 'm 1 5\n')).status).toBe(400)
    now += 20_000
    expect((await send(pg.url, 'GET', '/metrics')).body).toContain('job="young"')
    now += 61_000
    expect((await send(pg.url, 'GET', '/metrics')).body).toBe('')
    await pg.stop()
    cleanups.pop()
    // Expired groups are gone from the file as well.
    const reopened = PushStore.open({ file, now: () => now })
    expect(reopened.size).toBe(0)
    reopened.close()

    const forever = PushStore.open({ now: () => now })
    forever.replaceGroup({ job: 'j' }, [])
    now += 10 * 365 * 86_400_000
    expect(forever.size).toBe(1)
    forever.close()
  })
})

describe('the hub feed API', () => {
  it('replaces a whole group per call, with the DESIGN.md families and labels', async () => {
    const pg = await ours()
    const labels = { check: 'shop-home', type: 'http', target: 'https://shop.example/', vantage: 'eu-west', region: 'eu' }
    const fam = (name: string, value: number, extra: Record<string, string> = {}) => ({
      name,
      help: `Help of ${name}.`,
      type: 'gauge' as const,
      samples: [{ labels: { ...labels, ...extra }, value }],
    })
    const first = pg.store.replaceGroup({ job: 'synthetic-probe', vantage: 'eu-west' }, [
      fam('synthetic_probe_success', 1),
      fam('synthetic_probe_duration_seconds', 0.25),
      fam('synthetic_probe_tls_version_info', 1, { version: 'TLS 1.3' }),
    ])
    expect(first).toEqual({ ok: true })
    let scrape = (await send(pg.url, 'GET', '/metrics')).body
    expect(scrape).toContain('# HELP synthetic_probe_success Help of synthetic_probe_success.\n# TYPE synthetic_probe_success gauge\n')
    expect(scrape).toContain(
      'synthetic_probe_success{check="shop-home",instance="",job="synthetic-probe",region="eu",target="https://shop.example/",type="http",vantage="eu-west"} 1\n',
    )
    expect(scrape).toContain('version="TLS 1.3"')
    // The next batch replaces the group: families it does not carry are gone.
    pg.store.replaceGroup({ job: 'synthetic-probe', vantage: 'eu-west' }, [fam('synthetic_probe_success', 0)])
    scrape = (await send(pg.url, 'GET', '/metrics')).body
    expect(scrape).toContain('job="synthetic-probe",region="eu",target="https://shop.example/",type="http",vantage="eu-west"} 0\n')
    expect(scrape).not.toContain('synthetic_probe_duration_seconds')
    // Checked like any push: a clash is returned, not thrown, and stamped as a failure.
    await send(pg.url, 'PUT', '/metrics/job/batch', '# TYPE journey_up counter\njourney_up 1\n')
    const clash = pg.store.replaceGroup({ job: 'synthetic-journey', vantage: 'eu-west' }, [fam('journey_up', 1)])
    expect(clash.ok).toBe(false)
    expect(() => pg.store.replaceGroup({ vantage: 'x' }, [])).toThrow(/job/)
    pg.store.deleteGroup({ job: 'synthetic-probe', vantage: 'eu-west' })
    expect((await send(pg.url, 'GET', '/metrics')).body).not.toContain('synthetic_probe_success')
  })
})

describe('where we differ from 1.5.1 on purpose (it breaks its own scrape there)', () => {
  it('does not record a failure whose stamp would be inconsistent', async () => {
    const pg = await ours()
    // A grouping label that is not UTF-8: refused, and the scrape still works.
    const res = await send(pg.url, 'PUT', '/metrics/job/t/a/%FF', 'x 1\n')
    expect(res.status).toBe(400)
    expect(res.body).toContain('whose value is not utf8: "\\xff"')
    // {job="x"} and {job="x",instance=""} expose the same push_time_seconds series.
    expect((await send(pg.url, 'PUT', '/metrics/job/x/instance/', 'inst 1\n')).status).toBe(200)
    expect((await send(pg.url, 'PUT', '/metrics/job/x', 'inst 2\n')).status).toBe(400)
    const scrape = await send(pg.url, 'GET', '/metrics')
    expect(scrape.status).toBe(200)
    expect(scrape.body).toContain('inst{instance="",job="x"} 1')
    expect(scrape.body).not.toContain('a="\xff"')
  })

  it('refuses gauge histograms, which the text format cannot expose', async () => {
    const pg = await ours()
    const res = await send(pg.url, 'PUT', '/metrics/job/gh', '# TYPE gh gauge_histogram\ngh 1\n')
    expect(res.status).toBe(400)
    expect(res.body).toContain('GAUGE_HISTOGRAM')
    expect((await send(pg.url, 'GET', '/metrics')).status).toBe(200)
  })
})

describe.skipIf(!pushgatewayAvailable)('forwarding to an external Pushgateway', () => {
  it('sends every group (base64 paths, protobuf) and deletions, and retries until it is up', async () => {
    const port = await freePort()
    const pg = await ours()
    const forwarder = new Forwarder({ url: `http://127.0.0.1:${port}/pushgateway`, store: pg.store, minBackoffMs: 50, maxBackoffMs: 200, retries: 100 })
    cleanups.push(() => forwarder.close())

    // The external Pushgateway is down at first: the forwarder retries.
    await send(pg.url, 'PUT', '/metrics/job/fw/path@base64/L3Zhci90bXA/empty@base64/=', '# HELP fw_m A metric.\n# TYPE fw_m gauge\nfw_m{k="v\\"q"} 1.5\n')
    await new Promise((r) => setTimeout(r, 300))
    expect(forwarder.stats.retried).toBeGreaterThan(0)
    let real: RealPushgateway | undefined
    real = await startRealPushgateway({ port })
    cleanups.push(() => real!.stop())
    await forwarder.idle()

    await send(pg.url, 'PUT', '/metrics/job/fw2', '# TYPE fw_s summary\nfw_s{quantile="0.9"} 2\nfw_s_sum 3\nfw_s_count 4\n# TYPE fw_h histogram\nfw_h_bucket{le="1"} 1\nfw_h_sum 2\nfw_h_count 3\n')
    await send(pg.url, 'PUT', '/metrics/job/fw3', 'fw_gone 1\n')
    pg.store.replaceGroup({ job: 'synthetic-probe', vantage: 'eu-west' }, [
      { name: 'synthetic_probe_success', type: 'gauge', help: 'Probe success.', samples: [{ labels: { check: 'c', vantage: 'eu-west' }, value: 1 }] },
    ])
    await send(pg.url, 'DELETE', '/metrics/job/fw3')
    await forwarder.idle()

    // The Pushgateway answers a DELETE 202 and applies it a moment later: wait until it has.
    const mine = normaliseScrape((await send(pg.url, 'GET', '/metrics')).body)
    const theirs = await eventually('the external Pushgateway to apply the deletion', async () => {
      const scraped = normaliseScrape((await send(real!.url, 'GET', '/metrics')).body)
      return scraped.includes('fw_gone') ? undefined : scraped
    })
    expect(theirs).toBe(mine)
    expect(theirs).toContain('fw_m{empty="",instance="",job="fw",k="v\\"q",path="/var/tmp"} 1.5')
    expect(theirs).not.toContain('fw_gone')
    expect(normaliseApiMetrics((await send(real.url, 'GET', '/api/v1/metrics')).body)).toBe(
      normaliseApiMetrics((await send(pg.url, 'GET', '/api/v1/metrics')).body),
    )
    expect(forwarder.stats.failed).toBe(0)
  })

  it('gives up on what the external Pushgateway refuses (4xx), without retrying', async () => {
    const real = await startRealPushgateway()
    cleanups.push(() => real.stop())
    await send(real.url, 'PUT', '/metrics/job/theirs', '# TYPE clash counter\nclash 1\n')
    const pg = await ours()
    const forwarder = new Forwarder({ url: real.url, store: pg.store, minBackoffMs: 10 })
    cleanups.push(() => forwarder.close())
    await send(pg.url, 'PUT', '/metrics/job/mine', '# TYPE clash gauge\nclash 1\n')
    await forwarder.idle()
    expect(forwarder.stats.failed).toBe(1)
    expect(forwarder.stats.retried).toBe(0)
  })
})
