// The k6 behaviours journeys depend on, each against the real loopback server: headers, bodies,
// redirects, cookies, errors that do not throw, check/group semantics, response callbacks,
// thresholds, load-test options, k6/html, k6/encoding, k6/crypto, k6/metrics, k6/execution.
// Scripts report what they saw with console.log(JSON); the test compares.
import { createHash, createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runJourneyCheck, startShop, step, type Shop } from './servers.ts'

let shop: Shop
beforeAll(async () => {
  shop = await startShop()
})
afterAll(() => shop.close())

/** Runs `body` as the default function; returns what it logged as JSON, and the result. */
async function observe(body: string, o: { imports?: string; init?: string; timeoutMs?: number } = {}) {
  const source = `
    import http from 'k6/http'
    import { check, group, sleep, fail } from 'k6'
    ${o.imports ?? ''}
    const BASE = __ENV.BASE
    const out = {}
    ${o.init ?? ''}
    export default function () {
      try {
        ${body}
      } finally {
        console.log(JSON.stringify(out))
      }
    }`
  const run = await runJourneyCheck({ source, name: 'compat.js' }, { env: { BASE: shop.app }, timeoutMs: o.timeoutMs })
  const line = run.logs.find((l) => l.startsWith('info {'))
  return { ...run, out: line ? (JSON.parse(line.slice(5)) as Record<string, any>) : {} }
}

