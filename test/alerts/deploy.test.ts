// deploy/prometheus and deploy/alertmanager, checked by the real tools (Debian's promtool and
// amtool), and the rules' behaviour by `promtool test rules`. The runbooks every alert links to
// exist.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { ALERT_NAMES } from '../../hub/alerts/model.ts'
import { ROOT } from '../helpers/processes.ts'

const run = promisify(execFile)
const DEPLOY = join(ROOT, 'deploy')

async function tool(bin: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(bin, args, { cwd: ROOT })
    return stdout + stderr
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${bin} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`)
  }
}

describe('deploy/prometheus and deploy/alertmanager', () => {
  it('promtool check config: both hub targets, honor_labels on the Pushgateway one, Alertmanager, rule files', async () => {
    const out = await tool('/usr/bin/promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml'])
    expect(out).toContain('SUCCESS')
    const cfg = parse(readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path: string; honor_labels?: boolean }[]
      alerting: { alertmanagers: unknown[] }
      rule_files: string[]
    }
    expect(cfg.scrape_configs.map((s) => [s.metrics_path, s.honor_labels ?? false])).toEqual([
      ['/metrics', false],
      ['/pushgateway/metrics', true],
    ])
    expect(cfg.alerting.alertmanagers).toHaveLength(1)
    expect(cfg.rule_files).toEqual(['rules/*.yml'])
  })

  it('promtool check rules: the hub’s alerts, each with a runbook_url', async () => {
    const out = await tool('/usr/bin/promtool', ['check', 'rules', 'deploy/prometheus/rules/vantage.yml'])
    expect(out).toContain('SUCCESS')
    const rules = (parse(readFileSync(join(DEPLOY, 'prometheus', 'rules', 'vantage.yml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[]
    }).groups.flatMap((g) => g.rules)
    expect(new Set(rules.map((r) => r.alert))).toEqual(new Set([...ALERT_NAMES, 'VantageHubDown']))
    for (const r of rules) expect(r.annotations.runbook_url, r.alert).toMatch(new RegExp(`/runbooks/${r.alert}\\.md$`))
    const exprs = rules.map((r) => r.expr).join('\n')
    for (const metric of [
      'synthetic_check_outage',
      'synthetic_check_state{state="unknown"}',
      'synthetic_check_vantages{vote="challenged"}',
      'synthetic_vantage_last_seen_timestamp_seconds',
      'synthetic_probe_ssl_earliest_cert_expiry',
    ]) {
      expect(exprs).toContain(metric)
    }
  })

  it('promtool test rules: the rules fire as the hub’s alerts do', async () => {
    const out = await tool('/usr/bin/promtool', ['test', 'rules', 'test/fixtures/prometheus/vantage-rules.test.yml'])
    expect(out).toContain('SUCCESS')
  })

  it('amtool check-config: the example Alertmanager config', async () => {
    const out = await tool('/usr/bin/amtool', ['check-config', 'deploy/alertmanager/alertmanager.yml'])
    expect(out).toContain('SUCCESS')
  })

  it('every alert has a runbook in deploy/runbooks', () => {
    for (const name of [...ALERT_NAMES, 'VantageHubDown']) expect(existsSync(join(DEPLOY, 'runbooks', `${name}.md`)), name).toBe(true)
  })
})
