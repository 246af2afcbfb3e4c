// The one signature every check type implements (DESIGN.md, "Layout").
// Portable: no `node:` imports, so the edge worker implements the same contract.
import type { CheckSpec } from '../../proto/check.ts'
import type { ProbeOutcome } from '../../proto/result.ts'

export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

export interface ProbeContext {
  /** Aborted on timeout or shutdown; probes must stop and report what they reached. */
  signal: AbortSignal
  logger: Logger
  clock: Clock
  /** Identity sent as `x-vantage-probe` so site owners can match probes in WAF skip rules. */
  agent_id: string
  /** Bind outgoing connections to this local address. */
  source_address?: string
  /** Secrets by name (bypass tokens); never logged. */
  secrets: Readonly<Record<string, string | undefined>>
  /** Extra trusted CA certificates (PEM), added to the system roots. */
  ca?: string
}

/**
 * A probe reports pass/fail as data: it never throws for a target's failure.
 * The caller (agent/core/run.ts) owns the deadline, the total duration and the result identity.
 */
export type Probe = (check: CheckSpec, ctx: ProbeContext) => Promise<ProbeOutcome>

export const nullLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
