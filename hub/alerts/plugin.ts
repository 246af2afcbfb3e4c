// Routes of the alerting feature:
//   POST   /api/v1/checks/{name}/maintenance        { start?, end? | duration?, reason, by? } → 201 window
//   GET    /api/v1/checks/{name}/maintenance        → { windows: [...] }
//   DELETE /api/v1/checks/{name}/maintenance/{id}   ends an API window now (config windows: 409)
//   GET    /api/v1/maintenance                      every window of every check
//   GET    /api/v1/alerts                           firing and suppressed alerts, pending deliveries
//   GET    /runbooks/{Alert}.md                     the runbooks shipped in deploy/runbooks
// The /api/v1 routes are operator routes, authorized as the review API's (hub/review/auth.ts:
// a Bearer operator token compared in constant time or the review page's session cookie, else
// loopback clients only; browsers' changes only from the hub's own pages). Errors are
// { error, code } as there; times in answers are unix ms, ISO 8601 in request bodies.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Clock } from '../../agent/core/probe.ts'
import { parseDuration } from '../../proto/duration.ts'
import { parseIsoTime, type HubConfig } from '../config.ts'
import type { MaintenanceBook, MaintenanceEntry } from './maintenance.ts'
import type { Alerting } from './notifier.ts'
import { authorizeRequest } from '../review/auth.ts'
import { API_ERRORS, ApiError } from '../review/errors.ts'

/** Error codes of these routes beside the review API's (hub/review/errors.ts). */
export const MAINTENANCE_ERRORS = {
  window_not_found: { status: 404, meaning: 'the check has no maintenance window with this id' },
  window_in_config: { status: 409, meaning: 'the window is set in hub.yaml: remove it there and reload' },
} as const

export const RUNBOOKS_DIR = join(import.meta.dirname, '..', '..', 'deploy', 'runbooks')

export interface AlertRoutesOptions {
  config: () => HubConfig
  clock: Clock
  maintenance: MaintenanceBook
  /** Absent until alerting runs (the maintenance routes work without it). */
  alerting?: () => Alerting | undefined
  runbooksDir?: string
}

interface MaintenanceBody {
  start?: unknown
  end?: unknown
  duration?: unknown
  reason?: unknown
  by?: unknown
}

