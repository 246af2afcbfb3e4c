// Runbooks: every alert the hub can fire (hub/alerts/model.ts ALERT_NAMES) and every alert of the
// Prometheus rules (deploy/prometheus/rules/*.yml) has deploy/runbooks/<Alert>.md, links to it in
// `runbook_url`, and a running hub serves it. The runbooks name the units, services and
// workloads deploy/ really ships. The hub-health rules behave as their runbooks say
// (promtool test rules).
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALERT_NAMES } from '../../hub/alerts/model.ts'
import { evaluateRules } from '../../hub/alerts/rules.ts'
import type { Hub } from '../../hub/server.ts'
import { DAY, hubConfig, snapshot, T0, tls, vantage, view } from '../alerts/fixtures.ts'
import { ROOT } from '../helpers/processes.ts'
import { startTestHub, tempDir, type TestDir } from '../hub/helpers.ts'
import { DEPLOY, readRules, readText, readYamlDocs } from './helpers.ts'

const run = promisify(execFile)
const RUNBOOKS = join(DEPLOY, 'runbooks')

const ruleAlerts = () => [...new Set(readRules().flatMap((r) => (r.alert ? [r.alert] : [])))]
const allAlerts = () => [...new Set([...ALERT_NAMES, ...ruleAlerts()])].sort()

let t: TestDir
let hub: Hub

beforeAll(async () => {
  t = tempDir('vantage-runbooks-')
  hub = await startTestHub(t, 'listen: { http: 127.0.0.1:0, grpc: 127.0.0.1:0 }\ndata: ./data\n')
})

afterAll(async () => {
  await hub?.close()
  t?.cleanup()
})

