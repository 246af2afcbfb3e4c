// Cookies as Go's net/http/cookiejar keeps them for k6 (RFC 6265 without the public suffix
// list): a per-iteration jar by default, http.cookieJar() to reach it, new CookieJar() for more.
import { parseUrl, type ParsedUrl } from './url.ts'

interface StoredCookie {
  name: string
  value: string
  domain: string
  hostOnly: boolean
  path: string
  /** Epoch milliseconds; null for a session cookie. */
  expires: number | null
  secure: boolean
  httpOnly: boolean
  seq: number
}

/** A Set-Cookie header, parsed (what Response.cookies reports). */
export interface ResponseCookie {
  name: string
  value: string
  domain: string
  path: string
  httpOnly: boolean
  secure: boolean
  maxAge: number
  expires: number
}

export interface CookieOptions {
  domain?: string
  path?: string
  expires?: string
  max_age?: number
  secure?: boolean
  http_only?: boolean
}

// The jar's contents stay out of reach of scripts (no enumerable internals).
const stores = new WeakMap<CookieJar, StoredCookie[]>()
let seq = 0

export class CookieJar {
  constructor() {
    stores.set(this, [])
  }

  cookiesForURL(url: string): Record<string, string[]> {
    const out: Record<string, string[]> = {}
    for (const c of matching(this, parseUrl(String(url)))) (out[c.name] ??= []).push(c.value)
    return out
  }

  set(url: string, name: string, value: string, options?: CookieOptions | null): void {
    const u = parseUrl(String(url))
    const o = options ?? {}
    let expires: number | null = null
    if (o.max_age !== undefined && o.max_age !== null) expires = Date.now() + Number(o.max_age) * 1000
    else if (o.expires) {
      const t = Date.parse(o.expires)
      if (Number.isNaN(t)) throw new Error(`unable to parse "expires" date "${o.expires}"`)
      expires = t
    }
    store(this, u, {
      name: String(name),
      value: String(value),
      domain: o.domain,
      path: o.path,
      expires,
      secure: !!o.secure,
      httpOnly: !!o.http_only,
    })
  }

  clear(url: string): void {
    const u = parseUrl(String(url))
    const list = stores.get(this)!
    const gone = new Set(matching(this, u, true))
    stores.set(this, list.filter((c) => !gone.has(c)))
  }

  delete(url: string, name: string): void {
    const u = parseUrl(String(url))
    const list = stores.get(this)!
    const gone = new Set(matching(this, u, true).filter((c) => c.name === String(name)))
    stores.set(this, list.filter((c) => !gone.has(c)))
  }
}

export function parseSetCookie(header: string): ResponseCookie | null {
  const [pair, ...attrs] = header.split(';')
  const eq = pair.indexOf('=')
  if (eq <= 0) return null
  const name = pair.slice(0, eq).trim()
  let value = pair.slice(eq + 1).trim()
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
  const cookie: ResponseCookie = { name, value, domain: '', path: '', httpOnly: false, secure: false, maxAge: 0, expires: 0 }
  for (const attr of attrs) {
    const i = attr.indexOf('=')
    const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase()
    const val = i < 0 ? '' : attr.slice(i + 1).trim()
    if (key === 'domain') cookie.domain = val.replace(/^\./, '').toLowerCase()
    else if (key === 'path') cookie.path = val
    else if (key === 'secure') cookie.secure = true
    else if (key === 'httponly') cookie.httpOnly = true
    else if (key === 'max-age') {
      const n = Number.parseInt(val, 10)
      // As Go: Max-Age=0 or negative means "delete now" (-1).
      if (/^-?\d+$/.test(val)) cookie.maxAge = n <= 0 ? -1 : n
    } else if (key === 'expires') {
      const t = Date.parse(val.replace(/-/g, ' '))
      if (!Number.isNaN(t)) cookie.expires = t
    }
  }
  return cookie
}

/** Stores the cookies a response set for `url` (redirect hops included). */
export function storeResponseCookies(jar: CookieJar, url: ParsedUrl, headers: string[]): void {
  for (const header of headers) {
    const c = parseSetCookie(header)
    if (!c) continue
    const expires = c.maxAge < 0 ? 0 : c.maxAge > 0 ? Date.now() + c.maxAge * 1000 : c.expires || null
    store(jar, url, { name: c.name, value: c.value, domain: c.domain || undefined, path: c.path || undefined, expires, secure: c.secure, httpOnly: c.httpOnly })
  }
}

/** The jar's cookies for a request to `url`, most specific path first (RFC 6265 5.4). */
export function cookiesFor(jar: CookieJar, url: ParsedUrl): { name: string; value: string }[] {
  return matching(jar, url).map((c) => ({ name: c.name, value: c.value }))
}

interface NewCookie {
  name: string
  value: string
  domain?: string
  path?: string
  expires: number | null
  secure: boolean
  httpOnly: boolean
}

function store(jar: CookieJar, url: ParsedUrl, c: NewCookie): void {
  const host = url.hostname.toLowerCase()
  let domain = host
  let hostOnly = true
  if (c.domain) {
    const d = c.domain.replace(/^\./, '').toLowerCase()
    // A cookie for another site is refused, as browsers and Go do.
    if (!domainMatch(host, d)) return
    domain = d
    hostOnly = false
  }
  const path = c.path && c.path.startsWith('/') ? c.path : defaultPath(url.pathname)
  const list = stores.get(jar)!.filter((x) => !(x.name === c.name && x.domain === domain && x.path === path))
  if (c.expires === null || c.expires > Date.now()) {
    list.push({ name: c.name, value: c.value, domain, hostOnly, path, expires: c.expires, secure: c.secure, httpOnly: c.httpOnly, seq: seq++ })
  }
  stores.set(jar, list)
}

function matching(jar: CookieJar, url: ParsedUrl, ignoreSecure = false): StoredCookie[] {
  const host = url.hostname.toLowerCase()
  const path = url.pathname || '/'
  const nowMs = Date.now()
  return stores
    .get(jar)!
    .filter((c) => {
      if (c.expires !== null && c.expires <= nowMs) return false
      if (c.hostOnly ? host !== c.domain : !domainMatch(host, c.domain)) return false
      if (!pathMatch(path, c.path)) return false
      return ignoreSecure || !c.secure || url.protocol === 'https:'
    })
    .sort((a, b) => b.path.length - a.path.length || a.seq - b.seq)
}

function domainMatch(host: string, domain: string): boolean {
  if (host === domain) return true
  const isIp = /^[\d.]+$/.test(host) || host.includes(':')
  return !isIp && host.endsWith(`.${domain}`)
}

function pathMatch(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'
}

function defaultPath(pathname: string): string {
  if (!pathname.startsWith('/')) return '/'
  const i = pathname.lastIndexOf('/')
  return i <= 0 ? '/' : pathname.slice(0, i)
}
