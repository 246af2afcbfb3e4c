// Who may use the operator API: with an operator token configured, every request must carry
// `Authorization: Bearer <token>` (compared in constant time over equal-length digests);
// without one, only loopback clients are answered.
//
// Browsers (the review page, hub/review-page/) present the token once and then carry a session
// cookie instead: HttpOnly, SameSite=Strict, its value an HMAC of the token (the cookie never
// holds the token, and a new token ends every session). Because a browser may be driven by
// another site, requests that a browser could send on its own (cookie-authenticated, or from
// loopback without a token) must also come from the hub's own pages when they change anything,
// and, without a token, name a loopback host (no DNS rebinding of 127.0.0.1 onto another name).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { ApiError } from './errors.ts'

/** The review page's session cookie. */
export const SESSION_COOKIE = 'vantage_operator'

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

/** Constant-time comparison of two secrets of any length (their SHA-256 digests are compared). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest()
  const b = createHash('sha256').update(expected, 'utf8').digest()
  return timingSafeEqual(a, b)
}

/** Throws ApiError (401/403) unless the request may use the operator API. */
export function authorize(token: string | null, authorization: string | undefined, remoteAddress: string | undefined): void {
  if (token === null) {
    if (isLoopback(remoteAddress)) return
    throw new ApiError(
      'forbidden',
      `the operator API answers loopback clients only (this request came from ${remoteAddress ?? 'an unknown address'}); set operator_token_file in hub.yaml to allow remote operators with a bearer token`,
    )
  }
  if (!authorization) throw new ApiError('unauthorized', 'missing Authorization header: send `Authorization: Bearer <operator token>`')
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
  if (!m) throw new ApiError('unauthorized', 'the Authorization header must be `Bearer <operator token>`')
  if (!sameSecret(m[1], token)) throw new ApiError('unauthorized', 'the bearer token is not the operator token')
}

/** The session cookie's value for this operator token. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('vantage review session v1').digest('base64url')
}

/** One cookie's value from a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** What authorize() needs from a request (a FastifyRequest fits). */
export interface OperatorRequest {
  method: string
  headers: Record<string, string | string[] | undefined>
  socket: { remoteAddress?: string }
}

export type Authorized = 'bearer' | 'session' | 'loopback'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * authorize() for a whole request: the bearer token, else the review page's session cookie
 * (when a token is configured), else loopback (when none is). Requests authorized by something
 * a browser sends by itself (cookie, loopback) are refused when they come from another site and
 * change something, or, on loopback, when they name a host that is not loopback.
 */
export function authorizeRequest(token: string | null, request: OperatorRequest): Authorized {
  const authorization = header(request, 'authorization')
  if (token !== null && authorization === undefined) {
    const cookie = readCookie(header(request, 'cookie'), SESSION_COOKIE)
    if (cookie !== undefined && sameSecret(cookie, sessionValue(token))) {
      sameSite(request)
      return 'session'
    }
  }
  authorize(token, authorization, request.socket.remoteAddress)
  if (token !== null) return 'bearer'
  loopbackHost(request)
  sameSite(request)
  return 'loopback'
}

function header(request: OperatorRequest, name: string): string | undefined {
  const v = request.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** A state-changing request a browser made for another site's page is refused. */
function sameSite(request: OperatorRequest): void {
  if (SAFE_METHODS.has(request.method.toUpperCase())) return
  const fetchSite = header(request, 'sec-fetch-site')
  const origin = header(request, 'origin')
  const host = header(request, 'host')
  const crossSite =
    fetchSite !== undefined ? fetchSite !== 'same-origin' && fetchSite !== 'none' : origin !== undefined && origin !== 'null' ? hostOf(origin) !== host : origin === 'null'
  if (crossSite) {
    throw new ApiError('cross_site', `refused a ${request.method} from another site (${origin ?? fetchSite ?? 'unknown origin'}): operator changes are made from the hub's own pages or with a bearer token`)
  }
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host
  } catch {
    return undefined
  }
}

/** Without a token, a browser on this machine must address the hub by a loopback name. */
function loopbackHost(request: OperatorRequest): void {
  const host = header(request, 'host')
  if (host === undefined) return
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '')
  const lower = name.toLowerCase()
  if (lower === 'localhost' || lower.endsWith('.localhost') || isLoopback(lower)) return
  throw new ApiError(
    'forbidden',
    `the operator API answers loopback clients only, addressed by a loopback name (this request named the host ${JSON.stringify(host)}); use http://127.0.0.1 or http://localhost, or set operator_token_file in hub.yaml`,
  )
}
