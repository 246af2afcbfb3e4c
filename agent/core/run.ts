// Runs one probe: owns the deadline, the total duration and the result's identity, so every
// probe module only reports what it saw. Portable: no `node:` imports.
import type { CheckSpec } from '../../proto/check.ts'
import type { ProbeOutcome, ProbeResult } from '../../proto/result.ts'
import { uuidv7, roundOf } from './ids.ts'
import type { Probe, ProbeContext } from './probe.ts'

export interface Identity {
  agent_id: string
  vantage: string
  region: string
}

export interface RunOptions extends Omit<ProbeContext, 'signal'> {
  identity: Identity
  /** Cancels the probe from outside (shutdown); the check's timeout is applied on top. */
  signal?: AbortSignal
  /** Monotonic milliseconds for the duration (performance.now by default). */
  monotonic?: () => number
}

export async function runProbe(probe: Probe, check: CheckSpec, opts: RunOptions): Promise<ProbeResult> {
  const monotonic = opts.monotonic ?? (() => performance.now())
  const startedAtMs = opts.clock.now()
  const start = monotonic()
  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(new TimeoutError(check.timeout_ms)), check.timeout_ms)
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal
  let outcome: ProbeOutcome
  try {
    outcome = await probe(check, { ...opts, signal })
  } catch (err) {
    outcome = failureFromThrow(err, signal)
  } finally {
    clearTimeout(timer)
  }
  // A probe cut short by its deadline reports a timeout (keeping the phases it reached),
  // not the socket error the abort caused.
  if (!outcome.success && signal.aborted) {
    outcome = { ...outcome, ...abortFailure(signal) }
  }
  const duration = (monotonic() - start) / 1000
  return {
    check: check.name,
    type: check.type,
    target: check.target,
    vantage: opts.identity.vantage,
    region: opts.identity.region,
    agent_id: opts.identity.agent_id,
    result_id: uuidv7(startedAtMs),
    round: roundOf(startedAtMs, check.interval_ms),
    started_at: new Date(startedAtMs).toISOString(),
    duration_seconds: duration,
    ...outcome,
    challenged: outcome.challenged && !outcome.success ? true : false,
  }
}

export class TimeoutError extends Error {
  readonly code = 'TIMEOUT'
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${formatMs(timeoutMs)}`)
    this.name = 'TimeoutError'
  }
}

function abortFailure(signal: AbortSignal): Pick<ProbeOutcome, 'error' | 'error_code'> {
  const reason = signal.reason
  if (reason instanceof TimeoutError) return { error: reason.message, error_code: 'TIMEOUT' }
  return { error: 'probe aborted', error_code: 'ABORTED' }
}

function failureFromThrow(err: unknown, signal: AbortSignal): ProbeOutcome {
  if (signal.aborted) return { success: false, challenged: false, ...abortFailure(signal) }
  const message = err instanceof Error ? err.message : String(err)
  return { success: false, challenged: false, error: message, error_code: 'INTERNAL' }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