describe('responses', () => {
  it("header names in Go's canonical form, repeated headers joined with ', '", async () => {
    const { out } = await observe(`const r = http.get(BASE + '/multi-header'); out.id = r.headers['X-Request-Id']; out.raw = r.headers['x-request-id']; out.multi = r.headers['X-Multi']`)
    expect(out).toEqual({ id: 'req-42', multi: 'one, two' })
  })

  it('body: null for 204/304 and network errors, "" for HEAD, ArrayBuffer for binary, null for none', async () => {
    const { out } = await observe(`
      out.s204 = http.get(BASE + '/status/204').body
      out.s304 = http.get(BASE + '/status/304').body
      out.head = http.head(BASE + '/echo').body
      out.refused = http.get('http://127.0.0.1:1/').body
      const bin = http.get(BASE + '/status/200', { responseType: 'binary' }).body
      out.binary = [bin instanceof ArrayBuffer, bin.byteLength]
      out.none = http.get(BASE + '/echo', { responseType: 'none' }).body
      out.text = http.get(BASE + '/status/200').body`)
    expect(out).toEqual({ s204: null, s304: null, head: '', refused: null, binary: [true, 10], none: null, text: 'status 200' })
  })

  it('failures do not throw: status 0 with k6 error codes; >= 400 gets 1000 + status', async () => {
    const { out, result } = await observe(
      `
      const refused = http.get('http://127.0.0.1:1/')
      out.refused = [refused.status, refused.error_code, refused.error.length > 0]
      const slow = http.get(BASE + '/never', { timeout: '300ms' })
      out.timeout = [slow.status, slow.error_code, slow.timings.duration]
      const missing = http.get(BASE + '/status/404')
      out.notFound = [missing.status, missing.error_code, missing.error]
      const ok = http.get(BASE + '/status/200')
      out.ok = [ok.status, ok.error_code, ok.error, ok.status_text, ok.proto]
      check(refused, { 'refused is status 0': (r) => r.status === 0 })`,
    )
    expect(out).toEqual({ refused: [0, 1212, true], timeout: [0, 1050, 0], notFound: [404, 1404, ''], ok: [200, 0, '', '200 OK', 'HTTP/1.1'] })
    // A request error fails no check by itself: the journey verdict comes from the checks.
    expect(result.success).toBe(true)
  })

  it('gzip bodies are decoded; res.json(selector) reads GJSON paths', async () => {
    const { out } = await observe(`
      out.zipped = http.get(BASE + '/gzip', { headers: { 'Accept-Encoding': 'gzip' } }).json('zipped')
      const list = http.get(BASE + '/public/crocodiles/')
      out.count = list.json('#')
      out.ids = list.json('#.id')
      out.second = list.json('1.name')
      out.missing = list.json('9.name')
      out.echo = http.get(BASE + '/echo?x=1').json('query')`)
    expect(out).toEqual({ zipped: true, count: 5, ids: [1, 2, 3, 4, 5], second: 'Croc 2', missing: null, echo: '?x=1' })
  })

  it('the identity header is always ours; the user agent is ours unless the script sets one', async () => {
    const { out } = await observe(`
      out.plain = http.get(BASE + '/echo').json('headers')
      out.custom = http.get(BASE + '/echo', { headers: { 'User-Agent': 'my-k6', 'X-Vantage-Probe': 'spoofed' } }).json('headers')`)
    expect(out.plain['x-vantage-probe']).toBe('test-agent')
    expect(out.plain['user-agent']).toMatch(/^Vantage\//)
    expect(out.custom['x-vantage-probe']).toBe('test-agent')
    expect(out.custom['user-agent']).toBe('my-k6')
  })
})

describe('request bodies and methods', () => {
  it('an object body is form-encoded (keys sorted, as Go); strings and ArrayBuffers go as they are', async () => {
    const { out } = await observe(`
      const form = http.post(BASE + '/echo', { z: 'last one', a: 'x&y=1', m: 'ü' })
      out.form = [form.json('body'), form.json('headers.content-type')]
      const json = http.put(BASE + '/echo', JSON.stringify({ a: 1 }), { headers: { 'Content-Type': 'application/json' } })
      out.json = [json.json('method'), json.json('body'), json.json('headers.content-type')]
      const bytes = new Uint8Array([104, 105])
      out.binary = http.patch(BASE + '/echo', bytes.buffer).json('body')
      out.del = http.del(BASE + '/echo').json('method')
      out.options = http.options(BASE + '/echo').json('method')
      out.request = http.request('post', BASE + '/echo', 'x').json('method')`)
    expect(out).toEqual({
      form: ['a=x%26y%3D1&m=%C3%BC&z=last+one', 'application/x-www-form-urlencoded'],
      json: ['PUT', '{"a":1}', 'application/json'],
      binary: 'hi',
      del: 'DELETE',
      options: 'OPTIONS',
      request: 'POST',
    })
  })

  it('a POST answered 301/302/303 is followed as a GET without body; 307/308 keep method and body', async () => {
    const { out } = await observe(`
      for (const status of [301, 302, 303, 307, 308]) {
        const r = http.post(BASE + '/redirect/' + status + '?to=/echo', 'payload')
        out[status] = [r.status, r.json('method'), r.json('body'), r.url.endsWith('/echo')]
      }`)
    expect(out).toEqual({
      301: [200, 'GET', '', true],
      302: [200, 'GET', '', true],
      303: [200, 'GET', '', true],
      307: [200, 'POST', 'payload', true],
      308: [200, 'POST', 'payload', true],
    })
  })

  it('redirects: n follows n hops and returns the 3xx it got; 0 returns the first', async () => {
    const { out } = await observe(`
      const none = http.get(BASE + '/chain/3', { redirects: 0 })
      const two = http.get(BASE + '/chain/3', { redirects: 2 })
      const all = http.get(BASE + '/chain/3')
      out.none = [none.status, none.url.replace(BASE, ''), none.headers['Location']]
      out.two = [two.status, two.url.replace(BASE, '')]
      out.all = [all.status, all.url.replace(BASE, '')]`)
    expect(out).toEqual({ none: [302, '/chain/3', '/chain/2'], two: [302, '/chain/1'], all: [200, '/chain/0'] })
  })
})

describe('cookies', () => {
  it('cookies set on redirect hops land in the jar and are sent on the next hops', async () => {
    const { out } = await observe(`
      const r = http.get(BASE + '/chain/3')
      out.seen = r.json('cookies')
      out.jar = http.cookieJar().cookiesForURL(BASE + '/')`)
    expect(out.seen).toEqual({ hop3: 'yes', hop2: 'yes', hop1: 'yes' })
    expect(out.jar).toEqual({ hop3: ['yes'], hop2: ['yes'], hop1: ['yes'] })
  })

  it('params.cookies are sent but not stored; replace: true wins over the jar', async () => {
    const { out } = await observe(`
      const jar = http.cookieJar()
      jar.set(BASE, 'theme', 'dark')
      out.sent = http.get(BASE + '/echo', { cookies: { extra: '1' } }).json('headers.cookie')
      out.replaced = http.get(BASE + '/echo', { cookies: { theme: { value: 'light', replace: true } } }).json('headers.cookie')
      out.jar = jar.cookiesForURL(BASE + '/')
      jar.delete(BASE, 'theme')
      out.deleted = jar.cookiesForURL(BASE + '/')
      const own = new http.CookieJar()
      own.set(BASE, 'mine', 'x', { path: '/echo' })
      out.own = http.get(BASE + '/echo', { jar: own }).json('headers.cookie')
      out.ownOtherPath = own.cookiesForURL(BASE + '/elsewhere')
      own.clear(BASE + '/echo')
      out.cleared = own.cookiesForURL(BASE + '/echo')`)
    expect(out).toEqual({
      sent: 'extra=1; theme=dark',
      replaced: 'theme=light',
      jar: { theme: ['dark'] },
      deleted: {},
      own: 'mine=x',
      ownOtherPath: {},
      cleared: {},
    })
  })

  it('Response.cookies lists what the response set', async () => {
    const { out } = await observe(`out.c = http.get(BASE + '/my_messages.php').cookies.csrf_session.map((c) => [c.name, c.path, c.httpOnly, c.value.length])`)
    expect(out.c).toEqual([['csrf_session', '/', true, 16]])
  })
})

describe('auth and batch', () => {
  it('basic auth from the URL, digest auth on a 401 challenge', async () => {
    const { out } = await observe(`
      const url = BASE.replace('http://', 'http://user:pass@')
      out.basic = http.get(url + '/basic').status
      out.digest = http.get(url + '/digest', { auth: 'digest' }).status
      out.digestWrong = http.get(BASE.replace('http://', 'http://user:nope@') + '/digest', { auth: 'digest' }).status`)
    expect(out).toEqual({ basic: 200, digest: 200, digestWrong: 401 })
  })

  it('http.batch takes arrays, objects and URL strings; answers in the same shape', async () => {
    const { out } = await observe(`
      const list = http.batch([BASE + '/status/200', ['POST', BASE + '/echo', 'b'], { method: 'GET', url: BASE + '/status/404' }])
      out.list = list.map((r) => r.status)
      const named = http.batch({ home: BASE + '/status/201', api: ['GET', BASE + '/status/202'] })
      out.named = { home: named.home.status, api: named.api.status }`)
    expect(out).toEqual({ list: [200, 200, 404], named: { home: 201, api: 202 } })
  })
})

describe('check and group', () => {
  it('check() evaluates every condition; a throwing one counts as failed and propagates', async () => {
    const { result, out } = await observe(`
      out.all = check(1, { 'one': (v) => v === 1, 'two': (v) => v === 2, 'three': () => true })
      try {
        check(null, { 'before': () => true, 'throws': () => { throw new Error('boom') }, 'after': () => true })
      } catch (e) { out.propagated = e.message }`)
    expect(out).toEqual({ all: false, propagated: 'boom' })
    expect(step(result, 'default').checks).toEqual({
      one: { passes: 1, fails: 0 },
      two: { passes: 0, fails: 1 },
      three: { passes: 1, fails: 0 },
      before: { passes: 1, fails: 0 },
      throws: { passes: 0, fails: 1 },
    })
    expect(result.error_code).toBe('JOURNEY_CHECK_FAILED')
  })

  it('group() returns its value and names nested paths with "::" (seen in the group tag)', async () => {
    const { out, report } = await observe(
      `out.value = group('outer', () => group('inner', () => { http.get(BASE + '/status/200'); return 42 }))`,
      { init: `export const options = { thresholds: { 'http_reqs{group:::outer::inner}': ['count==1'], 'http_reqs{group:::outer}': ['count==0'] } }` },
    )
    expect(out.value).toBe(42)
    expect(report!.thresholds.map((t) => [t.metric, t.ok])).toEqual([
      ['http_reqs{group:::outer::inner}', true],
      ['http_reqs{group:::outer}', true],
    ])
  })

  it('setup() and teardown() checks belong to ::setup and ::teardown', async () => {
    const source = `
      import { check } from 'k6'
      export const options = { thresholds: { 'checks{group:::setup}': ['rate==1'], 'checks{group:::teardown}': ['rate==0'] } }
      export function setup() { check(1, { 'in setup': () => true }) }
      export default function () {}
      export function teardown() { check(1, { 'in teardown': () => false }) }`
    const { result, report } = await runJourneyCheck({ source })
    expect(report!.thresholds.every((t) => t.ok)).toBe(true)
    expect(step(result, 'teardown')).toMatchObject({ success: false, error_code: 'JOURNEY_CHECK_FAILED' })
  })
})

describe('response callbacks and thresholds', () => {
  it('expectedStatuses and setResponseCallback decide http_req_failed', async () => {
    const { report } = await observe(
      `
      http.get(BASE + '/status/404')
      http.get(BASE + '/status/404', { responseCallback: http.expectedStatuses(404) })
      http.setResponseCallback(http.expectedStatuses({ min: 200, max: 204 }, 404))
      http.get(BASE + '/status/404')
      http.get(BASE + '/status/302')
      http.setResponseCallback(null)
      http.get(BASE + '/status/500')`,
      {
        init: `export const options = { thresholds: {
          http_req_failed: ['rate>0.49', 'rate<0.51'],
          'http_req_failed{expected_response:false}': ['rate==1'],
          'http_reqs{expected_response:true}': ['count==2'],
          'http_reqs': ['count==5'],
          'http_req_duration{status:404}': ['max<5000', 'p(95)<5000', 'avg<5000', 'med<5000', 'min>=0'],
        } }`,
      },
    )
    // 404 (failed), 404 (expected), 404 (expected), 302 (failed), 500 (no callback: no sample).
    expect(report!.thresholds.filter((t) => !t.ok)).toEqual([])
  })

  it('an invalid threshold fails the load with the reason', async () => {
    const bad = await runJourneyCheck({ source: `export const options = { thresholds: { http_req_duration: ['rate<1'] } }\nexport default function () {}` })
    expect(bad.result.error_code).toBe('JOURNEY_SCRIPT_INVALID')
    expect(bad.result.error).toMatch(/a trend supports avg, min, max, med, p\(N\)/)
    const unknown = await runJourneyCheck({ source: `export const options = { thresholds: { nope: ['count>1'] } }\nexport default function () {}` })
    expect(unknown.result.error).toMatch(/no metric named "nope"/)
  })

  it('load-test options are accepted and ignored: one iteration of the first scenario without default', async () => {
    const source = `
      import { Counter } from 'k6/metrics'
      const runs = new Counter('runs')
      export const options = {
        vus: 50, duration: '10m', stages: [{ duration: '1m', target: 100 }], ext: { loadimpact: { projectID: 1 } },
        scenarios: { browse: { executor: 'constant-vus', vus: 10, duration: '5m', exec: 'browse' } },
        thresholds: { runs: ['count==1'] },
      }
      export function browse() { runs.add(1) }`
    const { result, report } = await runJourneyCheck({ source })
    expect(result.success).toBe(true)
    expect(report!.thresholds).toMatchObject([{ metric: 'runs', ok: true, value: 1 }])
  })

  it('custom metrics: Counter, Gauge, Rate, Trend; declared only in the init context', async () => {
    const { report, result, out } = await observe(
      `
      c.add(2); c.add(3, { kind: 'b' })
      g.add(7); g.add(4)
      r.add(true); r.add(false); r.add(1); r.add(0)
      t.add(10); t.add(20); t.add(30); t.add(40)
      try { new Trend('late') } catch (e) { out.late = e.message }`,
      {
        imports: `import { Counter, Gauge, Rate, Trend } from 'k6/metrics'`,
        init: `const c = new Counter('c'); const g = new Gauge('g'); const r = new Rate('r'); const t = new Trend('t')
          export const options = { thresholds: { c: ['count==5'], 'c{kind:b}': ['count==3'], g: ['value==4'], r: ['rate==0.5'], t: ['avg==25', 'min==10', 'max==40', 'med==25', 'p(90)==37'] } }`,
      },
    )
    expect(report!.thresholds.filter((x) => !x.ok)).toEqual([])
    expect(result.success).toBe(true)
    expect(out.late).toMatch(/metrics must be declared in the init context/)
  })

  it('exec.test.fail() fails the journey and lets it go on; exec basics are there', async () => {
    const { out, result } = await observe(`out.vu = [exec.vu.idInTest, exec.scenario.name, exec.vu.iterationInScenario]; exec.test.fail('known bad'); out.after = true`, {
      imports: `import exec from 'k6/execution'`,
    })
    expect(out).toEqual({ vu: [1, 'default', 0], after: true })
    expect(result).toMatchObject({ success: false, error_code: 'JOURNEY_FAILED_BY_SCRIPT', error: 'known bad' })
  })
})

describe('k6/html', () => {
  it('parseHTML and the Selection API a journey uses', async () => {
    const { out } = await observe(
      `
      const doc = http.get(BASE + '/form').html()
      const items = doc.find('ul#list li.item')
      out.size = items.size()
      out.texts = items.map((i, s) => s.text())
      out.first = items.first().attr('data-sku')
      out.eq = items.eq(1).data('sku')
      out.last = items.last().text()
      out.special = items.filter('.special').text()
      out.notSpecial = items.not('.special').size()
      out.is = items.eq(1).is('.special')
      out.nth = doc.find('li:nth-child(2)').text()
      out.next = items.first().next().text()
      out.parent = items.first().parent().attr('id')
      out.closest = doc.find('input[name=q]').closest('form').attr('id')
      out.children = doc.find('select').children().size()
      out.has = doc.find('form').has('textarea').size()
      out.vals = ['q', 'size', 'note'].map((n) => doc.find('[name=' + n + ']').val())
      out.form = doc.find('form#search').serializeObject()
      out.link = doc.find('a#next').attr('href')
      out.each = []
      items.each((i, el) => out.each.push([i, el.nodeName(), el.getAttribute('class'), el.textContent()]))
      out.after = doc.find('div#after').text()
      out.implicit = doc.find('body > p + div').size()
      out.html = doc.find('select option[selected]').html()
      out.contains = doc.find('li:contains("Third")').size()
      out.missing = doc.find('.nope').attr('x')
      try { doc.find('li[') } catch (e) { out.bad = e.message }`,
    )
    expect(out).toEqual({
      size: 3,
      texts: ['First', 'Second', 'Third'],
      first: 'a-1',
      eq: 'b-2',
      last: 'Third',
      special: 'Second',
      notSpecial: 2,
      is: true,
      nth: 'Second',
      next: 'Second',
      parent: 'list',
      closest: 'search',
      children: 2,
      has: 1,
      vals: ['shoes', '42', 'hi & bye'],
      form: { q: 'shoes', cheap: '1', size: '42', note: 'hi & bye' },
      link: '/echo?page=2',
      each: [
        [0, 'LI', 'item', 'First'],
        [1, 'LI', 'item special', 'Second'],
        [2, 'LI', 'item', 'Third'],
      ],
      after: 'after p',
      implicit: 1,
      html: 'forty-two',
      contains: 1,
      bad: expect.stringMatching(/^invalid selector "li\[": expected a name/),
    })
  })

  it('submitForm (GET: fields in the query, submit button included) and clickLink', async () => {
    const { out } = await observe(`
      const page = http.get(BASE + '/form')
      const sent = page.submitForm({ formSelector: '#search', fields: { q: 'boots' } })
      out.query = sent.json('query')
      out.method = sent.json('method')
      out.link = page.clickLink({ selector: 'a#next' }).json('query')`)
    expect(out).toEqual({ query: '?cheap=1&go=Search&note=hi+%26+bye&q=boots&size=42', method: 'GET', link: '?page=2' })
  })
})

describe('k6/encoding and k6/crypto', () => {
  it('b64encode/b64decode in every variant, hashes and HMACs as node computes them', async () => {
    const { out } = await observe(
      `
      out.b64 = [encoding.b64encode('héllo?>'), encoding.b64encode('héllo?>', 'rawstd'), encoding.b64encode('héllo?>', 'url'), encoding.b64encode('héllo?>', 'rawurl')]
      out.back = encoding.b64decode(encoding.b64encode('héllo'), 'std', 's')
      out.bytes = new Uint8Array(encoding.b64decode('AAEC')).join(',')
      out.md5 = crypto.md5('abc', 'hex')
      out.sha256 = crypto.sha256('abc', 'base64')
      out.sha512 = crypto.sha512('abc', 'hex')
      out.hmac = crypto.hmac('sha256', 'key', 'data', 'hex')
      const h = crypto.createHash('sha1'); h.update('a'); h.update('bc'); out.sha1 = h.digest('hex')
      const m = crypto.createHMAC('sha256', 'key'); m.update('da'); m.update('ta'); out.hmac2 = m.digest('base64rawurl')
      out.random = crypto.randomBytes(16).byteLength
      try { crypto.createHash('sha3').digest('hex') } catch (e) { out.badAlgorithm = e.message }`,
      { imports: `import encoding from 'k6/encoding'\nimport crypto from 'k6/crypto'` },
    )
    const b = Buffer.from('héllo?>')
    expect(out).toEqual({
      b64: [b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url') + '=', b.toString('base64url')],
      back: 'héllo',
      bytes: '0,1,2',
      md5: createHash('md5').update('abc').digest('hex'),
      sha256: createHash('sha256').update('abc').digest('base64'),
      sha512: createHash('sha512').update('abc').digest('hex'),
      hmac: createHmac('sha256', 'key').update('data').digest('hex'),
      sha1: createHash('sha1').update('abc').digest('hex'),
      hmac2: createHmac('sha256', 'key').update('data').digest('base64url'),
      random: 16,
      badAlgorithm: expect.stringMatching(/invalid algorithm "sha3"/),
    })
  })
})
