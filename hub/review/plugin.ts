// The operator API under /api/v1 (DESIGN.md; issue 4, "Review API"): the quorum view of every
// check, one check with each vantage's latest result as evidence, the result history, the
// checks whose vantages disagree now, incidents, acks and vantage mutes. Every route is
// authorized first (auth.ts: the bearer token, or the review page's session cookie, or loopback
// without a token); errors are { error, code } (errors.ts). Times are unix ms, as in
// the quorum view (hub/quorum/types.ts); query parameters and request bodies take ISO 8601.
import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { parseDuration } from '../../proto/duration.ts'
import type { Clock } from '../../agent/core/probe.ts'
import type { HubCheck, HubConfig } from '../config.ts'
import type { QuorumEngine } from '../quorum/engine.ts'
import type { CheckView } from '../quorum/types.ts'
import { VANTAGE_VOTES, type VantageVote } from '../quorum/types.ts'
import type { Store } from '../store/store.ts'
import { authorizeRequest } from './auth.ts'
import { ApiError } from './errors.ts'

export interface ReviewApiOptions {
  engine: QuorumEngine
  store: Store
  config: () => HubConfig
  clock: Clock
}

/** Operator requests are small notes: anything larger is a mistake. */
export const MAX_BODY_BYTES = 16 * 1024
export const MAX_HISTORY_LIMIT = 1000
const DEFAULT_HISTORY_LIMIT = 100
const MAX_NOTE = 2000
const MAX_NAME = 200

type Query = Record<string, string | string[] | undefined>

