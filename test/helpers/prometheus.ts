// A real Prometheus (Debian's package) on loopback for the suites that read our metrics back
// through its query API: its own config and TSDB in a temp dir, scraping every second, ready
// when /-/ready answers. Stopped by its own pid.
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from './alertmanager.ts'
import { startLoopbackDaemon } from './loopback-daemon.ts'

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
  const { url, log, stop } = await startLoopbackDaemon({
    name: 'prometheus',
    bin: PROMETHEUS_BIN,
    port,
    readyWithinMs: 30_000,
    args: (dir) => {
      const configFile = join(dir, 'prometheus.yml')
      writeFileSync(configFile, prometheusConfig(targets))
      return [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn']
    },
  })

  return {
    url,
    log,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = (await res.json()) as { status: string; error?: string; data?: { result: Series[] } }
      if (body.status !== 'success') throw new Error(`query ${promql}: ${body.error ?? res.status}`)
      return body.data!.result
    },
    stop,
  }
}
