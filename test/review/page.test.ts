// The review page (GET /review) on a real hub with signed results through the real ingest and a
// fake clock: its sections and evidence, escaping of everything a target or an operator wrote,
// the sign-in (token once, then an HttpOnly SameSite=Strict cookie that the operator API
// accepts too), refusals of other sites' requests and of non-loopback host names, and the page's
// script in real headless Chromium (acknowledge, state kept across refreshes, nothing injected).
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { artifact, launchChromium, pageProblems, skipChromium } from '../helpers/chromium.ts'
import { HUB_YAML, INTERVAL, TestHub } from './helpers.ts'

const TOKEN = 'page-operator-token-0123456789abcdef'
const EVIL_ERROR = 'connect ECONNREFUSED <img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
const EVIL_CODE = 'X"><b>CODE</b>'

async function page(th: TestHub, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(th.url(path), { headers, redirect: 'manual' })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

/** A raw HTTP request (any Host header, any body), for what fetch() would not send. */
function raw(th: TestHub, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  const url = new URL(th.url(path))
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode!, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** shop: eu and ap up, us down with an error meant to inject HTML; api (us, ap) not reported yet. */
async function disagreement(th: TestHub): Promise<void> {
  await th.votes({ 'eu-1': 'up', 'us-1': 'up', 'ap-1': 'up' })
  await th.time.advance(INTERVAL)
  await th.push('eu-1', 'up', { http: { status_code: 200, http_version: '1.1', redirects: 0, final_url: 'https://shop.example/', body_bytes: 10, phases: { resolve: 0.001, connect: 0.002, tls: 0.003, processing: 0.004, transfer: 0.0005 } } })
  await th.push('us-1', 'down', { error: EVIL_ERROR, error_code: EVIL_CODE })
  await th.push('ap-1', 'up')
}

describe('without an operator token: loopback clients', () => {
  let th: TestHub
  beforeAll(async () => {
    th = await TestHub.start()
    await disagreement(th)
  })
  afterAll(async () => th?.close())

  it('lists disagreements first, then outages, then every other check, then the vantages', async () => {
    const res = await page(th, '/review')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const order = ['h-disagreements', 'h-outages', 'h-others', 'h-vantages'].map((id) => res.text.indexOf(`id="${id}"`))
    expect(order.every((at) => at > 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    // shop disagrees (in the first section), api is unknown (in the third).
    const disagreements = res.text.slice(order[0], order[1])
    expect(disagreements).toContain('id="card-shop"')
    expect(disagreements).toMatch(/Up from eu, ap; down from us/)
    expect(res.text.slice(order[2], order[3])).toMatch(/href="\?check=api">api<\/a>[\s\S]*s-unknown/)
    // Every vantage has a mute button with a label naming it.
    for (const v of ['eu', 'us', 'ap']) expect(res.text).toContain(`data-action="mute" data-vantage="${v}" aria-label="Mute vantage ${v}"`)
    expect(res.text).toContain('aria-label="Acknowledge check shop"')
  })

  it('escapes what a target wrote: the error and error code are text, not HTML', async () => {
    for (const path of ['/review', '/review?check=shop']) {
      const { text } = await page(th, path)
      expect(text).not.toContain('<img src=x')
      expect(text).not.toContain('<script>window.pwned')
      expect(text).not.toContain('<b>CODE</b>')
      expect(text).toContain('connect ECONNREFUSED &lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;&lt;script&gt;window.pwned=2&lt;/script&gt;')
      expect(text).toContain('<code>X&quot;&gt;&lt;b&gt;CODE&lt;/b&gt;</code>')
    }
    const missing = await page(th, '/review?check=%3Cscript%3Ealert(1)%3C%2Fscript%3E')
    expect(missing.status).toBe(404)
    expect(missing.text).toContain('No check named &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot; is configured.')
    expect(missing.text).not.toContain('<script>alert')
  })

  it('sends a Content-Security-Policy that allows exactly its own inline script and style', async () => {
    const res = await page(th, '/review')
    const csp = res.headers.get('content-security-policy')!
    expect(csp).toMatch(/^default-src 'none'; /)
    for (const [tag, directive] of [['script', 'script-src'], ['style', 'style-src']]) {
      const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(res.text)!
      const hash = createHash('sha256').update(m[1], 'utf8').digest('base64')
      expect(csp).toContain(`${directive} 'sha256-${hash}'`)
      expect(res.text.split(`<${tag}>`)).toHaveLength(2) // one of each
    }
    expect(csp).toContain("frame-ancestors 'none'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('shows one check: each vantage’s evidence and the last hour as a timeline', async () => {
    const { status, text } = await page(th, '/review?check=shop')
    expect(status).toBe(200)
    expect(text).toMatch(/<h2 class="check-title">shop <span class="state s-ok">ok<\/span>/)
    expect(text).toContain('1 of 3 voting vantages down, 2 needed (min_down 2, for 1m 00s, resolve after 30s)')
    const evidence = text.slice(text.indexOf('id="h-evidence"'), text.indexOf('id="h-history"'))
    expect(evidence).toMatch(/<th scope="row">eu[\s\S]*?v-up[\s\S]*?eu-1[\s\S]*?>200<[\s\S]*?HTTP\/1\.1[\s\S]*?resolve 1\.0 ms · connect 2\.0 ms · tls 3\.0 ms · processing 4\.0 ms · transfer 0\.50 ms/)
    expect(evidence).toMatch(/<th scope="row">us[\s\S]*?v-down/)
    // Three timelines, with two rounds each; us-east's latest bucket is down.
    const timelines = [...text.matchAll(/<svg class="tl"[^>]*aria-label="([^"]*)"/g)].map((m) => m[1])
    expect(timelines).toEqual(['eu, last hour: 2 up', 'us, last hour: 1 down, 1 up', 'ap, last hour: 2 up'])
    // Both rounds fall in the last 30 s bucket: its colour is the worst, its title says all.
    expect(text).toMatch(/class="b-down"><title>[^<]*: down ×1, up ×1 \(connect ECONNREFUSED &lt;img/)
  })

  it('answers the script’s refresh with <main>’s content only', async () => {
    const res = await page(th, '/review?check=shop', { 'x-vantage-fragment': '1' })
    expect(res.status).toBe(200)
    expect(res.text).toMatch(/^<p class="meta">/)
    expect(res.text).not.toContain('<html')
    expect(res.text).toContain('id="h-evidence"')
  })

  it('filters by vantage (VantageStale links there), and 404s an unknown one', async () => {
    const us = await page(th, '/review?vantage=us')
    expect(us.status).toBe(200)
    expect(us.text).toContain('Checks of vantage <strong>us</strong>')
    const eu = await page(th, '/review?vantage=eu')
    expect(eu.text).not.toContain('href="?check=api"') // api runs on us and ap only
    expect((await page(th, '/review?vantage=nope')).status).toBe(404)
  })

  it('shows TLS evidence, a challenge signature and a certificate that differs between vantages', async () => {
    await th.time.advance(INTERVAL)
    const now = th.time.now()
    const tls = (fingerprint: string, days: number) => ({
      version: 'TLS 1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      chain_valid: true,
      hostname_valid: true,
      verify_error: null,
      earliest_cert_expiry: Math.floor(now / 1000) + days * 86400,
      leaf: { subject: 'CN=shop.example', issuer: 'CN=Test CA', not_before: Math.floor(now / 1000) - 86400, not_after: Math.floor(now / 1000) + days * 86400, dns_names: ['shop.example'], fingerprint_sha256: fingerprint },
    })
    await th.push('eu-1', 'up', { tls: tls('AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99', 60) })
    await th.push('us-1', 'up', { tls: tls('AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99', 60) })
    await th.push('ap-1', 'challenged', { tls: tls('01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF', 5) })
    const { text } = await page(th, '/review?check=shop')
    expect(text).toContain('<span class="flag warn">certificate mismatch</span>')
    expect(text).toMatch(/Certificate mismatch:<\/strong> vantages saw 2 different leaf certificates[\s\S]*?eu: <code>AABBCCDDEEFF0011…<\/code>, us: <code>AABBCCDDEEFF0011…<\/code>, ap: <code>0123456789ABCDEF…<\/code>/)
    const ap = text.slice(text.indexOf('<th scope="row">ap'), text.indexOf('</tr>', text.indexOf('<th scope="row">ap')))
    expect(ap).toContain('<span class="vote v-challenged">challenged</span>')
    expect(ap).toContain('<code>CHALLENGE_CLOUDFLARE</code>')
    expect(ap).toMatch(/TLS 1\.3<div class="sub err">expires \d{4}-\d\d-\d\d \(in 5d 0h\)<\/div><div class="sub">sha256 <code title="01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF">0123456789ABCDEF…<\/code>/)
    // The overview lists it among the other checks, with the challenge signature.
    const overview = await page(th, '/review')
    expect(overview.text.slice(overview.text.indexOf('id="h-others"'))).toMatch(/href="\?check=shop">shop<\/a>[\s\S]*?certificate mismatch[\s\S]*?ap: <code>CHALLENGE_CLOUDFLARE<\/code>/)
  })

  it('refuses a host name that is not loopback (DNS rebinding), on the page and the API', async () => {
    for (const path of ['/review', '/api/v1/checks']) {
      const res = await raw(th, 'GET', path, { host: 'rebind.example:8080' })
      expect(res.status, path).toBe(403)
      expect(res.text).toContain('addressed by a loopback name')
      expect((await raw(th, 'GET', path, { host: 'localhost:8080' })).status).toBe(200)
    }
  })

  it('refuses changes another site’s page asks the browser to make (no token to protect them)', async () => {
    await th.post('/api/v1/vantages/eu/mute', { reason: 'test' })
    // fetch(hub + '/api/v1/vantages/eu/unmute', { method: 'POST', mode: 'no-cors' }) from another
    // site: a bodyless POST is a "simple" request (no CORS preflight), so the hub itself must refuse it.
    const noCors = await raw(th, 'POST', '/api/v1/vantages/eu/unmute', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'content-length': '0' })
    expect(noCors.status).toBe(403)
    expect(JSON.parse(noCors.text)).toMatchObject({ code: 'cross_site' })
    // Either header alone is enough (older browsers send Origin only).
    expect((await raw(th, 'POST', '/api/v1/vantages/eu/unmute', { 'sec-fetch-site': 'cross-site', 'content-length': '0' })).status).toBe(403)
    expect((await raw(th, 'POST', '/api/v1/vantages/eu/unmute', { origin: 'https://evil.example', 'content-length': '0' })).status).toBe(403)
    expect((await raw(th, 'POST', '/api/v1/vantages/eu/unmute', { origin: 'null', 'content-length': '0' })).status).toBe(403)
    expect((await th.get('/api/v1/vantages')).json.vantages.find((v: any) => v.vantage === 'eu').mute).not.toBeNull()
    // The hub's own page, and clients that are not browsers, may.
    const host = new URL(th.url('/')).host
    const same = await raw(th, 'POST', '/api/v1/vantages/eu/unmute', { origin: `http://${host}`, 'sec-fetch-site': 'same-origin', 'content-length': '0' })
    expect(same.status).toBe(200)
    expect((await th.post('/api/v1/vantages/eu/mute', { reason: 'curl' })).status).toBe(200)
    expect((await th.post('/api/v1/vantages/eu/unmute')).status).toBe(200)
  })
})

describe('with an operator token', () => {
  let th: TestHub
  let cookie: string
  beforeAll(async () => {
    th = await TestHub.start(HUB_YAML('operator_token_file: ./secrets/operator.token\n'), { 'secrets/operator.token': `${TOKEN}\n` })
    await disagreement(th)
  })
  afterAll(async () => th?.close())

  it('asks for the token first: a sign-in form (401), also from loopback', async () => {
    const res = await page(th, '/review?check=shop')
    expect(res.status).toBe(401)
    expect(res.text).toContain('<form method="post" action="review/login">')
    expect(res.text).toContain('<input type="hidden" name="next" value="?check=shop">')
    expect(res.text).not.toContain('id="h-evidence"')
    const wrong = await page(th, '/review', { authorization: 'Bearer nope' })
    expect(wrong.status).toBe(401)
    expect(wrong.text).toContain('the bearer token is not the operator token')
    // The script's refresh gets a plain refusal, which it shows.
    const fragment = await page(th, '/review', { 'x-vantage-fragment': '1' })
    expect(fragment.status).toBe(401)
    expect(fragment.headers.get('content-type')).toMatch(/^text\/plain/)
  })

  it('takes ?token= once: sets an HttpOnly SameSite=Strict cookie (not the token) and drops the token from the address', async () => {
    expect((await page(th, '/review?token=wrong')).status).toBe(401)
    const res = await page(th, `/review?token=${TOKEN}&check=shop`)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('review?check=shop')
    const set = res.headers.get('set-cookie')!
    expect(set).toMatch(/^vantage_operator=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/)
    expect(set).not.toContain(TOKEN)
    cookie = set.split(';')[0]
  })

  it('answers the page and the operator API with the cookie', async () => {
    const res = await page(th, '/review?check=shop', { cookie })
    expect(res.status).toBe(200)
    expect(res.text).toContain('id="h-evidence"')
    expect(res.text).toContain('action="review/logout"')
    expect((await th.get('/api/v1/checks', { cookie })).status).toBe(200)
    expect((await th.get('/api/v1/alerts', { cookie })).status).toBe(200) // the alerting routes too
    expect((await th.get('/api/v1/checks', { cookie: 'vantage_operator=forged' })).status).toBe(401)
    // The bearer token works on the page as on the API (no session: no sign-out button).
    const bearer = await page(th, '/review', { authorization: `Bearer ${TOKEN}` })
    expect(bearer.status).toBe(200)
    expect(bearer.text).not.toContain('review/logout')
  })

  it('with the cookie, changes only from the hub’s own pages', async () => {
    const host = new URL(th.url('/')).host
    const ours = await th.post('/api/v1/vantages/ap/mute', { reason: 'from the page' }, { cookie, origin: `http://${host}` })
    expect(ours.status).toBe(200)
    const theirs = await th.post('/api/v1/vantages/ap/unmute', {}, { cookie, origin: 'https://evil.example' })
    expect(theirs).toMatchObject({ status: 403, json: { code: 'cross_site' } })
    const unmuted = await th.post('/api/v1/vantages/ap/unmute', {}, { cookie, 'sec-fetch-site': 'same-origin' })
    expect(unmuted).toMatchObject({ status: 200, json: { unmuted: true } })
  })

  it('signs in with the form and out again', async () => {
    const form = (body: string) =>
      fetch(th.url('/review/login'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, redirect: 'manual' })
    const ok = await form(`token=${encodeURIComponent(` ${TOKEN} `)}&next=${encodeURIComponent('?check=shop')}`)
    expect(ok.status).toBe(303)
    expect(ok.headers.get('location')).toBe('../review?check=shop')
    expect(ok.headers.get('set-cookie')!.split(';')[0]).toBe(cookie)
    // `next` is only ever a query string of /review (no open redirect).
    expect((await form(`token=${TOKEN}&next=${encodeURIComponent('//evil.example/')}`)).headers.get('location')).toBe('../review')
    const bad = await form('token=nope&next=%3Fcheck%3Dshop')
    expect(bad.status).toBe(401)
    const text = await bad.text()
    expect(text).toContain('That is not the operator token.')
    expect(text).toContain('<form method="post" action="login">') // relative to /review/login

    const out = await fetch(th.url('/review/logout'), { method: 'POST', headers: { cookie }, redirect: 'manual' })
    expect(out.status).toBe(303)
    expect(out.headers.get('set-cookie')).toMatch(/^vantage_operator=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/)
  })
})

describe.skipIf(skipChromium)('the page’s script in Chromium', () => {
  let th: TestHub
  let browser: Browser
  let tab: Page
  let problems: string[]

  beforeAll(async () => {
    ;[th, browser] = await Promise.all([TestHub.start(), launchChromium()])
    await disagreement(th)
    tab = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    problems = pageProblems(tab)
  })
  afterAll(async () => {
    await browser?.close()
    await th?.close()
  })

  // Functions run in the page are written against globalThis: this project's tsconfig has no DOM lib.
  /** Makes the page refresh now (as it does when its tab becomes visible) and waits for it. */
  const refreshed = async () => {
    const before = await tab.evaluate(() => Number((globalThis as any).document.getElementById('main').dataset.refreshed ?? 0))
    await tab.evaluate(() => (globalThis as any).document.dispatchEvent(new Event('visibilitychange')))
    await tab.waitForFunction((n) => Number((globalThis as any).document.getElementById('main').dataset.refreshed ?? 0) > n, before)
  }

  it('renders the target’s error as text: nothing injected runs, and the CSP is never violated', async () => {
    await tab.goto(th.url('/review?check=shop'))
    await refreshed() // through the script's swap as well
    expect(await tab.evaluate(() => (globalThis as any).pwned)).toBeUndefined()
    expect(await tab.locator('main img, main script, main b').count()).toBe(0)
    expect(await tab.locator('tr', { has: tab.locator('th', { hasText: /^us/ }) }).locator('td.error').innerText()).toContain('<script>window.pwned=2</script>')
    await tab.screenshot({ path: artifact('review-check.png'), fullPage: true })
    expect(problems).toEqual([])
  })

  it('keeps an open form and its typed text across refreshes, then acknowledges the check', async () => {
    await tab.getByText('Acknowledge', { exact: true }).click()
    const note = tab.getByLabel('Note')
    await note.fill('looking into us: ISP maintenance')
    await tab.evaluate(() => (globalThis as any).document.activeElement?.blur())
    await refreshed()
    expect(await tab.locator('details.ack').getAttribute('open')).not.toBeNull()
    expect(await note.inputValue()).toBe('looking into us: ISP maintenance')

    await tab.getByRole('button', { name: 'Save acknowledgement of shop' }).click()
    await tab.locator('p.note', { hasText: 'looking into us: ISP maintenance' }).waitFor()
    expect((await th.get('/api/v1/checks/shop')).json.ack).toMatchObject({ note: 'looking into us: ISP maintenance' })
    expect(await tab.locator('#status').innerText()).toBe('Acknowledge shop: done.')
    expect(problems).toEqual([])
  })

  it('says why an action failed', async () => {
    // A check removed between render and click: the API's error shows in the status line.
    await tab.evaluate(() => (globalThis as any).document.querySelector('form[data-ack]').setAttribute('data-ack', 'gone'))
    await tab.getByLabel('Note').fill('x')
    await tab.getByRole('button', { name: 'Save acknowledgement of shop' }).click()
    await tab.locator('#status.bad').waitFor()
    expect(await tab.locator('#status').innerText()).toMatch(/^Acknowledge gone failed: no check named "gone" is configured/)
  })
})
