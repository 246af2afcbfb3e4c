// Where alert messages go: Alertmanager's API v2 and a generic signed webhook. Each receiver has
// its own delivery queue, so one receiver being down never delays another, and nothing here
// ever blocks the caller (evaluation only enqueues).
//
// A queue keeps at most one message per alert (the newest: a resolve replaces the firing it
// ends), retries network errors, 5xx and 429 with capped exponential backoff and jitter until
// delivered, and drops a message the receiver refuses (other 4xx: retrying cannot help).
import { randomUUID } from 'node:crypto'
import { Agent, request, type Dispatcher } from 'undici'
import type { Clock, Logger } from '../../agent/core/probe.ts'
import type { Timers } from '../../agent/daemon/time.ts'
import type { AlertMessage } from './model.ts'
import { DELIVERY_HEADER, signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signature.ts'

/** Outcome of a delivery attempt, per message, as counted in hub_alerts_sent_total{result}. */
export type SendResult = 'ok' | 'error' | 'rejected' | 'dropped'

export class DeliveryError extends Error {
  constructor(
    message: string,
    /** Network error, 5xx or 429: the same messages may succeed later. */
    readonly retryable: boolean,
    /** Messages of the batch delivered before the failure (the webhook sends one by one). */
    readonly delivered = 0,
    /** Retry-After, when the receiver said. */
    readonly retryAfterMs?: number,
  ) {
    super(message)
    this.name = 'DeliveryError'
  }
}

export interface Sender {
  /** For metrics and logs: never holds credentials. */
  readonly name: string
  readonly batchSize: number
  send(messages: AlertMessage[], signal: AbortSignal): Promise<void>
}

export interface RetryPolicy {
  min_ms: number
  max_ms: number
}

/** Doubling from 500 ms to 30 s, as undici's retry handler and the agent's pusher do. */
export const DEFAULT_RETRY: RetryPolicy = { min_ms: 500, max_ms: 30_000 }
/** Requests that take longer are abandoned and retried. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Distinct alerts a receiver may hold undelivered; beyond, the oldest is dropped (and counted). */
export const MAX_PENDING = 10_000

export interface QueueOptions {
  sender: Sender
  timers: Timers
  logger: Logger
  retry?: RetryPolicy
  random?: () => number
  count(receiver: string, result: SendResult, n: number): void
}

export class DeliveryQueue {
  private readonly pending = new Map<string, AlertMessage>()
  private inFlight = false
  private timer: unknown = null
  private failures = 0
  private stopped = false
  private readonly abort = new AbortController()
  private readonly retry: RetryPolicy
  private readonly random: () => number

  constructor(private readonly opts: QueueOptions) {
    this.retry = opts.retry ?? DEFAULT_RETRY
    this.random = opts.random ?? Math.random
  }

  get name(): string {
    return this.opts.sender.name
  }

  /** Messages waiting (undelivered or not yet sent). */
  get size(): number {
    return this.pending.size
  }

  push(message: AlertMessage): void {
    if (this.stopped) return
    this.pending.delete(message.fingerprint) // re-insert: the map's order is the send order
    this.pending.set(message.fingerprint, message)
    while (this.pending.size > MAX_PENDING) {
      const oldest = this.pending.keys().next().value as string
      this.pending.delete(oldest)
      this.opts.count(this.name, 'dropped', 1)
    }
    // While backing off, new messages wait for the retry: the receiver is known to be failing.
    if (!this.inFlight && this.timer === null) queueMicrotask(() => void this.flush())
  }

  stop(): void {
    this.stopped = true
    this.abort.abort()
    if (this.timer !== null) this.opts.timers.clearTimeout(this.timer)
    this.timer = null
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.stopped || this.timer !== null) return
    this.inFlight = true
    try {
      while (this.pending.size > 0 && !this.stopped) {
        const batch = [...this.pending.values()].slice(0, this.opts.sender.batchSize)
        for (const m of batch) this.pending.delete(m.fingerprint)
        try {
          await this.opts.sender.send(batch, this.abort.signal)
          this.failures = 0
          this.opts.count(this.name, 'ok', batch.length)
          this.log('debug', batch, {}, 'alerts delivered')
        } catch (err) {
          if (this.stopped) return
          const e = err instanceof DeliveryError ? err : new DeliveryError((err as Error).message, true)
          const delivered = batch.slice(0, e.delivered)
          const failed = batch.slice(e.delivered)
          if (delivered.length) this.opts.count(this.name, 'ok', delivered.length)
          if (!e.retryable) {
            this.opts.count(this.name, 'rejected', failed.length)
            this.log('error', failed, { error: e.message }, 'alerts refused by the receiver: dropped')
            continue
          }
          this.opts.count(this.name, 'error', failed.length)
          // Put them back unless a newer message for the same alert arrived meanwhile.
          const newer = new Map(this.pending)
          this.pending.clear()
          for (const m of failed) if (!newer.has(m.fingerprint)) this.pending.set(m.fingerprint, m)
          for (const [fp, m] of newer) this.pending.set(fp, m)
          this.failures++
          const delay = Math.max(this.backoff(), e.retryAfterMs ?? 0)
          this.log('warn', failed, { error: e.message, attempt: this.failures, retry_in_ms: delay }, 'alert delivery failed: will retry')
          this.timer = this.opts.timers.setTimeout(() => {
            this.timer = null
            void this.flush()
          }, delay)
          return
        }
      }
    } finally {
      this.inFlight = false
    }
  }

  /** Capped exponential backoff with jitter: a random point in the upper half of the step. */
  private backoff(): number {
    const step = Math.min(this.retry.max_ms, this.retry.min_ms * 2 ** Math.min(this.failures - 1, 30))
    return Math.round(step / 2 + (this.random() * step) / 2)
  }

  private log(level: 'debug' | 'warn' | 'error', batch: AlertMessage[], extra: object, msg: string): void {
    const alerts = batch.map((m) => `${m.name}${m.labels.check ? `/${m.labels.check}` : m.labels.vantage ? `/${m.labels.vantage}/${m.labels.agent}` : ''}:${m.status}`)
    const checks = [...new Set(batch.map((m) => m.labels.check).filter(Boolean))]
    this.opts.logger[level]({ receiver: this.name, alerts, ...(checks.length === 1 ? { check: checks[0] } : {}), ...extra }, msg)
  }
}

