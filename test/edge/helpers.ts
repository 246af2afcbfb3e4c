// The edge worker under test: bundled exactly as `wrangler deploy` bundles it (deploy/edge/
// wrangler.toml, --dry-run, offline), then run in real workerd through miniflare, with its logs
// (one JSON line per event) captured. Miniflare is imported lazily, after NODE_EXTRA_CA_CERTS is
// set: it reads the extra CAs workerd's outbound TLS trusts when it loads.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { gzipSync } from 'node:zlib'
import type { Readable } from 'node:stream'
import type { Miniflare as MiniflareType } from 'miniflare'
import type { KeyPair } from '../../proto/keys.ts'
import { ROOT } from '../helpers/processes.ts'

export const WRANGLER_TOML = join(ROOT, 'deploy', 'edge', 'wrangler.toml')
const WRANGLER_BIN = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')

export interface Bundle {
  file: string
  bytes: number
  gzipBytes: number
  compatibilityDate: string
  /** What wrangler printed (its size line). */
  output: string
}

let built: Promise<Bundle> | null = null

/** `wrangler deploy --dry-run --outdir`: the bundle `wrangler deploy` would upload. Once per file. */
export function buildWorker(): Promise<Bundle> {
  built ??= (async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'vantage-edge-bundle-'))
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [WRANGLER_BIN, 'deploy', '--dry-run', '--outdir', outdir, '--config', WRANGLER_TOML],
        { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_UPDATE_NOTIFIER: '1' }, timeout: 120_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`wrangler deploy --dry-run failed: ${err.message}\n${stdout}\n${stderr}`)) : resolve(`${stdout}${stderr}`)),
      )
    })
    const file = join(outdir, 'worker.js')
    const text = readFileSync(file)
    const toml = readFileSync(WRANGLER_TOML, 'utf8')
    const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1]
    if (!compatibilityDate) throw new Error('deploy/edge/wrangler.toml has no compatibility_date')
    return { file, bytes: statSync(file).size, gzipBytes: gzipSync(text).length, compatibilityDate, output }
  })()
  return built
}

export interface LogLine {
  level: string
  msg: string
  [key: string]: unknown
}

export interface EdgeWorker {
  mf: MiniflareType
  /** The worker's structured log lines so far. */
  logs: LogLine[]
  /** Everything workerd printed (for failure messages). */
  raw: string[]
  /** Triggers `scheduled` as a cron tick at `time` (ms; default: the current minute). */
  tick(time?: number): Promise<{ outcome: string }>
  /** A request to the worker's fetch handler. */
  fetch(path: string, init?: { method?: string; headers?: Record<string, string> }): Promise<{ status: number; json: Record<string, unknown> }>
  close(): Promise<void>
}

export interface EdgeOptions {
  hubUrl: string
  agentId: string
  agentKeys: KeyPair
  hubPublicJwk: object
  /** Binds the Durable Object queue as QUEUE. */
  queue?: boolean
  /** More vars / secrets (BYPASS_TOKEN, MANUAL_RUN_TOKEN, …); undefined removes a default. */
  bindings?: Record<string, string | undefined>
  /** PEM of a CA workerd's outbound TLS must trust (NODE_EXTRA_CA_CERTS, before miniflare loads). */
  extraCaPem?: string
}

let miniflareModule: Promise<typeof import('miniflare')> | null = null

export async function startEdgeWorker(opts: EdgeOptions): Promise<EdgeWorker> {
  if (opts.extraCaPem !== undefined) {
    if (miniflareModule) throw new Error('extraCaPem must be given before the first worker of this test file starts')
    const dir = mkdtempSync(join(tmpdir(), 'vantage-edge-ca-'))
    writeFileSync(join(dir, 'ca.pem'), opts.extraCaPem)
    process.env.NODE_EXTRA_CA_CERTS = join(dir, 'ca.pem')
  }
  miniflareModule ??= import('miniflare')
  const { Miniflare } = await miniflareModule
  const bundle = await buildWorker()
  const logs: LogLine[] = []
  const raw: string[] = []
  const collect = (stream: Readable) => {
    let buffered = ''
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        raw.push(line)
        if (!line.startsWith('{')) continue
        try {
          const entry = JSON.parse(line) as LogLine
          if (entry.name === 'vantage-edge') logs.push(entry)
        } catch {
          // not one of ours
        }
      }
    })
  }
  const bindings: Record<string, string> = {}
  const all: Record<string, string | undefined> = {
    HUB_URL: opts.hubUrl,
    AGENT_ID: opts.agentId,
    HUB_PUBLIC_KEY: JSON.stringify(opts.hubPublicJwk),
    AGENT_PRIVATE_KEY: JSON.stringify(opts.agentKeys.privateJwk),
    ...opts.bindings,
  }
  for (const [k, v] of Object.entries(all)) if (v !== undefined) bindings[k] = v
  const mf = new Miniflare({
    modules: true,
    scriptPath: bundle.file,
    modulesRoot: dirname(bundle.file),
    compatibilityDate: bundle.compatibilityDate,
    cf: false,
    unsafeTriggerHandlers: true,
    bindings,
    ...(opts.queue ? { durableObjects: { QUEUE: { className: 'VantageQueue', useSQLite: true } } } : {}),
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      collect(stdout)
      collect(stderr)
    },
  })
  try {
    await mf.ready
  } catch (err) {
    await new Promise((r) => setTimeout(r, 200))
    throw new Error(`${(err as Error).message}\n${raw.join('\n')}`)
  }
  return {
    mf,
    logs,
    raw,
    async tick(time = Math.floor(Date.now() / 60_000) * 60_000) {
      const worker = await mf.getWorker()
      const res = await worker.scheduled({ scheduledTime: new Date(time), cron: '* * * * *' })
      // Log lines travel through workerd's stdout: let the last ones arrive.
      await new Promise((r) => setTimeout(r, 100))
      return res
    },
    async fetch(path, init = {}) {
      const res = await mf.dispatchFetch(`http://edge.test${path}`, { method: init.method ?? 'GET', headers: init.headers })
      const text = await res.text()
      let json: Record<string, unknown>
      try {
        json = JSON.parse(text) as Record<string, unknown>
      } catch {
        json = { text }
      }
      return { status: res.status, json }
    },
    close: () => mf.dispose(),
  }
}

export function removeBundle(bundle: Bundle): void {
  rmSync(join(bundle.file, '..'), { recursive: true, force: true })
}
