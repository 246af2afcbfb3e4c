// hub.yaml: read once, validated with precise errors (file, line, field), then injected.
// The key names are fixed by DESIGN.md ("Configuration"); unknown keys are errors.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { CheckSpec, DnsOptions, DnsRecordType, HttpOptions, JourneyOptions, SmtpOptions, TcpOptions, TlsOptions } from '../proto/check.ts'
import { ConfigError, readYaml, type ConfigField } from '../proto/config-reader.ts'
import { CHECK_TYPES, type CheckType } from '../proto/result.ts'
import { isSafeId, KeyError, parseJwk, SAFE_ID, type Ed25519Jwk } from '../proto/keys.ts'
import { AssertionConfigError, compilePattern, parseStatusRanges } from '../agent/core/assertions.ts'
import { bundleJourneySync } from '../agent/journey/compile.ts'

export { ConfigError }

export interface HostPort {
  host: string
  port: number
}

export interface VantageInfo {
  name: string
  region: string
  failure_domain?: string
  /** Check types this vantage can run; absent: all of them. */
  capabilities?: CheckType[]
}

export interface AgentInfo {
  id: string
  vantage: string
  region: string
  public_key: Ed25519Jwk
  public_key_file: string
}

/** `min_down: 2` or `min_down: "2/3"` (a fraction of the eligible votes). */
export type MinDown = { count: number } | { numerator: number; denominator: number }

export interface QuorumRule {
  min_down: MinDown
  for_ms: number
  resolve_after_ms: number
}

export interface HubCheck {
  /** What agents receive (GET /v1/agents/{id}/config). */
  spec: CheckSpec
  /** The vantages that run it (explicit, or every vantage able to run its type). */
  vantages: string[]
  quorum: QuorumRule
  stale_after_ms: number
  severity: string
  runbook_url?: string
  /** Maintenance windows: the check's alerts are suppressed inside them, recording continues. */
  maintenance?: MaintenanceWindow[]
}

/** `maintenance: [{ start: ISO, end: ISO, reason }]`; times as unix ms. */
export interface MaintenanceWindow {
  start: number
  end: number
  reason: string
}

export interface HubConfig {
  /** The file read, or null for an empty hub started from flags alone. */
  file: string | null
  listen: { http: HostPort; grpc: HostPort }
  /** Directory of the SQLite store. */
  data: string
  /** The hub's private Ed25519 JWK (signs agent configs); required when agents are registered. */
  hub_key: { file: string; jwk: Ed25519Jwk } | null
  /** Read from operator_token_file; null: the operator API answers loopback only. */
  operator_token: string | null
  pushgateway: { token: string | null; forward_url: string | null; ttl_ms: number | null }
  alerting: {
    alertmanager: string[]
    webhook: { url: string | null; secret: string | null }
    resend_interval_ms: number
  }
  ingest: { max_body_bytes: number; max_clock_skew_ms: number }
  vantages: Map<string, VantageInfo>
  agents: Map<string, AgentInfo>
  checks: Map<string, HubCheck>
}

/** Command-line flags that override the file (`--http-listen`, `--grpc-listen`, `--data`). */
export interface ConfigOverrides {
  httpListen?: string
  grpcListen?: string
  data?: string
}

export const DEFAULT_HTTP_LISTEN = '127.0.0.1:8080'
export const DEFAULT_GRPC_LISTEN = '127.0.0.1:8081'
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000
const DEFAULT_INTERVAL_MS = 60_000
const MAX_DEFAULT_TIMEOUT_MS = 10_000

// Names end up in URLs (/v1/agents/{id}), JWS `kid`s and metric labels: keep them plain.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/
const NAME_RULE = 'letters, digits, ".", "_" and "-", starting with a letter or digit'

const TOP_KEYS = ['listen', 'data', 'hub_key', 'operator_token_file', 'pushgateway', 'alerting', 'ingest', 'vantages', 'agents', 'checks'] as const
const CHECK_KEYS = [
  'name', 'type', 'target', 'interval', 'timeout', 'vantages', 'quorum', 'stale_after', 'severity', 'runbook_url', 'maintenance',
  'http', 'tls', 'tcp', 'smtp', 'dns', 'journey',
] as const

