// The worker's assignment: GET {HUB_URL}/v1/agents/{AGENT_ID}/config with a short JWT signed by
// the worker's key, accepted only when signed by the pinned hub key (HUB_PUBLIC_KEY), verified
// and parsed by the same code as the Node agent's (agent/core/assignment.ts). The last good
// config is kept between runs: in the isolate, and in the queue's Durable Object when bound (as
// the signed text, verified again when read). ETag / If-None-Match make an unchanged config a 304.
//
// A failed fetch, a bad signature or a malformed payload never replaces the last good config;
// without one, nothing is probed.
import { createAgentToken, EnvelopeError } from '../../proto/envelope.ts'
import { ConfigPayloadError, verifyAssignment, type AssignedConfig } from '../core/assignment.ts'
import type { Settings } from './env.ts'
import type { EdgeLogger } from './log.ts'
import type { Outbox } from './queue.ts'

export interface ConfigProblem {
  /** refused: the answer failed verification; rejected: the hub refused us; unreachable: no answer. */
  kind: 'refused' | 'rejected' | 'unreachable'
  reason: string
  message: string
}

export interface ConfigOutcome {
  /** The config to probe with (the last good one when this run's fetch failed), or null. */
  config: AssignedConfig | null
  /** hub: fetched now; unchanged: the hub said 304; kept: this run's fetch failed. */
  source: 'hub' | 'unchanged' | 'kept' | null
  problem?: ConfigProblem
}

const REQUEST_TIMEOUT_MS = 10_000

// The last good config of this isolate, for the settings it was fetched with.
let isolate: { key: string; config: AssignedConfig } | null = null

export async function loadAssignment(s: Settings, outbox: Outbox, log: EdgeLogger, now: () => number): Promise<ConfigOutcome> {
  const key = `${s.hubUrl} ${s.agentId} ${s.hubPublicKey.x}`
  let current = isolate?.key === key ? isolate.config : null
  if (!current) current = await fromStorage(s, outbox, log)

  const url = `${s.hubUrl}/v1/agents/${encodeURIComponent(s.agentId)}/config`
  const keeping = current ? `keeping config version ${current.version}` : 'no config yet: nothing is probed'
  const kept = (problem: ConfigProblem): ConfigOutcome => ({ config: current, source: current ? 'kept' : null, problem })

  let res: Response
  let text: string
  try {
    const token = await createAgentToken(s.agentId, s.privateKey, now())
    res = await fetch(url, {
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(current ? { 'if-none-match': `"${current.version}"` } : {}),
      },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    text = await res.text()
  } catch (err) {
    const message = `GET ${url}: ${(err as Error).message}`
    log.warn({ err: message }, `cannot fetch the config from the hub (${keeping})`)
    return kept({ kind: 'unreachable', reason: 'unreachable', message })
  }
  if (res.status === 304 && current) return remember(key, { config: current, source: 'unchanged' })
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    const message = `GET ${url}: HTTP ${res.status}: ${text.slice(0, 200)}`
    log.warn({ err: message, status: res.status }, `cannot fetch the config from the hub (${keeping})`)
    return kept({ kind: 'unreachable', reason: `http_${res.status}`, message })
  }
  if (res.status < 200 || res.status >= 300) {
    const reason = reasonOf(text) ?? `http_${res.status}`
    const message = `GET ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`
    log.error({ err: message, reason, status: res.status }, `the hub refused this worker's config request (${keeping}); is AGENT_ID registered in hub.yaml with this worker's public key?`)
    return kept({ kind: 'rejected', reason, message })
  }

  let config: AssignedConfig
  try {
    config = await verifyAssignment(text, s.hubPublicKey, s.agentId)
    if (current?.issued_at != null && config.issued_at != null && config.issued_at < current.issued_at) {
      // Signed by the hub, but older than what we run: someone is replaying an old config.
      throw new ConfigPayloadError(`config version ${config.version} was issued at ${new Date(config.issued_at).toISOString()}, before the one in use (${current.version})`)
    }
  } catch (err) {
    if (!(err instanceof EnvelopeError) && !(err instanceof ConfigPayloadError)) throw err
    const reason = err instanceof EnvelopeError ? err.reason : 'bad_payload'
    log.error({ err: err.message, reason }, `REFUSED the hub's config: it does not verify with HUB_PUBLIC_KEY or is not a valid assignment (${keeping})`)
    return kept({ kind: 'refused', reason, message: err.message })
  }
  if (config.version !== current?.version) {
    log.info({ version: config.version, previous: current?.version ?? null, vantage: config.vantage, region: config.region, checks: config.checks.length }, 'config accepted')
    await outbox.saveConfig(text).catch((err: Error) => log.warn({ err: err.message }, 'cannot keep the config in the queue storage'))
  }
  return remember(key, { config, source: 'hub' })
}

function remember(key: string, outcome: ConfigOutcome & { config: AssignedConfig }): ConfigOutcome {
  isolate = { key, config: outcome.config }
  return outcome
}

/** The config kept in the Durable Object, verified again; null when none or not trustworthy. */
async function fromStorage(s: Settings, outbox: Outbox, log: EdgeLogger): Promise<AssignedConfig | null> {
  let text: string | null
  try {
    text = await outbox.loadConfig()
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cannot read the config kept in the queue storage')
    return null
  }
  if (text === null) return null
  try {
    return await verifyAssignment(text, s.hubPublicKey, s.agentId)
  } catch (err) {
    log.error({ err: (err as Error).message }, 'ignoring the kept config: it does not verify with HUB_PUBLIC_KEY')
    return null
  }
}

function reasonOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { reason?: unknown }
    return typeof body.reason === 'string' ? body.reason : undefined
  } catch {
    return undefined
  }
}