export const alertRoutes: FastifyPluginAsync<AlertRoutesOptions> = async (app, opts) => {
  const { config, clock, maintenance } = opts
  const runbooks = opts.runbooksDir ?? RUNBOOKS_DIR
  const guard = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      authorizeRequest(config().operator_token, request)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      request.log.warn({ url: request.url, remote: request.socket.remoteAddress, code: err.code }, 'operator request refused')
      if (err.code === 'unauthorized') reply.header('www-authenticate', 'Bearer realm="vantage operator API"')
      return reply.code(err.status).send({ error: err.message, code: err.code })
    }
  }
  type Code = 'check_not_found' | 'bad_request' | keyof typeof MAINTENANCE_ERRORS
  const status = (code: Code) => (code === 'check_not_found' || code === 'bad_request' ? API_ERRORS[code] : MAINTENANCE_ERRORS[code]).status
  const fail = (reply: FastifyReply, code: Code, error: string) => reply.code(status(code)).send({ error, code })
  const bad = (reply: FastifyReply, error: string) => fail(reply, 'bad_request', error)
  const noCheck = (reply: FastifyReply, name: string) => fail(reply, 'check_not_found', `no check named ${JSON.stringify(name)} is configured`)
  const show = (w: MaintenanceEntry, now: number) => ({
    id: w.id,
    check: w.check,
    start: w.start,
    end: w.end,
    reason: w.reason,
    source: w.source,
    active: w.start <= now && now < w.end,
    ...(w.created_by ? { created_by: w.created_by } : {}),
    ...(w.created_at ? { created_at: w.created_at } : {}),
  })
  const reevaluate = () => opts.alerting?.()?.evaluate()

  app.post<{ Params: { name: string }; Body: MaintenanceBody }>('/api/v1/checks/:name/maintenance', { onRequest: guard, bodyLimit: 16 * 1024 }, async (request, reply) => {
    const { name } = request.params
    if (!config().checks.has(name)) return noCheck(reply, name)
    const body = (request.body ?? {}) as MaintenanceBody
    if (typeof body !== 'object' || Array.isArray(body)) return bad(reply, 'expected a JSON object { start?, end | duration, reason }')
    const now = clock.now()
    let start = now
    if (body.start !== undefined && body.start !== null) {
      const t = typeof body.start === 'string' ? parseIsoTime(body.start) : null
      if (t === null) return bad(reply, 'start: expected an ISO 8601 time with a zone, e.g. 2026-03-01T02:00:00Z')
      start = t
    }
    let end: number
    if (body.end !== undefined && body.duration !== undefined) return bad(reply, 'give end or duration, not both')
    if (typeof body.end === 'string') {
      const t = parseIsoTime(body.end)
      if (t === null) return bad(reply, 'end: expected an ISO 8601 time with a zone, e.g. 2026-03-01T04:00:00Z')
      end = t
    } else if (typeof body.duration === 'string') {
      try {
        end = start + parseDuration(body.duration)
      } catch (err) {
        return bad(reply, `duration: ${(err as Error).message}`)
      }
    } else {
      return bad(reply, 'end (ISO 8601) or duration (e.g. "2h") is required')
    }
    if (end <= start) return bad(reply, 'end must be after start')
    if (end <= now) return bad(reply, 'the window has already ended')
    if (typeof body.reason !== 'string' || !body.reason.trim()) return bad(reply, 'reason is required (who reads the alert list wants to know why it is quiet)')
    if (body.by !== undefined && typeof body.by !== 'string') return bad(reply, 'by: expected text')
    const entry = maintenance.add(name, { start, end, reason: body.reason.trim() }, body.by as string | undefined, now)
    request.log.info(
      { check: name, window: entry.id, start: new Date(start).toISOString(), end: new Date(end).toISOString(), reason: entry.reason, by: entry.created_by },
      'maintenance window added',
    )
    reevaluate()
    return reply.code(201).send(show(entry, now))
  })

  app.get<{ Params: { name: string } }>('/api/v1/checks/:name/maintenance', { onRequest: guard }, async (request, reply) => {
    const { name } = request.params
    if (!config().checks.has(name)) return noCheck(reply, name)
    const now = clock.now()
    return { windows: maintenance.list(name).map((w) => show(w, now)) }
  })

  app.delete<{ Params: { name: string; id: string } }>('/api/v1/checks/:name/maintenance/:id', { onRequest: guard }, async (request, reply) => {
    const { name, id } = request.params
    const now = clock.now()
    const ended = maintenance.end(name, id, now)
    if (ended === null) return fail(reply, 'window_not_found', `check ${JSON.stringify(name)} has no maintenance window ${JSON.stringify(id)}`)
    if (ended === 'config') return fail(reply, 'window_in_config', 'this window is set in hub.yaml: remove it there and reload')
    request.log.info({ check: name, window: id }, 'maintenance window ended')
    reevaluate()
    return show(ended, now)
  })

  app.get('/api/v1/maintenance', { onRequest: guard }, async () => {
    const now = clock.now()
    return { windows: maintenance.list().map((w) => show(w, now)) }
  })

  app.get('/api/v1/alerts', { onRequest: guard }, async () => {
    const alerting = opts.alerting?.()
    if (!alerting) return { firing: [], suppressed: [], pending: {} }
    return {
      firing: alerting.firing().map((m) => ({ labels: m.labels, annotations: m.annotations, starts_at: m.starts_at })),
      suppressed: alerting.suppressed(),
      pending: alerting.pending(),
    }
  })

  app.get<{ Params: { file: string } }>('/runbooks/:file', async (request, reply) => {
    const m = /^([A-Za-z][A-Za-z0-9-]*)(\.md)?$/.exec(request.params.file)
    const text = m ? await readFile(join(runbooks, `${m[1]}.md`), 'utf8').catch(() => null) : null
    if (text === null) return reply.code(404).type('text/plain; charset=utf-8').send('no such runbook\n')
    return reply.type('text/markdown; charset=utf-8').send(text)
  })
}