/** Reads and validates a hub.yaml; every mistake is a ConfigError naming file, line and field. */
export function loadHubConfig(file: string, overrides: ConfigOverrides = {}): HubConfig {
  const path = resolve(file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(file, null, '', `cannot read the config file: ${errnoText(err)}`)
  }
  return parseHubConfig(text, path, overrides)
}

/** The hub started from flags alone: no agents, no checks. */
export function emptyHubConfig(overrides: ConfigOverrides = {}): HubConfig {
  return parseHubConfig('{}', resolve('<flags>'), overrides, false)
}

export function parseHubConfig(text: string, file: string, overrides: ConfigOverrides = {}, fromFile = true): HubConfig {
  const root = readYaml(text, file)
  root.keys(TOP_KEYS)
  const base = dirname(file)
  const rel = (f: ConfigField) => resolve(base, f.string())

  const listen = root.get('listen')
  listen.keys(['http', 'grpc'])
  const data = root.get('data')

  const vantages = readVantages(root.get('vantages'))
  const agents = readAgents(root.get('agents'), vantages, rel)
  const hubKey = root.get('hub_key')
  if (hubKey.missing && agents.size > 0) {
    throw new ConfigError(file, root.get('agents').line, 'hub_key', 'is required when agents are registered (it signs their configs; make one with `vantage keygen --out DIR --id hub`)')
  }
  const checks = readChecks(root.get('checks'), vantages, rel)

  return {
    file: fromFile ? file : null,
    listen: {
      http: overrides.httpListen !== undefined ? parseHostPortFlag('--http-listen', overrides.httpListen) : hostPort(listen.get('http'), DEFAULT_HTTP_LISTEN),
      grpc: overrides.grpcListen !== undefined ? parseHostPortFlag('--grpc-listen', overrides.grpcListen) : hostPort(listen.get('grpc'), DEFAULT_GRPC_LISTEN),
    },
    data: overrides.data !== undefined ? resolve(overrides.data) : data.missing ? resolve(base, 'data') : rel(data),
    hub_key: hubKey.missing ? null : { file: rel(hubKey), jwk: readJwk(hubKey, rel(hubKey), 'private') },
    operator_token: optionalSecret(root.get('operator_token_file'), rel),
    pushgateway: readPushgateway(root.get('pushgateway'), rel),
    alerting: readAlerting(root.get('alerting'), rel),
    ingest: readIngest(root.get('ingest')),
    vantages,
    agents,
    checks,
  }
}

// ---------------------------------------------------------------------------------------------
// Top-level blocks

function readVantages(field: ConfigField): Map<string, VantageInfo> {
  const out = new Map<string, VantageInfo>()
  for (const [name, v] of field.entries()) {
    if (!NAME.test(name)) throw v.error(`a vantage name may hold only ${NAME_RULE}`)
    v.keys(['region', 'failure_domain', 'capabilities'])
    const caps = v.get('capabilities')
    out.set(name, {
      name,
      region: v.get('region').optionalString() ?? '',
      failure_domain: v.get('failure_domain').optionalString(),
      capabilities: caps.missing ? undefined : caps.list().map((c) => c.oneOf(CHECK_TYPES)),
    })
  }
  return out
}

function readAgents(field: ConfigField, vantages: Map<string, VantageInfo>, rel: (f: ConfigField) => string): Map<string, AgentInfo> {
  const out = new Map<string, AgentInfo>()
  for (const a of field.list()) {
    a.keys(['id', 'vantage', 'region', 'public_key'])
    const idField = a.get('id')
    const id = idField.string()
    if (!isSafeId(id)) throw idField.error(`"${id}" is not a valid agent id (it must match ${SAFE_ID}, as keygen requires)`)
    if (out.has(id)) throw idField.error(`duplicate agent id "${id}"`)
    const vField = a.get('vantage')
    const vantage = vField.string()
    if (!NAME.test(vantage)) throw vField.error(`a vantage name may hold only ${NAME_RULE}`)

    // A vantage's region is one label: agents of a vantage may not disagree about it.
    const regionField = a.get('region')
    const region = regionField.optionalString()
    let info = vantages.get(vantage)
    if (!info) {
      info = { name: vantage, region: '' }
      vantages.set(vantage, info)
    }
    if (region !== undefined) {
      if (info.region && info.region !== region) {
        throw regionField.error(`"${region}" differs from vantage ${vantage}'s region "${info.region}"`)
      }
      info.region = region
    }
    const keyField = a.get('public_key')
    out.set(id, { id, vantage, region: '', public_key: readJwk(keyField, rel(keyField), 'public'), public_key_file: rel(keyField) })
  }
  // A vantage with no region anywhere is its own region.
  for (const v of vantages.values()) if (!v.region) v.region = v.name
  for (const agent of out.values()) agent.region = vantages.get(agent.vantage)!.region
  return out
}

