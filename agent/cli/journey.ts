// `vantage journey <file.js|file.ts> [options]`: one iteration of a k6 journey, now, printed as
// a step table (or the result JSON). Exit 0 when the journey succeeded, 1 when not, 2 on bad
// arguments.
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import type { CheckSpec } from '../../proto/check.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { nullLogger, systemClock } from '../core/probe.ts'
import { runProbe } from '../core/run.ts'
import type { JourneyReport } from '../journey/report.ts'
import type { ThresholdResult } from '../journey/thresholds.ts'
import { probeJourneyReport } from '../probes/journey.ts'
import { durationFlag, readCa, UsageError } from './args.ts'

export const USAGE = `usage: vantage journey <file.js|file.ts> [options]

  --json            print the result JSON instead of the step table
  --env K=V         a value for __ENV (repeatable); nothing else of the environment is passed
  --timeout 60s     the journey's time limit (default 60s)
  --ca FILE         extra trusted CA certificate (PEM)
  --insecure        report, but do not fail on, invalid certificates
  --source IP       bind requests to this local address
  --verbose         debug logs on stderr

The script's console output goes to stderr.

examples:
  vantage journey journeys/login.ts --env BASE_URL=https://shop.example.test
  vantage journey journeys/api.js --json`

export { UsageError }

const OPTIONS = {
  json: { type: 'boolean' },
  env: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  source: { type: 'string' },
  verbose: { type: 'boolean' },
} as const

export interface ParsedJourney {
  check: CheckSpec
  json: boolean
  verbose: boolean
  ca?: string
  source?: string
}

export function parseJourneyArgs(argv: string[]): ParsedJourney {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  const { values: o, positionals } = parsed
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'expected a journey file' : `unexpected argument "${positionals[1]}"`)
  const file = positionals[0]
  if (!/\.(js|mjs|ts|mts)$/.test(file)) throw new UsageError(`"${file}" is not a .js or .ts file`)
  const env: Record<string, string> = {}
  for (const pair of o.env ?? []) {
    const i = pair.indexOf('=')
    if (i <= 0) throw new UsageError(`--env "${pair}": expected NAME=value`)
    env[pair.slice(0, i)] = pair.slice(i + 1)
  }
  const timeoutMs = o.timeout !== undefined ? durationFlag('--timeout', o.timeout) : 60_000
  const ca = o.ca !== undefined ? readCa(o.ca) : undefined
  const check: CheckSpec = {
    name: basename(file).replace(/\.(js|mjs|ts|mts)$/, ''),
    type: 'journey',
    target: file,
    interval_ms: 60_000,
    timeout_ms: timeoutMs,
    journey: { script: file, env },
  }
  if (o.insecure) check.tls = { insecure: true }
  return { check, json: !!o.json, verbose: !!o.verbose, ca, source: o.source }
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  let parsed: ParsedJourney
  try {
    parsed = parseJourneyArgs(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`vantage journey: ${err.message}\n\n${USAGE}\n`)
    return 2
  }
  const logger = parsed.verbose ? pino({ level: 'debug' }, pino.destination(2)) : nullLogger
  let report: JourneyReport | undefined
  const result = await runProbe(
    async (check, ctx) => {
      const r = await probeJourneyReport(check, ctx, { onLog: (level, message) => process.stderr.write(`${level.toUpperCase()} ${message}\n`) })
      if ('outcome' in r) {
        report = r
        return r.outcome
      }
      return r
    },
    parsed.check,
    {
      identity: { agent_id: 'local-1', vantage: 'local', region: 'local' },
      agent_id: 'local-1',
      logger,
      clock: systemClock,
      secrets: {},
      ca: parsed.ca,
      source_address: parsed.source,
    },
  )
  process.stdout.write(parsed.json ? JSON.stringify(result, null, 2) + '\n' : formatJourney(result, report?.thresholds ?? []))
  return result.success ? 0 : 1
}

const ms = (seconds: number) => `${(seconds * 1000).toFixed(1)}ms`

/** The step table a person reads: one row per step, then thresholds and the error. */
export function formatJourney(r: ProbeResult, thresholds: ThresholdResult[]): string {
  const outcome = r.success ? 'UP' : r.challenged ? 'CHALLENGED' : 'DOWN'
  const lines = [`${outcome}  journey ${r.target}  in ${ms(r.duration_seconds)}`]
  const steps = r.steps ?? []
  if (steps.length) {
    const rows = steps.map((s) => {
      const counts = Object.values(s.checks ?? {}).reduce((a, c) => ({ passes: a.passes + c.passes, fails: a.fails + c.fails }), { passes: 0, fails: 0 })
      const state = s.success ? 'up' : s.challenged ? 'challenged' : s.error_code === 'JOURNEY_STEP_NOT_RUN' ? 'not run' : 'down'
      return [s.name, state, ms(s.duration_seconds), s.status_code ? String(s.status_code) : '-', String(counts.passes), String(counts.fails)]
    })
    const head = ['step', 'result', 'duration', 'status', 'passed', 'failed']
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
    const fmt = (row: string[]) => '  ' + row.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')
    lines.push(fmt(head), ...rows.map(fmt))
    for (const s of steps) if (!s.success && s.error) lines.push(`  ${s.name}: ${s.error}${s.error_code ? `  [${s.error_code}]` : ''}`)
  }
  for (const t of thresholds) lines.push(`  threshold ${t.metric} ${t.expression}: ${t.ok ? 'ok' : 'FAILED'} (${Math.round(t.value * 1000) / 1000})`)
  if (r.error) lines.push(`  error: ${r.error}${r.error_code ? `  [${r.error_code}]` : ''}`)
  return lines.join('\n') + '\n'
}
