// `vantage probe <http|tls|tcp|smtp|dns> <target> [options]`: one probe, now, printed.
// Exit 0 when the probe succeeded, 1 when not, 2 on bad arguments.
import { parseArgs } from 'node:util'
import pino from 'pino'
import type { CheckSpec, DnsRecordType } from '../../proto/check.ts'
import type { CheckType, ProbeResult } from '../../proto/result.ts'
import { parseStatusRanges } from '../core/assertions.ts'
import { durationFlag, readCa, UsageError } from './args.ts'
import { nullLogger, systemClock } from '../core/probe.ts'
import { runProbe } from '../core/run.ts'
import { probes } from '../probes/index.ts'

export { UsageError }

export const USAGE = `usage: vantage probe <http|tls|tcp|smtp|dns> <target> [options]

common:  --timeout 5s  --json  --ca FILE  --servername NAME  --insecure  --source IP  --verbose
http:    --method GET  --header 'K: V' (repeatable)  --body TEXT  --expect-status 200-299,301
         --body-contains TEXT  --body-matches REGEX  --no-follow  --http2  --degraded-after 2s
tcp:     --send TEXT  --expect REGEX  --tls
smtp:    --starttls  --ehlo NAME  --tls (implicit TLS, port 465)
dns:     --type A|AAAA|MX|TXT|CNAME|NS  --server IP[:PORT]  --tcp  --expect VALUE (repeatable)  --any

examples:
  vantage probe http https://example.test/ --expect-status 200-299 --body-contains Shop
  vantage probe tls example.test:443 --servername example.test
  vantage probe smtp mx.example.test:25 --starttls
  vantage probe dns example.test --type MX --server 127.0.0.1:5353 --expect '10 mx.example.test'`

const PROBE_TYPES: CheckType[] = ['http', 'tls', 'tcp', 'smtp', 'dns']
const DNS_TYPES: DnsRecordType[] = ['A', 'AAAA', 'MX', 'TXT', 'CNAME', 'NS']

const OPTIONS = {
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  ca: { type: 'string' },
  servername: { type: 'string' },
  insecure: { type: 'boolean' },
  source: { type: 'string' },
  verbose: { type: 'boolean' },
  method: { type: 'string' },
  header: { type: 'string', multiple: true },
  body: { type: 'string' },
  'expect-status': { type: 'string' },
  'body-contains': { type: 'string' },
  'body-matches': { type: 'string' },
  'no-follow': { type: 'boolean' },
  http2: { type: 'boolean' },
  'degraded-after': { type: 'string' },
  send: { type: 'string' },
  expect: { type: 'string', multiple: true },
  tls: { type: 'boolean' },
  starttls: { type: 'boolean' },
  ehlo: { type: 'string' },
  type: { type: 'string' },
  server: { type: 'string' },
  tcp: { type: 'boolean' },
  any: { type: 'boolean' },
} as const

export interface ParsedProbe {
  check: CheckSpec
  json: boolean
  verbose: boolean
  ca?: string
  source?: string
}

/** Turns command-line words into a check; throws UsageError with a one-line reason. */
export function parseProbeArgs(argv: string[]): ParsedProbe {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  const { values: o, positionals } = parsed
  if (positionals.length !== 2) {
    throw new UsageError(positionals.length < 2 ? 'expected a check type and a target' : `unexpected argument "${positionals[2]}"`)
  }
  const [type, target] = positionals as [CheckType, string]
  if (!PROBE_TYPES.includes(type)) throw new UsageError(`unknown check type "${type}" (use ${PROBE_TYPES.join(', ')})`)
  const only = (names: (keyof typeof OPTIONS)[], types: CheckType[]) => {
    for (const n of names) if (o[n] !== undefined && !types.includes(type)) throw new UsageError(`--${n} does not apply to ${type} probes`)
  }
  only(['method', 'header', 'body', 'expect-status', 'body-contains', 'body-matches', 'no-follow', 'http2', 'degraded-after'], ['http'])
  only(['send'], ['tcp'])
  only(['tls'], ['tcp', 'smtp'])
  only(['starttls', 'ehlo'], ['smtp'])
  only(['type', 'server', 'tcp', 'any'], ['dns'])
  only(['expect'], ['tcp', 'dns'])

  const timeoutMs = o.timeout !== undefined ? durationFlag('--timeout', o.timeout) : 5000
  const ca = o.ca !== undefined ? readCa(o.ca) : undefined
  const check: CheckSpec = { name: 'adhoc', type, target, interval_ms: 60_000, timeout_ms: timeoutMs }
  if (o.servername !== undefined || o.insecure) check.tls = { servername: o.servername, insecure: o.insecure }

  switch (type) {
    case 'http': {
      let url: URL
      try {
        url = new URL(target)
      } catch {
        throw new UsageError(`invalid URL "${target}" (http targets need a scheme: https://host/path)`)
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`unsupported scheme "${url.protocol}" (use http: or https:)`)
      const expectStatus = o['expect-status']?.split(',').map((s) => s.trim())
      if (expectStatus) {
        try {
          parseStatusRanges(expectStatus)
        } catch (err) {
          throw new UsageError(`--expect-status: ${(err as Error).message}`)
        }
      }
      check.http = {
        method: o.method?.toUpperCase(),
        headers: o.header ? parseHeaders(o.header) : undefined,
        body: o.body,
        follow_redirects: !o['no-follow'],
        expect_status: expectStatus,
        body_contains: o['body-contains'],
        body_matches: o['body-matches'] !== undefined ? checkRegex('--body-matches', o['body-matches']) : undefined,
        http_version: o.http2 ? '2' : undefined,
        degraded_after_ms: o['degraded-after'] !== undefined ? durationFlag('--degraded-after', o['degraded-after']) : undefined,
      }
      break
    }
    case 'tls':
    case 'tcp':
      requireHostPort(target)
      if (type === 'tcp') {
        const steps = []
        if (o.send !== undefined) steps.push({ send: unescape(o.send) })
        for (const e of o.expect ?? []) steps.push({ expect: checkRegex('--expect', e) })
        check.tcp = { tls: o.tls, query_response: steps.length ? steps : undefined }
      }
      break
    case 'smtp':
      if (o.tls && o.starttls) throw new UsageError('--tls (implicit TLS) and --starttls exclude each other')
      check.smtp = { starttls: o.starttls, tls: o.tls, ehlo: o.ehlo }
      break
    case 'dns': {
      const recordType = (o.type ?? 'A').toUpperCase() as DnsRecordType
      if (!DNS_TYPES.includes(recordType)) throw new UsageError(`--type: unknown record type "${o.type}" (use ${DNS_TYPES.join(', ')})`)
      check.dns = { record_type: recordType, server: o.server, transport: o.tcp ? 'tcp' : undefined, expect: o.expect, expect_mode: o.any ? 'any' : undefined }
      break
    }
  }
  return { check, json: !!o.json, verbose: !!o.verbose, ca, source: o.source }
}

