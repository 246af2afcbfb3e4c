// The HTTP probe (as blackbox_exporter's http prober): one request, redirects followed hop by
// hop, phases timed, TLS verified on every connection, the final response classified (bot/WAF
// challenge) and asserted. Node-only.
//
// Connections: a fresh undici Agent per probe, destroyed at the end, so nothing is reused across
// probes. Its `connect` function dials through connectTcp/dialTls, so the probe owns each socket
// and its timings, binds it to the source address, and can refuse to hand undici a connection
// whose certificate failed verification: without `insecure`, no request (and no bypass token)
// ever reaches an unverified server (DESIGN.md, "The result").
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { Agent, errors, type buildConnector, type Dispatcher } from 'undici'
import type { CheckSpec, HttpOptions } from '../../proto/check.ts'
import type { ErrorCode } from '../../proto/errors.ts'
import type { HttpInfo, HttpPhases, ProbeOutcome, TlsInfo } from '../../proto/result.ts'
import { AssertionConfigError, checkResponse, compileHttpAssertions, needsBody, type HttpAssertions } from '../core/assertions.ts'
import { BODY_LIMIT, classifyChallenge } from '../core/challenge.ts'
import { decodeBody, httpUrl, reportedHeaders, requestHeaders, withoutCredentials } from '../core/http-request.ts'
import type { Probe, ProbeContext } from '../core/probe.ts'
import { classifyNetError, connectTcp, hostPort, unbracket } from './net-errors.ts'
import { dialTls, verifyFailure } from './tls-inspect.ts'

export const USER_AGENT = 'Vantage/0.1 (+synthetic probe)'
/** Body bytes kept for assertions; the rest is read and counted, not kept. */
export const BODY_CAP = 10 * 1024 * 1024
const DEFAULT_MAX_REDIRECTS = 10
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

type Failure = { error: string; error_code: ErrorCode }

export const probeHttp: Probe = async (check, ctx) => {
  const opts = check.http ?? {}
  const started = performance.now()

  let assertions: HttpAssertions
  try {
    assertions = compileHttpAssertions(opts)
  } catch (err) {
    // The config loader rejects these first; a probe handed one anyway says which option.
    if (err instanceof AssertionConfigError) return failed({ error: `invalid check: ${err.message}`, error_code: 'INVALID_CHECK' })
    throw err
  }
  const target = httpUrl(check.target)
  if (!target) {
    return failed({ error: `${JSON.stringify(check.target)} is not an http:// or https:// URL`, error_code: 'INVALID_TARGET' })
  }

  const plan: Plan = { target, opts, assertions, headers: requestHeaders(opts, ctx, { name: check.name, userAgent: USER_AGENT }), started }
  const session = new Session(check, ctx)
  try {
    return await run(session, plan)
  } finally {
    await session.close()
  }
}

/** What one probe asks for, resolved before the first byte is sent. */
interface Plan {
  target: URL
  opts: HttpOptions
  assertions: HttpAssertions
  /** Request headers for the target's host (identity and bypass included). */
  headers: Record<string, string>
  /** performance.now() at the start, for degraded_after_ms. */
  started: number
}

