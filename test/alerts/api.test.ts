// The alerting routes: maintenance windows through the operator API (auth, validation,
// persistence, suppression), the alert listing and the runbooks.
import Fastify, { type FastifyInstance } from 'fastify'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MaintenanceBook } from '../../hub/alerts/maintenance.ts'
import { startAlerting, type Alerting } from '../../hub/alerts/notifier.ts'
import { alertRoutes } from '../../hub/alerts/plugin.ts'
import type { HubConfig } from '../../hub/config.ts'
import { FakeTime } from '../agent/fake-time.ts'
import { API, hubConfig, outageView, registry, SHOP, silent, snapshot, snapshotSource, T0 } from './fixtures.ts'

describe('alerting routes', () => {
  let dir: string
  let app: FastifyInstance
  let alerting: Alerting | undefined
  let config: HubConfig
  let book: MaintenanceBook
  let time: FakeTime

  async function build(token: string | null) {
    config = hubConfig(SHOP + API)
    config.operator_token = token
    time = new FakeTime(T0)
    book = new MaintenanceBook(() => config, join(dir, 'maintenance.json'))
    alerting = startAlerting({
      config: () => config,
      snapshot: snapshotSource(snapshot([outageView(T0 - 60_000)])).get,
      clock: time,
      timers: time,
      logger: silent(),
      registry: registry(),
      maintenance: book,
    })
    app = Fastify({ logger: false })
    await app.register(alertRoutes, { config: () => config, clock: time, maintenance: book, alerting: () => alerting })
    await app.ready()
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vantage-alerts-api-'))
  })
  afterEach(async () => {
    alerting?.stop()
    await app?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('adds a window by duration; the check’s alert stops firing, is listed as suppressed; the window ends early on DELETE', async () => {
    await build(null)
    expect(alerting!.firing().map((m) => m.name)).toEqual(['QuorumOutage'])
    const res = await app.inject({ method: 'POST', url: '/api/v1/checks/shop/maintenance', payload: { duration: '2h', reason: 'DB migration', by: 'ana' } })
    expect(res.statusCode).toBe(201)
    const w = res.json()
    expect(w).toEqual({
      id: expect.any(String),
      check: 'shop',
      start: T0,
      end: T0 + 2 * 3_600_000,
      reason: 'DB migration',
      source: 'api',
      active: true,
      created_by: 'ana',
      created_at: T0,
    })
    // Evaluated at once: no more alert.
    expect(alerting!.firing()).toEqual([])
    const alerts = (await app.inject({ method: 'GET', url: '/api/v1/alerts' })).json()
    expect(alerts.firing).toEqual([])
    expect(alerts.suppressed).toEqual([{ labels: expect.objectContaining({ alertname: 'QuorumOutage', check: 'shop' }), reason: 'DB migration' }])

    expect((await app.inject({ method: 'GET', url: '/api/v1/checks/shop/maintenance' })).json().windows).toEqual([w])
    expect((await app.inject({ method: 'GET', url: '/api/v1/maintenance' })).json().windows).toEqual([w])
    // It survives a restart (the data dir).
    expect(new MaintenanceBook(() => config, join(dir, 'maintenance.json')).active('shop', T0 + 1000)?.id).toBe(w.id)

    await time.advance(600_000)
    const ended = await app.inject({ method: 'DELETE', url: `/api/v1/checks/shop/maintenance/${w.id}` })
    expect(ended.statusCode).toBe(200)
    expect(ended.json()).toMatchObject({ id: w.id, end: T0 + 600_000, active: false })
    expect(alerting!.firing().map((m) => m.name)).toEqual(['QuorumOutage'])
    const missing = await app.inject({ method: 'DELETE', url: `/api/v1/checks/shop/maintenance/nope` })
    expect([missing.statusCode, missing.json().code]).toEqual([404, 'window_not_found'])
  })

  it('validates what it is given', async () => {
    await build(null)
    const post = (payload: object, check = 'shop') => app.inject({ method: 'POST', url: `/api/v1/checks/${check}/maintenance`, payload })
    const cases: [object, number, RegExp][] = [
      [{ duration: '1h', reason: 'x' }, 404, /no check named "nope" is configured/],
      [{ reason: 'x' }, 400, /end \(ISO 8601\) or duration/],
      [{ duration: '1h' }, 400, /reason is required/],
      [{ duration: 'soon', reason: 'x' }, 400, /duration: invalid duration/],
      [{ end: '2026-11-22T12:00:00', reason: 'x' }, 400, /end: expected an ISO 8601 time with a zone/],
      [{ start: '2026-11-22T12:00:00Z', end: '2026-11-22T11:00:00Z', reason: 'x' }, 400, /end must be after start/],
      [{ start: '2026-11-22T08:00:00Z', end: '2026-11-22T09:00:00Z', reason: 'x' }, 400, /already ended/],
      [{ end: '2026-11-22T12:00:00Z', duration: '1h', reason: 'x' }, 400, /not both/],
    ]
    for (const [payload, status, error] of cases) {
      const res = await post(payload, status === 404 ? 'nope' : 'shop')
      expect(res.statusCode, JSON.stringify(payload)).toBe(status)
      expect(res.json().error).toMatch(error)
      expect(res.json().code).toBe(status === 404 ? 'check_not_found' : 'bad_request')
    }
    // A scheduled window: not active yet.
    const later = await post({ start: '2026-11-23T02:00:00Z', end: '2026-11-23T04:00:00+00:00', reason: 'kernel upgrade' })
    expect(later.statusCode).toBe(201)
    expect(later.json().active).toBe(false)
  })

  it('hub.yaml windows are listed and cannot be ended through the API', async () => {
    await build(null)
    config.checks.get('api')!.maintenance = [{ start: T0 - 1000, end: T0 + 1000, reason: 'from the file' }]
    const list = (await app.inject({ method: 'GET', url: '/api/v1/checks/api/maintenance' })).json().windows
    expect(list).toEqual([expect.objectContaining({ id: 'config-0', source: 'config', reason: 'from the file', active: true })])
    const res = await app.inject({ method: 'DELETE', url: '/api/v1/checks/api/maintenance/config-0' })
    expect([res.statusCode, res.json().code]).toEqual([409, 'window_in_config'])
  })

  it('operator auth as the review API’s: without a token, loopback only; with one, a Bearer token', async () => {
    await build(null)
    const remote = await app.inject({ method: 'GET', url: '/api/v1/maintenance', remoteAddress: '192.0.2.7' })
    expect([remote.statusCode, remote.json().code]).toEqual([403, 'forbidden'])
    expect((await app.inject({ method: 'GET', url: '/api/v1/maintenance', remoteAddress: '::1' })).statusCode).toBe(200)
    await app.close()
    alerting!.stop()

    await build('s3cret-operator-token')
    const asked = (headers: Record<string, string>, remoteAddress = '127.0.0.1') => app.inject({ method: 'GET', url: '/api/v1/maintenance', headers, remoteAddress })
    expect((await asked({})).statusCode).toBe(401)
    expect((await asked({})).headers['www-authenticate']).toContain('Bearer')
    expect((await asked({ authorization: 'Bearer wrong' })).statusCode).toBe(401)
    expect((await asked({ authorization: 'Basic czNjcmV0' })).statusCode).toBe(401)
    expect((await asked({ authorization: 'Bearer s3cret-operator-token' })).statusCode).toBe(200)
    expect((await asked({ authorization: 'bearer s3cret-operator-token' }, '192.0.2.7')).statusCode).toBe(200)
    const post = await app.inject({ method: 'POST', url: '/api/v1/checks/shop/maintenance', payload: { duration: '1h', reason: 'x' } })
    expect(post.statusCode).toBe(401)
    expect(post.json().code).toBe('unauthorized')
  })

  it('serves the runbooks, without auth', async () => {
    await build('token')
    const res = await app.inject({ method: 'GET', url: '/runbooks/QuorumOutage.md', remoteAddress: '192.0.2.7' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/markdown; charset=utf-8')
    expect(res.body).toMatch(/^# QuorumOutage/)
    expect((await app.inject({ method: 'GET', url: '/runbooks/CertificateExpiringSoon' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/runbooks/..%2Fpackage.json' })).statusCode).toBe(404)
    expect((await app.inject({ method: 'GET', url: '/runbooks/Nope.md' })).statusCode).toBe(404)
  })
})
