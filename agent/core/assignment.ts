// The hub's signed assignment (GET /v1/agents/{id}/config), as every agent reads it: the Node
// daemon (agent/daemon/config-client.ts) and the edge worker (agent/edge/config.ts) verify the
// envelope with the pinned hub key and then parse the payload here. One implementation.
// Portable: no `node:` imports.
import type { CheckSpec } from '../../proto/check.ts'
import { EnvelopeError, verifyJson, type FlattenedJWS, type KeyInput } from '../../proto/envelope.ts'

/** What the hub assigns an agent: its identity and its checks, as one signed document. */
export interface AssignedConfig {
  agent_id: string
  vantage: string
  region: string
  /** Changes whenever anything in the document does; an unchanged version is a no-op. */
  version: string
  /** The hub's clock when it signed (unix ms), when it says: an older document is a replay. */
  issued_at: number | null
  checks: CheckSpec[]
}

/** The `typ` of the hub's signed agent config (hub/agent-config/plugin.ts). */
export const AGENT_CONFIG_TYP = 'vantage-agent-config'

/** The signed config's payload is not a usable assignment. */
export class ConfigPayloadError extends Error {
  override readonly name = 'ConfigPayloadError'
}

/**
 * Verifies the hub's answer (the flattened JWS JSON text) with the pinned key and parses it.
 * Throws EnvelopeError (not JSON, bad signature, wrong typ, …) or ConfigPayloadError.
 */
export async function verifyAssignment(
  text: string,
  hubPublicKey: KeyInput,
  agentId: string,
  fallbackVersion?: (payload: unknown) => string,
): Promise<AssignedConfig> {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new EnvelopeError('malformed', 'the config is not JSON (expected a flattened JWS)')
  }
  const { payload } = await verifyJson(envelopeOf(body), hubPublicKey, { typ: AGENT_CONFIG_TYP })
  return parseAssignment(payload, agentId, fallbackVersion)
}

/** The hub answers the flattened JWS itself; `{ "jws": … }` around it is accepted too. */
export function envelopeOf(body: unknown): FlattenedJWS {
  if (!body || typeof body !== 'object' || !('jws' in body)) return body as FlattenedJWS
  const inner = (body as { jws: unknown }).jws
  try {
    return (typeof inner === 'string' ? JSON.parse(inner) : inner) as FlattenedJWS
  } catch {
    throw new EnvelopeError('malformed', 'the config\'s "jws" is not JSON')
  }
}

/**
 * Checks the verified payload's shape; a config for another agent is refused. The hub's shape is
 * `{ agent: { id, vantage, region }, version, issued_at, checks }`. Without a version from the
 * hub, `fallbackVersion` derives one from the content (default: the content's canonical JSON).
 */
export function parseAssignment(payload: unknown, agentId: string, fallbackVersion?: (payload: unknown) => string): AssignedConfig {
  if (!isObject(payload)) throw new ConfigPayloadError('payload is not an object')
  const agent = isObject(payload.agent) ? payload.agent : {}
  const id = agent.id ?? payload.agent_id
  if (id !== agentId) throw new ConfigPayloadError(`the config is for agent ${JSON.stringify(id)}, not ${JSON.stringify(agentId)}`)
  const vantage = agent.vantage ?? payload.vantage
  const region = agent.region ?? payload.region
  if (typeof vantage !== 'string' || vantage === '') throw new ConfigPayloadError('payload has no vantage')
  if (!Array.isArray(payload.checks)) throw new ConfigPayloadError('payload has no checks list')
  const version =
    typeof payload.version === 'string' || typeof payload.version === 'number'
      ? String(payload.version)
      : (fallbackVersion ?? stableKey)(payload)
  return {
    agent_id: agentId,
    vantage,
    region: typeof region === 'string' ? region : '',
    version,
    issued_at: typeof payload.issued_at === 'number' ? payload.issued_at : null,
    checks: payload.checks as CheckSpec[],
  }
}

/** JSON with object keys sorted, so equal values give equal text. */
export function stableKey(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
