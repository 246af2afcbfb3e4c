// A real Prometheus (Debian's package) on loopback for the suites that read our metrics back
// through its query API: its own config and TSDB in a temp dir, scraping every second, ready
// when /-/ready answers. Stopped by its own pid.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './alertmanager.ts'

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus'
export const prometheusPresent = existsSync(PROMETHEUS_BIN)

export interface ScrapeTarget {
  job: string
  /** host:port */
  target: string
  metrics_path?: string
  honor_labels?: boolean
}

/** One series of an instant query. */
export interface Series {
  metric: Record<string, string>
  value: [number, string]
}

export interface PrometheusProcess {
  url: string
  log(): string
  /** GET /api/v1/query (an instant query, now). */
  query(promql: string): Promise<Series[]>
  stop(): Promise<void>
}

/** A scrape config for `targets`, scraped and evaluated every second. */
export function prometheusConfig(targets: ScrapeTarget[]): string {
  const lines = ['global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', 'scrape_configs:']
  for (const t of targets) {
    lines.push(`  - job_name: ${JSON.stringify(t.job)}`)
    if (t.metrics_path) lines.push(`    metrics_path: ${JSON.stringify(t.metrics_path)}`)
    if (t.honor_labels) lines.push('    honor_labels: true')
    lines.push('    static_configs:', `      - targets: [${JSON.stringify(t.target)}]`)
  }
  return `${lines.join('\n')}\n`
}

export async function startPrometheus(targets: ScrapeTarget[]): Promise<PrometheusProcess> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'vantage-prometheus-'))
  const configFile = join(dir, 'prometheus.yml')
  writeFileSync(configFile, prometheusConfig(targets))
  const child = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let log = ''
  child.stdout!.on('data', (c: Buffer) => void (log += c.toString()))
  child.stderr!.on('data', (c: Buffer) => void (log += c.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) {
      await stop()
      throw new Error(`prometheus exited (${child.exitCode}) before ready:\n${log}`)
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`prometheus not ready within 30 s:\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }

  return {
    url,
    log: () => log,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = (await res.json()) as { status: string; error?: string; data?: { result: Series[] } }
      if (body.status !== 'success') throw new Error(`query ${promql}: ${body.error ?? res.status}`)
      return body.data!.result
    },
    stop,
  }
}
