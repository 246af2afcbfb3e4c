// What a failed push or config fetch means for what happens next (as the synthetic-monitoring
// agent's error_types): transient errors are retried with backoff; a rejection will not succeed
// by retrying soon (bad signature, unknown agent) and is logged loudly and retried rarely.

/** The hub was unreachable, overloaded, or the connection broke: retry with backoff. */
export class TransientError extends Error {
  override readonly name = 'TransientError'
  constructor(
    message: string,
    /** A wait the hub asked for (Retry-After), in milliseconds. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** The hub answered and refused: retrying the same request soon will not help. */
export class RejectedError extends Error {
  override readonly name = 'RejectedError'
  constructor(
    /** The hub's stable reason code (bad_signature, unknown_kid, replay, …), or http_<status>. */
    readonly reason: string,
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

/** A short description of a network-level error (undici and grpc-js put the useful part in code/cause). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as { code?: unknown }).code
  const cause = (err as { cause?: unknown }).cause
  const causeText = cause instanceof Error && cause.message !== err.message ? ` (${cause.message})` : ''
  return `${typeof code === 'string' ? `${code}: ` : ''}${err.message}${causeText}`
}
