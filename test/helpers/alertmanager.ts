// A real Alertmanager (Debian's prometheus-alertmanager) on loopback, for the alerting suites and
// the end-to-end tests: its own config and storage in a temp dir, clustering off, ready when
// /-/ready answers. Stopped by its own pid.
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { startLoopbackDaemon } from './loopback-daemon.ts'

export const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager'

/** A TCP port free on 127.0.0.1 now (bound to :0, then closed). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * A config routing everything to `webhookUrl` (when given) with short group timings, so a test
 * sees notifications (firing, then resolved) within a second or two.
 */
export function alertmanagerConfig(webhookUrl?: string): string {
  const receiver = webhookUrl
    ? `{ name: test, webhook_configs: [{ url: "${webhookUrl}", send_resolved: true, max_alerts: 0 }] }`
    : '{ name: test }'
  return `route: { receiver: test, group_by: ['...'], group_wait: 100ms, group_interval: 500ms, repeat_interval: 1h }\nreceivers: [${receiver}]\n`
}

export interface AlertmanagerProcess {
  url: string
  port: number
  child: ChildProcess
  log(): string
  /** GET /api/v2/alerts (active, silenced, inhibited and unprocessed, as Alertmanager lists them). */
  alerts(): Promise<AmAlert[]>
  stop(): Promise<void>
}

export interface AmAlert {
  labels: Record<string, string>
  annotations: Record<string, string>
  startsAt: string
  endsAt: string
  updatedAt: string
  generatorURL?: string
  fingerprint: string
  status: { state: string }
}

export async function startAlertmanager(opts: { port?: number; config?: string } = {}): Promise<AlertmanagerProcess> {
  const port = opts.port ?? (await freePort())
  const config = opts.config ?? alertmanagerConfig()
  const { url, child, log, stop } = await startLoopbackDaemon({
    name: 'alertmanager',
    bin: ALERTMANAGER_BIN,
    port,
    readyWithinMs: 20_000,
    args: (dir) => {
      const configFile = join(dir, 'alertmanager.yml')
      writeFileSync(configFile, config)
      return [`--config.file=${configFile}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=debug']
    },
  })

  return {
    url,
    port,
    child,
    log,
    async alerts() {
      const res = await fetch(`${url}/api/v2/alerts`)
      if (!res.ok) throw new Error(`GET /api/v2/alerts: ${res.status} ${await res.text()}`)
      return (await res.json()) as AmAlert[]
    },
    stop,
  }
}

/** Polls `cond` until it holds or `timeoutMs` passes (then throws with `what`). */
export async function eventually<T>(what: string, cond: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await cond()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
