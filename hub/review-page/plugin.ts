// The review page (issue 4, item 6), server-rendered from the quorum view:
//   GET  /review                 disagreements first, then outages, then every other check, and the vantages
//   GET  /review?check=NAME      one check: each vantage's evidence and its last hour as a timeline
//   GET  /review?vantage=NAME    the checks one vantage runs (VantageStale links here)
//   POST /review/login           the operator token from the sign-in form → session cookie
//   POST /review/logout          ends the session
// The page refreshes its <main> by fetching the same URL with `x-vantage-fragment: 1`; its
// buttons call the operator API (/api/v1, hub/review/plugin.ts).
//
// Who may see it is who may use the operator API (hub/review/auth.ts): loopback clients when no
// operator token is configured; otherwise the bearer token, or — for a browser — the token given
// once (the sign-in form, or `?token=`, which is then dropped from the address) and kept as an
// HttpOnly, SameSite=Strict session cookie that the operator API accepts too.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Clock } from '../../agent/core/probe.ts'
import type { ProbeResult } from '../../proto/result.ts'
import type { HubConfig } from '../config.ts'
import type { QuorumEngine } from '../quorum/engine.ts'
import { authorizeRequest, sameSecret, SESSION_COOKIE, sessionValue } from '../review/auth.ts'
import { ApiError } from '../review/errors.ts'
import type { Store } from '../store/store.ts'
import { CONTENT_SECURITY_POLICY } from './assets.ts'
import { HISTORY_MS, renderDetailMain, renderLogin, renderMessage, renderOverviewMain, renderPage, type Chrome, type VantageRow } from './render.ts'

export interface ReviewPageOptions {
  engine: QuorumEngine
  store: Store
  config: () => HubConfig
  clock: Clock
}

/** How long a sign-in lasts. */
export const SESSION_SECONDS = 12 * 3600
/** The sign-in form is one field. */
const MAX_FORM_BYTES = 4096
/** Most results read for one vantage's timeline. */
const MAX_HISTORY_ROWS = 5000
/** Incidents listed on a check's page. */
const INCIDENTS_SHOWN = 5

type Query = Record<string, string | string[] | undefined>