function readPushgateway(field: ConfigField, rel: (f: ConfigField) => string): HubConfig['pushgateway'] {
  field.keys(['token_file', 'forward_url', 'ttl'])
  const ttl = field.get('ttl')
  return {
    token: optionalSecret(field.get('token_file'), rel),
    forward_url: optionalUrl(field.get('forward_url')),
    ttl_ms: ttl.missing ? null : ttl.duration({ min: 1000 }),
  }
}

function readAlerting(field: ConfigField, rel: (f: ConfigField) => string): HubConfig['alerting'] {
  field.keys(['alertmanager', 'webhook', 'resend_interval'])
  const am = field.get('alertmanager')
  const webhook = field.get('webhook')
  webhook.keys(['url', 'secret_file'])
  const resend = field.get('resend_interval')
  return {
    alertmanager: am.missing ? [] : listOrOne(am).map((u) => url(u)),
    webhook: { url: optionalUrl(webhook.get('url')), secret: optionalSecret(webhook.get('secret_file'), rel) },
    resend_interval_ms: resend.missing ? 60_000 : resend.duration({ min: 1000 }),
  }
}

function readIngest(field: ConfigField): HubConfig['ingest'] {
  field.keys(['max_body', 'max_clock_skew'])
  const body = field.get('max_body')
  const skew = field.get('max_clock_skew')
  return {
    max_body_bytes: body.missing ? DEFAULT_MAX_BODY_BYTES : byteSize(body),
    max_clock_skew_ms: skew.missing ? DEFAULT_MAX_CLOCK_SKEW_MS : skew.duration({ min: 1000 }),
  }
}

// ---------------------------------------------------------------------------------------------
// Checks

function readChecks(field: ConfigField, vantages: Map<string, VantageInfo>, rel: (f: ConfigField) => string): Map<string, HubCheck> {
  const out = new Map<string, HubCheck>()
  for (const c of field.list()) {
    const present = c.keys(CHECK_KEYS)
    const nameField = c.get('name')
    const name = nameField.string()
    if (!NAME.test(name)) throw nameField.error(`a check name may hold only ${NAME_RULE}`)
    if (out.has(name)) throw nameField.error(`duplicate check name "${name}"`)
    const type = c.get('type').oneOf(CHECK_TYPES)
    const targetField = c.get('target')
    const target = targetField.string()
    validateTarget(targetField, type, target)

    const intervalField = c.get('interval')
    const interval = intervalField.missing ? DEFAULT_INTERVAL_MS : intervalField.duration({ min: 1000 })
    const timeoutField = c.get('timeout')
    const timeout = timeoutField.missing ? Math.min(MAX_DEFAULT_TIMEOUT_MS, interval) : timeoutField.duration({ min: 1 })
    if (timeout > interval) throw timeoutField.error(`must not exceed the interval (${intervalField.missing ? '1m' : String(intervalField.string())}): runs would overlap`)

    const spec: CheckSpec = { name, type, target, interval_ms: interval, timeout_ms: timeout }
    for (const block of ['http', 'tls', 'tcp', 'smtp', 'dns'] as const) {
      if (!present.includes(block)) continue
      const f = c.get(block)
      if (!BLOCK_TYPES[block].includes(type)) {
        throw f.error(`applies only to ${BLOCK_TYPES[block].join(', ')} checks (this check's type is ${type})`)
      }
    }
    if (present.includes('http')) spec.http = readHttp(c.get('http'))
    if (present.includes('tls')) spec.tls = readTls(c.get('tls'), rel)
    if (present.includes('tcp')) spec.tcp = readTcp(c.get('tcp'))
    if (present.includes('smtp')) spec.smtp = readSmtp(c.get('smtp'))
    if (present.includes('dns')) spec.dns = readDns(c.get('dns'))
    if (type === 'journey') spec.journey = readJourney(c.get('journey'), rel)
    else if (present.includes('journey')) throw c.get('journey').error(`applies only to journey checks (this check's type is ${type})`)

    const checkVantages = readCheckVantages(c.get('vantages'), type, vantages)
    const staleField = c.get('stale_after')
    const staleAfter = staleField.missing ? 3 * interval : staleField.duration()
    if (staleAfter < interval) throw staleField.error(`must be at least the interval (${interval}ms): every result would be stale`)

    out.set(name, {
      spec,
      vantages: checkVantages,
      quorum: readQuorum(c.get('quorum'), interval, checkVantages.length),
      stale_after_ms: staleAfter,
      severity: c.get('severity').optionalString() ?? 'critical',
      runbook_url: optionalUrl(c.get('runbook_url')) ?? undefined,
      maintenance: readMaintenance(c.get('maintenance')),
    })
  }
  return out
}

