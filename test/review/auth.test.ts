// Who may use the operator API: a bearer token (constant-time compare) when operator_token_file
// is set, on every /api/v1 route and from loopback too; loopback clients only without one.
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseHubConfig } from '../../hub/config.ts'
import { QuorumEngine } from '../../hub/quorum/engine.ts'
import { isLoopback, sameSecret } from '../../hub/review/auth.ts'
import { reviewApi } from '../../hub/review/plugin.ts'
import { Store } from '../../hub/store/store.ts'
import { FakeTime } from '../agent/fake-time.ts'
import { tempDir, type TestDir } from '../hub/helpers.ts'
import { HUB_YAML, TestHub } from './helpers.ts'

const TOKEN = 's3cret-operator-token-0123456789'

const ROUTES: [method: 'GET' | 'POST', path: string, body?: unknown][] = [
  ['GET', '/api/v1/checks'],
  ['GET', '/api/v1/checks/shop'],
  ['GET', '/api/v1/checks/shop/results'],
  ['GET', '/api/v1/disagreements'],
  ['GET', '/api/v1/incidents'],
  ['GET', '/api/v1/vantages'],
  ['GET', '/api/v1/snapshot'],
  ['POST', '/api/v1/checks/shop/ack', { note: 'n' }],
  ['POST', '/api/v1/vantages/eu/mute', { reason: 'r', until: '1m' }],
  ['POST', '/api/v1/vantages/eu/unmute'],
]

describe('with an operator token', () => {
  let th: TestHub
  beforeAll(async () => {
    th = await TestHub.start(HUB_YAML('operator_token_file: ./secrets/operator.token\n'), { 'secrets/operator.token': `${TOKEN}\n` })
  })
  afterAll(async () => th?.close())

  const call = async (method: string, path: string, body: unknown, authorization?: string) => {
    const headers: Record<string, string> = {}
    if (authorization !== undefined) headers.authorization = authorization
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(th.url(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    return { status: res.status, json: (await res.json()) as any, challenge: res.headers.get('www-authenticate') }
  }

  it.each(ROUTES)('%s %s requires the token, even from loopback', async (method, path, body) => {
    const missing = await call(method, path, body)
    expect(missing).toMatchObject({ status: 401, json: { code: 'unauthorized' }, challenge: 'Bearer realm="vantage operator API"' })
    expect(missing.json.error).toMatch(/missing Authorization header/)
    const wrong = await call(method, path, body, `Bearer ${TOKEN.slice(0, -1)}x`)
    expect([wrong.status, wrong.json.error]).toEqual([401, 'the bearer token is not the operator token'])
    const ok = await call(method, path, body, `Bearer ${TOKEN}`)
    expect(ok.status, JSON.stringify(ok.json)).toBe(200)
  })

  it.each([
    ['a shorter token', 'Bearer abc', /is not the operator token/],
    ['a longer token', `Bearer ${TOKEN}${TOKEN}`, /is not the operator token/],
    ['basic auth', `Basic ${Buffer.from(`op:${TOKEN}`).toString('base64')}`, /must be `Bearer <operator token>`/],
    ['an empty bearer', 'Bearer ', /must be `Bearer <operator token>`/],
  ])('refuses %s', async (_what, authorization, message) => {
    const res = await call('GET', '/api/v1/checks', undefined, authorization)
    expect(res.status).toBe(401)
    expect(res.json.error).toMatch(message)
  })

  it('accepts the scheme in any case', async () => {
    expect((await call('GET', '/api/v1/checks', undefined, `bearer ${TOKEN}`)).status).toBe(200)
  })

  it('asks for the token before saying a route does not exist', async () => {
    expect((await call('GET', '/api/v1/secret-route', undefined)).status).toBe(401)
    expect((await call('GET', '/api/v1/secret-route', undefined, `Bearer ${TOKEN}`)).status).toBe(404)
  })

  it('leaves /metrics and the health endpoints open', async () => {
    expect((await fetch(th.url('/metrics'))).status).toBe(200)
    expect((await fetch(th.url('/-/healthy'))).status).toBe(200)
  })
})

describe('without an operator token', () => {
  let t: TestDir
  let store: Store
  let engine: QuorumEngine
  let app: FastifyInstance

  beforeAll(async () => {
    t = tempDir('vantage-review-auth-')
    const cfg = parseHubConfig(
      `vantages:\n  eu: { region: eu }\nchecks:\n  - { name: shop, type: http, target: "https://shop.example/", interval: 30s, vantages: [eu] }\n`,
      `${t.dir}/hub.yaml`,
      { data: `${t.dir}/data` },
    )
    store = Store.open(cfg.data)
    const time = new FakeTime(Date.now())
    engine = new QuorumEngine({ store, config: () => cfg, clock: time, timers: time, logger: pino({ level: 'silent' }) })
    engine.start()
    app = Fastify()
    await app.register(reviewApi, { prefix: '/api/v1', engine, store, config: () => cfg, clock: time })
    await app.ready()
  })
  afterAll(async () => {
    await app?.close()
    engine?.stop()
    store?.close()
    t?.cleanup()
  })

  it.each(['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1'])('answers the loopback client %s', async (remoteAddress) => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/checks', remoteAddress })
    expect(res.statusCode).toBe(200)
    expect(res.json().checks[0].name).toBe('shop')
  })

  it.each(ROUTES.map(([m, p, b]) => [m, p, b] as const))('refuses %s %s from another address with 403', async (method, url, body) => {
    const res = await app.inject({ method, url, remoteAddress: '192.0.2.10', payload: body as object | undefined })
    expect(res.statusCode).toBe(403)
    expect(res.json()).toMatchObject({ code: 'forbidden' })
    expect(res.json().error).toMatch(/loopback clients only \(this request came from 192\.0\.2\.10\); set operator_token_file/)
  })

  it('refuses a remote client even with some bearer token (there is none to match)', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/checks', remoteAddress: '::ffff:10.1.2.3', headers: { authorization: 'Bearer x' } })
    expect(res.statusCode).toBe(403)
  })

  it('refuses remote clients on unknown routes too', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/nope', remoteAddress: '198.51.100.1' })).statusCode).toBe(403)
    expect((await app.inject({ method: 'GET', url: '/api/v1/nope', remoteAddress: '127.0.0.1' })).statusCode).toBe(404)
  })
})

describe('auth helpers', () => {
  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true)
    expect(['10.0.0.1', '::ffff:10.0.0.1', '1270::1', '', undefined].some((a) => isLoopback(a))).toBe(false)
  })

  it('compares secrets of any length', () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true)
    expect(sameSecret('a', TOKEN)).toBe(false)
    expect(sameSecret(`${TOKEN}x`, TOKEN)).toBe(false)
  })
})
