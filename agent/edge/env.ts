// The worker's settings, by the names DESIGN.md fixes ("The edge worker"): vars HUB_URL,
// AGENT_ID, HUB_PUBLIC_KEY (the hub's public JWK as JSON text), MANUAL_RUN_TOKEN; secrets
// AGENT_PRIVATE_KEY (the worker's private JWK as JSON text) and BYPASS_TOKEN. Read once per
// isolate and checked, so a mistake names the setting (never its value).
import { isSafeId, KeyError, parseJwk, SAFE_ID, type Ed25519Jwk } from '../../proto/keys.ts'
import type { VantageQueue } from './queue.ts'

export interface Env {
  HUB_URL?: string
  AGENT_ID?: string
  HUB_PUBLIC_KEY?: string
  AGENT_PRIVATE_KEY?: string
  MANUAL_RUN_TOKEN?: string
  BYPASS_TOKEN?: string
  /** debug | info | warn | error (default info). */
  LOG_LEVEL?: string
  /** Optional Durable Object binding: undelivered batches wait there for the next run. */
  QUEUE?: DurableObjectNamespace<VantageQueue>
  /** Most batches the queue keeps (default 1440: a day of one-minute runs). */
  QUEUE_MAX_BATCHES?: string
  /** Other secrets a check's bypass_header.value_env may name. */
  [name: string]: unknown
}

export interface Settings {
  hubUrl: string
  agentId: string
  hubPublicKey: Ed25519Jwk
  privateKey: Ed25519Jwk
  manualRunToken: string | null
  /** Secrets probes may use by name (bypass tokens); never the agent's key or the run token. */
  secrets: Readonly<Record<string, string | undefined>>
  queueMaxBatches: number
}

/** A setting is missing or wrong; the message names it and says how to fix it. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError'
}

/** Settings a check may never name as its bypass secret: they would leave the worker. */
const PRIVATE_SETTINGS = new Set(['AGENT_PRIVATE_KEY', 'MANUAL_RUN_TOKEN'])

export const DEFAULT_QUEUE_MAX_BATCHES = 1440

// Parsed once per isolate: the JWK objects double as keys of proto/envelope.ts's import cache.
let cached: { raw: string; settings: Settings } | null = null

export function readSettings(env: Env): Settings {
  const raw = JSON.stringify([env.HUB_URL, env.AGENT_ID, env.HUB_PUBLIC_KEY, env.AGENT_PRIVATE_KEY, env.MANUAL_RUN_TOKEN, env.QUEUE_MAX_BATCHES])
  if (cached?.raw === raw) return { ...cached.settings, secrets: secretsOf(env) }
  const settings = parse(env)
  cached = { raw, settings }
  return settings
}

function parse(env: Env): Settings {
  const hubUrl = required(env, 'HUB_URL', 'var')
  let url: URL
  try {
    url = new URL(hubUrl)
  } catch {
    throw new SettingsError('HUB_URL: not a URL (expected the hub\'s base URL, e.g. https://hub.example.net)')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SettingsError(`HUB_URL: unsupported scheme ${url.protocol} (use https:)`)

  const agentId = required(env, 'AGENT_ID', 'var')
  if (!isSafeId(agentId)) throw new SettingsError(`AGENT_ID: ${JSON.stringify(agentId)} is not a valid agent id (it must match ${SAFE_ID})`)

  const hubPublicKey = jwk(env, 'HUB_PUBLIC_KEY', 'var')
  if (hubPublicKey.d !== undefined) {
    throw new SettingsError('HUB_PUBLIC_KEY: this is a private key (it has field "d"): give the hub\'s public key (hub.pub.jwk); the private one stays on the hub')
  }
  const privateKey = jwk(env, 'AGENT_PRIVATE_KEY', 'secret')
  if (privateKey.d === undefined) {
    throw new SettingsError('AGENT_PRIVATE_KEY: this is a public key (no field "d"): put the worker\'s private key (the .jwk file, not .pub.jwk) with `wrangler secret put AGENT_PRIVATE_KEY`')
  }

  const token = typeof env.MANUAL_RUN_TOKEN === 'string' && env.MANUAL_RUN_TOKEN.trim() !== '' ? env.MANUAL_RUN_TOKEN.trim() : null
  if (token !== null && token.length < 16) throw new SettingsError('MANUAL_RUN_TOKEN: too short (use at least 16 random characters, e.g. `openssl rand -hex 24`)')

  let queueMaxBatches = DEFAULT_QUEUE_MAX_BATCHES
  if (env.QUEUE_MAX_BATCHES !== undefined && env.QUEUE_MAX_BATCHES !== '') {
    queueMaxBatches = Number(env.QUEUE_MAX_BATCHES)
    if (!Number.isInteger(queueMaxBatches) || queueMaxBatches < 1) throw new SettingsError(`QUEUE_MAX_BATCHES: expected a positive integer, got ${JSON.stringify(env.QUEUE_MAX_BATCHES)}`)
  }

  return { hubUrl: hubUrl.replace(/\/+$/, ''), agentId, hubPublicKey, privateKey, manualRunToken: token, secrets: secretsOf(env), queueMaxBatches }
}

function required(env: Env, name: string, kind: 'var' | 'secret'): string {
  const value = env[name]
  if (typeof value !== 'string' || value.trim() === '') {
    const how = kind === 'secret' ? `\`wrangler secret put ${name}\` (or .dev.vars locally)` : `[vars] in wrangler.toml (or --var ${name}:…)`
    throw new SettingsError(`${name}: not set; set it with ${how}`)
  }
  return value.trim()
}

function jwk(env: Env, name: string, kind: 'var' | 'secret'): Ed25519Jwk {
  const text = required(env, name, kind)
  if (kind === 'secret') {
    // JSON.parse's message quotes the input: never let a piece of a secret reach a log.
    try {
      JSON.parse(text)
    } catch {
      throw new SettingsError(`${name}: not JSON; expected an Ed25519 JWK (the whole .jwk file as text)`)
    }
  }
  try {
    return parseJwk(text, name)
  } catch (err) {
    if (err instanceof KeyError) throw new SettingsError(err.message)
    throw err
  }
}

function secretsOf(env: Env): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === 'string' && !PRIVATE_SETTINGS.has(name)) out[name] = value
  }
  return out
}
