// The `http` check at the edge, through fetch(): redirects followed hop by hop (redirect:
// 'manual', so hops are counted and credentials stay with the check's host), the final response
// classified (bot/WAF challenge) and asserted with the shared assertions (agent/core), the
// identity and bypass headers sent.
//
// What fetch() does not expose is absent, never invented: no `http.phases` (the runtime times
// nothing per phase), no `http.http_version`, no `tls` block (certificates are verified by the
// runtime against the public roots, and not shown). The duration is the runner's.
import type { HttpOptions } from '../../../proto/check.ts'
import type { ErrorCode } from '../../../proto/errors.ts'
import type { HttpInfo, ProbeOutcome } from '../../../proto/result.ts'
import { AssertionConfigError, checkResponse, compileHttpAssertions, needsBody, type HttpAssertions } from '../../core/assertions.ts'
import { BODY_LIMIT, classifyChallenge } from '../../core/challenge.ts'
import { decodeBody, httpUrl, reportedHeaders, requestHeaders, withoutCredentials } from '../../core/http-request.ts'
import type { Probe, ProbeContext } from '../../core/probe.ts'
import { classifyEdgeError } from './errors.ts'

export const USER_AGENT = 'Vantage/0.1 (+synthetic probe; edge)'
/** Body bytes kept for assertions (a worker has 128 MB for everything); the rest is counted. */
export const BODY_CAP = 2 * 1024 * 1024
const DEFAULT_MAX_REDIRECTS = 10
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

type Failure = { error: string; error_code: ErrorCode }

interface Hop {
  status: number
  headers: Record<string, string>
  body: Uint8Array
  bodyBytes: number
}

export const probeHttp: Probe = async (check, ctx) => {
  const opts = check.http ?? {}
  const started = performance.now()
  let assertions: HttpAssertions
  try {
    assertions = compileHttpAssertions(opts)
  } catch (err) {
    if (err instanceof AssertionConfigError) return failed({ error: `invalid check: ${err.message}`, error_code: 'INVALID_CHECK' })
    throw err
  }
  const target = httpUrl(check.target)
  if (!target) return failed({ error: `${JSON.stringify(check.target)} is not an http:// or https:// URL`, error_code: 'INVALID_TARGET' })
  noteUnsupported(check.name, check.tls, opts, ctx)

  const headers = requestHeaders(opts, ctx, { name: check.name, userAgent: USER_AGENT, missingSecretHint: ' on the worker (wrangler secret put)' })
  const follow = opts.follow_redirects !== false
  const maxRedirects = opts.max_redirects ?? DEFAULT_MAX_REDIRECTS
  let url = target
  let method = (opts.method ?? 'GET').toUpperCase()
  let body = opts.body
  let redirects = 0

  for (;;) {
    const hopHeaders = url.hostname === target.hostname ? headers : withoutCredentials(headers, opts)
    const location = await request(url, method, hopHeaders, body, ctx, follow)
    if ('failure' in location) return { ...failed(location.failure), http: info(url, redirects, location.partial) }
    const hop = location.hop
    const next = location.next
    if (next === undefined) return finish(hop, url, redirects, assertions, opts, started)
    if (redirects >= maxRedirects) {
      return { ...failed({ error: `stopped after ${maxRedirects} redirects (next: ${next})`, error_code: 'HTTP_TOO_MANY_REDIRECTS' }), http: info(url, redirects, hop) }
    }
    const resolved = httpUrl(next, url)
    if (!resolved) {
      const error = `status ${hop.status} redirects to an invalid or non-HTTP location ${JSON.stringify(next)}`
      return { ...failed({ error, error_code: 'HTTP_PROTOCOL_ERROR' }), http: info(url, redirects, hop) }
    }
    // As browsers and Go: 301/302/303 turn into a body-less GET (HEAD stays HEAD); 307/308 repeat.
    if (hop.status <= 303 && method !== 'HEAD') {
      method = 'GET'
      body = undefined
    }
    redirects++
    url = resolved
  }
}

/**
 * One request. A redirect to follow is returned as `next` (its body discarded unread); the final
 * response comes back with its body read (up to BODY_CAP kept, all of it counted).
 */
