// agent.yaml: read once, validated with errors that name the file, line and field, then passed
// in. The names DESIGN.md fixes (id, private_key, hub, data, source_address, outbox_max,
// canaries) plus what running an agent needs; the vantage and region come from the hub.
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { ConfigError, readYaml, type ConfigField } from '../../proto/config-reader.ts'
import { checkJwk, isSafeId, KeyError, SAFE_ID, type Ed25519Jwk } from '../../proto/keys.ts'

export { ConfigError }

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface HubEndpoint {
  /** Base URL of the hub's HTTP API (config, and results when there is no gRPC). */
  url: string
  /** host:port of the hub's gRPC listener; null: push over HTTP. */
  grpc: string | null
  /** The hub's public key, pinned: configs not signed by it are refused. */
  public_key: Ed25519Jwk
  public_key_file: string
}

export interface AgentConfig {
  /** The file this came from (absolute), for messages and SIGHUP reloads. */
  file: string
  id: string
  private_key: Ed25519Jwk
  private_key_file: string
  hub: HubEndpoint
  /** Directory of the durable outbox and the cached hub config. */
  data: string
  source_address?: string
  /** Most results kept while the hub is unreachable; beyond it the oldest are dropped and counted. */
  outbox_max: number
  canaries: string[]
  canary_interval_ms: number
  canary_timeout_ms: number
  /** Most probes running at once. */
  concurrency: number
  /** Most results per pushed batch. */
  batch_size: number
  /** How often the assigned checks are fetched again. */
  config_refresh_ms: number
  /** Extra trusted CA certificates (PEM) for every probe. */
  ca?: string
  ca_file?: string
  log_level: LogLevel
}

export const DEFAULTS = {
  outbox_max: 100_000,
  concurrency: 16,
  batch_size: 500,
  config_refresh_ms: 30_000,
  canary_interval_ms: 30_000,
  canary_timeout_ms: 5_000,
  log_level: 'info' as LogLevel,
  data: './agent-data',
}

const TOP_KEYS = [
  'id',
  'private_key',
  'hub',
  'data',
  'source_address',
  'outbox_max',
  'canaries',
  'canary_interval',
  'canary_timeout',
  'concurrency',
  'batch_size',
  'config_refresh',
  'ca_file',
  'log_level',
] as const
const HUB_KEYS = ['url', 'grpc', 'public_key'] as const

export function loadAgentConfig(file: string): AgentConfig {
  const path = resolve(file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(file, null, '', `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  return parseAgentConfig(text, path)
}

/** `file` names the config in errors and anchors its relative paths. */
export function parseAgentConfig(text: string, file: string): AgentConfig {
  const root = readYaml(text, file)
  if (root.missing) throw root.error('the file is empty; expected at least id, private_key and hub')
  root.keys(TOP_KEYS)
  const base = dirname(resolve(file))

  const idField = root.get('id')
  const id = idField.string()
  if (!isSafeId(id)) throw idField.error(`"${id}" is not a valid agent id (${SAFE_ID})`)

  const privateKeyField = root.get('private_key')
  const privateKeyFile = resolve(base, privateKeyField.string())
  const privateKey = readKey(privateKeyField, privateKeyFile, 'private')

  const hubField = root.get('hub')
  if (hubField.missing) throw hubField.error('is required: { url, public_key, grpc (optional) }')
  hubField.keys(HUB_KEYS)
  const publicKeyField = hubField.get('public_key')
  const publicKeyFile = resolve(base, publicKeyField.string())
  const hub: HubEndpoint = {
    url: httpUrl(hubField.get('url')).replace(/\/+$/, ''),
    grpc: hubField.get('grpc').missing ? null : hostPort(hubField.get('grpc')),
    public_key: readKey(publicKeyField, publicKeyFile, 'public'),
    public_key_file: publicKeyFile,
  }

  const sourceField = root.get('source_address')
  const source_address = sourceField.optionalString()
  if (source_address !== undefined && isIP(source_address) === 0) {
    throw sourceField.error(`"${source_address}" is not an IP address (a local address to bind probes to)`)
  }

  const caField = root.get('ca_file')
  const ca_file = caField.missing ? undefined : resolve(base, caField.string())
  let ca: string | undefined
  if (ca_file) {
    try {
      ca = readFileSync(ca_file, 'utf8')
    } catch (err) {
      throw caField.error(`cannot read ${ca_file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw caField.error(`${ca_file} holds no PEM certificate`)
  }

  const outbox_max = optional(root.get('outbox_max'), (f) => f.number({ integer: true, min: 1 }), DEFAULTS.outbox_max)
  const batchField = root.get('batch_size')
  const batch_size = optional(batchField, (f) => f.number({ integer: true, min: 1, max: 10_000 }), DEFAULTS.batch_size)
  if (batch_size > outbox_max) throw batchField.error(`must not exceed outbox_max (${outbox_max})`)

  return {
    file: resolve(file),
    id,
    private_key: privateKey,
    private_key_file: privateKeyFile,
    hub,
    data: resolve(base, optional(root.get('data'), (f) => f.string(), DEFAULTS.data)),
    source_address,
    outbox_max,
    canaries: root.get('canaries').list().map(httpUrl),
    canary_interval_ms: optional(root.get('canary_interval'), (f) => f.duration({ min: 1000 }), DEFAULTS.canary_interval_ms),
    canary_timeout_ms: optional(root.get('canary_timeout'), (f) => f.duration({ min: 100 }), DEFAULTS.canary_timeout_ms),
    concurrency: optional(root.get('concurrency'), (f) => f.number({ integer: true, min: 1, max: 1024 }), DEFAULTS.concurrency),
    batch_size,
    config_refresh_ms: optional(root.get('config_refresh'), (f) => f.duration({ min: 1000 }), DEFAULTS.config_refresh_ms),
    ca,
    ca_file,
    log_level: optional(root.get('log_level'), (f) => f.oneOf(LOG_LEVELS), DEFAULTS.log_level),
  }
}

function optional<T>(field: ConfigField, read: (f: ConfigField) => T, fallback: T): T {
  return field.missing ? fallback : read(field)
}

/** Reads and checks a JWK file; errors name the config line that points at it, and the file. */
function readKey(field: ConfigField, path: string, kind: 'private' | 'public'): Ed25519Jwk {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw field.error(`cannot read ${kind} key ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  let jwk: Ed25519Jwk
  try {
    jwk = checkJwk(JSON.parse(text), path)
  } catch (err) {
    const reason = err instanceof KeyError ? err.message : `${path}: not JSON (${(err as Error).message})`
    throw field.error(reason)
  }
  if (kind === 'private' && jwk.d === undefined) {
    throw field.error(`${path} is a public key; private_key must be the agent's private JWK (vantage keygen writes ID.jwk)`)
  }
  if (kind === 'public' && jwk.d !== undefined) {
    throw field.error(`${path} is a private key; give the hub's public key (hub.pub.jwk): the hub's private key must not leave the hub`)
  }
  return jwk
}

function httpUrl(field: ConfigField): string {
  const text = field.string()
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw field.error(`"${text}" is not a URL (expected e.g. http://127.0.0.1:8080)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw field.error(`"${text}" must be an http:// or https:// URL`)
  return text
}

function hostPort(field: ConfigField): string {
  const text = field.string()
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d{1,5})$/.exec(text)
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw field.error(`"${text}" is not HOST:PORT (e.g. 127.0.0.1:8081)`)
  return text
}
