// Real loopback servers for journey tests, shaped like the public demos the example journeys
// target: test.k6.io's CSRF-protected login, test-api.k6.io's JSON API, an application and an
// identity provider on two loopback addresses for the SSO-like redirect flow, plus the odd
// routes the k6-behaviour tests need (echo, statuses, redirects, delays, a Cloudflare challenge).
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { gzipSync } from 'node:zlib'
import { nullLogger, systemClock } from '../../agent/core/probe.ts'
import { runProbe } from '../../agent/core/run.ts'
import type { JourneyReport } from '../../agent/journey/report.ts'
import { probeJourneyReport } from '../../agent/probes/journey.ts'
import type { CheckSpec } from '../../proto/check.ts'
import type { ProbeResult } from '../../proto/result.ts'

export interface Shop {
  app: string
  idp: string
  /** Server-side handling time of each /delay/:ms request, in milliseconds. */
  delays: number[]
  /** Every request the app server saw: method, path, headers. */
  seen: { method: string; path: string; headers: http.IncomingHttpHeaders }[]
  close(): Promise<void>
}

const CLOUDFLARE_PAGE = '<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><div id="challenge-form"></div><script>window._cf_chl_opt={}</script></body></html>'

function cookies(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of (req.headers.cookie ?? '').split(/;\s*/).filter(Boolean)) {
    const i = part.indexOf('=')
    out[part.slice(0, i)] = part.slice(i + 1)
  }
  return out
}

async function body(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function html(res: http.ServerResponse, status: number, content: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers }).end(`<!DOCTYPE html><html><head><title>Shop</title></head><body>${content}</body></html>`)
}

function json(res: http.ServerResponse, status: number, value: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value))
}

async function listen(server: http.Server, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  return `http://${host}:${(server.address() as AddressInfo).port}`
}