describe('runbooks', () => {
  it('every alert of the hub and of the rules has deploy/runbooks/<Alert>.md, and every runbook an alert', () => {
    const alerts = allAlerts()
    expect(alerts).toEqual(expect.arrayContaining([...ALERT_NAMES, 'VantageHubDown', 'VantageStoreErrors', 'VantageAlertDeliveryFailing']))
    for (const name of alerts) {
      const file = join(RUNBOOKS, `${name}.md`)
      expect(existsSync(file), `${name}: ${file}`).toBe(true)
      const text = readFileSync(file, 'utf8')
      expect(text.split('\n')[0], file).toBe(`# ${name}`)
      expect(text, file).toMatch(/^## Look$/m)
      expect(text, file).toMatch(/^## Act$/m)
    }
    const runbooks = readdirSync(RUNBOOKS).filter((f) => f.endsWith('.md')).map((f) => f.slice(0, -3)).sort()
    expect(runbooks).toEqual(alerts)
  })

  it('every rule carries runbook_url pointing at its runbook', () => {
    for (const r of readRules()) {
      if (!r.alert) continue
      expect(r.annotations?.runbook_url, `${r.file}: ${r.alert}`).toMatch(new RegExp(`^https?://[^/]+/runbooks/${r.alert}\\.md$`))
      expect(r.annotations?.summary, `${r.file}: ${r.alert}`).toBeTruthy()
      expect(r.labels?.severity, `${r.file}: ${r.alert}`).toMatch(/^(warning|critical)$/)
    }
  })

  it('every alert the hub fires carries runbook_url: the hub’s runbook by default, the check’s when set', () => {
    const config = hubConfig(
      `  - { name: api, type: http, target: "https://api.example/", interval: 30s }
  - { name: unk, type: http, target: "https://unk.example/", interval: 30s }
  - { name: waf, type: http, target: "https://waf.example/", interval: 30s }
  - { name: cert, type: http, target: "https://cert.example/", interval: 30s }
  - { name: own, type: http, target: "https://own.example/", interval: 30s, runbook_url: "https://wiki.example/own" }`,
    )
    const snap = snapshot(
      [
        view('api', { state: 'outage', vantages: [vantage('eu', 'down', { error: 'HTTP 503' }, 'api'), vantage('us', 'down', {}, 'api'), vantage('edge', 'up', {}, 'api')], down: 2 }),
        view('unk', { state: 'unknown', vantages: [vantage('eu', 'stale', {}, 'unk')], eligible: 0 }),
        view('waf', { all_challenged: true, vantages: [vantage('eu', 'challenged', { error_code: 'CHALLENGE_CLOUDFLARE' }, 'waf')] }),
        view('cert', { vantages: [vantage('eu', 'up', { tls: tls(T0 - 80 * DAY, T0 + 3 * DAY) }, 'cert')] }),
        view('own', { state: 'outage', vantages: [vantage('eu', 'down', {}, 'own'), vantage('us', 'down', {}, 'own')], down: 2 }),
      ],
      [{ vantage: 'eu', agent: 'eu-1', last_seen: T0 - 600_000 }],
    )
    const base = `${hub.httpUrl}/runbooks`
    const { conditions } = evaluateRules(snap, { config, now: T0, runbook_base: base })
    const fired = new Set(conditions.map((c) => c.name))
    expect([...fired].sort()).toEqual([...ALERT_NAMES].sort())
    for (const c of conditions) {
      const expected = c.labels.check === 'own' ? 'https://wiki.example/own' : `${base}/${c.name}.md`
      expect(c.annotations.runbook_url, `${c.name} ${c.labels.check ?? ''}`).toBe(expected)
    }
  })

  it('the hub serves every runbook under /runbooks', async () => {
    for (const name of allAlerts()) {
      const res = await fetch(`${hub.httpUrl}/runbooks/${name}.md`)
      expect(res.status, name).toBe(200)
      expect(await res.text()).toBe(readFileSync(join(RUNBOOKS, `${name}.md`), 'utf8'))
    }
  })

  it('the systemd units, compose services and Kubernetes workloads the runbooks name exist', () => {
    const units = readdirSync(join(DEPLOY, 'systemd')).filter((f) => f.endsWith('.service')).map((f) => f.slice(0, -'.service'.length))
    const compose = Object.keys(readYamlDocs<{ services: Record<string, unknown> }>('compose.yaml')[0].services)
    const k8s = readdirSync(join(DEPLOY, 'k8s'))
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => readYamlDocs<{ kind: string; metadata?: { name: string } }>('k8s', f))
      .filter((d) => d.metadata)
      .map((d) => `${d.kind.toLowerCase()}/${d.metadata!.name}`)
    for (const file of readdirSync(RUNBOOKS)) {
      const text = readText('runbooks', file)
      for (const m of text.matchAll(/systemctl \w+ ([\w-]+)|journalctl -u ([\w-]+)/g)) expect(units, `${file}: ${m[0]}`).toContain(m[1] ?? m[2])
      for (const m of text.matchAll(/docker compose -f deploy\/compose\.yaml (?:\w+) ([\w-]+)/g)) expect(compose, `${file}: ${m[0]}`).toContain(m[1])
      for (const m of text.matchAll(/kubectl -n vantage \w+ ((?:statefulset|deployment|pod)\/[\w<>-]+)/g)) {
        // deployment/vantage-agent-<vantage>: one of the workloads of that name.
        const prefix = m[1].split('<')[0].replace(/^pod\/(vantage-hub)-0$/, 'statefulset/$1')
        expect(k8s.filter((r) => (m[1].includes('<') ? r.startsWith(prefix) : r === prefix)), `${file}: ${m[0]}`).not.toEqual([])
      }
    }
  })

  it('promtool test rules: the hub-health rules fire as their runbooks describe', async () => {
    try {
      const { stdout } = await run('/usr/bin/promtool', ['test', 'rules', 'test/fixtures/prometheus/hub-health-rules.test.yml'], { cwd: ROOT })
      expect(stdout).toContain('SUCCESS')
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string }
      throw new Error(`promtool: ${e.stdout ?? ''}${e.stderr ?? ''}`)
    }
  })
})
