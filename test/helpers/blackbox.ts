// Runs the real prometheus blackbox_exporter (Debian's package) as a child process, so tests
// and benchmarks can put our engine side by side with the reference tool.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'

export const BLACKBOX_BIN = process.env.BLACKBOX_EXPORTER_BIN ?? '/usr/bin/prometheus-blackbox-exporter'

/** False when the binary is missing: suites use it with `describe.skipIf(!blackboxAvailable)`. */
export const blackboxAvailable = existsSync(BLACKBOX_BIN)

export const blackboxSkipReason =
  `blackbox_exporter not found at ${BLACKBOX_BIN} ` +
  '(apt-get install prometheus-blackbox-exporter, or set BLACKBOX_EXPORTER_BIN)'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** One /probe answer, parsed from the Prometheus text format, labels kept. */
export class Samples {
  constructor(
    readonly all: Sample[],
    readonly text: string,
  ) {}

  /** The first sample named `name` whose labels include `labels`. */
  find(name: string, labels: Record<string, string> = {}): Sample | undefined {
    return this.all.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  }

  value(name: string, labels: Record<string, string> = {}): number | undefined {
    return this.find(name, labels)?.value
  }
}

export interface BlackboxOptions {
  /** PEM of the CA the `http_2xx`, `tls_connect` and `smtp_starttls` modules trust (and nothing else). */
  ca?: string
  /** Name to query in the `dns_a` module. */
  dnsQueryName?: string
  /** Extra or overriding modules, in blackbox.yml's shape. */
  modules?: Record<string, unknown>
  /** Module timeout in seconds (default 5). */
  timeoutSeconds?: number
}

export interface Blackbox {
  url: string
  port: number
  pid: number
  configFile: string
  /** GET /probe?module=…&target=… and parse the answer. */
  probe(module: string, target: string): Promise<Samples>
  /** Kills the exporter and waits for it to exit; safe to call twice. */
  stop(): Promise<void>
}

/** The modules the acceptance tests and benchmarks use (see blackbox_exporter's CONFIGURATION.md). */
export function blackboxModules(opts: BlackboxOptions, caFile: string | undefined): Record<string, unknown> {
  const timeout = `${opts.timeoutSeconds ?? 5}s`
  // Loopback targets are IPv4 literals; blackbox prefers IPv6 by default.
  const ip = { preferred_ip_protocol: 'ip4', ip_protocol_fallback: false }
  const verify = caFile ? { ca_file: caFile } : {}
  const insecure = { insecure_skip_verify: true }
  return {
    http_2xx: { prober: 'http', timeout, http: { ...ip, tls_config: verify } },
    http_insecure: { prober: 'http', timeout, http: { ...ip, tls_config: insecure } },
    tcp_connect: { prober: 'tcp', timeout, tcp: { ...ip } },
    tls_connect: { prober: 'tcp', timeout, tcp: { ...ip, tls: true, tls_config: verify } },
    tls_insecure: { prober: 'tcp', timeout, tcp: { ...ip, tls: true, tls_config: insecure } },
    dns_a: {
      prober: 'dns',
      timeout,
      dns: { ...ip, transport_protocol: 'udp', query_name: opts.dnsQueryName ?? 'vantage.test', query_type: 'A' },
    },
    // blackbox appends "\n" to each `send`; SMTP wants CRLF.
    smtp_starttls: {
      prober: 'tcp',
      timeout,
      tcp: {
        ...ip,
        tls_config: verify,
        query_response: [
          { expect: '^220 ' },
          { send: 'EHLO vantage.test\r' },
          { expect: '^250[ -]STARTTLS' },
          { send: 'STARTTLS\r' },
          { expect: '^220' },
          { starttls: true },
          { send: 'EHLO vantage.test\r' },
          { expect: '^250 ' },
          { send: 'QUIT\r' },
        ],
      },
    },
    ...opts.modules,
  }
}

/** Starts blackbox_exporter on a free loopback port and resolves once it answers /-/healthy. */
export async function startBlackbox(opts: BlackboxOptions = {}): Promise<Blackbox> {
  if (!blackboxAvailable) throw new Error(blackboxSkipReason)
  const dir = await mkdtemp(join(tmpdir(), 'vantage-blackbox-'))
  let caFile: string | undefined
  if (opts.ca) {
    caFile = join(dir, 'ca.pem')
    await writeFile(caFile, opts.ca)
  }
  const configFile = join(dir, 'blackbox.yml')
  await writeFile(configFile, stringify({ modules: blackboxModules(opts, caFile) }))

  // The free port can be taken between our probe and blackbox's bind: retry a few times.
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launch(configFile, await freePort(), dir)
    } catch (err) {
      lastError = err
    }
  }
  await rm(dir, { recursive: true, force: true })
  throw lastError
}

async function launch(configFile: string, port: number, dir: string): Promise<Blackbox> {
  const child = spawn(BLACKBOX_BIN, [`--config.file=${configFile}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  // Keep the tail of its log (logfmt on stderr) to explain a failed start.
  let log = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    log = (log + chunk).slice(-8192)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // A crashed test runner must not leave the exporter behind.
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)

  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    process.removeListener('exit', killOnExit)
    await terminate(child, exited)
    await rm(dir, { recursive: true, force: true })
  }

  try {
    await waitHealthy(url, child, () => log)
  } catch (err) {
    process.removeListener('exit', killOnExit)
    await terminate(child, exited)
    throw err
  }

  return {
    url,
    port,
    pid: child.pid!,
    configFile,
    stop,
    async probe(module, target) {
      const q = new URLSearchParams({ module, target })
      const res = await fetch(`${url}/probe?${q}`, { signal: AbortSignal.timeout(30_000) })
      const text = await res.text()
      if (res.status !== 200) throw new Error(`blackbox /probe answered ${res.status}: ${text.trim()}`)
      return new Samples(parsePrometheusText(text), text)
    },
  }
}

async function waitHealthy(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`blackbox_exporter exited (${child.exitCode ?? child.signalCode}) while starting:\n${log()}`)
    }
    try {
      const res = await fetch(`${url}/-/healthy`, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`blackbox_exporter did not become healthy within 10s:\n${log()}`)
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

/** A port nothing listens on right now (bind 127.0.0.1:0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Parses the Prometheus text exposition format (comments skipped, label escapes decoded). */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line)
    if (!m) throw new Error(`unparsable metrics line: ${line}`)
    samples.push({ name: m[1], labels: parseLabels(m[3] ?? ''), value: parseValue(m[4]) })
  }
  return samples
}

function parseLabels(body: string): Record<string, string> {
  const labels: Record<string, string> = {}
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy
  let end = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(body))) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    end = re.lastIndex
  }
  if (body.slice(end).trim() !== '') throw new Error(`unparsable labels: {${body}}`)
  return labels
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity
  if (v === '-Inf') return -Infinity
  return Number(v) // also "NaN"
}
