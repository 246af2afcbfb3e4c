// The generic webhook's signature. The hub POSTs a JSON body and signs the raw bytes:
//
//   X-Vantage-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
//   X-Vantage-Timestamp: <unix seconds>   (equal to the body's `sent_at`)
//   X-Vantage-Delivery:  <id>             (the same across retries of one message)
//
// The timestamp is inside the signed body (`sent_at`), so it cannot be changed without breaking
// the signature. A receiver verifies the HMAC over the raw body (constant-time), then rejects a
// `sent_at` more than 5 minutes from its clock, or a header timestamp that differs from it; to
// stop replays inside that window it remembers the delivery ids (or `sent_at` + signature) it
// accepted in the last 5 minutes. verifyWebhook() does all but the last.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_HEADER = 'x-vantage-signature'
export const TIMESTAMP_HEADER = 'x-vantage-timestamp'
export const DELIVERY_HEADER = 'x-vantage-delivery'
export const DEFAULT_TOLERANCE_S = 300

export function signWebhook(secret: string, rawBody: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`
}

export type WebhookVerdict = { ok: true; body: Record<string, unknown> } | { ok: false; reason: string }

/** What a receiver does with a delivery: signature, then freshness. */
export function verifyWebhook(
  secret: string,
  rawBody: string | Uint8Array,
  headers: Record<string, string | string[] | undefined>,
  nowSeconds = Date.now() / 1000,
  toleranceSeconds = DEFAULT_TOLERANCE_S,
): WebhookVerdict {
  const header = one(headers[SIGNATURE_HEADER])
  if (!header?.startsWith('sha256=')) return { ok: false, reason: 'missing or malformed signature header' }
  const expected = Buffer.from(signWebhook(secret, rawBody))
  const got = Buffer.from(header)
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return { ok: false, reason: 'bad signature' }
  let body: Record<string, unknown>
  try {
    body = JSON.parse(Buffer.from(rawBody).toString('utf8')) as Record<string, unknown>
  } catch {
    return { ok: false, reason: 'body is not JSON' }
  }
  const sentAt = body.sent_at
  if (typeof sentAt !== 'number') return { ok: false, reason: 'no sent_at in the body' }
  if (one(headers[TIMESTAMP_HEADER]) !== String(sentAt)) return { ok: false, reason: 'timestamp header differs from sent_at' }
  if (Math.abs(nowSeconds - sentAt) > toleranceSeconds) return { ok: false, reason: 'stale or future timestamp (replay?)' }
  return { ok: true, body }
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}
