// Every metric name the Grafana dashboard (deploy/grafana/vantage.json) and the Prometheus rules
// (deploy/prometheus/rules/*.yml) query is one a running hub really exposes: a real hub with
// two agents' signed results ingested (HTTP with TLS, a challenged check, a journey with steps, a
// refused batch), scraped on both targets, /metrics and /pushgateway/metrics. And every query
// parses (promtool, with Grafana's variables filled in).
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { stringify } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Hub } from '../../hub/server.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { waitFor } from '../agent/wait.ts'
import { makeKeys, postBatch, result, sign, startTestHub, tempDir, type AgentSigner, type TestDir } from '../hub/helpers.ts'
import { parsePrometheusText } from '../helpers/blackbox.ts'
import { dashboardQueries, metricNames, readDashboard, ruleQueries, type DashboardQuery } from './helpers.ts'

const run = promisify(execFile)

/** Series Prometheus makes itself, not the hub: `up` of a scrape target. */
const PROMETHEUS_OWN = new Set(['up'])

let t: TestDir
let hub: Hub
const exposed = new Map<string, Set<string>>() // name → the endpoints exposing it

beforeAll(async () => {
  t = tempDir('vantage-metric-names-')
  const keys = await makeKeys(t, ['hub', 'eu-1', 'us-1'])
  t.write(
    'journeys/login.js',
    `import http from 'k6/http'\nimport { check, group } from 'k6'\nexport default function () { group('login', () => { check(http.get('http://127.0.0.1:1/'), { ok: (r) => r.status === 200 }) }) }\n`,
  )
  hub = await startTestHub(
    t,
    `listen: { http: 127.0.0.1:0, grpc: 127.0.0.1:0 }
data: ./data
hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
  us-east: { region: us }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
  - { id: us-1, vantage: us-east, public_key: ./keys/us-1.pub.jwk }
checks:
  - { name: shop, type: http, target: "https://shop.example/", interval: 30s }
  - { name: blocked, type: http, target: "https://blocked.example/", interval: 30s }
  - { name: login, type: journey, target: login, interval: 30s, journey: { script: ./journeys/login.js } }
`,
  )
  const now = Date.now()
  const expiry = Math.floor(now / 1000) + 10 * 86400
  const tls = {
    version: 'TLS 1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    chain_valid: true,
    hostname_valid: true,
    earliest_cert_expiry: expiry,
    last_chain_expiry: expiry,
  } as ProbeResult['tls']
  const agents: (AgentSigner & { region: string })[] = [
    { id: 'eu-1', vantage: 'eu-west', region: 'eu', keys: keys['eu-1'], seq: 0 },
    { id: 'us-1', vantage: 'us-east', region: 'us', keys: keys['us-1'], seq: 0 },
  ]
  for (const a of agents) {
    const base = { vantage: a.vantage, region: a.region, agent_id: a.id }
    const results: ProbeResult[] = [
      result({ ...base, check: 'shop', http: { status_code: 200, http_version: '1.1', redirects: 0, final_url: 'https://shop.example/', body_bytes: 10 }, tls }, now),
      result(
        { ...base, check: 'blocked', target: 'https://blocked.example/', success: false, challenged: true, error_code: 'CHALLENGE_CLOUDFLARE', http: { status_code: 403, http_version: '1.1', redirects: 0, final_url: 'https://blocked.example/', body_bytes: 10 } },
        now,
      ),
      result(
        {
          ...base,
          check: 'login',
          type: 'journey',
          target: 'login',
          steps: [{ name: 'login', success: true, challenged: false, duration_seconds: 0.12, status_code: 200, checks: { ok: { passes: 1, fails: 0 } } }],
        } as Partial<ProbeResult> & Pick<ProbeResult, 'check' | 'vantage' | 'agent_id'>,
        now,
      ),
    ]
    const res = await postBatch(hub, await sign(a, results))
    expect(res.status, JSON.stringify(res.json)).toBe(200)
  }
  // One refused batch (an unknown agent), for the rejection counters.
  const stranger = await makeKeys(t, ['stranger'])
  await postBatch(hub, await sign({ id: 'stranger', vantage: 'eu-west', keys: stranger.stranger, seq: 0 }, [result({ check: 'shop', vantage: 'eu-west', agent_id: 'stranger' })]))

  await waitFor(
    async () => {
      exposed.clear()
      for (const path of ['/metrics', '/pushgateway/metrics']) {
        const res = await fetch(`${hub.httpUrl}${path}`)
        if (!res.ok) continue // an endpoint that is not there: its names are simply not exposed
        const text = await res.text()
        const add = (name: string) => exposed.set(name, new Set([...(exposed.get(name) ?? []), path]))
        for (const s of parsePrometheusText(text)) add(s.name)
        // A family without samples yet (a counter no alert has incremented) is still exposed by name.
        for (const m of text.matchAll(/^# TYPE (\S+) /gm)) add(m[1])
      }
      return exposed.has('journey_step_up') && exposed.has('synthetic_probe_ssl_earliest_cert_expiry')
    },
    10_000,
    { intervalMs: 100, describe: () => [...exposed.keys()].join(' ') },
  )
}, 60_000)

afterAll(async () => {
  await hub?.close()
  t?.cleanup()
})

function unknownNames(queries: DashboardQuery[]): string[] {
  const missing: string[] = []
  for (const q of queries) {
    for (const name of metricNames(q.expr)) {
      if (!exposed.has(name) && !PROMETHEUS_OWN.has(name)) missing.push(`${q.where}: ${name}  (in ${q.expr})`)
    }
  }
  return missing
}

describe('metric names in the dashboard and the alert rules', () => {
  it('the extractor finds the names and only the names', () => {
    expect(metricNames('sum by (check) (rate(hub_ingest_batches_total{transport="grpc"}[$__rate_interval])) > 0')).toEqual(['hub_ingest_batches_total'])
    expect(metricNames('max by (check) (a{state="x"} or b * 2 or c offset 5m) * $__range_s')).toEqual(['a', 'b', 'c'])
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) * 1e9')).toEqual(['x_bucket'])
    expect(metricNames('(a == 1) * on (check) group_left (type, target) topk by (check) (1, group by (check, type) (b))')).toEqual(['a', 'b'])
    expect(metricNames('time() - c > 300 unless on (check) d{vote=~"up|down"}')).toEqual(['c', 'd'])
  })

  it('every name the dashboard queries is exposed by the hub', () => {
    const queries = dashboardQueries(readDashboard())
    const names = new Set(queries.flatMap((q) => metricNames(q.expr)))
    // The dashboard covers the quorum view, the probe and journey families and ingest.
    for (const n of ['synthetic_check_state', 'synthetic_probe_success', 'synthetic_probe_ssl_earliest_cert_expiry', 'journey_up', 'hub_ingest_rejected_total']) {
      expect(names, n).toContain(n)
    }
    expect(unknownNames(queries)).toEqual([])
  })

  it('every name the alert rules query is exposed by the hub', () => {
    const queries = ruleQueries()
    expect(queries.length).toBeGreaterThan(5)
    expect(unknownNames(queries)).toEqual([])
  })

  it('the probe and journey families are on the Pushgateway-compatible endpoint', () => {
    for (const n of ['synthetic_probe_success', 'synthetic_probe_duration_seconds', 'journey_up', 'journey_step_duration_seconds']) {
      expect([...(exposed.get(n) ?? [])], n).toContain('/pushgateway/metrics')
    }
  })

  it('every dashboard query parses (promtool check rules, Grafana variables filled in)', async () => {
    const queries = dashboardQueries(readDashboard())
    const fill = (e: string) =>
      e
        .replace(/\$__rate_interval|\$__interval/g, '1m')
        .replace(/\$__range_s/g, '3600')
        .replace(/\$__range/g, '1h')
        .replace(/\$(check|vantage)\b/g, '.*')
    const file = join(t.dir, 'dashboard-queries.yml')
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: fill(q.expr) })) }] }))
    try {
      const { stdout } = await run('/usr/bin/promtool', ['check', 'rules', file])
      expect(stdout).toContain(`SUCCESS: ${queries.length} rules found`)
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string }
      throw new Error(`promtool: ${e.stdout ?? ''}${e.stderr ?? ''}`)
    }
  })
})

