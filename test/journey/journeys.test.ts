// Realistic journeys against real loopback servers: the example journeys in journeys/ (CSRF login
// with the cookie jar, JSON API, SSO-like redirects, a batch with thresholds), then failing,
// challenged and cut-short steps, custom metrics, __ENV and secrets. Each asserts the step table,
// the check counts and the outcome.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runJourneyCheck, startShop, step, type Shop } from './servers.ts'

const JOURNEYS = join(import.meta.dirname, '..', '..', 'journeys')

let shop: Shop
beforeAll(async () => {
  shop = await startShop()
})
afterAll(() => shop.close())

const table = (steps: { name: string; success: boolean; challenged: boolean; status_code?: number | null }[] = []) =>
  steps.map((s) => [s.name, s.success ? 'up' : s.challenged ? 'challenged' : 'down', s.status_code ?? null])

describe('the example journeys', () => {
  it('login-csrf.ts: CSRF token from parseHTML, session cookie from a redirect hop, form logout', async () => {
    const { result, report } = await runJourneyCheck({ path: join(JOURNEYS, 'login-csrf.ts') }, { env: { BASE_URL: shop.app } })
    expect(result.error ?? null).toBeNull()
    expect(result).toMatchObject({ type: 'journey', success: true, challenged: false })
    expect(table(result.steps)).toEqual([
      ['open login page', 'up', 200],
      ['log in', 'up', 200],
      ['log out', 'up', 200],
    ])
    expect(step(result, 'log in').checks).toEqual({ 'welcome message': { passes: 1, fails: 0 }, 'session cookie in the jar': { passes: 1, fails: 0 } })
    expect(report!.checks).toEqual({ passes: 5, fails: 0 })
    expect(report!.thresholds.map((t) => [t.metric, t.ok])).toEqual([
      ['checks', true],
      ['http_req_duration{group:::log in}', true],
    ])
    // The POST was answered 302 and followed as a GET carrying the new session cookie.
    const afterLogin = shop.seen.filter((s) => s.path === '/my_messages.php')
    expect(afterLogin.some((s) => /session=/.test(String(s.headers.cookie)))).toBe(true)
  })

  it('login-csrf.ts with a wrong password: the failing step is down, the journey says which check', async () => {
    const { result } = await runJourneyCheck({ path: join(JOURNEYS, 'login-csrf.ts') }, { env: { BASE_URL: shop.app, LOGIN_PASSWORD: 'nope' } })
    expect(result.success).toBe(false)
    expect(result.challenged).toBe(false)
    // The first step that failed explains the journey; the logout form then missing is a consequence.
    expect(result.error_code).toBe('JOURNEY_CHECK_FAILED')
    expect(result.error).toMatch(/^step "log in": check "welcome message" failed/)
    expect(table(result.steps)).toEqual([
      ['open login page', 'up', 200],
      ['log in', 'down', 200],
      ['log out', 'down', 200],
    ])
    expect(step(result, 'log in')).toMatchObject({ error_code: 'JOURNEY_CHECK_FAILED', checks: { 'welcome message': { passes: 0, fails: 1 }, 'session cookie in the jar': { passes: 1, fails: 0 } } })
    expect(step(result, 'log out')).toMatchObject({ error_code: 'JOURNEY_SCRIPT_ERROR', error: expect.stringMatching(/submitForm: no form found/) })
  })

  it('json-api.ts: bearer token, JSON bodies checked field by field, a custom Trend with a threshold', async () => {
    const { result, report } = await runJourneyCheck({ path: join(JOURNEYS, 'json-api.ts') }, { env: { BASE_URL: shop.app, API_USER: 'croc', API_PASSWORD: 'dile' } })
    expect(result.error ?? null).toBeNull()
    expect(result.success).toBe(true)
    expect(table(result.steps)).toEqual([
      ['log in', 'up', 200],
      ['create', 'up', 201],
      ['read back', 'up', 200],
      ['delete', 'up', 204],
    ])
    expect(report!.checks).toEqual({ passes: 7, fails: 0 })
    const trend = report!.thresholds.find((t) => t.metric === 'crocodile_create_ms')!
    expect(trend.ok).toBe(true)
    expect(trend.value).toBeGreaterThan(0)
  })

  it('json-api.ts with bad credentials: fail() stops the journey and the rest is reported as not run', async () => {
    const { result } = await runJourneyCheck({ path: join(JOURNEYS, 'json-api.ts') }, { env: { BASE_URL: shop.app, API_USER: 'croc', API_PASSWORD: 'wrong' } })
    expect(result.success).toBe(false)
    expect(result.error_code).toBe('JOURNEY_FAILED_BY_SCRIPT')
    expect(result.error).toMatch(/login failed: no token/)
    expect(table(result.steps)).toEqual([
      ['log in', 'down', 401],
      ['create', 'down', null],
      ['read back', 'down', null],
      ['delete', 'down', null],
    ])
    expect(step(result, 'log in')).toMatchObject({ error_code: 'JOURNEY_FAILED_BY_SCRIPT', checks: { 'login is 200': { passes: 0, fails: 1 }, 'got an access token': { passes: 0, fails: 1 } } })
    expect(step(result, 'create')).toMatchObject({ error_code: 'JOURNEY_STEP_NOT_RUN', duration_seconds: 0 })
  })

  it('sso-redirect.ts: redirects across two hosts, state cookie round trip, cookies kept per host', async () => {
    const { result } = await runJourneyCheck({ path: join(JOURNEYS, 'sso-redirect.ts') }, { env: { APP_URL: shop.app, IDP_URL: shop.idp } })
    expect(result.error ?? null).toBeNull()
    expect(result.success).toBe(true)
    expect(table(result.steps)).toEqual([
      ['start sign-in', 'up', 200],
      ['sign in at the provider', 'up', 200],
    ])
    expect(step(result, 'sign in at the provider').checks).toEqual({
      'back in the application': { passes: 1, fails: 0 },
      'signed in': { passes: 1, fails: 0 },
      'application session cookie in the jar': { passes: 1, fails: 0 },
    })
    // Each host got only its own cookies: the provider's `session` never reached the application.
    const home = shop.seen.filter((s) => s.path === '/home')
    expect(home.length).toBeGreaterThan(0)
    for (const s of home) expect(String(s.headers.cookie)).not.toMatch(/idp-only|idp_session/)
  })

  it('public-catalogue.js: batch, an expected 404, counters and rates, thresholds with tag filters', async () => {
    const { result, report } = await runJourneyCheck({ path: join(JOURNEYS, 'public-catalogue.js') }, { env: { BASE_URL: shop.app } })
    expect(result.error ?? null).toBeNull()
    expect(result.success).toBe(true)
    expect(table(result.steps)).toEqual([
      ['list', 'up', 200],
      ['details', 'up', 200],
      ['missing item', 'up', 404],
    ])
    expect(step(result, 'details').checks).toEqual({ 'details are 200': { passes: 3, fails: 0 } })
    expect(Object.fromEntries(report!.thresholds.map((t) => [`${t.metric} ${t.expression}`, [t.ok, t.value]]))).toMatchObject({
      'http_req_failed rate==0': [true, 0],
      'catalogue_items count>0': [true, 5],
      'catalogue_items_named rate==1': [true, 1],
    })
    expect(report!.thresholds.find((t) => t.metric === 'http_req_duration{name:crocodile}')!.ok).toBe(true)
  })
})