async function run(session: Session, plan: Plan): Promise<ProbeOutcome> {
  const { target, opts } = plan
  const follow = opts.follow_redirects !== false
  const maxRedirects = opts.max_redirects ?? DEFAULT_MAX_REDIRECTS

  let url = target
  let method = (opts.method ?? 'GET').toUpperCase()
  let body = opts.body
  let redirects = 0

  for (;;) {
    const headers = url.hostname === target.hostname ? plan.headers : withoutCredentials(plan.headers, opts)
    const hop = await session.request(url, method, headers, body)
    if (!hop.ok) {
      return { ...failed(hop.failure), http: session.info(url, redirects, hop.partial), tls: session.tlsFor(url) }
    }
    const res = hop.response
    const location = res.headers['location']
    if (!follow || !REDIRECT_STATUSES.has(res.status) || location === undefined) {
      return finish(session, plan, url, redirects, res)
    }
    if (redirects >= maxRedirects) {
      return {
        ...failed({ error: `stopped after ${maxRedirects} redirects (next: ${location})`, error_code: 'HTTP_TOO_MANY_REDIRECTS' }),
        http: session.info(url, redirects, res),
        tls: session.tlsFor(url),
      }
    }
    const next = httpUrl(location, url)
    if (!next) {
      return {
        ...failed({ error: `status ${res.status} redirects to an invalid or non-HTTP location ${JSON.stringify(location)}`, error_code: 'HTTP_PROTOCOL_ERROR' }),
        http: session.info(url, redirects, res),
        tls: session.tlsFor(url),
      }
    }
    // As browsers and Go: 301/302/303 turn into a body-less GET (HEAD stays HEAD); 307/308 repeat.
    if (res.status <= 303 && method !== 'HEAD') {
      method = 'GET'
      body = undefined
    }
    redirects++
    url = next
  }
}

function finish(session: Session, plan: Plan, url: URL, redirects: number, res: HopResponse): ProbeOutcome {
  const http = session.info(url, redirects, res)
  const tls = session.tlsFor(url)
  // Only what assertions or the classifier read gets decoded.
  const text = decodeBody(res.body, needsBody(plan.assertions.body) ? res.body.length : BODY_LIMIT)

  const challenge = classifyChallenge({ status: res.status, headers: res.headers, body: text })
  if (challenge) {
    return { success: false, challenged: true, error: challenge.error, error_code: challenge.error_code, http, tls }
  }
  const verdict = checkResponse({ status: res.status, headers: res.headers, body: text }, plan.assertions)
  if (!verdict.ok) return { ...failed(verdict), http, tls }

  const outcome: ProbeOutcome = { success: true, challenged: false, http, tls }
  const degradedAfter = plan.opts.degraded_after_ms
  if (degradedAfter !== undefined && performance.now() - plan.started > degradedAfter) outcome.degraded = true
  return outcome
}

// ---------------------------------------------------------------------------------------------
// One probe's connections and timings

export interface HopResponse {
  status: number
  httpVersion: string
  /** Lower-case names, repeated headers joined with ", " (the raw values: challenge evidence). */
  headers: Record<string, string>
  /** Each Set-Cookie header on its own (joined with ", " they cannot be split again). */
  setCookies: string[]
  body: Uint8Array
  bodyBytes: number
}

/** performance.now() marks of one hop, for per-request timings (journeys). */
export interface HopTiming {
  startAt: number
  sentAt?: number
  firstByteAt?: number
  endAt?: number
}

export type HopResult = (
  | { ok: true; response: HopResponse }
  | { ok: false; failure: Failure; partial?: HopResponse }
) & { timing: HopTiming }

/** A connection refused because its certificate failed verification (never handed to undici). */
class TlsRejected extends Error {
  constructor(readonly failure: Failure) {
    super(failure.error)
    this.name = 'TlsRejected'
  }
}

/**
 * One probe's connections (a fresh undici Agent) and the phases they took. Exported for the
 * journey runtime, which sends every request of an iteration through one Session.
 */
export class Session {
  readonly phases: HttpPhases = { resolve: 0, connect: 0, tls: 0, processing: 0, transfer: 0 }
  /** What each origin's latest connection negotiated, for the result's `tls` and `http_version`. */
  private readonly tlsByOrigin = new Map<string, TlsInfo>()
  private readonly agent: Agent
  private readonly onAbort: () => void

  constructor(
    private readonly check: CheckSpec,
    private readonly ctx: ProbeContext,
    /** Connections per origin (journeys' http.batch runs requests side by side). */
    connections = 1,
  ) {
    const wantH2 = check.http?.http_version === '2'
    this.agent = new Agent({
      connect: (o, cb) => this.connect(o, cb),
      allowH2: wantH2,
      connections,
      // The probe's deadline (ctx.signal) is the only timeout.
      headersTimeout: 0,
      bodyTimeout: 0,
    })
    this.onAbort = () => void this.agent.destroy(abortError(ctx.signal)).catch(() => {})
    ctx.signal.addEventListener('abort', this.onAbort, { once: true })
  }

