// Shared test data for the agent daemon suites.
import type { ProbeResult } from '../../proto/result.ts'

const BASE_MS = 1_800_000_000_000

/** A well-formed result; `i` makes its result_id (UUIDv7-shaped) and round distinct. */
export function sampleResult(i: number, extra: Partial<ProbeResult> = {}): ProbeResult {
  const hex = i.toString(16).padStart(12, '0')
  return {
    check: 'shop-home',
    type: 'http',
    target: 'http://127.0.0.1:8080/',
    vantage: 'eu-west',
    region: 'eu',
    agent_id: 'eu-1',
    result_id: `01920000-0000-7000-8000-${hex}`,
    round: Math.floor(BASE_MS / 30_000) + i,
    started_at: new Date(BASE_MS + i * 30_000).toISOString(),
    success: true,
    challenged: false,
    duration_seconds: 0.0123,
    ...extra,
  }
}
