// The http probe against real servers on loopback: plain HTTP, HTTPS with the test PKI, HTTP/2.
// Servers count the requests they receive, so "no request over an unverified connection" is
// checked on the server's side.
import { once } from 'node:events'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { nullLogger, systemClock, type Logger } from '../../agent/core/probe.ts'
import { runProbe } from '../../agent/core/run.ts'
import { probeHttp, USER_AGENT } from '../../agent/probes/http.ts'
import type { CheckSpec, HttpOptions, TlsOptions } from '../../proto/check.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { testPki, type TestCert, type TestPki } from '../helpers/certs.ts'

const identity = { agent_id: 't-1', vantage: 'test', region: 'test' }

interface RunOptions {
  http?: HttpOptions
  tls?: TlsOptions
  timeout_ms?: number
  ca?: string
  source_address?: string
  secrets?: Record<string, string>
  logger?: Logger
}

function probe(target: string, o: RunOptions = {}): Promise<ProbeResult> {
  const check: CheckSpec = { name: 'http-test', type: 'http', target, interval_ms: 60_000, timeout_ms: o.timeout_ms ?? 5000, http: o.http, tls: o.tls }
  return runProbe(probeHttp, check, {
    identity,
    agent_id: identity.agent_id,
    logger: o.logger ?? nullLogger,
    clock: systemClock,
    secrets: o.secrets ?? {},
    ca: o.ca,
    source_address: o.source_address,
  })
}

interface Seen {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
  remoteAddress: string
  httpVersion: string
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void

interface TestServer {
  origin: string
  port: number
  requests: Seen[]
  server: http.Server | https.Server | http2.Http2SecureServer
}

const servers: TestServer[] = []

// Records every request (with its body) before the handler answers.
function recording(requests: Seen[], handler: Handler) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const seen: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        remoteAddress: req.socket.remoteAddress ?? '',
        httpVersion: req.httpVersion,
      }
      requests.push(seen)
      handler(req, res, seen)
    })
  }
}

async function listen(server: TestServer['server'], scheme: string, requests: Seen[], host = '127.0.0.1'): Promise<TestServer> {
  server.listen(0, host)
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const s = { origin: `${scheme}://${host}:${port}`, port, requests, server }
  servers.push(s)
  return s
}

function startHttp(handler: Handler, host?: string): Promise<TestServer> {
  const requests: Seen[] = []
  return listen(http.createServer(recording(requests, handler)), 'http', requests, host)
}

function startHttps(cert: TestCert, handler: Handler, chain = true): Promise<TestServer> {
  const requests: Seen[] = []
  const server = https.createServer({ cert: chain ? cert.chainPem : cert.certPem, key: cert.keyPem }, recording(requests, handler))
  return listen(server, 'https', requests)
}

