// POST {HUB_URL}/v1/results: the batch signed with the worker's key (proto/envelope.ts, the same
// code as the Node agent), the body its flattened JWS JSON; the answer the hub's ack
// `{ seq, accepted, duplicates }` or a refusal `{ error, reason }`.
import type { PushAck, ResultBatch } from '../../proto/batch.ts'
import { signBatch, type KeyInput } from '../../proto/envelope.ts'
import type { QueuedBatch } from './queue.ts'

const REQUEST_TIMEOUT_MS = 15_000
/** Statuses worth retrying: the hub is down, overloaded or timed out, not refusing the batch. */
const RETRY_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504])
/** Reasons the hub gives for a seq it will not take again (hub/ingest/errors.ts). */
export const REPLAY_REASONS = new Set(['replayed_seq', 'replay'])

export type PushOutcome =
  | { ok: true; ack: PushAck }
  /** No answer, or one worth retrying later: keep the batch. */
  | { ok: false; transient: true; error: string }
  /** The hub refused the batch (4xx): `reason` is its stable code. */
  | { ok: false; transient: false; reason: string; error: string }

export async function pushBatch(hubUrl: string, agentId: string, privateKey: KeyInput, batch: QueuedBatch, now: number): Promise<PushOutcome> {
  const endpoint = `${hubUrl}/v1/results`
  // Signed afresh for every attempt: sent_at must be near the hub's clock.
  const message: ResultBatch = { agent_id: agentId, vantage: batch.vantage, seq: batch.seq, sent_at: Math.floor(now), results: batch.results, dropped: batch.dropped }
  const jws = await signBatch(message, { kid: agentId, privateKey })
  let res: Response
  let text: string
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'vantage-edge' },
      body: JSON.stringify(jws),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    text = await res.text()
  } catch (err) {
    return { ok: false, transient: true, error: `POST ${endpoint}: ${(err as Error).message}` }
  }
  const body = parseObject(text)
  const detail = typeof body?.error === 'string' ? body.error : text.slice(0, 200)
  if (RETRY_STATUSES.has(res.status)) return { ok: false, transient: true, error: `POST ${endpoint}: HTTP ${res.status}: ${detail}` }
  if (res.status < 200 || res.status >= 300) {
    const reason = typeof body?.reason === 'string' ? body.reason : `http_${res.status}`
    return { ok: false, transient: false, reason, error: `POST ${endpoint}: HTTP ${res.status}: ${reason}: ${detail}` }
  }
  if (!body || typeof body.seq !== 'number') return { ok: false, transient: true, error: `POST ${endpoint}: HTTP ${res.status} without an ack (${text.slice(0, 200)})` }
  return { ok: true, ack: body as unknown as PushAck }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}