// ---------------------------------------------------------------------------------------------
// Alertmanager API v2

export interface AlertmanagerOptions {
  clock: Clock
  dispatcher: Dispatcher
  /** The hub's URL for generatorURL (`<url>/review?check=…`); none: generatorURL is left out. */
  external_url?: string
  /**
   * How long a firing alert stays valid without a re-send (its endsAt): 4 × resend_interval, as
   * Prometheus does, so Alertmanager resolves it by itself if the hub stops sending.
   */
  valid_for_ms: number
}

/** The body Alertmanager's `POST /api/v2/alerts` takes for one message. */
export function alertmanagerAlert(m: AlertMessage, now: number, opts: Pick<AlertmanagerOptions, 'external_url' | 'valid_for_ms'>) {
  return {
    labels: m.labels,
    annotations: m.annotations,
    startsAt: new Date(m.starts_at).toISOString(),
    endsAt: new Date(m.ends_at ?? now + opts.valid_for_ms).toISOString(),
    ...(opts.external_url ? { generatorURL: `${opts.external_url.replace(/\/+$/, '')}${m.review_path}` } : {}),
  }
}

export class AlertmanagerSender implements Sender {
  readonly name: string
  readonly batchSize = 256
  private readonly endpoint: string
  private readonly authorization?: string

  constructor(
    url: string,
    private readonly opts: AlertmanagerOptions,
  ) {
    const parsed = new URL(url)
    // http://user:pass@am:9093 → basic auth; the credentials stay out of names and logs.
    if (parsed.username || parsed.password) {
      this.authorization = `Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64')}`
      parsed.username = ''
      parsed.password = ''
    }
    const base = parsed.toString().replace(/\/+$/, '')
    this.name = base
    this.endpoint = `${base}/api/v2/alerts`
  }

