// What a failed fetch() or connect() in the Workers runtime means, as an ERROR_CODES entry.
// The runtime gives no errno: its messages are all there is ("Network connection lost.",
// "proxy request failed, cannot connect to the specified address", "internal error; reference
// = …"). The message is kept in `error`, so the operator sees what the runtime said.
import type { ErrorCode } from '../../../proto/errors.ts'
import { TimeoutError } from '../../core/run.ts'

export interface Classified {
  error: string
  error_code: ErrorCode
}

/** The failure an aborted signal stands for (the same rule as agent/core/run.ts). */
export function abortClassified(signal: AbortSignal): Classified {
  const reason: unknown = signal.reason
  if (reason instanceof TimeoutError) return { error: reason.message, error_code: 'TIMEOUT' }
  return { error: 'probe aborted', error_code: 'ABORTED' }
}

/** A probe failure with a known code (the edge probes throw these to end a conversation). */
export class EdgeProbeError extends Error {
  override readonly name = 'EdgeProbeError'
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/**
 * `phase` says how far the probe got: `connect` (no connection yet: a generic failure there is a
 * refused or unreachable peer) or `exchange` (connected: it is a lost connection). `tls` says
 * whether TLS was part of the attempt (the runtime reports certificate failures as an
 * "internal error" without details).
 */
export function classifyEdgeError(
  err: unknown,
  signal: AbortSignal,
  peer: string,
  phase: 'connect' | 'exchange',
  tls: boolean,
): Classified {
  if (signal.aborted) return abortClassified(signal)
  if (err instanceof EdgeProbeError) return { error: err.message, error_code: err.code }
  if (err instanceof TimeoutError) return { error: err.message, error_code: 'TIMEOUT' }
  const raw = (err instanceof Error ? err.message : String(err)).replace(/^(jsg\.)?Error: /, '')
  const said = `(runtime: ${raw})`
  if (/dns|resolv|lookup|name not|not known|no such host|NXDOMAIN/i.test(raw)) {
    return { error: `cannot resolve the host of ${peer} ${said}`, error_code: 'DNS_RESOLVE_FAILED' }
  }
  if (/certificate|x509|\bssl\b|\btls\b|handshake/i.test(raw)) {
    return { error: `TLS with ${peer} failed ${said}`, error_code: 'TLS_HANDSHAKE_FAILED' }
  }
  if (/internal error/i.test(raw) && tls) {
    // workerd hides the cause; locally an untrusted certificate ends this way.
    return { error: `connection or TLS handshake with ${peer} failed; the runtime does not say why (an untrusted or invalid certificate, or a handshake failure) ${said}`, error_code: 'TLS_HANDSHAKE_FAILED' }
  }
  if (/unreachable/i.test(raw)) return { error: `${peer} is unreachable ${said}`, error_code: 'HOST_UNREACHABLE' }
  if (/refused|cannot connect|could not connect|failed to connect|connect(ion)? failed/i.test(raw)) {
    return { error: `cannot connect to ${peer}: refused or unreachable ${said}`, error_code: 'CONNECTION_REFUSED' }
  }
  if (phase === 'connect') {
    // What workerd's fetch() says when nothing listens on the port, or when the peer closed
    // before answering: it does not tell the two apart.
    return { error: `no answer from ${peer}: the connection failed or was closed before a response ${said}`, error_code: 'CONNECTION_RESET' }
  }
  return { error: `connection to ${peer} lost ${said}`, error_code: 'CONNECTION_RESET' }
}