export const reviewApi: FastifyPluginAsync<ReviewApiOptions> = async (app, { engine, store, config, clock }) => {
  // JSON bodies only; an empty body is no body (POST …/unmute needs none).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(['application/json'], { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_request, text, done) => {
    if (typeof text !== 'string' || text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text) as unknown)
    } catch (err) {
      done(new ApiError('bad_request', `the body is not valid JSON: ${(err as Error).message}`), undefined)
    }
  })
  app.addHook('onRequest', async (request) => {
    authorizeRequest(config().operator_token, request)
  })

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const e = toApiError(err)
    if (e.code === 'internal') request.log.error({ error: err.message, url: request.url }, 'operator API failed')
    if (e.code === 'unauthorized') reply.header('www-authenticate', 'Bearer realm="vantage operator API"')
    return reply.code(e.status).send({ error: e.message, code: e.code })
  })
  app.setNotFoundHandler((request, reply) => {
    // Not found, but only after authorization: the route list is not for strangers either.
    try {
      authorizeRequest(config().operator_token, request)
    } catch (err) {
      const e = err as ApiError
      return reply.code(e.status).send({ error: e.message, code: e.code })
    }
    return reply.code(404).send({ error: `no operator API route ${request.method} ${request.url.split('?')[0]}`, code: 'not_found' })
  })

  const checkOf = (name: string): HubCheck => {
    const check = config().checks.get(name)
    if (!check) throw new ApiError('check_not_found', `no check named ${JSON.stringify(name)} is configured${known([...config().checks.keys()])}`)
    return check
  }
  const vantageOf = (name: string): string => {
    if (!config().vantages.has(name)) {
      throw new ApiError('vantage_not_found', `no vantage named ${JSON.stringify(name)} is configured${known([...config().vantages.keys()])}`)
    }
    return name
  }
  const viewOf = (name: string): CheckView => {
    checkOf(name)
    const view = engine.check(name)
    if (!view) throw new ApiError('check_not_found', `check ${JSON.stringify(name)} has no quorum view yet`)
    return view
  }

  app.get('/checks', async (request) => {
    onlyParams(request.query as Query, [])
    const snap = engine.snapshot()
    return { at: snap.at, checks: snap.checks.map(summary) }
  })

  app.get<{ Params: { name: string } }>('/checks/:name', async (request) => {
    onlyParams(request.query as Query, [])
    const check = checkOf(request.params.name)
    const view = viewOf(request.params.name)
    const incident = view.incident_id !== null ? (engine.incident(view.incident_id) ?? null) : null
    return {
      ...view,
      interval_ms: check.spec.interval_ms,
      stale_after_ms: check.stale_after_ms,
      quorum: {
        min_down: 'count' in check.quorum.min_down ? check.quorum.min_down.count : `${check.quorum.min_down.numerator}/${check.quorum.min_down.denominator}`,
        for_ms: check.quorum.for_ms,
        resolve_after_ms: check.quorum.resolve_after_ms,
      },
      incident,
    }
  })

  app.get<{ Params: { name: string } }>('/checks/:name/results', async (request) => {
    const q = request.query as Query
    onlyParams(q, ['vantage', 'since', 'limit'])
    const check = checkOf(request.params.name)
    const vantage = param(q, 'vantage')
    if (vantage !== undefined) vantageOf(vantage)
    const sinceText = param(q, 'since')
    const since = sinceText === undefined ? undefined : isoParam('since', sinceText)
    const limitText = param(q, 'limit')
    const limit = limitText === undefined ? DEFAULT_HISTORY_LIMIT : intParam('limit', limitText, 1, MAX_HISTORY_LIMIT)
    const results = store.history({ check: check.spec.name, vantage, since, limit })
    return { check: check.spec.name, vantage: vantage ?? null, since: since ?? null, limit, results }
  })

  app.post<{ Params: { name: string } }>('/checks/:name/ack', { bodyLimit: MAX_BODY_BYTES }, async (request) => {
    const check = checkOf(request.params.name)
    const body = objectBody(request)
    onlyFields(body, ['note', 'by'])
    const note = stringField(body, 'note', MAX_NOTE, true)!
    const by = stringField(body, 'by', MAX_NAME, false)
    const ack = engine.ack(check.spec.name, note, by)
    return { check: check.spec.name, ack }
  })

  app.get('/disagreements', async (request) => {
    onlyParams(request.query as Query, [])
    const snap = engine.snapshot()
    const disagreements = snap.checks
      .filter((c) => c.disagreement)
      .sort((a, b) => (a.disagreement_since ?? 0) - (b.disagreement_since ?? 0))
      .map((c) => ({
        check: c.name,
        type: c.type,
        target: c.target,
        state: c.state,
        since: c.disagreement_since,
        duration_seconds: c.disagreement_since === null ? 0 : Math.max(0, (snap.at - c.disagreement_since) / 1000),
        up: c.vantages.filter((v) => v.eligible && v.vote === 'up').map((v) => v.vantage),
        down: c.vantages.filter((v) => v.eligible && v.vote === 'down').map((v) => v.vantage),
        ack: c.ack ?? null,
        vantages: c.vantages.map((v) => ({
          vantage: v.vantage,
          region: v.region,
          vote: v.vote,
          impaired: v.impaired,
          eligible: v.eligible ?? false,
          agents: v.agents,
          error: v.latest?.error ?? null,
          error_code: v.latest?.error_code ?? null,
          status_code: v.latest?.http?.status_code ?? null,
          result_id: v.latest?.result_id ?? null,
          started_at: v.latest?.started_at ?? null,
        })),
      }))
    return { at: snap.at, disagreements }
  })

  app.get('/incidents', async (request) => {
    const q = request.query as Query
    onlyParams(q, ['check', 'open', 'limit'])
    const check = param(q, 'check')
    const openText = param(q, 'open')
    let open: boolean | undefined
    if (openText !== undefined) {
      if (openText !== 'true' && openText !== 'false') throw new ApiError('bad_request', `open must be true or false, got ${JSON.stringify(openText)}`)
      open = openText === 'true'
    }
    const limitText = param(q, 'limit')
    const limit = limitText === undefined ? DEFAULT_HISTORY_LIMIT : intParam('limit', limitText, 1, MAX_HISTORY_LIMIT)
    // A removed check's incidents stay listed, so `check` is not required to be configured.
    return { incidents: engine.incidents({ check, open, limit }) }
  })

  app.get<{ Params: { id: string } }>('/incidents/:id', async (request) => {
    onlyParams(request.query as Query, [])
    const id = intParam('id', request.params.id, 1, Number.MAX_SAFE_INTEGER)
    const incident = engine.incident(id)
    if (!incident) throw new ApiError('incident_not_found', `no incident with id ${id}`)
    return incident
  })

  app.get('/vantages', async (request) => {
    onlyParams(request.query as Query, [])
    const cfg = config()
    const snap = engine.snapshot()
    const stale = new Set(snap.stale_agents.map((a) => a.agent))
    const seen = new Map([...store.agentsSeen()].map((a) => [a.agent_id, a]))
    const mutes = new Map(engine.activeMutes().map((m) => [m.vantage, m]))
    return {
      at: snap.at,
      vantages: [...cfg.vantages.values()].map((v) => ({
        vantage: v.name,
        region: v.region,
        failure_domain: v.failure_domain ?? null,
        capabilities: v.capabilities ?? null,
        mute: mutes.get(v.name) ?? null,
        agents: [...cfg.agents.values()]
          .filter((a) => a.vantage === v.name)
          .map((a) => ({ agent: a.id, last_seen: seen.get(a.id)?.last_seen ?? null, stale: stale.has(a.id) })),
        checks: [...cfg.checks.values()].filter((c) => c.vantages.includes(v.name)).map((c) => c.spec.name),
      })),
    }
  })

  app.post<{ Params: { name: string } }>('/vantages/:name/mute', { bodyLimit: MAX_BODY_BYTES }, async (request) => {
    const vantage = vantageOf(request.params.name)
    const body = objectBody(request)
    onlyFields(body, ['reason', 'until', 'by'])
    const reason = stringField(body, 'reason', MAX_NOTE, true)!
    const by = stringField(body, 'by', MAX_NAME, false)
    const untilText = stringField(body, 'until', MAX_NAME, false)
    const until = untilText === undefined ? null : muteUntil(untilText, clock.now())
    const mute = engine.mute(vantage, { reason, until, by })
    return { vantage, mute }
  })

  app.post<{ Params: { name: string } }>('/vantages/:name/unmute', { bodyLimit: MAX_BODY_BYTES }, async (request) => {
    const vantage = vantageOf(request.params.name)
    const body = request.body === undefined || request.body === null ? {} : objectBody(request)
    onlyFields(body, ['by'])
    const by = stringField(body, 'by', MAX_NAME, false)
    return { vantage, unmuted: engine.unmute(vantage, by) }
  })

  app.get('/snapshot', async (request) => {
    onlyParams(request.query as Query, [])
    return engine.snapshot()
  })
}