function readMaintenance(field: ConfigField): MaintenanceWindow[] {
  return field.list().map((w) => {
    w.keys(['start', 'end', 'reason'])
    const start = isoTime(w.get('start'))
    const end = isoTime(w.get('end'))
    if (end <= start) throw w.get('end').error('must be after start')
    return { start, end, reason: w.get('reason').optionalString() ?? '' }
  })
}

/** An ISO 8601 time with its zone (`2026-03-01T02:00:00Z`, `…+01:00`): a local time would be ambiguous. */
export function parseIsoTime(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) return null
  const ms = Date.parse(text)
  return Number.isFinite(ms) ? ms : null
}

function isoTime(field: ConfigField): number {
  const text = field.string()
  const ms = parseIsoTime(text)
  if (ms === null) throw field.error(`"${text}" is not an ISO 8601 time with a zone (e.g. 2026-03-01T02:00:00Z or 2026-03-01T03:00:00+01:00)`)
  return ms
}

/**
 * A journey's script is bundled here, at load time, into one self-contained file that the hub
 * hands to agents with their config: a script that does not compile, or imports what the
 * runtime lacks, is a config error naming the file and line, not a failure on every agent.
 */
function readJourney(f: ConfigField, rel: (f: ConfigField) => string): JourneyOptions {
  if (f.missing) throw f.error('is required for journey checks: journey: { script: journeys/login.ts }')
  f.keys(['script', 'env', 'secret_env'])
  const scriptField = f.get('script')
  const path = rel(scriptField)
  let source: string
  try {
    source = bundleJourneySync(path)
  } catch (err) {
    throw scriptField.error((err as Error).message)
  }
  const strings = (g: ConfigField): Record<string, string> | undefined => {
    if (g.missing) return undefined
    const out: Record<string, string> = {}
    for (const [k, v] of g.entries()) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw v.error(`"${k}" is not a valid __ENV name`)
      out[k] = v.string()
    }
    return out
  }
  return { script: scriptField.string(), source, env: strings(f.get('env')), secret_env: strings(f.get('secret_env')) }
}

/** Which check types each option block applies to. */
const BLOCK_TYPES: Record<'http' | 'tls' | 'tcp' | 'smtp' | 'dns', CheckType[]> = {
  http: ['http'],
  tls: ['http', 'tls', 'tcp', 'smtp'],
  tcp: ['tcp'],
  smtp: ['smtp'],
  dns: ['dns'],
}