  async send(messages: AlertMessage[], signal: AbortSignal): Promise<void> {
    const now = this.opts.clock.now()
    const body = JSON.stringify(messages.map((m) => alertmanagerAlert(m, now, this.opts)))
    await post(this.opts.dispatcher, this.endpoint, body, { ...(this.authorization ? { authorization: this.authorization } : {}) }, signal)
  }
}

// ---------------------------------------------------------------------------------------------
// Generic webhook

export interface WebhookOptions {
  clock: Clock
  dispatcher: Dispatcher
  /** HMAC key; null: unsigned (logged at start). */
  secret: string | null
  external_url?: string
}

/** The webhook's JSON body for one message (signature.ts documents how it is signed). */
export function webhookBody(m: AlertMessage, deliveryId: string, now: number, externalUrl?: string) {
  return {
    severity: m.labels.severity ?? 'warning',
    source: 'vantage',
    summary: m.annotations.summary ?? m.name,
    alertname: m.name,
    labels: m.labels,
    annotations: m.annotations,
    status: m.status,
    starts_at: new Date(m.starts_at).toISOString(),
    ends_at: m.ends_at === null ? null : new Date(m.ends_at).toISOString(),
    fingerprint: m.fingerprint,
    ...(externalUrl ? { generator_url: `${externalUrl.replace(/\/+$/, '')}${m.review_path}` } : {}),
    delivery_id: deliveryId,
    /** Unix seconds; signed with the body, repeated in X-Vantage-Timestamp. */
    sent_at: Math.floor(now / 1000),
  }
}

export class WebhookSender implements Sender {
  readonly name = 'webhook'
  readonly batchSize = 64
  /** One delivery id per message, kept across its retries (receivers dedupe on it). */
  private readonly ids = new WeakMap<AlertMessage, string>()

  constructor(
    private readonly url: string,
    private readonly opts: WebhookOptions,
  ) {}

  async send(messages: AlertMessage[], signal: AbortSignal): Promise<void> {
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]
      let id = this.ids.get(m)
      if (!id) this.ids.set(m, (id = randomUUID()))
      const body = webhookBody(m, id, this.opts.clock.now(), this.opts.external_url)
      const raw = JSON.stringify(body)
      const headers: Record<string, string> = { [TIMESTAMP_HEADER]: String(body.sent_at), [DELIVERY_HEADER]: id }
      if (this.opts.secret) headers[SIGNATURE_HEADER] = signWebhook(this.opts.secret, raw)
      try {
        await post(this.opts.dispatcher, this.url, raw, headers, signal)
      } catch (err) {
        const e = err as DeliveryError
        throw new DeliveryError(e.message, e.retryable, i, e.retryAfterMs)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

export function newDispatcher(): Agent {
  return new Agent({ connect: { timeout: 5_000 }, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: 30_000 })
}

async function post(dispatcher: Dispatcher, url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
  let res: Dispatcher.ResponseData
  try {
    res = await request(url, {
      method: 'POST',
      dispatcher,
      body,
      headers: { 'content-type': 'application/json', 'user-agent': 'vantage-hub', ...headers },
      signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
    })
  } catch (err) {
    const e = err as Error & { code?: string; cause?: { code?: string } }
    throw new DeliveryError(`${e.code ?? e.cause?.code ?? e.name}: ${e.message}`, true)
  }
  const text = await res.body.text().catch(() => '')
  if (res.statusCode >= 200 && res.statusCode < 300) return
  const detail = `HTTP ${res.statusCode}${text ? `: ${text.trim().slice(0, 300)}` : ''}`
  const retryAfter = Number(res.headers['retry-after'])
  const retryable = res.statusCode >= 500 || res.statusCode === 429 || res.statusCode === 408
  throw new DeliveryError(detail, retryable, 0, Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 300_000) : undefined)
}