function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const i = line.indexOf(':')
    if (i <= 0) throw new UsageError(`--header "${line}": expected 'Name: value'`)
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return headers
}

function checkRegex(flag: string, source: string): string {
  try {
    new RegExp(source)
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`)
  }
  return source
}

function requireHostPort(target: string): void {
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(target.replace(/^[a-z]+:\/\//, ''))) {
    throw new UsageError(`invalid target "${target}" (expected host:port, e.g. example.test:443 or [::1]:443)`)
  }
}

/** Lets users write `--send 'HELO x\r\n'` in a shell. */
function unescape(text: string): string {
  return text.replace(/\\r/g, '\r').replace(/\\n/g, '\n').replace(/\\t/g, '\t')
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  let parsed: ParsedProbe
  try {
    parsed = parseProbeArgs(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`vantage probe: ${err.message}\n\n${USAGE}\n`)
    return 2
  }
  const probe = probes[parsed.check.type]!
  const logger = parsed.verbose ? pino({ level: 'debug' }, pino.destination(2)) : nullLogger
  const result = await runProbe(probe, parsed.check, {
    identity: { agent_id: 'local-1', vantage: 'local', region: 'local' },
    agent_id: 'local-1',
    logger,
    clock: systemClock,
    secrets: process.env,
    ca: parsed.ca,
    source_address: parsed.source,
  })
  process.stdout.write(parsed.json ? JSON.stringify(result, null, 2) + '\n' : formatHuman(result, Date.now()))
  return result.success ? 0 : 1
}

const ms = (seconds: number) => `${(seconds * 1000).toFixed(1)}ms`

/** The short table a person reads: outcome, timings, certificate days left, error. */
export function formatHuman(r: ProbeResult, nowMs: number): string {
  const outcome = r.success ? (r.degraded ? 'DEGRADED' : 'UP') : r.challenged ? 'CHALLENGED' : 'DOWN'
  const rows: [string, string][] = []
  // A failure before any response has no status or phases worth a line.
  if (r.http && r.http.status_code > 0) {
    const version = r.http.http_version ? `  HTTP/${r.http.http_version}` : ''
    rows.push(['status', `${r.http.status_code}${version}  ${r.http.body_bytes} bytes  redirects ${r.http.redirects}`])
    if (r.http.final_url !== r.target) rows.push(['final url', r.http.final_url])
    const p = r.http.phases
    if (p) rows.push(['phases', `resolve ${ms(p.resolve)}  connect ${ms(p.connect)}  tls ${ms(p.tls)}  processing ${ms(p.processing)}  transfer ${ms(p.transfer)}`])
  }
  if (r.tls) {
    const t = r.tls
    rows.push(['tls', `${t.version}  ${t.cipher}${t.alpn ? `  alpn ${t.alpn}` : ''}`])
    rows.push(['certificate', t.verify_error ? `INVALID: ${t.verify_error}` : 'valid (chain and hostname)'])
    if (t.leaf) rows.push(['subject', `${t.leaf.subject}  (issuer ${t.leaf.issuer})`])
    if (t.earliest_cert_expiry != null) {
      const days = (t.earliest_cert_expiry * 1000 - nowMs) / 86_400_000
      const when = new Date(t.earliest_cert_expiry * 1000).toISOString().slice(0, 10)
      rows.push(['expires', days >= 0 ? `in ${Math.floor(days)} days (${when})` : `${Math.ceil(-days)} days ago (${when})`])
    }
  }
  if (r.smtp) {
    rows.push(['banner', `${r.smtp.banner.split('\n')[0]}`])
    rows.push(['extensions', r.smtp.extensions.join(' ') || '(none)'])
    rows.push(['starttls', r.smtp.starttls ? 'yes' : 'no'])
  }
  if (r.dns) {
    rows.push(['rcode', `${r.dns.rcode}${r.dns.server ? `  via ${r.dns.server}/${r.dns.transport ?? 'udp'}` : ''}`])
    rows.push(['answers', r.dns.answers.join(', ') || '(none)'])
  }
  if (r.error) rows.push(['error', `${r.error}${r.error_code ? `  [${r.error_code}]` : ''}`])
  const width = Math.max(...rows.map(([k]) => k.length), 8)
  const lines = [`${outcome}  ${r.type} ${r.target}  in ${ms(r.duration_seconds)}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)]
  return lines.join('\n') + '\n'
}