function validateTarget(field: ConfigField, type: CheckType, target: string): void {
  switch (type) {
    case 'http': {
      let url: URL
      try {
        url = new URL(target)
      } catch {
        throw field.error(`"${target}" is not a URL (http targets need a scheme: https://host/path)`)
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw field.error(`unsupported scheme "${url.protocol}" (use http: or https:)`)
      return
    }
    case 'tls':
    case 'tcp':
      if (!HOST_PORT.test(target)) throw field.error(`"${target}" is not host:port (e.g. example.test:443 or [::1]:443)`)
      return
    case 'smtp':
      if (!/^(smtps?:\/\/)?(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+)(:\d{1,5})?$/.test(target)) {
        throw field.error(`"${target}" is not host[:port], smtp://host[:port] or smtps://host[:port]`)
      }
      return
    case 'dns':
      if (/\s/.test(target)) throw field.error(`"${target}" is not a DNS name`)
      return
    case 'journey':
      return
  }
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s/[\]]+):(\d{1,5})$/

function readCheckVantages(field: ConfigField, type: CheckType, vantages: Map<string, VantageInfo>): string[] {
  const able = (v: VantageInfo) => !v.capabilities || v.capabilities.includes(type)
  if (field.missing) return [...vantages.values()].filter(able).map((v) => v.name)
  const names: string[] = []
  const items = listOrOne(field)
  if (items.length === 0) throw field.error('names no vantage: leave it out to run the check on every vantage able to')
  for (const item of items) {
    const name = item.string()
    const info = vantages.get(name)
    if (!info) {
      const known = [...vantages.keys()]
      throw item.error(`unknown vantage "${name}" (${known.length ? `known: ${known.join(', ')}` : 'no vantages or agents are configured'})`)
    }
    if (!able(info)) throw item.error(`vantage "${name}" cannot run ${type} checks (its capabilities: ${info.capabilities!.join(', ')})`)
    if (names.includes(name)) throw item.error(`vantage "${name}" is listed twice`)
    names.push(name)
  }
  return names
}

function readQuorum(field: ConfigField, intervalMs: number, vantageCount: number): QuorumRule {
  field.keys(['min_down', 'for', 'resolve_after'])
  const min = field.get('min_down')
  let minDown: MinDown
  if (min.missing) {
    // Two independent vantages agreeing, or the only one there is.
    minDown = { count: Math.max(1, Math.min(2, vantageCount)) }
  } else {
    const text = min.string()
    const frac = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text)
    if (frac) {
      const [numerator, denominator] = [Number(frac[1]), Number(frac[2])]
      if (numerator < 1 || denominator < 1 || numerator > denominator) throw min.error(`"${text}" is not a fraction between 1/N and N/N`)
      minDown = { numerator, denominator }
    } else {
      const count = min.number({ integer: true, min: 1 })
      if (vantageCount > 0 && count > vantageCount) {
        throw min.error(`${count} down vantages can never be reached: this check runs on ${vantageCount} vantage${vantageCount === 1 ? '' : 's'}`)
      }
      minDown = { count }
    }
  }
  const forField = field.get('for')
  const resolveField = field.get('resolve_after')
  return {
    min_down: minDown,
    // Default: a down quorum must hold for two rounds, so one bad round never pages.
    for_ms: forField.missing ? 2 * intervalMs : forField.duration(),
    resolve_after_ms: resolveField.missing ? intervalMs : resolveField.duration(),
  }
}

// ---------------------------------------------------------------------------------------------
// Option blocks, mapped onto proto/check.ts