async function request(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  ctx: ProbeContext,
  follow: boolean,
): Promise<{ hop: Hop; next?: string } | { failure: Failure; partial?: Hop }> {
  const https = url.protocol === 'https:'
  let res: Response
  try {
    res = await fetch(url.href, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body, redirect: 'manual', signal: ctx.signal })
  } catch (err) {
    return { failure: classifyEdgeError(err, ctx.signal, url.host, 'connect', https) }
  }
  const responseHeaders = headerMap(res.headers)
  const location = res.headers.get('location')
  if (follow && REDIRECT_STATUSES.has(res.status) && location !== null) {
    await res.body?.cancel().catch(() => {})
    return { hop: { status: res.status, headers: responseHeaders, body: new Uint8Array(0), bodyBytes: 0 }, next: location }
  }
  const hop: Hop = { status: res.status, headers: responseHeaders, body: new Uint8Array(0), bodyBytes: 0 }
  try {
    const read = await readBody(res, ctx.signal)
    hop.body = read.body
    hop.bodyBytes = read.bytes
    return { hop }
  } catch (err) {
    return { failure: classifyEdgeError(err, ctx.signal, url.host, 'exchange', https), partial: hop }
  }
}

function finish(hop: Hop, url: URL, redirects: number, assertions: HttpAssertions, opts: HttpOptions, started: number): ProbeOutcome {
  const http = info(url, redirects, hop)
  const text = decodeBody(hop.body, needsBody(assertions.body) ? hop.body.length : BODY_LIMIT)
  const challenge = classifyChallenge({ status: hop.status, headers: hop.headers, body: text })
  if (challenge) return { success: false, challenged: true, error: challenge.error, error_code: challenge.error_code, http }
  const verdict = checkResponse({ status: hop.status, headers: hop.headers, body: text }, assertions)
  if (!verdict.ok) return { ...failed(verdict), http }
  const outcome: ProbeOutcome = { success: true, challenged: false, http }
  if (opts.degraded_after_ms !== undefined && performance.now() - started > opts.degraded_after_ms) outcome.degraded = true
  return outcome
}

async function readBody(res: Response, signal: AbortSignal): Promise<{ body: Uint8Array; bytes: number }> {
  if (!res.body) return { body: new Uint8Array(0), bytes: 0 }
  const reader = res.body.getReader()
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {})
  signal.addEventListener('abort', onAbort, { once: true })
  const chunks: Uint8Array[] = []
  let kept = 0
  let bytes = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      bytes += value.byteLength
      if (kept < BODY_CAP) {
        const part = value.subarray(0, BODY_CAP - kept)
        chunks.push(part)
        kept += part.byteLength
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  const body = new Uint8Array(kept)
  let offset = 0
  for (const c of chunks) {
    body.set(c, offset)
    offset += c.byteLength
  }
  return { body, bytes }
}

function info(url: URL, redirects: number, hop?: Hop): HttpInfo {
  // No http_version and no phases: fetch() does not tell them (see the top of this file).
  return {
    status_code: hop?.status ?? 0,
    redirects,
    final_url: url.href,
    body_bytes: hop?.bodyBytes ?? 0,
    ...(hop ? { headers: reportedHeaders(hop.headers) } : {}),
  }
}

/** Options the runtime cannot honour: ignored, and said so in the logs. */
function noteUnsupported(check: string, tls: { ca?: string; servername?: string; insecure?: boolean } | undefined, opts: HttpOptions, ctx: ProbeContext): void {
  const ignored = [
    tls?.ca !== undefined && 'tls.ca (the runtime trusts the public roots only)',
    tls?.servername !== undefined && 'tls.servername',
    tls?.insecure === true && 'tls.insecure (an invalid certificate always fails at the edge)',
    opts.http_version !== undefined && 'http.http_version (the runtime chooses)',
  ].filter(Boolean)
  if (ignored.length > 0) ctx.logger.warn({ check, ignored }, 'options the edge runtime cannot honour are ignored')
}

function headerMap(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of headers) {
    const key = name.toLowerCase()
    out[key] = key in out ? `${out[key]}, ${value}` : value
  }
  return out
}

function failed(f: Failure): ProbeOutcome {
  return { success: false, challenged: false, error: f.error, error_code: f.error_code }
}