/** One line of GET /api/v1/checks. */
function summary(c: CheckView) {
  const votes = Object.fromEntries(VANTAGE_VOTES.map((v) => [v, 0])) as Record<VantageVote, number>
  for (const v of c.vantages) votes[v.vote]++
  return {
    name: c.name,
    type: c.type,
    target: c.target,
    state: c.state,
    since: c.since,
    votes,
    impaired: c.vantages.filter((v) => v.impaired).map((v) => v.vantage),
    eligible: c.eligible,
    up: c.up,
    down: c.down,
    min_down: c.min_down,
    disagreement: c.disagreement,
    disagreement_since: c.disagreement_since,
    all_challenged: c.all_challenged,
    cert_mismatch: c.cert_mismatch,
    incident_id: c.incident_id,
    severity: c.severity,
    in_maintenance: c.in_maintenance,
    ack: c.ack ?? null,
  }
}

// ---------------------------------------------------------------------------------------------
// Parameters and bodies, with errors that say what to send instead

function known(names: string[]): string {
  return names.length ? ` (configured: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''})` : ''
}

function onlyParams(q: Query, allowed: string[]): void {
  for (const key of Object.keys(q ?? {})) {
    if (!allowed.includes(key)) {
      throw new ApiError('bad_request', `unknown query parameter ${JSON.stringify(key)}${allowed.length ? ` (this route takes ${allowed.join(', ')})` : ' (this route takes none)'}`)
    }
  }
}