export async function startShop(): Promise<Shop> {
  const delays: number[] = []
  const seen: Shop['seen'] = []
  const csrfBySession = new Map<string, string>()
  const sessions = new Set<string>()
  const tokens = new Set<string>()
  const crocodiles = new Map<number, { id: number; name: string; sex: string; date_of_birth: string }>()
  let nextId = 100
  const codes = new Map<string, string>() // SSO code → user
  let app = ''
  let idp = ''

  const appServer = http.createServer((req, res) => {
    const started = performance.now()
    const url = new URL(req.url ?? '/', app)
    const path = url.pathname
    seen.push({ method: req.method ?? '', path, headers: req.headers })
    const jar = cookies(req)
    void (async () => {
      const text = await body(req)

      // --- test.k6.io: CSRF-protected login
      if (path === '/my_messages.php') {
        if (jar.session && sessions.has(jar.session)) {
          return html(res, 200, `<h2>Welcome, admin!</h2><form name="logout" method="POST" action="/login.php"><input type="hidden" name="logout" value="1"><input type="submit" value="Logout"></form>`)
        }
        const sid = randomBytes(8).toString('hex')
        const token = randomBytes(12).toString('hex')
        csrfBySession.set(sid, token)
        return html(
          res,
          200,
          `<form method="post" action="/login.php"><input type="hidden" name="csrftoken" value="${token}"><input type="text" name="login"><input type="password" name="password"><input type="hidden" name="redirect" value="yes"><input type="submit" value="Go!"></form>`,
          { 'set-cookie': `csrf_session=${sid}; Path=/; HttpOnly` },
        )
      }
      if (path === '/login.php' && req.method === 'POST') {
        const form = new URLSearchParams(text)
        if (form.get('logout') === '1') {
          sessions.delete(jar.session ?? '')
          return res.writeHead(302, { location: '/my_messages.php', 'set-cookie': 'session=; Path=/; Max-Age=0' }).end()
        }
        if (!jar.csrf_session || csrfBySession.get(jar.csrf_session) !== form.get('csrftoken')) return html(res, 403, '<h1>CSRF verification failed</h1>')
        if (form.get('login') !== 'admin' || form.get('password') !== '123') return html(res, 200, '<p>Invalid credentials</p>')
        const sid = randomBytes(8).toString('hex')
        sessions.add(sid)
        // The session cookie arrives on the redirect hop, as test.k6.io does it.
        return res.writeHead(302, { location: '/my_messages.php', 'set-cookie': `session=${sid}; Path=/; HttpOnly` }).end()
      }

      // --- test-api.k6.io: JSON API with a bearer token
      if (path === '/auth/token/login/' && req.method === 'POST') {
        let creds: { username?: string; password?: string } = {}
        try {
          creds = JSON.parse(text) as typeof creds
        } catch {
          return json(res, 400, { detail: 'JSON parse error' })
        }
        if (creds.username !== 'croc' || creds.password !== 'dile') return json(res, 401, { detail: 'No active account found with the given credentials' })
        const token = randomBytes(16).toString('hex')
        tokens.add(token)
        return json(res, 200, { access: token, refresh: 'r-' + token })
      }
      if (path.startsWith('/my/crocodiles/')) {
        const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
        if (!auth || !tokens.has(auth[1])) return json(res, 401, { detail: 'Authentication credentials were not provided.' })
        const id = Number(path.split('/')[3])
        if (req.method === 'POST' && !id) {
          const c = { id: nextId++, ...(JSON.parse(text) as { name: string; sex: string; date_of_birth: string }) }
          crocodiles.set(c.id, c)
          return json(res, 201, c)
        }
        const c = crocodiles.get(id)
        if (!c) return json(res, 404, { detail: 'Not found.' })
        if (req.method === 'DELETE') {
          crocodiles.delete(id)
          return res.writeHead(204).end()
        }
        return json(res, 200, c)
      }
      if (path.startsWith('/public/crocodiles/')) {
        const list = [1, 2, 3, 4, 5].map((id) => ({ id, name: `Croc ${id}`, sex: 'F', date_of_birth: '2010-05-05' }))
        const id = Number(path.split('/')[3])
        if (!id) return json(res, 200, list)
        const c = list.find((x) => x.id === id)
        return c ? json(res, 200, c) : json(res, 404, { detail: 'Not found.' })
      }

      // --- an application signing in through the identity provider
      if (path === '/login') {
        const state = randomBytes(6).toString('hex')
        const target = `${idp}/authorize?client_id=shop&redirect_uri=${encodeURIComponent(`${app}/callback`)}&state=${state}`
        return res.writeHead(302, { location: target, 'set-cookie': `sso_state=${state}; Path=/; HttpOnly` }).end()
      }
      if (path === '/callback') {
        const user = codes.get(url.searchParams.get('code') ?? '')
        if (!user || url.searchParams.get('state') !== jar.sso_state) return html(res, 400, '<p>invalid state</p>')
        const sid = randomBytes(8).toString('hex')
        sessions.add(sid)
        return res.writeHead(302, { location: '/home', 'set-cookie': [`session=${sid}; Path=/`, 'sso_state=; Path=/; Max-Age=0'] }).end()
      }
      if (path === '/home') {
        if (!jar.session || !sessions.has(jar.session)) return res.writeHead(302, { location: '/login' }).end()
        return html(res, 200, '<p>Hello, alice</p>')
      }

      // --- odd routes for k6 behaviours
      if (path === '/echo') {
        return json(res, 200, { method: req.method, path, query: url.search, headers: req.headers, body: text, remote: req.socket.remoteAddress })
      }
      if (path.startsWith('/status/')) {
        const status = Number(path.split('/')[2])
        return res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 204 || status === 304 ? undefined : `status ${status}`)
      }
      if (path === '/multi-header') {
        res.setHeader('x-request-id', 'req-42')
        res.setHeader('x-multi', ['one', 'two'])
        return res.writeHead(200).end('ok')
      }
      if (path.startsWith('/redirect/')) {
        return res.writeHead(Number(path.split('/')[2]), { location: url.searchParams.get('to') ?? '/echo' }).end()
      }
      if (path.startsWith('/chain/')) {
        // /chain/3 → /chain/2 → /chain/1 → /chain/0 (200); each hop sets a cookie.
        const n = Number(path.split('/')[2])
        if (n === 0) return json(res, 200, { cookies: jar })
        return res.writeHead(302, { location: `/chain/${n - 1}`, 'set-cookie': `hop${n}=yes; Path=/` }).end()
      }
      if (path.startsWith('/delay/')) {
        const ms = Number(path.split('/')[2])
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' }).end('late')
          delays.push(performance.now() - started)
        }, ms)
        return
      }
      if (path === '/never') return // never answers: for timeouts
      if (path === '/challenge') {
        return res.writeHead(403, { server: 'cloudflare', 'cf-mitigated': 'challenge', 'content-type': 'text/html' }).end(CLOUDFLARE_PAGE)
      }
      if (path === '/gzip') {
        return res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync('{"zipped":true}'))
      }
      if (path === '/basic') {
        const ok = req.headers.authorization === `Basic ${Buffer.from('user:pass').toString('base64')}`
        return ok ? json(res, 200, { authenticated: true }) : res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end()
      }
      if (path === '/digest') {
        const auth = req.headers.authorization ?? ''
        if (!auth.startsWith('Digest ')) {
          return res.writeHead(401, { 'www-authenticate': 'Digest realm="vantage", nonce="abc123", qop="auth", opaque="xyz"' }).end()
        }
        const p = Object.fromEntries([...auth.matchAll(/(\w+)="?([^",]*)"?/g)].map((m) => [m[1], m[2]]))
        const { createHash } = await import('node:crypto')
        const md5 = (s: string) => createHash('md5').update(s).digest('hex')
        const ha1 = md5(`user:vantage:pass`)
        const ha2 = md5(`${req.method}:${p.uri}`)
        const expected = md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`)
        return p.response === expected ? json(res, 200, { authenticated: true }) : res.writeHead(401).end()
      }
      if (path === '/form') {
        return html(
          res,
          200,
          `<form id="search" action="/echo" method="get"><input name="q" value="shoes"><input type="checkbox" name="cheap" value="1" checked><input type="checkbox" name="used" value="1"><select name="size"><option>40</option><option selected value="42">forty-two</option></select><textarea name="note">hi &amp; bye</textarea><input type="submit" name="go" value="Search"></form>
           <ul id="list"><li class="item" data-sku="a-1">First<li class="item special" data-sku="b-2">Second<li class="item">Third</ul>
           <a id="next" href="/echo?page=2">next</a><p>para<div id="after">after p</div>`,
        )
      }
      return html(res, 404, '<p>not found</p>')
    })()
  })

  const idpServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', idp)
    void (async () => {
      const text = await body(req)
      if (url.pathname === '/authorize' && req.method === 'GET') {
        const hidden = ['client_id', 'redirect_uri', 'state'].map((k) => `<input type="hidden" name="${k}" value="${url.searchParams.get(k) ?? ''}">`).join('')
        return html(res, 200, `<form method="post" action="/authorize">${hidden}<input name="username"><input type="password" name="password"><button type="submit" name="action" value="signin">Sign in</button></form>`, {
          'set-cookie': 'idp_session=pending; Path=/',
        })
      }
      if (url.pathname === '/authorize' && req.method === 'POST') {
        const form = new URLSearchParams(text)
        if (form.get('username') !== 'alice' || form.get('password') !== 'secret' || form.get('action') !== 'signin') return html(res, 401, '<p>wrong password</p>')
        const code = randomBytes(6).toString('hex')
        codes.set(code, 'alice')
        return res.writeHead(302, { location: `${form.get('redirect_uri')}?code=${code}&state=${form.get('state')}`, 'set-cookie': 'session=idp-only; Path=/' }).end()
      }
      return html(res, 404, '<p>not found</p>')
    })()
  })

  app = await listen(appServer, '127.0.0.1')
  idp = await listen(idpServer, '127.0.0.2')
  const close = (s: http.Server) => new Promise<void>((resolve) => {
    s.closeAllConnections()
    s.close(() => resolve())
  })
  return { app, idp, delays, seen, close: async () => void (await Promise.all([close(appServer), close(idpServer)])) }
}

export interface JourneyRun {
  result: ProbeResult
  report?: JourneyReport
  logs: string[]
}

/** Runs a journey (inline source, or a file with `path`) as the agent does, through runProbe. */
export async function runJourneyCheck(
  script: { source: string; name?: string } | { path: string },
  o: {
    env?: Record<string, string>
    timeoutMs?: number
    memoryMb?: number
    secrets?: Record<string, string>
    secretEnv?: Record<string, string>
    ca?: string
    insecure?: boolean
    source?: string
  } = {},
): Promise<JourneyRun> {
  const name = 'path' in script ? script.path : (script.name ?? 'inline.js')
  const check: CheckSpec = {
    name: 'journey-test',
    type: 'journey',
    target: name,
    interval_ms: 60_000,
    timeout_ms: o.timeoutMs ?? 10_000,
    journey: { script: name, source: 'source' in script ? script.source : undefined, env: o.env, secret_env: o.secretEnv },
    tls: o.insecure ? { insecure: true } : undefined,
  }
  const logs: string[] = []
  let report: JourneyReport | undefined
  const result = await runProbe(
    async (c, ctx) => {
      const r = await probeJourneyReport(c, ctx, { memoryMb: o.memoryMb, onLog: (level, message) => logs.push(`${level} ${message}`) })
      if ('outcome' in r) {
        report = r
        return r.outcome
      }
      return r
    },
    check,
    {
      identity: { agent_id: 'test-agent', vantage: 'test', region: 'test' },
      agent_id: 'test-agent',
      logger: nullLogger,
      clock: systemClock,
      secrets: o.secrets ?? {},
      ca: o.ca,
      source_address: o.source,
    },
  )
  return { result, report, logs }
}

/** A step by name, or a failure naming the steps there are. */
export function step(result: ProbeResult, name: string) {
  const s = result.steps?.find((x) => x.name === name)
  if (!s) throw new Error(`no step "${name}" (steps: ${(result.steps ?? []).map((x) => x.name).join(', ')})`)
  return s
}