function readHttp(f: ConfigField): HttpOptions {
  f.keys([
    'method', 'headers', 'body', 'follow_redirects', 'max_redirects', 'expect_status', 'body_contains', 'body_not_contains',
    'body_matches', 'body_not_matches', 'header_assertions', 'degraded_after', 'http_version', 'bypass_header',
  ])
  const opt = <T>(key: string, read: (g: ConfigField) => T): T | undefined => (f.get(key).missing ? undefined : read(f.get(key)))
  const http: HttpOptions = {
    method: opt('method', (g) => {
      const m = g.string().toUpperCase()
      if (!/^[A-Z]+$/.test(m)) throw g.error(`"${g.string()}" is not an HTTP method`)
      return m
    }),
    headers: opt('headers', (g) => {
      const headers: Record<string, string> = {}
      for (const [name, value] of g.entries()) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw value.error(`"${name}" is not a valid header name`)
        headers[name.toLowerCase()] = value.string()
      }
      return headers
    }),
    body: opt('body', (g) => g.string()),
    follow_redirects: opt('follow_redirects', (g) => g.boolean()),
    max_redirects: opt('max_redirects', (g) => g.number({ integer: true, min: 0, max: 100 })),
    expect_status: opt('expect_status', (g) => {
      const list = listOrOne(g).map((s) => s.string())
      assertion(g, () => parseStatusRanges(list))
      return list
    }),
    body_contains: opt('body_contains', (g) => g.string()),
    body_not_contains: opt('body_not_contains', (g) => g.string()),
    body_matches: opt('body_matches', (g) => regex(g)),
    body_not_matches: opt('body_not_matches', (g) => regex(g)),
    header_assertions: opt('header_assertions', (g) =>
      g.list().map((h) => {
        h.keys(['name', 'matches', 'absent'])
        return {
          name: h.get('name').string(),
          matches: h.get('matches').missing ? undefined : regex(h.get('matches')),
          absent: h.get('absent').missing ? undefined : h.get('absent').boolean(),
        }
      }),
    ),
    degraded_after_ms: opt('degraded_after', (g) => g.duration({ min: 1 })),
    http_version: opt('http_version', (g) => g.oneOf(['1.1', '2'] as const)),
    bypass_header: opt('bypass_header', (g) => {
      g.keys(['name', 'value_env', 'value'])
      const name = g.get('name').string()
      const valueEnv = g.get('value_env').optionalString()
      const value = g.get('value').optionalString()
      if ((valueEnv === undefined) === (value === undefined)) throw g.error('needs exactly one of value_env (preferred: the secret stays on the agent) or value')
      return { name, value_env: valueEnv, value }
    }),
  }
  return dropUndefined(http)
}

function readTls(f: ConfigField, rel: (f: ConfigField) => string): TlsOptions {
  f.keys(['servername', 'ca', 'insecure'])
  const ca = f.get('ca')
  let pem: string | undefined
  if (!ca.missing) {
    pem = readText(ca, rel(ca))
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw ca.error(`${ca.string()} holds no PEM certificate`)
  }
  return dropUndefined({
    servername: f.get('servername').optionalString(),
    ca: pem,
    insecure: f.get('insecure').missing ? undefined : f.get('insecure').boolean(),
  })
}

function readTcp(f: ConfigField): TcpOptions {
  f.keys(['query_response', 'tls'])
  const qr = f.get('query_response')
  return dropUndefined({
    query_response: qr.missing
      ? undefined
      : qr.list().map((step) => {
          step.keys(['send', 'expect'])
          const send = step.get('send').optionalString()
          const expect = step.get('expect').missing ? undefined : regex(step.get('expect'))
          if (send === undefined && expect === undefined) throw step.error('needs send, expect or both')
          return dropUndefined({ send, expect })
        }),
    tls: f.get('tls').missing ? undefined : f.get('tls').boolean(),
  })
}

function readSmtp(f: ConfigField): SmtpOptions {
  f.keys(['starttls', 'tls', 'ehlo'])
  const starttls = f.get('starttls').missing ? undefined : f.get('starttls').boolean()
  const tls = f.get('tls').missing ? undefined : f.get('tls').boolean()
  if (starttls && tls) throw f.get('tls').error('implicit TLS (tls) and starttls exclude each other')
  return dropUndefined({ starttls, tls, ehlo: f.get('ehlo').optionalString() })
}

const DNS_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'MX', 'TXT', 'CNAME', 'NS']

function readDns(f: ConfigField): DnsOptions {
  f.keys(['record_type', 'server', 'transport', 'expect', 'expect_mode', 'expect_rcode'])
  const server = f.get('server')
  if (!server.missing && !/^(\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9a-fA-F:.]+|[^:\s/]+(:\d{1,5})?)$/.test(server.string())) {
    throw server.error(`"${server.string()}" is not IP[:PORT]`)
  }
  const rt = f.get('record_type')
  const recordType = rt.missing ? undefined : (rt.string().toUpperCase() as DnsRecordType)
  if (recordType && !DNS_TYPES.includes(recordType)) throw rt.error(`must be one of ${DNS_TYPES.join(', ')}, got "${rt.string()}"`)
  return dropUndefined({
    record_type: recordType,
    server: server.optionalString(),
    transport: f.get('transport').missing ? undefined : f.get('transport').oneOf(['udp', 'tcp'] as const),
    expect: f.get('expect').missing ? undefined : listOrOne(f.get('expect')).map((e) => e.string()),
    expect_mode: f.get('expect_mode').missing ? undefined : f.get('expect_mode').oneOf(['all', 'any'] as const),
    expect_rcode: f.get('expect_rcode').missing ? undefined : listOrOne(f.get('expect_rcode')).map((e) => e.string().toUpperCase()),
  })
}

