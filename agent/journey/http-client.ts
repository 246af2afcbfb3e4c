// The agent's side of a journey request: one hop through the HTTP probe's Session (fresh undici
// Agent, our dialer with source address, CA and TLS verification rules), with the identity header
// always set, timed as k6 times it, classified as a challenge or not, and answered in k6's terms.
import { STATUS_CODES } from 'node:http'
import { performance } from 'node:perf_hooks'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import type { ErrorCode } from '../../proto/errors.ts'
import type { HttpPhases } from '../../proto/result.ts'
import { BODY_LIMIT, classifyChallenge, type ChallengeMatch } from '../core/challenge.ts'
import { TimeoutError } from '../core/run.ts'
import { BODY_CAP, USER_AGENT, type Session } from '../probes/http.ts'
import type { HopReply, HopRequest, HopTimings } from './protocol.ts'

export interface HopOutcome {
  reply: HopReply
  /** The bot/WAF challenge the response is, if any. */
  challenge: ChallengeMatch | null
  /** Our error code for a request that got no response. */
  failure: { error: string; error_code: ErrorCode } | null
  sentBytes: number
  receivedBytes: number
}

/** Our error codes in k6's numbering (lib/netext/httpext/error_codes.go). */
const K6_ERROR_CODES: Partial<Record<ErrorCode, number>> = {
  TIMEOUT: 1050,
  DNS_RESOLVE_FAILED: 1101,
  CONNECTION_REFUSED: 1212,
  HOST_UNREACHABLE: 1210,
  SOURCE_ADDRESS_UNAVAILABLE: 1210,
  CONNECTION_RESET: 1220,
  TLS_HANDSHAKE_FAILED: 1300,
  CERT_VERIFY_FAILED: 1300,
  CERT_HAS_EXPIRED: 1300,
  CERT_NOT_YET_VALID: 1300,
  DEPTH_ZERO_SELF_SIGNED_CERT: 1310,
  SELF_SIGNED_CERT_IN_CHAIN: 1310,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 1310,
  UNABLE_TO_GET_ISSUER_CERT: 1310,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 1310,
  ERR_TLS_CERT_ALTNAME_INVALID: 1311,
}

const ZERO_TIMINGS: HopTimings = { blocked: 0, connecting: 0, tls_handshaking: 0, sending: 0, waiting: 0, receiving: 0, duration: 0 }

export async function sendHop(session: Session, agentId: string, req: HopRequest): Promise<HopOutcome> {
  let url: URL
  try {
    url = new URL(req.url)
  } catch {
    return failed({ error: `invalid URL "${req.url}"`, error_code: 'INVALID_TARGET' }, 1020)
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value
  headers['user-agent'] ??= USER_AGENT
  // Always ours, whatever the script set: site owners match it in WAF skip rules.
  headers['x-vantage-probe'] = agentId
  const body = req.body === undefined ? undefined : 'text' in req.body ? req.body.text : Buffer.from(req.body.base64, 'base64')

  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(new TimeoutError(req.timeoutMs)), req.timeoutMs)
  const before: HttpPhases = { ...session.phases }
  let result
  try {
    result = await session.request(url, req.method, headers, body, timeout.signal)
  } finally {
    clearTimeout(timer)
  }
  const timings = hopTimings(before, session.phases, result.timing)
  const sentBytes = typeof body === 'string' ? Buffer.byteLength(body) : (body?.length ?? 0)

  if (!result.ok) {
    const f = result.failure
    return { ...failed(f, K6_ERROR_CODES[f.error_code] ?? 1000), sentBytes }
  }
  const res = result.response
  const raw = decompress(res.body, res.headers['content-encoding'])
  const text = new TextDecoder().decode(raw.length > BODY_LIMIT ? raw.subarray(0, BODY_LIMIT) : raw)
  const tls = session.tlsFor(url)
  const reply: HopReply = {
    status: res.status,
    status_text: `${res.status} ${STATUS_CODES[res.status] ?? ''}`.trim(),
    proto: res.httpVersion === '2' ? 'HTTP/2.0' : 'HTTP/1.1',
    headers: res.headers,
    set_cookies: res.setCookies,
    body:
      req.responseType === 'none' ? null : req.responseType === 'binary' ? { base64: Buffer.from(raw).toString('base64') } : { text: raw.length > BODY_LIMIT ? new TextDecoder().decode(raw) : text },
    timings,
    // k6: a response >= 400 is not an error message, but gets the code 1000 + status.
    error: '',
    error_code: res.status >= 400 ? 1000 + res.status : 0,
    tls_version: tls ? tls.version.replace(/^TLS (\d\.\d)$/, 'tls$1') : '',
    tls_cipher_suite: tls?.cipher ?? '',
  }
  return {
    reply,
    challenge: classifyChallenge({ status: res.status, headers: res.headers, body: text }),
    failure: null,
    sentBytes,
    receivedBytes: res.bodyBytes,
  }
}

function failed(f: { error: string; error_code: ErrorCode }, k6Code: number): HopOutcome {
  return {
    reply: { status: 0, status_text: '', proto: '', headers: {}, set_cookies: [], body: null, timings: ZERO_TIMINGS, error: f.error, error_code: k6Code, tls_version: '', tls_cipher_suite: '' },
    challenge: null,
    failure: f,
    sentBytes: 0,
    receivedBytes: 0,
  }
}

/**
 * k6's timings in milliseconds. blocked: waiting for a connection (name resolution included, as
 * Go's trace counts it); connecting and tls_handshaking: this hop's new connection, 0 when one was
 * reused; sending: up to the request written; waiting: to the first response byte; receiving: to
 * the end of the body; duration = sending + waiting + receiving.
 */
function hopTimings(before: HttpPhases, after: HttpPhases, t: { startAt: number; sentAt?: number; firstByteAt?: number; endAt?: number }): HopTimings {
  const ms = (s: number) => s * 1000
  const blocked = ms(after.resolve - before.resolve)
  const connecting = ms(after.connect - before.connect)
  const tlsHandshaking = ms(after.tls - before.tls)
  const end = t.endAt ?? performance.now()
  const sentAt = t.sentAt ?? end
  const sending = Math.max(0, sentAt - t.startAt - blocked - connecting - tlsHandshaking)
  const waiting = t.sentAt !== undefined ? (t.firstByteAt ?? end) - t.sentAt : 0
  const receiving = t.firstByteAt !== undefined ? end - t.firstByteAt : 0
  return { blocked, connecting, tls_handshaking: tlsHandshaking, sending, waiting, receiving, duration: sending + waiting + receiving }
}

/**
 * k6 decodes gzip, deflate and br bodies (when the script asked for them with Accept-Encoding);
 * bounded, so a compression bomb cannot take the agent's memory.
 */
function decompress(body: Uint8Array, encoding: string | undefined): Uint8Array {
  if (!encoding || body.length === 0) return body
  try {
    switch (encoding.trim().toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body, { maxOutputLength: BODY_CAP })
      case 'deflate':
        return inflateSync(body, { maxOutputLength: BODY_CAP })
      case 'br':
        return brotliDecompressSync(body, { maxOutputLength: BODY_CAP })
    }
  } catch {
    // A body that does not decode is handed over as it came.
  }
  return body
}