  async close(): Promise<void> {
    this.ctx.signal.removeEventListener('abort', this.onAbort)
    await this.agent.destroy().catch(() => {})
  }

  tlsFor(url: URL): TlsInfo | undefined {
    return url.protocol === 'https:' ? this.tlsByOrigin.get(url.origin) : undefined
  }

  info(url: URL, redirects: number, res?: HopResponse): HttpInfo {
    return {
      status_code: res?.status ?? 0,
      http_version: res?.httpVersion ?? '',
      redirects,
      final_url: url.href,
      body_bytes: res?.bodyBytes ?? 0,
      phases: { ...this.phases },
      headers: res ? reportedHeaders(res.headers) : undefined,
    }
  }

  /** undici's connect hook: dial, time, verify. */
  private connect(o: buildConnector.Options, cb: buildConnector.Callback): void {
    this.dial(o).then(
      (socket) => cb(null, socket),
      (err: Error) => cb(err, null),
    )
  }

  private async dial(o: buildConnector.Options): Promise<net.Socket> {
    const https = o.protocol === 'https:'
    const host = unbracket(o.hostname)
    const port = Number(o.port) || (https ? 443 : 80)
    const { signal, source_address: localAddress } = this.ctx
    if (!https) {
      const c = await connectTcp({ host, port, localAddress, signal })
      this.phases.resolve += c.resolveSeconds
      this.phases.connect += c.connectSeconds
      return c.socket
    }
    const tlsOpts = this.check.tls ?? {}
    const servername = tlsOpts.servername ?? host
    const d = await dialTls({
      host,
      port,
      servername,
      ca: [this.ctx.ca, tlsOpts.ca].filter(Boolean).join('\n') || undefined,
      localAddress,
      signal,
      alpn: this.check.http?.http_version === '2' ? ['h2', 'http/1.1'] : ['http/1.1'],
    })
    this.phases.resolve += d.resolveSeconds
    this.phases.connect += d.connectSeconds
    this.phases.tls += d.tlsSeconds
    this.tlsByOrigin.set(`${o.protocol}//${o.host}`, d.info)
    if (!d.verified && !tlsOpts.insecure) {
      d.socket.destroy()
      throw new TlsRejected(verifyFailure(d.info, servername))
    }
    return d.socket
  }

  /**
   * One request/response; never throws for the target's failures. `signal` cancels this request
   * alone (a journey's per-request timeout); ctx.signal still ends the whole session.
   */
  async request(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | Uint8Array | undefined,
    signal?: AbortSignal,
  ): Promise<HopResult> {
    const hop = new Hop()
    const startAt = performance.now()
    const onAbort = () => hop.cancel(abortError(signal!))
    signal?.addEventListener('abort', onAbort, { once: true })
    this.agent.dispatch({ origin: url.origin, path: `${url.pathname}${url.search}`, method, headers, body }, hop)
    // Known once the connection is up: ALPN decided it.
    const version = () => (this.tlsFor(url)?.alpn === 'h2' ? '2' : '1.1')
    const timing = () => ({ startAt, sentAt: hop.sentAt, firstByteAt: hop.firstByteAt, endAt: hop.endAt })
    try {
      await hop.done
      return { ok: true, response: hop.response(version()), timing: timing() }
    } catch (err) {
      return { ok: false, failure: this.classify(err, url), partial: hop.status ? hop.response(version()) : undefined, timing: timing() }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      this.addHopPhases(hop)
    }
  }

  // Phases as blackbox_exporter measures them, summed over hops: processing from the request
  // written to the first response byte, transfer from there to the end of the body. A hop cut
  // short keeps the part it reached.
  private addHopPhases(hop: Hop): void {
    const end = hop.endAt ?? performance.now()
    if (hop.sentAt !== undefined) this.phases.processing += ((hop.firstByteAt ?? end) - hop.sentAt) / 1000
    if (hop.firstByteAt !== undefined) this.phases.transfer += (end - hop.firstByteAt) / 1000
  }