// ---------------------------------------------------------------------------------------------
// Small readers

function hostPort(field: ConfigField, fallback: string): HostPort {
  const text = field.missing ? fallback : field.string()
  const hp = parseHostPort(text)
  if (!hp) throw field.error(`"${text}" is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)`)
  return hp
}

export function parseHostPort(text: string): HostPort | null {
  const m = HOST_PORT.exec(text.trim())
  if (!m) return null
  const port = Number(m[2])
  if (port > 65535) return null
  return { host: m[1].replace(/^\[|\]$/g, ''), port }
}

function parseHostPortFlag(flag: string, text: string): HostPort {
  const hp = parseHostPort(text)
  if (!hp) throw new ConfigError(flag, null, '', `"${text}" is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)`)
  return hp
}

/** A list, or one value standing for a list of one (`vantages: edge`). */
function listOrOne(field: ConfigField): ConfigField[] {
  try {
    return field.list()
  } catch {
    return [field]
  }
}

function regex(field: ConfigField): string {
  const source = field.string()
  assertion(field, () => compilePattern(source, field.path))
  return source
}

/** Runs a validator shared with the agent (one implementation) and reports where it failed. */
function assertion(field: ConfigField, fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (err instanceof AssertionConfigError) throw field.error(err.message.replace(/^[^:]*: /, ''))
    throw err
  }
}

function optionalUrl(field: ConfigField): string | null {
  return field.missing ? null : url(field)
}

function url(field: ConfigField): string {
  const text = field.string()
  try {
    const parsed = new URL(text)
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error()
  } catch {
    throw field.error(`"${text}" is not an http(s) URL`)
  }
  return text
}

function optionalSecret(field: ConfigField, rel: (f: ConfigField) => string): string | null {
  if (field.missing) return null
  const secret = readText(field, rel(field)).trim()
  if (!secret) throw field.error(`${field.string()} is empty`)
  return secret
}

function readText(field: ConfigField, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw field.error(`cannot read ${field.string()}: ${errnoText(err)}`)
  }
}

/** An Ed25519 JWK file (proto/keys.ts checks its shape), checked for the half this field needs. */
function readJwk(field: ConfigField, path: string, half: 'public' | 'private'): Ed25519Jwk {
  let jwk: Ed25519Jwk
  try {
    jwk = parseJwk(readText(field, path), field.string())
  } catch (err) {
    if (err instanceof KeyError) throw field.error(err.message.replace(/^[^:]*: /, `${field.string()}: `))
    throw err
  }
  if (half === 'public' && jwk.d !== undefined) {
    throw field.error(`${field.string()} is a private key: register the agent's public key (the .pub.jwk file); the private one stays on the agent`)
  }
  if (half === 'private' && jwk.d === undefined) {
    throw field.error(`${field.string()} is a public key: the hub needs its private key (the .jwk file, not .pub.jwk)`)
  }
  return jwk
}

const SIZE = /^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/

function byteSize(field: ConfigField): number {
  const text = field.string()
  const m = SIZE.exec(text.trim())
  if (!m) throw field.error(`"${text}" is not a size (e.g. 4MiB, 512KiB or a number of bytes)`)
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3 }[m[2] ?? 'B']!
  const bytes = Number(m[1]) * unit
  if (bytes < 1024) throw field.error(`must be at least 1KiB, got ${text}`)
  return bytes
}

function dropUndefined<T extends object>(obj: T): T {
  for (const key of Object.keys(obj) as (keyof T)[]) if (obj[key] === undefined) delete obj[key]
  return obj
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e.code === 'ENOENT' ? 'no such file' : e.code ?? e.message
}
