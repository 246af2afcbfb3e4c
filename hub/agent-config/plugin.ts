// GET /v1/agents/{id}/config: the agent's identity and assigned checks, signed by the hub's key
// (which agents pin). The request is authenticated by the agent's short JWT (Authorization:
// Bearer), signed by the agent's own key.
//
//   200 → the flattened JWS JSON (typ "vantage-agent-config") of an AgentConfig; ETag = version
//   304 → If-None-Match names the current version: nothing changed
//   401 → no token or an invalid one ({ error, reason }); 403 → a token of another agent
import { createHash } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type { CheckSpec } from '../../proto/check.ts'
import { EnvelopeError, signJson, verifyAgentToken } from '../../proto/envelope.ts'
import type { Clock } from '../../agent/core/probe.ts'
import type { AgentInfo, HubConfig } from '../config.ts'
import type { HubMetrics } from '../metrics/metrics.ts'

export const AGENT_CONFIG_TYP = 'vantage-agent-config'

/** The signed payload. */
export interface AgentConfig {
  agent: { id: string; vantage: string; region: string }
  /** Hash of `agent` and `checks`: unchanged version, unchanged config. */
  version: string
  /** Hub clock, unix ms: an agent may refuse a config older than the one it runs. */
  issued_at: number
  checks: CheckSpec[]
}

export interface AgentConfigOptions {
  config: () => HubConfig
  clock: Clock
  metrics: HubMetrics
}

export const agentConfigRoutes: FastifyPluginAsync<AgentConfigOptions> = async (app, { config, clock, metrics }) => {
  app.get<{ Params: { id: string } }>('/v1/agents/:id/config', async (request, reply) => {
    const cfg = config()
    const refuse = (status: number, reason: string, error: string) => {
      metrics.configRequests.inc({ outcome: 'rejected' })
      request.log.warn({ agent: request.params.id, reason, error }, 'agent config refused')
      if (status === 401) reply.header('www-authenticate', `Bearer error="invalid_token"`)
      return reply.code(status).send({ error, reason })
    }

    const auth = request.headers.authorization
    const token = auth && /^Bearer\s+(\S+)$/i.exec(auth)?.[1]
    if (!token) return refuse(401, 'unauthorized', 'this endpoint needs the agent\'s token: Authorization: Bearer <JWT signed by the agent\'s key>')
    let agentId: string
    try {
      ;({ agentId } = await verifyAgentToken(token, (kid) => cfg.agents.get(kid)?.public_key, { now: clock.now() }))
    } catch (err) {
      if (!(err instanceof EnvelopeError)) throw err
      const who = err.reason === 'unknown_kid' ? `unknown agent ${JSON.stringify(err.kid)}` : `token of agent ${err.kid ?? '?'}`
      return refuse(401, err.reason, `${who}: ${err.message}`)
    }
    if (agentId !== request.params.id) {
      return refuse(403, 'agent_mismatch', `agent ${agentId} may read only its own config, not that of ${JSON.stringify(request.params.id)}`)
    }
    if (!cfg.hub_key) return refuse(503, 'no_hub_key', 'the hub has no hub_key configured to sign agent configs')

    const body = configFor(cfg, cfg.agents.get(agentId)!)
    reply.header('etag', `"${body.version}"`).header('cache-control', 'no-cache')
    if (request.headers['if-none-match'] === `"${body.version}"`) {
      metrics.configRequests.inc({ outcome: 'not_modified' })
      return reply.code(304).send()
    }
    const payload: AgentConfig = { ...body, issued_at: clock.now() }
    const jws = await signJson(payload, { kid: cfg.hub_key.jwk.kid ?? 'hub', privateKey: cfg.hub_key.jwk, typ: AGENT_CONFIG_TYP })
    metrics.configRequests.inc({ outcome: 'ok' })
    request.log.info({ agent: agentId, vantage: body.agent.vantage, version: body.version, checks: body.checks.length }, 'agent config served')
    return reply.type('application/json').send(jws)
  })
}

/** The agent's identity and the checks its vantage runs (config order), with their version. */
export function configFor(cfg: HubConfig, agent: AgentInfo): Omit<AgentConfig, 'issued_at'> {
  const checks = [...cfg.checks.values()].filter((c) => c.vantages.includes(agent.vantage)).map((c) => c.spec)
  const identity = { id: agent.id, vantage: agent.vantage, region: agent.region }
  const version = createHash('sha256').update(canonicalJson({ agent: identity, checks })).digest('base64url').slice(0, 22)
  return { agent: identity, version, checks }
}

/** JSON with sorted keys, so equal configs hash equal whatever order they were built in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}