function param(q: Query, name: string): string | undefined {
  const v = q[name]
  if (v === undefined) return undefined
  if (Array.isArray(v)) throw new ApiError('bad_request', `${name} is given ${v.length} times: give it once`)
  if (v === '') throw new ApiError('bad_request', `${name} is empty`)
  return v
}

function intParam(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new ApiError('bad_request', `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`)
  const n = Number(text)
  if (n < min || n > max) throw new ApiError('bad_request', `${name} must be from ${min} to ${max}, got ${n}`)
  return n
}

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/** An ISO 8601 date or time, normalised to the form results carry (so text comparison orders). */
function isoParam(name: string, text: string): string {
  const ms = ISO.test(text) ? Date.parse(text) : NaN
  if (Number.isNaN(ms)) throw new ApiError('bad_request', `${name} must be an ISO 8601 time such as 2026-11-22T10:00:00Z, got ${JSON.stringify(text)}`)
  return new Date(ms).toISOString()
}

/** `until`: an ISO 8601 time in the future, or a duration from now (30m, 2h, 1d). */
function muteUntil(text: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = ISO.test(text) ? Date.parse(text) : NaN
    if (Number.isNaN(ms)) throw new ApiError('bad_request', `until must be an ISO 8601 time (2026-11-22T10:00:00Z) or a duration (30m, 2h), got ${JSON.stringify(text)}`)
    if (ms <= now) throw new ApiError('bad_request', `until (${new Date(ms).toISOString()}) is not in the future`)
    return ms
  }
  let d: number
  try {
    d = parseDuration(text)
  } catch {
    throw new ApiError('bad_request', `until must be an ISO 8601 time (2026-11-22T10:00:00Z) or a duration (30m, 2h), got ${JSON.stringify(text)}`)
  }
  if (d <= 0) throw new ApiError('bad_request', 'until must be a duration above zero')
  return now + d
}

function objectBody(request: FastifyRequest): Record<string, unknown> {
  const body = request.body
  if (body === undefined || body === null) throw new ApiError('bad_request', 'the body must be a JSON object')
  if (typeof body !== 'object' || Array.isArray(body)) throw new ApiError('bad_request', 'the body must be a JSON object')
  return body as Record<string, unknown>
}

function onlyFields(body: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw new ApiError('bad_request', `unknown field ${JSON.stringify(key)} (this route takes ${allowed.join(', ')})`)
  }
}

function stringField(body: Record<string, unknown>, name: string, max: number, required: boolean): string | undefined {
  const v = body[name]
  if (v === undefined || v === null) {
    if (required) throw new ApiError('bad_request', `${name} is required (a non-empty string)`)
    return undefined
  }
  if (typeof v !== 'string') throw new ApiError('bad_request', `${name} must be a string, got ${Array.isArray(v) ? 'an array' : typeof v}`)
  const text = v.trim()
  if (text === '') {
    if (required) throw new ApiError('bad_request', `${name} is empty`)
    return undefined
  }
  if (text.length > max) throw new ApiError('bad_request', `${name} is ${text.length} characters long; at most ${max}`)
  return text
}

function toApiError(err: FastifyError): ApiError {
  if (err instanceof ApiError) return err
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('body_too_large', `the body is over the ${MAX_BODY_BYTES}-byte limit of the operator API`)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'the body must be JSON: send Content-Type: application/json')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('bad_request', `the body is not valid JSON: ${err.message}`)
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new ApiError('bad_request', err.message)
  return new ApiError('internal', 'internal error: see the hub log')
}