  private classify(err: unknown, url: URL): Failure {
    if (this.ctx.signal.aborted) return classifyNetError(err, this.ctx.signal)
    if (err instanceof TlsRejected) return err.failure
    const code = (err as { code?: unknown } | null)?.code
    const message = err instanceof Error ? err.message : String(err)
    const peer = hostPort(unbracket(url.hostname), Number(url.port) || (url.protocol === 'https:' ? 443 : 80))
    const protocolError =
      err instanceof errors.HTTPParserError || (typeof code === 'string' && (code.startsWith('ERR_HTTP2_') || PROTOCOL_CODES.has(code)))
    if (protocolError) return { error: `invalid HTTP response from ${peer}: ${message}`, error_code: 'HTTP_PROTOCOL_ERROR' }
    if (code === 'UND_ERR_SOCKET') {
      return { error: `connection closed by ${peer} before the response was complete (${message})`, error_code: 'CONNECTION_RESET' }
    }
    return classifyNetError(err, this.ctx.signal, peer)
  }
}

const PROTOCOL_CODES = new Set(['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE'])

/**
 * One hop's undici handler. The legacy callbacks are used for their timing hooks:
 * onRequestSent (request written) and onResponseStarted (first response byte).
 */
class Hop implements Dispatcher.DispatchHandler {
  sentAt?: number
  firstByteAt?: number
  endAt?: number
  status = 0
  readonly done: Promise<void>
  private resolve!: () => void
  private reject!: (err: Error) => void
  private rawHeaders: Buffer[] = []
  private chunks: Uint8Array[] = []
  private kept = 0
  private bytes = 0
  private abort?: (err: Error) => void
  private cancelled?: Error

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  // Cancellation goes through ctx.signal, which destroys the whole agent, or cancel() (one request).
  onConnect(abort: (err: Error) => void): void {
    this.abort = abort
    if (this.cancelled) abort(this.cancelled)
  }

  /**
   * Ends this request alone with `err`, at once: undici hands out its abort function only once
   * connected, so a request still being dialled is aborted when its connection comes up.
   */
  cancel(err: Error): void {
    this.cancelled = err
    this.endAt ??= performance.now()
    this.reject(err)
    this.abort?.(err)
  }

  onRequestSent(): void {
    this.sentAt = performance.now()
  }

  onResponseStarted(): void {
    this.firstByteAt ??= performance.now()
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true // informational (100 Continue, 103 Early Hints)
    this.firstByteAt ??= performance.now()
    this.status = statusCode
    this.rawHeaders = rawHeaders
    return true
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length
    if (this.kept < BODY_CAP) {
      const part = chunk.subarray(0, BODY_CAP - this.kept)
      this.chunks.push(part)
      this.kept += part.length
    }
    return true
  }

  onComplete(): void {
    this.endAt = performance.now()
    this.resolve()
  }

  onError(err: Error): void {
    this.endAt = performance.now()
    this.reject(err)
  }

  response(httpVersion: string): HopResponse {
    return {
      status: this.status,
      httpVersion,
      headers: headerMap(this.rawHeaders),
      setCookies: setCookieList(this.rawHeaders),
      body: Buffer.concat(this.chunks, this.kept),
      bodyBytes: this.bytes,
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function failed(f: Failure): ProbeOutcome {
  return { success: false, challenged: false, error: f.error, error_code: f.error_code }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('probe aborted')
}

function headerMap(raw: Buffer[]): Record<string, string> {
  const headers: Record<string, string> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toString('latin1').toLowerCase()
    if (name.startsWith(':')) continue // HTTP/2 pseudo-headers
    const value = raw[i + 1].toString('latin1')
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value
  }
  return headers
}

function setCookieList(raw: Buffer[]): string[] {
  const out: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i].toString('latin1').toLowerCase() === 'set-cookie') out.push(raw[i + 1].toString('latin1'))
  }
  return out
}
