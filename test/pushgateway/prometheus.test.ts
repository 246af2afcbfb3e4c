// A real Prometheus (Debian's package) scrapes the hub's /pushgateway/metrics with
// honor_labels: true, every second; a sample pushed over HTTP and the synthetic_probe_success
// the hub fed from a signed batch (POST /v1/results) come back through its query API with the
// pushed labels (job and vantage from the grouping key, no instance label: the empty one means none).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Hub } from '../../hub/server.ts'
import type { KeyPair } from '../../proto/keys.ts'
import { makeKeys, postBatch, result, sign, startTestHub, tempDir, type TestDir } from '../hub/helpers.ts'
import { freePort, send } from './helpers.ts'

const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus'

interface Series {
  metric: Record<string, string>
  value: [number, string]
}

async function query(base: string, q: string): Promise<Series[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`)
  const body = (await res.json()) as { status: string; data: { result: Series[] } }
  return body.data.result
}

async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`not there within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

describe.skipIf(!existsSync(PROMETHEUS_BIN))('a real Prometheus scrapes /pushgateway/metrics', () => {
  let hub: Hub
  let prom: ChildProcess
  let promUrl: string
  let tmp: TestDir
  let agentKeys: KeyPair

  beforeAll(async () => {
    tmp = tempDir('vantage-prom-')
    agentKeys = (await makeKeys(tmp, ['hub', 'eu-1']))['eu-1']
    hub = await startTestHub(
      tmp,
      `hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
checks:
  - { name: shop-home, type: http, target: "https://shop.example/", interval: 30s }
`,
    )
    const target = new URL(hub.httpUrl).host
    const config = join(tmp.dir, 'prometheus.yml')
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: vantage-pushgateway',
        '    honor_labels: true',
        '    metrics_path: /pushgateway/metrics',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    )
    const port = await freePort()
    promUrl = `http://127.0.0.1:${port}`
    prom = spawn(
      PROMETHEUS_BIN,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(tmp.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: 'ignore' },
    )
    await eventually(async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 30_000)
  })

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      await new Promise<void>((resolve) => {
        prom.once('exit', () => resolve())
        prom.kill('SIGTERM')
      })
    }
    await hub?.close()
    tmp?.cleanup()
  })

  it('reads back a pushed sample and a fed synthetic_probe_success', async () => {
    const pg = `${hub.httpUrl}/pushgateway`
    const pushed = await send(pg, 'PUT', '/metrics/job/nightly-backup/host@base64/ZGIvMQ', '# HELP backup_last_success_seconds Last success.\n# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds 1700000000\n')
    expect(pushed.status).toBe(200)
    const agent = { id: 'eu-1', vantage: 'eu-west', keys: agentKeys, seq: 0 }
    const fed = await postBatch(hub, await sign(agent, [result({ check: 'shop-home', vantage: 'eu-west', agent_id: 'eu-1' })]))
    expect(fed.status).toBe(200)

    const backup = await eventually(async () => {
      const r = await query(promUrl, 'backup_last_success_seconds')
      return r.length > 0 ? r : undefined
    }, 30_000)
    expect(backup).toHaveLength(1)
    expect(backup[0].metric).toEqual({ __name__: 'backup_last_success_seconds', job: 'nightly-backup', host: 'db/1' })
    expect(Number(backup[0].value[1])).toBe(1700000000)

    const success = await eventually(async () => {
      const r = await query(promUrl, 'synthetic_probe_success{check="shop-home"}')
      return r.length > 0 ? r : undefined
    }, 30_000)
    expect(success[0].metric).toEqual({
      __name__: 'synthetic_probe_success',
      job: 'synthetic-probe',
      vantage: 'eu-west',
      check: 'shop-home',
      type: 'http',
      target: 'https://shop.example/',
      region: 'eu',
    })
    expect(success[0].value[1]).toBe('1')

    // The scrape itself is healthy, and push_time_seconds is there per group.
    const up = await query(promUrl, 'up{job="vantage-pushgateway"}')
    expect(up[0]?.value[1]).toBe('1')
    const pushTimes = await eventually(async () => {
      const r = await query(promUrl, 'push_time_seconds')
      return r.length >= 2 ? r : undefined
    }, 10_000)
    expect(pushTimes.map((s) => s.metric.job).sort()).toEqual(['nightly-backup', 'synthetic-probe'])
  })
})
