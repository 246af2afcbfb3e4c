// Shared by the Pushgateway suites and the benchmark: the real Pushgateway (Debian's
// prometheus-pushgateway) as a child process, our plugin in a bare fastify app, both on
// 127.0.0.1, and the normalisation that makes their scrapes comparable.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { pushgatewayFrameworkErrors, pushgatewayRoutes, type PushgatewayPluginOptions } from '../../hub/pushgateway/plugin.ts'
import { PushStore, type PushStoreOptions } from '../../hub/pushgateway/store.ts'

export const PUSHGATEWAY_BIN = process.env.PUSHGATEWAY_BIN ?? '/usr/bin/prometheus-pushgateway'
export const pushgatewayAvailable = existsSync(PUSHGATEWAY_BIN)
export const pushgatewaySkipReason = `Pushgateway not found at ${PUSHGATEWAY_BIN} (apt-get install prometheus-pushgateway, or set PUSHGATEWAY_BIN)`

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

export interface Endpoint {
  /** Base URL including the /pushgateway prefix. */
  url: string
  stop(): Promise<void>
}

export interface RealPushgateway extends Endpoint {
  port: number
  process: ChildProcess
  log(): string
}

async function waitFor(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the process serving ${url} exited`)
    try {
      const res = await fetch(url)
      await res.arrayBuffer()
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${url} did not come up within ${timeoutMs} ms`)
}

/** The real Pushgateway with `--web.route-prefix=/pushgateway`; persistence only when a file is given. */
export async function startRealPushgateway(opts: { persistenceFile?: string; persistenceInterval?: string; port?: number } = {}): Promise<RealPushgateway> {
  const port = opts.port ?? (await freePort())
  const args = [
    `--web.listen-address=127.0.0.1:${port}`,
    '--web.route-prefix=/pushgateway',
    `--persistence.file=${opts.persistenceFile ?? ''}`,
    '--log.level=warn',
  ]
  if (opts.persistenceInterval) args.push(`--persistence.interval=${opts.persistenceInterval}`)
  const child = spawn(PUSHGATEWAY_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr!.on('data', (d: Buffer) => {
    log += d.toString()
    if (log.length > 1e6) log = log.slice(-5e5)
  })
  let exited = false
  child.once('exit', () => (exited = true))
  const url = `http://127.0.0.1:${port}/pushgateway`
  await waitFor(`${url}/-/ready`, 10_000, () => !exited)
  return {
    url,
    port,
    process: child,
    log: () => log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

export interface OurPushgateway extends Endpoint {
  app: FastifyInstance
  store: PushStore
}

/** Our plugin under /pushgateway in a bare fastify app on 127.0.0.1:0. */
export async function startOurPushgateway(
  opts: { store?: PushStoreOptions; plugin?: Omit<PushgatewayPluginOptions, 'store'> } = {},
): Promise<OurPushgateway> {
  const store = PushStore.open(opts.store)
  const app = Fastify({ logger: false, forceCloseConnections: true, frameworkErrors: pushgatewayFrameworkErrors('/pushgateway') })
  await app.register(pushgatewayRoutes, { prefix: '/pushgateway', store, ...opts.plugin })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/pushgateway`,
    app,
    store,
    stop: async () => {
      await app.close()
      store.close()
    },
  }
}

export function tempDir(prefix = 'vantage-pgw-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The real Pushgateway's own families, which the hub's /pushgateway/metrics does not serve. */
export const SELF_PREFIXES = ['go_', 'process_', 'pushgateway_']

/**
 * What the differential test normalises in a scrape, and nothing else:
 * 1. the families of the Pushgateway's own metrics (go_*, process_*, pushgateway_*): their
 *    HELP, TYPE and sample lines are removed;
 * 2. the values of push_time_seconds and push_failure_time_seconds that are not 0 become "T"
 *    (both stores stamp the time of their own write; a 0 stays 0 and is compared).
 */
export function normaliseScrape(text: string): string {
  const out: string[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    const name = line.startsWith('# ') ? line.split(' ')[2] : line.split(/[{ ]/)[0]
    if (SELF_PREFIXES.some((p) => name.startsWith(p))) continue
    if (!line.startsWith('#') && (name === 'push_time_seconds' || name === 'push_failure_time_seconds')) {
      const sp = line.lastIndexOf(' ')
      const value = line.slice(sp + 1)
      out.push(value === '0' ? line : line.slice(0, sp + 1) + 'T')
      continue
    }
    out.push(line)
  }
  return out.join('\n')
}

export interface Answer {
  status: number
  body: string
  headers: Headers
}

export async function send(
  base: string,
  method: string,
  path: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(base + path, { method, body: body as string | undefined, headers, redirect: 'manual' })
  const buf = Buffer.from(await res.arrayBuffer())
  return { status: res.status, body: buf.toString('latin1'), headers: res.headers }
}

// ---- protobuf bodies, encoded by protobufjs from the descriptor (independent of our codec) ----

import protobuf from 'protobufjs'
import { METRIC_FAMILY_DESCRIPTOR } from '../../hub/pushgateway/protobuf.ts'

const protoRoot = protobuf.Root.fromJSON(METRIC_FAMILY_DESCRIPTOR as unknown as protobuf.INamespace)
const MetricFamilyType = protoRoot.lookupType('io.prometheus.client.MetricFamily')

/** Families in protobufjs' JSON shape (snake_case fields) as one delimited body. */
export function protobufBody(families: Record<string, unknown>[]): Uint8Array {
  const w = protobuf.Writer.create()
  for (const f of families) {
    const msg = MetricFamilyType.fromObject(f)

    MetricFamilyType.encodeDelimited(msg, w)
  }
  return w.finish()
}

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'

/**
 * /api/v1/metrics made comparable: groups sorted by their labels (the Pushgateway lists them
 * in Go's random map order), every `time_stamp` replaced by "T", and non-zero push_time_seconds /
 * push_failure_time_seconds values by "T". Everything else is compared as served.
 */
export function normaliseApiMetrics(body: string): string {
  const parsed = JSON.parse(Buffer.from(body, 'latin1').toString('utf8')) as { status: string; data: Record<string, unknown>[] }
  for (const group of parsed.data) {
    for (const [name, fam] of Object.entries(group)) {
      if (name === 'labels' || name === 'last_push_successful') continue
      const f = fam as { time_stamp: string; metrics: { value?: string }[] }
      f.time_stamp = 'T'
      if (name === 'push_time_seconds' || name === 'push_failure_time_seconds') {
        for (const m of f.metrics) if (m.value !== '0') m.value = 'T'
      }
    }
  }
  parsed.data.sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1))
  return JSON.stringify(parsed, null, 1)
}