describe('step outcomes', () => {
  it('a challenged step makes the journey challenged, not down', async () => {
    const source = `
      import http from 'k6/http'
      import { check, group } from 'k6'
      export default function () {
        group('home', () => { check(http.get(__ENV.BASE + '/echo'), { 'home is 200': (r) => r.status === 200 }) })
        group('cart', () => { check(http.get(__ENV.BASE + '/challenge'), { 'cart is 200': (r) => r.status === 200 }) })
      }`
    const { result } = await runJourneyCheck({ source }, { env: { BASE: shop.app } })
    expect(result).toMatchObject({ success: false, challenged: true, error_code: 'CHALLENGE_CLOUDFLARE' })
    expect(table(result.steps)).toEqual([
      ['home', 'up', 200],
      ['cart', 'challenged', 403],
    ])
    expect(step(result, 'cart')).toMatchObject({ error_code: 'CHALLENGE_CLOUDFLARE', checks: { 'cart is 200': { passes: 0, fails: 1 } } })
  })

  it('a challenge plus a real failure elsewhere is down', async () => {
    const source = `
      import http from 'k6/http'
      import { check, group } from 'k6'
      export default function () {
        group('cart', () => { check(http.get(__ENV.BASE + '/challenge'), { 'cart is 200': (r) => r.status === 200 }) })
        group('api', () => { check(http.get(__ENV.BASE + '/status/500'), { 'api is 200': (r) => r.status === 200 }) })
      }`
    const { result } = await runJourneyCheck({ source }, { env: { BASE: shop.app } })
    expect(result).toMatchObject({ success: false, challenged: false, error_code: 'JOURNEY_CHECK_FAILED' })
    expect(table(result.steps)).toEqual([
      ['cart', 'challenged', 403],
      ['api', 'down', 500],
    ])
  })

  it('nested groups are steps named with "::"; a failure inside fails the enclosing step too', async () => {
    const source = `
      import http from 'k6/http'
      import { check, group } from 'k6'
      export default function () {
        group('checkout', () => {
          group('address', () => { check(http.get(__ENV.BASE + '/echo'), { 'address ok': (r) => r.status === 200 }) })
          group('pay', () => { check(http.get(__ENV.BASE + '/status/402'), { 'paid': (r) => r.status === 200 }) })
        })
        check(null, { 'ungrouped check': () => true })
      }`
    const { result } = await runJourneyCheck({ source }, { env: { BASE: shop.app } })
    expect(result.success).toBe(false)
    expect(table(result.steps)).toEqual([
      ['checkout', 'down', null],
      ['checkout::address', 'up', 200],
      ['checkout::pay', 'down', 402],
      ['default', 'up', null],
    ])
    expect(step(result, 'checkout')).toMatchObject({ error_code: 'JOURNEY_CHECK_FAILED', error: expect.stringMatching(/step "checkout::pay" failed/) })
    expect(step(result, 'default').checks).toEqual({ 'ungrouped check': { passes: 1, fails: 0 } })
  })

  it('an exception escaping a group fails that step, and the ones it never reached are not run', async () => {
    const source = `
      import http from 'k6/http'
      import { group } from 'k6'
      export default function () {
        group('one', () => { http.get(__ENV.BASE + '/echo') })
        group('two', () => { JSON.parse('{ not json') })
        group('three', () => {})
      }`
    const { result } = await runJourneyCheck({ source, name: 'exceptions.js' }, { env: { BASE: shop.app } })
    expect(result).toMatchObject({ success: false, error_code: 'JOURNEY_SCRIPT_ERROR' })
    expect(result.error).toMatch(/SyntaxError/)
    expect(table(result.steps)).toEqual([
      ['one', 'up', 200],
      ['two', 'down', null],
      ['three', 'down', null],
    ])
    expect(step(result, 'two').error).toMatch(/^SyntaxError: /)
    expect(step(result, 'three').error_code).toBe('JOURNEY_STEP_NOT_RUN')
  })

  it('an exception deep in nested groups is named where it was thrown', async () => {
    const source = `
      import { group } from 'k6'
      export default function () {
        group('checkout', () => { group('pay', () => { throw new Error('card declined') }) })
      }`
    const { result } = await runJourneyCheck({ source })
    expect(result).toMatchObject({ success: false, error_code: 'JOURNEY_SCRIPT_ERROR', error: 'step "checkout::pay": card declined' })
    expect(result.steps!.map((s) => [s.name, s.error])).toEqual([
      ['checkout', 'card declined'],
      ['checkout::pay', 'card declined'],
    ])
  })

  it('setup() and teardown() are steps of their own; setup data reaches default() as a copy', async () => {
    const source = `
      import http from 'k6/http'
      import { check } from 'k6'
      export function setup() { const r = http.get(__ENV.BASE + '/echo'); check(r, { 'setup reached the app': (r) => r.status === 200 }); return { token: 't-1', when: new Date(0) } }
      export default function (data) { check(data, { 'data copied as JSON': (d) => d.token === 't-1' && d.when === '1970-01-01T00:00:00.000Z' }) }
      export function teardown(data) { check(data, { 'teardown got data': (d) => d.token === 't-1' }) }`
    const { result } = await runJourneyCheck({ source }, { env: { BASE: shop.app } })
    expect(result.success).toBe(true)
    expect(result.steps!.map((s) => [s.name, s.checks])).toEqual([
      ['setup', { 'setup reached the app': { passes: 1, fails: 0 } }],
      ['default', { 'data copied as JSON': { passes: 1, fails: 0 } }],
      ['teardown', { 'teardown got data': { passes: 1, fails: 0 } }],
    ])
  })

  it('__ENV holds the check env and the secrets it names, nothing of the agent environment', async () => {
    process.env.VANTAGE_TEST_LEAK = 'must-not-leak'
    const source = `
      import { check } from 'k6'
      export default function () {
        check(__ENV, {
          'env value': (e) => e.GREETING === 'hello',
          'secret by name': (e) => e.TOKEN === 's3cret',
          'nothing else': (e) => Object.keys(e).sort().join() === 'GREETING,TOKEN',
        })
      }`
    try {
      const { result } = await runJourneyCheck({ source }, { env: { GREETING: 'hello' }, secrets: { BYPASS_TOKEN: 's3cret' }, secretEnv: { TOKEN: 'BYPASS_TOKEN' } })
      expect(result.error ?? null).toBeNull()
      expect(step(result, 'default').checks).toEqual({ 'env value': { passes: 1, fails: 0 }, 'secret by name': { passes: 1, fails: 0 }, 'nothing else': { passes: 1, fails: 0 } })
    } finally {
      delete process.env.VANTAGE_TEST_LEAK
    }
  })

  it('a failed threshold fails a journey whose checks all passed', async () => {
    const source = `
      import http from 'k6/http'
      import { check } from 'k6'
      import { Trend } from 'k6/metrics'
      const cart = new Trend('cart_value')
      export const options = { thresholds: { cart_value: ['avg<100', 'max<=250'], 'http_req_duration{status:200}': ['p(99)<10000'] } }
      export default function () {
        check(http.get(__ENV.BASE + '/echo'), { 'ok': (r) => r.status === 200 })
        cart.add(50); cart.add(250); cart.add(30)
      }`
    const { result, report } = await runJourneyCheck({ source }, { env: { BASE: shop.app } })
    expect(result).toMatchObject({ success: false, challenged: false, error_code: 'JOURNEY_THRESHOLD_FAILED' })
    expect(result.error).toMatch(/cart_value avg<100 \(was 110\)/)
    expect(report!.thresholds.map((t) => [t.expression, t.ok])).toEqual([
      ['avg<100', false],
      ['max<=250', true],
      ['p(99)<10000', true],
    ])
    expect(table(result.steps)).toEqual([['default', 'up', 200]])
  })

  it('console output reaches the agent (and never stdout)', async () => {
    const { result, logs } = await runJourneyCheck({ source: `export default function () { console.log('hello', { a: 1 }); console.warn('careful') }` })
    expect(result.success).toBe(true)
    expect(logs).toEqual(['info hello {"a":1}', 'warn careful'])
  })
})
