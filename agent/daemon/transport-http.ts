// POST /v1/results: the body is the flattened JWS JSON, the answer the hub's ack as JSON. The
// fallback when gRPC is not configured or its stream broke.
import { Agent, request } from 'undici'
import type { PushAck } from '../../proto/batch.ts'
import type { FlattenedJWS } from '../../proto/envelope.ts'
import { describeError, RejectedError, TransientError } from './errors.ts'
import type { Transport } from './transport.ts'

export interface HttpTransportOptions {
  /** The hub's base URL (hub.url). */
  url: string
  /** Per request: the hub must answer within this (default 30 s). */
  timeoutMs?: number
  userAgent?: string
}

/** Statuses worth retrying: the hub is down, overloaded or timed out, not refusing the batch. */
const RETRY_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504])

export class HttpTransport implements Transport {
  readonly name = 'http'
  private readonly endpoint: string
  // Its own connection pool, so closing the pusher closes its keep-alive sockets.
  private readonly dispatcher: Agent
  private readonly headers: Record<string, string>

  constructor(opts: HttpTransportOptions) {
    this.endpoint = `${opts.url.replace(/\/+$/, '')}/v1/results`
    const timeout = opts.timeoutMs ?? 30_000
    this.dispatcher = new Agent({ connectTimeout: Math.min(timeout, 10_000), headersTimeout: timeout, bodyTimeout: timeout })
    this.headers = { 'content-type': 'application/json', 'user-agent': opts.userAgent ?? 'vantage-agent' }
  }

  async send(jws: FlattenedJWS, seq: number, signal: AbortSignal): Promise<PushAck> {
    let res
    try {
      res = await request(this.endpoint, {
        method: 'POST',
        headers: this.headers,
        body: JSON.stringify(jws),
        signal,
        dispatcher: this.dispatcher,
      })
    } catch (err) {
      throw new TransientError(`POST ${this.endpoint}: ${describeError(err)}`, undefined, { cause: err })
    }
    let text: string
    try {
      text = await res.body.text()
    } catch (err) {
      // The connection broke after the hub may have committed: the batch is re-sent with the same seq.
      throw new TransientError(`POST ${this.endpoint}: reading the answer: ${describeError(err)}`, undefined, { cause: err })
    }
    const body = parseJson(text)
    const status = res.statusCode
    if (RETRY_STATUSES.has(status)) {
      throw new TransientError(`POST ${this.endpoint}: HTTP ${status}${detail(body, text)}`, retryAfter(res.headers['retry-after']))
    }
    if (status < 200 || status >= 300) {
      const reason = typeof body?.reason === 'string' ? body.reason : `http_${status}`
      throw new RejectedError(reason, `POST ${this.endpoint}: HTTP ${status}${detail(body, text)}`, status)
    }
    if (!body || typeof body.seq !== 'number') {
      throw new TransientError(`POST ${this.endpoint}: HTTP ${status} without an ack (${text.slice(0, 200)})`)
    }
    return body as unknown as PushAck
  }

  async close(): Promise<void> {
    await this.dispatcher.close()
  }
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}

function detail(body: Record<string, unknown> | null, text: string): string {
  const reason = typeof body?.reason === 'string' ? body.reason : undefined
  const message = typeof body?.error === 'string' ? body.error : typeof body?.message === 'string' ? body.message : undefined
  if (reason || message) return `: ${[reason, message].filter(Boolean).join(': ')}`
  return text ? `: ${text.slice(0, 200)}` : ''
}

/** Retry-After in seconds or as an HTTP date, in milliseconds (capped at 10 minutes). */
function retryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (!text) return undefined
  const seconds = Number(text)
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(text) - Date.now()
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 600_000) : undefined
}
