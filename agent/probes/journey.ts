// The journey check type: one iteration of a k6 script per round, on the agent's own runtime
// (agent/journey/). The check's `journey` block names the script and carries its source as the
// hub distributes it (or the agent reads the file), its __ENV values and the secrets it may see.
// The result's `steps` are the script's groups; see agent/journey/report.ts for the verdict.
import type { CheckSpec } from '../../proto/check.ts'
import type { ProbeOutcome } from '../../proto/result.ts'
import type { Probe, ProbeContext } from '../core/probe.ts'
import { compileJourney, JourneyLoadError, type CompiledJourney } from '../journey/compile.ts'
import { runJourney, type RunJourneyOptions } from '../journey/runner.ts'
import type { JourneyReport } from '../journey/report.ts'

// Compiled scripts by source text: a distributed journey is compiled once, not every round.
const compiled = new Map<string, Promise<CompiledJourney>>()
const CACHE_MAX = 64

function compile(check: CheckSpec): Promise<CompiledJourney> {
  const j = check.journey!
  if (j.source === undefined) return compileJourney({ path: j.script })
  const key = `${j.script}\n${j.source}`
  let hit = compiled.get(key)
  if (!hit) {
    if (compiled.size >= CACHE_MAX) compiled.delete(compiled.keys().next().value!)
    hit = compileJourney({ source: j.source, name: j.script })
    // A failed compile is not kept: the next round reports it afresh.
    hit.catch(() => compiled.delete(key))
    compiled.set(key, hit)
  }
  return hit
}

/** __ENV: the check's values plus the secrets it names; never the agent's whole environment. */
export function journeyEnv(check: CheckSpec, ctx: ProbeContext): Record<string, string> {
  const j = check.journey ?? { script: '' }
  const env: Record<string, string> = { ...j.env }
  for (const [name, secret] of Object.entries(j.secret_env ?? {})) {
    const value = ctx.secrets[secret]
    if (value !== undefined) env[name] = value
    // Name the missing secret, never a value.
    else ctx.logger.warn({ check: check.name, env: name, secret }, 'journey secret is not set; __ENV leaves it out')
  }
  return env
}

/** Runs the check's journey; `extra` lets the CLI see the whole report (thresholds, logs). */
export async function probeJourneyReport(check: CheckSpec, ctx: ProbeContext, extra: Partial<RunJourneyOptions> = {}): Promise<JourneyReport | ProbeOutcome> {
  if (!check.journey?.script) {
    return { success: false, challenged: false, error: 'invalid check: a journey check needs journey.script', error_code: 'INVALID_CHECK' }
  }
  let script: CompiledJourney
  try {
    script = await compile(check)
  } catch (err) {
    if (err instanceof JourneyLoadError) return { success: false, challenged: false, error: err.message, error_code: 'JOURNEY_SCRIPT_INVALID', steps: [] }
    throw err
  }
  return runJourney({ compiled: script, env: journeyEnv(check, ctx), timeoutMs: check.timeout_ms, ctx, tls: check.tls, ...extra })
}

export const probeJourney: Probe = async (check, ctx) => {
  const r = await probeJourneyReport(check, ctx)
  return 'outcome' in r ? r.outcome : r
}