export const reviewPage: FastifyPluginAsync<ReviewPageOptions> = async (app, { engine, store, config, clock }) => {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_FORM_BYTES }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })

  app.get('/review', async (request, reply) => {
    const q = (request.query ?? {}) as Query
    const token = config().operator_token
    const fragment = request.headers['x-vantage-fragment'] !== undefined

    // ?token=…: sign in once, then continue at the same address without the token in it.
    const given = first(q.token)
    if (given !== undefined) {
      const rest = queryWithout(q, 'token')
      if (token !== null && !sameSecret(given, token)) {
        request.log.warn({ remote: request.socket.remoteAddress }, 'review page: wrong operator token in ?token=')
        return page(reply, 401, renderLogin('review/login', rest, 'That is not the operator token.'))
      }
      if (token !== null) startSession(request, reply, token)
      return reply.code(303).header('location', `review${rest}`).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').send()
    }

    let auth: ReturnType<typeof authorizeRequest>
    try {
      auth = authorizeRequest(token, request)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      if (fragment) return reply.code(err.status).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(`${err.message}\n`)
      if (err.code === 'unauthorized') {
        return page(reply, 401, renderLogin('review/login', queryWithout(q, 'token'), request.headers.authorization ? err.message : null))
      }
      request.log.warn({ remote: request.socket.remoteAddress, code: err.code }, 'review page refused')
      return page(reply, err.status, renderMessage('Not allowed', err.message))
    }
    const chrome: Chrome = { session: auth === 'session' }
    const cfg = config()
    const now = clock.now()

    const checkName = first(q.check)
    if (checkName !== undefined) {
      const check = cfg.checks.get(checkName)
      const view = check ? engine.check(checkName) : undefined
      if (!check || !view) return page(reply, 404, renderMessage('No such check', `No check named ${JSON.stringify(checkName)} is configured.`))
      const from = now - HISTORY_MS
      const since = new Date(from).toISOString()
      const history = new Map<string, ProbeResult[]>()
      for (const v of view.vantages) {
        const agents = Math.max(1, [...cfg.agents.values()].filter((a) => a.vantage === v.vantage).length)
        const limit = Math.min(MAX_HISTORY_ROWS, (Math.ceil(HISTORY_MS / check.spec.interval_ms) + 1) * agents)
        history.set(v.vantage, store.history({ check: checkName, vantage: v.vantage, since, limit }))
      }
      const rule = check.quorum.min_down
      const main = renderDetailMain({
        at: now,
        view,
        interval_ms: check.spec.interval_ms,
        stale_after_ms: check.stale_after_ms,
        quorum: {
          min_down: 'count' in rule ? rule.count : `${rule.numerator}/${rule.denominator}`,
          for_ms: check.quorum.for_ms,
          resolve_after_ms: check.quorum.resolve_after_ms,
        },
        incidents: engine.incidents({ check: checkName, limit: INCIDENTS_SHOWN }),
        history,
        from,
        stale_agents: engine.current().stale_agents,
      })
      return fragment ? part(reply, main) : page(reply, 200, renderPage(`${checkName} · Vantage review`, main, chrome))
    }

    const vantage = first(q.vantage)
    if (vantage !== undefined && !cfg.vantages.has(vantage)) {
      return page(reply, 404, renderMessage('No such vantage', `No vantage named ${JSON.stringify(vantage)} is configured.`))
    }
    const snapshot = engine.snapshot()
    const stale = new Set(snapshot.stale_agents.map((a) => a.agent))
    const seen = new Map([...store.agentsSeen()].map((a) => [a.agent_id, a.last_seen]))
    const mutes = new Map(engine.activeMutes().map((m) => [m.vantage, m]))
    const vantages: VantageRow[] = [...cfg.vantages.values()].map((v) => {
      const mute = mutes.get(v.name)
      return {
        name: v.name,
        region: v.region,
        failure_domain: v.failure_domain ?? null,
        mute: mute ? { reason: mute.reason, until: mute.until, ...(mute.by ? { by: mute.by } : {}) } : null,
        agents: [...cfg.agents.values()]
          .filter((a) => a.vantage === v.name)
          .map((a) => ({ id: a.id, last_seen: seen.get(a.id) ?? null, stale: stale.has(a.id) })),
      }
    })
    const main = renderOverviewMain({ at: now, snapshot, vantages, vantage: vantage ?? null })
    return fragment ? part(reply, main) : page(reply, 200, renderPage(vantage ? `${vantage} · Vantage review` : 'Vantage review', main, chrome))
  })

  app.post('/review/login', { bodyLimit: MAX_FORM_BYTES }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>
    const next = typeof body.next === 'string' && /^(\?[^\s#]*)?$/.test(body.next) ? body.next : ''
    const token = config().operator_token
    if (token !== null) {
      const given = typeof body.token === 'string' ? body.token.trim() : ''
      if (!given || !sameSecret(given, token)) {
        request.log.warn({ remote: request.socket.remoteAddress }, 'review page: sign-in with a wrong operator token')
        return page(reply, 401, renderLogin('login', next, 'That is not the operator token.'))
      }
      startSession(request, reply, token)
      request.log.info({ remote: request.socket.remoteAddress }, 'review page: operator signed in')
    }
    return reply.code(303).header('location', `../review${next}`).header('cache-control', 'no-store').send()
  })

  app.post('/review/logout', { bodyLimit: MAX_FORM_BYTES }, async (request, reply) => {
    reply.header('set-cookie', cookie('', 0, request))
    return reply.code(303).header('location', '../review').header('cache-control', 'no-store').send()
  })
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** The query string without one parameter: "" or "?a=b". */
function queryWithout(q: Query, name: string): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) {
    if (k === name || v === undefined) continue
    for (const one of Array.isArray(v) ? v : [v]) params.append(k, one)
  }
  const text = params.toString()
  return text ? `?${text}` : ''
}

function cookie(value: string, maxAge: number, request: FastifyRequest): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${request.protocol === 'https' ? '; Secure' : ''}`
}

function startSession(request: FastifyRequest, reply: FastifyReply, token: string): void {
  reply.header('set-cookie', cookie(sessionValue(token), SESSION_SECONDS, request))
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('cache-control', 'no-store')
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
}

function page(reply: FastifyReply, status: number, html: string): FastifyReply {
  return secure(reply).code(status).type('text/html; charset=utf-8').send(html)
}

/** The refreshed <main>, for the page's script. */
function part(reply: FastifyReply, html: string): FastifyReply {
  return secure(reply).code(200).type('text/html; charset=utf-8').send(html)
}