function startH2(cert: TestCert, handler: Handler): Promise<TestServer> {
  const requests: Seen[] = []
  const server = http2.createSecureServer({ cert: cert.chainPem, key: cert.keyPem, allowHTTP1: true })
  server.on('request', recording(requests, handler) as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
  return listen(server, 'https', requests)
}

async function closeAll(): Promise<void> {
  const all = servers.splice(0)
  await Promise.all(
    all.map(async ({ server }) => {
      const closed = once(server, 'close')
      server.close()
      if ('closeAllConnections' in server) server.closeAllConnections()
      await closed
    }),
  )
}

const ok: Handler = (_req, res) => {
  res.setHeader('content-type', 'text/html; charset=utf-8')
  res.end('<html><title>Shop</title><p>All systems go</p></html>')
}

describe('http probe: plain HTTP', () => {
  afterEach(closeAll)

  it('200 with a passing body assertion fills the http block', async () => {
    const s = await startHttp(ok)
    const r = await probe(`${s.origin}/`, { http: { body_contains: 'All systems go', body_matches: '(?i)<TITLE>shop' } })
    expect(r).toMatchObject({ success: true, challenged: false, type: 'http', agent_id: 't-1' })
    expect(r.error_code ?? null).toBeNull()
    expect(r.http).toMatchObject({ status_code: 200, http_version: '1.1', redirects: 0, final_url: `${s.origin}/`, body_bytes: Buffer.byteLength('<html><title>Shop</title><p>All systems go</p></html>') })
    expect(r.http?.headers?.['content-type']).toBe('text/html; charset=utf-8')
    const p = r.http!.phases!
    expect(p.resolve).toBe(0) // an IP literal needs no lookup
    expect(p.connect).toBeGreaterThan(0)
    expect(p.tls).toBe(0)
    expect(p.processing).toBeGreaterThan(0)
    expect(p.transfer).toBeGreaterThanOrEqual(0)
    expect(r.tls).toBeUndefined()
    expect(r.degraded).toBeUndefined()
  })

  it('a failing body assertion says what was missing', async () => {
    const s = await startHttp(ok)
    const r = await probe(`${s.origin}/`, { http: { body_contains: 'Checkout' } })
    expect(r).toMatchObject({ success: false, challenged: false, error_code: 'HTTP_BODY_MISMATCH' })
    expect(r.error).toMatch(/^body does not contain "Checkout"/)
    expect(r.http?.status_code).toBe(200)
  })

  it('expected statuses: default 200-299, ranges and single codes', async () => {
    const s = await startHttp((_req, res) => {
      res.statusCode = 404
      res.end('nope')
    })
    const byDefault = await probe(`${s.origin}/missing`)
    expect(byDefault).toMatchObject({ success: false, error_code: 'HTTP_STATUS_UNEXPECTED', error: 'status 404, expected 200-299' })
    expect(byDefault.http?.status_code).toBe(404)
    expect((await probe(`${s.origin}/missing`, { http: { expect_status: ['200-299', '400-404'] } })).success).toBe(true)
    expect((await probe(`${s.origin}/missing`, { http: { expect_status: ['404'] } })).success).toBe(true)
    expect((await probe(`${s.origin}/missing`, { http: { expect_status: ['4xx'] } })).success).toBe(true)
  })

  it('an invalid option is reported, not thrown, and nothing is sent', async () => {
    const s = await startHttp(ok)
    const r = await probe(`${s.origin}/`, { http: { expect_status: ['2OO'] } })
    expect(r).toMatchObject({ success: false, error_code: 'INVALID_CHECK' })
    expect(r.error).toMatch(/^invalid check: expect_status: "2OO" is not a status code or range/)
    expect(s.requests).toHaveLength(0)
  })

  it('a target that is not an http(s) URL is INVALID_TARGET', async () => {
    expect(await probe('ftp://127.0.0.1/')).toMatchObject({ success: false, error_code: 'INVALID_TARGET' })
    expect(await probe('not a url')).toMatchObject({ success: false, error_code: 'INVALID_TARGET' })
  })

  it('follows a redirect chain (relative and absolute Locations), counting hops', async () => {
    const s = await startHttp((req, res) => {
      const to: Record<string, [number, string]> = {
        '/start': [302, '/dir/one'],
        '/dir/one': [307, 'two?x=1'], // relative to /dir/
        '/dir/two?x=1': [308, `http://127.0.0.1:${(req.socket.localPort ?? 0).toString()}/final`],
      }
      const hop = to[req.url ?? '']
      if (hop) {
        res.writeHead(hop[0], { location: hop[1] })
        res.end()
      } else ok(req, res, undefined as never)
    })
    const r = await probe(`${s.origin}/start`, { http: { body_contains: 'All systems go' } })
    expect(r.success).toBe(true)
    expect(r.http).toMatchObject({ status_code: 200, redirects: 3, final_url: `${s.origin}/final` })
    expect(s.requests.map((q) => q.url)).toEqual(['/start', '/dir/one', '/dir/two?x=1', '/final'])
  })

  it('302 turns a POST into a GET; 307 repeats method and body', async () => {
    const s = await startHttp((req, res) => {
      if (req.url === '/post-302') res.writeHead(302, { location: '/landing' }).end()
      else if (req.url === '/post-307') res.writeHead(307, { location: '/landing' }).end()
      else res.end('landed')
    })
    await probe(`${s.origin}/post-302`, { http: { method: 'POST', body: 'a=1' } })
    await probe(`${s.origin}/post-307`, { http: { method: 'POST', body: 'a=1' } })
    expect(s.requests.map((q) => [q.method, q.url, q.body])).toEqual([
      ['POST', '/post-302', 'a=1'],
      ['GET', '/landing', ''],
      ['POST', '/post-307', 'a=1'],
      ['POST', '/landing', 'a=1'],
    ])
  })

  it('follow_redirects: false reports the 3xx itself', async () => {
    const s = await startHttp((req, res) => {
      if (req.url === '/old') res.writeHead(301, { location: '/new' }).end()
      else ok(req, res, undefined as never)
    })
    const r = await probe(`${s.origin}/old`, { http: { follow_redirects: false, expect_status: ['301'] } })
    expect(r.success).toBe(true)
    expect(r.http).toMatchObject({ status_code: 301, redirects: 0, final_url: `${s.origin}/old` })
    expect(r.http?.headers?.location).toBe('/new')
    expect(s.requests).toHaveLength(1)
    const unexpected = await probe(`${s.origin}/old`, { http: { follow_redirects: false } })
    expect(unexpected).toMatchObject({ success: false, error_code: 'HTTP_STATUS_UNEXPECTED', error: 'status 301, expected 200-299' })
  })

  it('too many redirects', async () => {
    const s = await startHttp((req, res) => {
      const n = Number((req.url ?? '/0').slice(1))
      res.writeHead(302, { location: `/${n + 1}` }).end()
    })
    const r = await probe(`${s.origin}/0`, { http: { max_redirects: 3 } })
    expect(r).toMatchObject({ success: false, error_code: 'HTTP_TOO_MANY_REDIRECTS', error: 'stopped after 3 redirects (next: /4)' })
    expect(r.http).toMatchObject({ status_code: 302, redirects: 3, final_url: `${s.origin}/3` })
    expect(s.requests).toHaveLength(4)
    const byDefault = await probe(`${s.origin}/0`)
    expect(byDefault.http?.redirects).toBe(10)
    expect(byDefault.error_code).toBe('HTTP_TOO_MANY_REDIRECTS')
  })

  it('a slow answer shows in processing; degraded_after marks a slow success', async () => {
    const s = await startHttp((req, res) => {
      setTimeout(() => ok(req, res, undefined as never), 300)
    })
    const slow = await probe(`${s.origin}/`, { http: { degraded_after_ms: 100 } })
    expect(slow.success).toBe(true)
    expect(slow.degraded).toBe(true)
    expect(slow.http!.phases!.processing).toBeGreaterThanOrEqual(0.29)
    expect(slow.http!.phases!.processing).toBeLessThan(1)
    const fastEnough = await probe(`${s.origin}/`, { http: { degraded_after_ms: 5000 } })
    expect(fastEnough.success).toBe(true)
    expect(fastEnough.degraded).toBeUndefined()
  })

  it('a server that never answers times out at the deadline, keeping the phases reached', async () => {
    const s = await startHttp(() => {})
    const r = await probe(`${s.origin}/`, { timeout_ms: 200 })
    expect(r).toMatchObject({ success: false, error_code: 'TIMEOUT', error: 'timed out after 200ms' })
    expect(r.duration_seconds).toBeGreaterThanOrEqual(0.19)
    expect(r.duration_seconds).toBeLessThan(0.6)
    expect(r.http?.status_code).toBe(0)
    expect(r.http!.phases!.connect).toBeGreaterThan(0)
    expect(r.http!.phases!.processing).toBeGreaterThanOrEqual(0.15)
    expect(s.requests).toHaveLength(1)
  })

  it('a closed port is CONNECTION_REFUSED', async () => {
    const s = await startHttp(ok)
    const port = s.port
    await closeAll()
    const r = await probe(`http://127.0.0.1:${port}/`)
    expect(r).toMatchObject({ success: false, challenged: false, error_code: 'CONNECTION_REFUSED' })
    expect(r.error).toContain(`127.0.0.1:${port}`)
  })

  it('a server speaking garbage is HTTP_PROTOCOL_ERROR', async () => {
    const net = await import('node:net')
    const server = net.createServer((sock) => sock.end('SMTP 220 hello\r\n\r\n'))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const r = await probe(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
      expect(r).toMatchObject({ success: false, error_code: 'HTTP_PROTOCOL_ERROR' })
    } finally {
      server.close()
    }
  })

  it('a connection dropped mid-body is CONNECTION_RESET, keeping the status seen', async () => {
    const s = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' })
      res.write('partial')
      setTimeout(() => res.socket?.destroy(), 20)
    })
    const r = await probe(`${s.origin}/`)
    expect(r).toMatchObject({ success: false, error_code: 'CONNECTION_RESET' })
    expect(r.error).toMatch(/^connection closed by 127\.0\.0\.1:\d+ before the response was complete/)
    expect(r.http).toMatchObject({ status_code: 200, body_bytes: 7 })
  })

  it('sends the identity header, a Vantage user agent and the bypass header from the secrets', async () => {
    const s = await startHttp(ok)
    const r = await probe(`${s.origin}/`, {
      http: {
        headers: { 'X-Custom': 'yes', 'X-Vantage-Probe': 'spoofed' },
        bypass_header: { name: 'X-Synthetic-Bypass', value_env: 'BYPASS_TOKEN' },
      },
      secrets: { BYPASS_TOKEN: 's3cret-token' },
    })
    expect(r.success).toBe(true)
    const h = s.requests[0].headers
    expect(h['x-vantage-probe']).toBe('t-1')
    expect(h['user-agent']).toBe(USER_AGENT)
    expect(h['x-synthetic-bypass']).toBe('s3cret-token')
    expect(h['x-custom']).toBe('yes')
    expect(JSON.stringify(r)).not.toContain('s3cret-token')
  })

  it('a literal bypass value works; a missing secret is logged by name, never by value', async () => {
    const s = await startHttp(ok)
    await probe(`${s.origin}/`, { http: { bypass_header: { name: 'X-Bypass', value: 'literal' } } })
    expect(s.requests[0].headers['x-bypass']).toBe('literal')

    const warnings: object[] = []
    const logger: Logger = { ...nullLogger, warn: (obj) => void warnings.push(obj) }
    const r = await probe(`${s.origin}/`, { http: { bypass_header: { name: 'X-Bypass', value_env: 'UNSET_TOKEN' } }, logger })
    expect(r.success).toBe(true)
    expect(s.requests[1].headers['x-bypass']).toBeUndefined()
    expect(warnings).toEqual([{ check: 'http-test', header: 'X-Bypass', secret: 'UNSET_TOKEN' }])
  })

  it('credentials and the bypass header do not follow a redirect to another host', async () => {
    const other = await startHttp(ok, '127.0.0.2')
    const s = await startHttp((_req, res) => res.writeHead(302, { location: `${other.origin}/elsewhere` }).end())
    const r = await probe(`${s.origin}/`, {
      http: { headers: { authorization: 'Bearer abc', 'x-keep': '1' }, bypass_header: { name: 'X-Bypass', value: 'tok' } },
    })
    expect(r.success).toBe(true)
    expect(s.requests[0].headers).toMatchObject({ authorization: 'Bearer abc', 'x-bypass': 'tok', 'x-keep': '1' })
    expect(other.requests[0].headers.authorization).toBeUndefined()
    expect(other.requests[0].headers['x-bypass']).toBeUndefined()
    expect(other.requests[0].headers).toMatchObject({ 'x-keep': '1', 'x-vantage-probe': 't-1' })
  })

  it('binds to the source address', async () => {
    const s = await startHttp(ok)
    const r = await probe(`${s.origin}/`, { source_address: '127.0.0.2' })
    expect(r.success).toBe(true)
    expect(s.requests[0].remoteAddress).toBe('127.0.0.2')
  })

  it('a Cloudflare challenge is challenged, not down', async () => {
    const s = await startHttp((_req, res) => {
      res.writeHead(403, { server: 'cloudflare', 'cf-mitigated': 'challenge', 'content-type': 'text/html; charset=UTF-8', 'cf-ray': '8f2b3c4d5e6f7a1b-FRA' })
      res.end(
        `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head><body><script>(function(){window._cf_chl_opt={cvId: '3',cType: 'managed'};var a=document.createElement('script');a.src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8f2b3c4d5e6f7a1b';document.head.appendChild(a);}());</script></body></html>`,
      )
    })
    const r = await probe(`${s.origin}/`, { http: { expect_status: ['403'] } })
    expect(r).toMatchObject({ success: false, challenged: true, error_code: 'CHALLENGE_CLOUDFLARE' })
    expect(r.error).toContain('Cloudflare')
    expect(r.http).toMatchObject({ status_code: 403 })
    expect(r.http?.headers?.['cf-mitigated']).toBe('challenge')
  })

  it('HEAD and POST with a body', async () => {
    const s = await startHttp((req, res, seen) => {
      res.setHeader('content-type', 'text/plain')
      res.end(req.method === 'HEAD' ? undefined : `got ${seen.method} ${seen.body}`)
    })
    const head = await probe(`${s.origin}/`, { http: { method: 'head' } })
    expect(head.success).toBe(true)
    expect(head.http?.body_bytes).toBe(0)
    const post = await probe(`${s.origin}/submit`, {
      http: { method: 'POST', body: '{"q":1}', headers: { 'content-type': 'application/json' }, body_contains: 'got POST {"q":1}' },
    })
    expect(post.success).toBe(true)
    expect(s.requests.map((q) => q.method)).toEqual(['HEAD', 'POST'])
    expect(s.requests[1]).toMatchObject({ body: '{"q":1}' })
    expect(s.requests[1].headers['content-type']).toBe('application/json')
  })

  it('header assertions, and set-cookie reported by name only', async () => {
    const s = await startHttp((_req, res) => {
      res.setHeader('set-cookie', ['session=abc123; Path=/; HttpOnly', 'pref=dark; Expires=Wed, 21 Oct 2026 07:28:00 GMT'])
      res.setHeader('x-powered-by', 'PHP/8.2')
      res.end('ok')
    })
    const r = await probe(`${s.origin}/`, { http: { header_assertions: [{ name: 'X-Powered-By', absent: true }] } })
    expect(r).toMatchObject({ success: false, error_code: 'HTTP_HEADER_MISMATCH', error: 'header x-powered-by is "PHP/8.2", expected it absent' })
    expect(r.http?.headers?.['set-cookie']).toBe('session, pref')
    expect(JSON.stringify(r)).not.toContain('abc123')
  })

  it('counts the whole body but keeps at most the cap', async () => {
    const size = 11 * 1024 * 1024
    const s = await startHttp((_req, res) => res.end(Buffer.alloc(size, 'a')))
    const r = await probe(`${s.origin}/`, { http: { body_not_contains: 'b' } })
    expect(r.success).toBe(true)
    expect(r.http?.body_bytes).toBe(size)
  })

  it('leaves no connection open', async () => {
    const s = await startHttp(ok)
    await probe(`${s.origin}/`)
    await new Promise((r) => setTimeout(r, 50))
    const open = await new Promise<number>((resolve, reject) => s.server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
    expect(open).toBe(0)
  })

  it('an external abort stops the probe as ABORTED', async () => {
    const s = await startHttp(() => {})
    const controller = new AbortController()
    const check: CheckSpec = { name: 'a', type: 'http', target: `${s.origin}/`, interval_ms: 60_000, timeout_ms: 5000 }
    setTimeout(() => controller.abort(), 100)
    const r = await runProbe(probeHttp, check, { identity, agent_id: 't-1', logger: nullLogger, clock: systemClock, secrets: {}, signal: controller.signal })
    expect(r).toMatchObject({ success: false, error_code: 'ABORTED' })
    expect(r.duration_seconds).toBeLessThan(1)
  })
})