describe('the Grafana dashboard', () => {
  it('is importable anywhere: its data source is a variable, ids unique, panels on the 24-column grid without overlaps', () => {
    const d = readDashboard()
    expect(d.uid).toBe('vantage-overview')
    const ds = d.templating.list.find((v) => v.type === 'datasource')!
    expect(ds).toMatchObject({ name: 'datasource', query: 'prometheus' })
    const panels = d.panels as unknown as { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { uid: string }; targets?: { datasource: { uid: string } }[] }[]
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length)
    const cells = new Set<string>()
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24)
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false)
          cells.add(`${x},${y}`)
        }
      }
      if (p.type === 'row') continue
      expect(p.datasource?.uid, p.title).toBe('${datasource}')
      for (const t of p.targets ?? []) expect(t.datasource.uid, p.title).toBe('${datasource}')
    }
  })

  it('shows what the issue asks for: the check × vantage matrix, quorum and incidents, latency, certificates, ingest', () => {
    const panels = readDashboard().panels as unknown as { type: string; title: string; transformations?: { id: string; options: Record<string, string> }[]; fieldConfig?: { defaults: { mappings?: { options: Record<string, { text: string }> }[] } } }[]
    const rows = panels.filter((p) => p.type === 'row').map((p) => p.title)
    expect(rows).toEqual([
      'Quorum: what the hub decided',
      'Check × vantage: what each vantage sees',
      'Latency per vantage',
      'Certificates',
      'Ingest health: agents → hub',
    ])
    const matrix = panels.find((p) => p.title === 'Up / down / challenged')!
    expect(matrix.transformations).toEqual([{ id: 'groupingToMatrix', options: expect.objectContaining({ rowField: 'check', columnField: 'vantage' }) }])
    const texts = Object.values(matrix.fieldConfig!.defaults.mappings![0].options).map((o) => o.text)
    expect(texts).toEqual(['DOWN', 'UP', 'CHALLENGED'])
    const state = panels.find((p) => p.title === 'Quorum state per check')!
    expect(Object.values(state.fieldConfig!.defaults.mappings![0].options).map((o) => o.text)).toEqual(['ok', 'pending', 'outage', 'unknown'])
    for (const title of ['Incidents in the time range', 'Probe duration', 'Days until the first certificate expires', 'Batches rejected', 'Ingest latency']) {
      expect(panels.map((p) => p.title)).toContain(title)
    }
  })
})