describe('http probe: HTTPS and HTTP/2', () => {
  let pki: TestPki
  beforeAll(async () => {
    pki = await testPki()
  })
  afterEach(closeAll)
  afterAll(closeAll)

  it('a valid certificate via the test CA: success with the tls block', async () => {
    const s = await startHttps(pki.leaves.valid, ok)
    const r = await probe(`${s.origin}/`, { ca: pki.caPem, http: { body_contains: 'Shop' } })
    expect(r.success).toBe(true)
    expect(r.http).toMatchObject({ status_code: 200, http_version: '1.1' })
    expect(r.http!.phases!.tls).toBeGreaterThan(0)
    expect(r.tls).toMatchObject({ version: 'TLS 1.3', chain_valid: true, hostname_valid: true, verify_error: null })
    expect(r.tls?.leaf?.subject).toBe(pki.leaves.valid.subject)
    expect(r.tls?.earliest_cert_expiry).toBe(pki.leaves.valid.notAfter)
  })

  it('the CA may come from the check (tls.ca) as well as the agent', async () => {
    const s = await startHttps(pki.leaves.valid, ok)
    expect((await probe(`${s.origin}/`, { tls: { ca: pki.caPem } })).success).toBe(true)
  })

  it.each([
    ['expired', 'CERT_HAS_EXPIRED', true],
    ['notYetValid', 'CERT_NOT_YET_VALID', true],
    ['selfSigned', 'DEPTH_ZERO_SELF_SIGNED_CERT', true],
    ['wrongHost', 'ERR_TLS_CERT_ALTNAME_INVALID', true],
    ['incomplete', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', false],
  ] as const)('%s certificate: %s, the tls block filled, and no request sent', async (leaf, code, sendChain) => {
    const s = await startHttps(pki.leaves[leaf], ok, sendChain)
    const r = await probe(`${s.origin}/`, { ca: pki.caPem, http: { bypass_header: { name: 'X-Bypass', value: 'tok' } } })
    expect(r).toMatchObject({ success: false, challenged: false, error_code: code })
    expect(r.tls?.verify_error).toBe(code)
    expect(r.tls?.leaf?.subject).toBe(pki.leaves[leaf].subject)
    expect(r.http?.status_code).toBe(0)
    expect(r.http!.phases!.tls).toBeGreaterThan(0)
    expect(s.requests).toHaveLength(0)
  })

  it('insecure: the request is sent and succeeds, the verify error reported', async () => {
    const s = await startHttps(pki.leaves.expired, ok)
    const r = await probe(`${s.origin}/`, { ca: pki.caPem, tls: { insecure: true } })
    expect(r.success).toBe(true)
    expect(r.error_code ?? null).toBeNull()
    expect(r.tls).toMatchObject({ chain_valid: false, verify_error: 'CERT_HAS_EXPIRED' })
    expect(s.requests).toHaveLength(1)
  })

  it('servername sets the name verified', async () => {
    const s = await startHttps(pki.leaves.wrongHost, ok)
    const r = await probe(`${s.origin}/`, { ca: pki.caPem, tls: { servername: 'wrong.example' } })
    expect(r.success).toBe(true)
    expect(r.tls?.hostname_valid).toBe(true)
  })

  it('every redirect hop is verified: http → https with a bad certificate sends nothing there', async () => {
    const bad = await startHttps(pki.leaves.expired, ok)
    const s = await startHttp((_req, res) => res.writeHead(301, { location: `${bad.origin}/secure` }).end())
    const r = await probe(`${s.origin}/`, { ca: pki.caPem })
    expect(r).toMatchObject({ success: false, error_code: 'CERT_HAS_EXPIRED' })
    expect(r.http).toMatchObject({ redirects: 1, final_url: `${bad.origin}/secure`, status_code: 0 })
    expect(r.tls?.verify_error).toBe('CERT_HAS_EXPIRED')
    expect(bad.requests).toHaveLength(0)
  })

  it('HTTP/2 when asked (ALPN h2), HTTP/1.1 by default', async () => {
    const s = await startH2(pki.leaves.valid, ok)
    const h2 = await probe(`${s.origin}/`, { ca: pki.caPem, http: { http_version: '2', body_contains: 'Shop' } })
    expect(h2.success).toBe(true)
    expect(h2.http).toMatchObject({ status_code: 200, http_version: '2' })
    expect(h2.http?.headers?.['content-type']).toBe('text/html; charset=utf-8')
    expect(h2.tls?.alpn).toBe('h2')
    const h1 = await probe(`${s.origin}/`, { ca: pki.caPem })
    expect(h1.success).toBe(true)
    expect(h1.http?.http_version).toBe('1.1')
    expect(s.requests.map((q) => q.httpVersion)).toEqual(['2.0', '1.1'])
  })

  it('HTTP/2 asked of an HTTP/1.1-only server falls back to 1.1', async () => {
    const s = await startHttps(pki.leaves.valid, ok)
    const r = await probe(`${s.origin}/`, { ca: pki.caPem, http: { http_version: '2' } })
    expect(r.success).toBe(true)
    expect(r.http?.http_version).toBe('1.1')
  })
})
