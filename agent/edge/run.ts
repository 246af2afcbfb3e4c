// One run of the edge worker (a cron tick or a manual run): read the settings, get the signed
// assignment, probe the checks that are due and that the runtime can run (through the shared
// runner, agent/core/run.ts), sign the results as one batch, deliver what is queued and then the
// new batch. Nothing here throws for a target's or the hub's failure: the run reports it.
import type { CheckSpec } from '../../proto/check.ts'
import type { ProbeResult } from '../../proto/result.ts'
import type { AssignedConfig } from '../core/assignment.ts'
import { systemClock } from '../core/probe.ts'
import { runProbe } from '../core/run.ts'
import { loadAssignment, type ConfigProblem } from './config.ts'
import { readSettings, SettingsError, type Env, type Settings } from './env.ts'
import { createLogger, type EdgeLogger } from './log.ts'
import { EDGE_PROBES } from './probes/index.ts'
import { REPLAY_REASONS, pushBatch } from './push.ts'
import { openOutbox, type Outbox, type QueuedBatch } from './queue.ts'

/** The cron trigger's period (deploy/edge/wrangler.toml: every minute). */
export const CRON_PERIOD_MS = 60_000
/** Probes at once: Workers allow six open connections per invocation. */
const CONCURRENCY = 6

export interface RunTrigger {
  kind: 'cron' | 'manual'
  /** The cron tick's time (ms); a manual run's is now. */
  scheduledTime: number
  cron?: string
}

export interface ProbeSummary {
  check: string
  type: string
  success: boolean
  challenged: boolean
  error_code: string | null
  duration_seconds: number
}

export interface DeliveryReport {
  /** durable_object: undelivered batches wait in the QUEUE binding; none: they are lost and counted. */
  queue: 'durable_object' | 'none'
  delivered_batches: number
  delivered_results: number
  duplicates: number
  /** Batches waiting for the next run after this one. */
  queued_batches: number
  /** Results lost in this run (no queue binding, or the queue was full). */
  lost_results: number
  /** The dropped counter the next batch reports. */
  dropped_total: number
  error: string | null
}

export interface RunReport {
  trigger: RunTrigger['kind']
  started_at: string
  finished_at: string
  agent_id: string | null
  vantage: string | null
  config_version: string | null
  /** Where the config in use came from this run (hub, unchanged, kept), null without one. */
  config_source: string | null
  /** Why this run's config answer was not used (refused, rejected, unreachable). */
  config_problem: ConfigProblem | null
  probed: ProbeSummary[]
  /** Assigned checks this runtime cannot run (they need the Node agent). */
  unsupported: { check: string; type: string }[]
  /** Assigned checks whose next round has not started yet. */
  not_due: number
  delivery: DeliveryReport | null
  /** A run that could not start (settings): what to fix. */
  error: string | null
}

export async function runOnce(env: Env, trigger: RunTrigger): Promise<RunReport> {
  const startedAt = Date.now()
  const report: RunReport = {
    trigger: trigger.kind,
    started_at: new Date(startedAt).toISOString(),
    finished_at: '',
    agent_id: typeof env.AGENT_ID === 'string' ? env.AGENT_ID : null,
    vantage: null,
    config_version: null,
    config_source: null,
    config_problem: null,
    probed: [],
    unsupported: [],
    not_due: 0,
    delivery: null,
    error: null,
  }
  let log = createLogger(env.LOG_LEVEL, { agent: report.agent_id, trigger: trigger.kind })
  let settings: Settings
  try {
    settings = readSettings(env)
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err
    log.error({ err: err.message }, 'the worker is misconfigured: not running')
    return finish({ ...report, error: err.message }, log)
  }

  const outbox = openOutbox(env, settings.agentId, settings.queueMaxBatches)
  const assignment = await loadAssignment(settings, outbox, log, () => Date.now())
  const config = assignment.config
  report.config_source = assignment.source
  report.config_problem = assignment.problem ?? null
  let results: ProbeResult[] = []
  if (config) {
    log = log.child({ vantage: config.vantage })
    report.vantage = config.vantage
    report.config_version = config.version
    const { due, unsupported, notDue } = select(config.checks, trigger)
    report.unsupported = unsupported
    report.not_due = notDue
    for (const u of unsupported) {
      log.error({ check: u.check, type: u.type }, 'the edge worker cannot run checks of this type: give this vantage `capabilities: [http, tcp, smtp]` in hub.yaml so the hub assigns them elsewhere')
    }
    results = await probeAll(due, config, settings, log)
    report.probed = results.map(summary)
  }

  let batch: QueuedBatch | null = null
  if (config && results.length > 0) {
    try {
      batch = { seq: await outbox.nextSeq(Date.now()), vantage: config.vantage, dropped: await outbox.dropped(), results }
    } catch (err) {
      log.error({ err: (err as Error).message, results: results.length }, 'the queue binding failed: results lost')
    }
  }
  report.delivery = await deliver(settings, outbox, batch, log)
  return finish(report, log)
}

function finish(report: RunReport, log: EdgeLogger): RunReport {
  report.finished_at = new Date().toISOString()
  if (report.error) return report
  const failed = report.probed.filter((p) => !p.success).length
  log.info(
    {
      probed: report.probed.length,
      failed,
      not_due: report.not_due,
      unsupported: report.unsupported.length,
      config_version: report.config_version,
      config_problem: report.config_problem?.reason ?? null,
      delivered_batches: report.delivery?.delivered_batches ?? 0,
      queued_batches: report.delivery?.queued_batches ?? 0,
      dropped_total: report.delivery?.dropped_total ?? 0,
    },
    'run finished',
  )
  return report
}

/**
 * A cron tick runs each check whose round changed since the previous tick (every vantage probes
 * the same round: floor(now / interval)); checks with intervals under a minute run every tick.
 * A manual run runs everything.
 */
function select(checks: CheckSpec[], trigger: RunTrigger) {
  const due: CheckSpec[] = []
  const unsupported: { check: string; type: string }[] = []
  let notDue = 0
  const t = trigger.scheduledTime
  for (const check of checks) {
    if (!EDGE_PROBES[check.type]) {
      unsupported.push({ check: check.name, type: check.type })
      continue
    }
    const interval = Math.max(1, check.interval_ms)
    if (trigger.kind === 'manual' || Math.floor(t / interval) !== Math.floor((t - CRON_PERIOD_MS) / interval)) due.push(check)
    else notDue++
  }
  return { due, unsupported, notDue }
}

async function probeAll(checks: CheckSpec[], config: AssignedConfig, s: Settings, log: EdgeLogger): Promise<ProbeResult[]> {
  const results: ProbeResult[] = new Array(checks.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < checks.length; i = next++) {
      const check = checks[i]
      const probe = EDGE_PROBES[check.type]!
      const checkLog = log.child({ check: check.name })
      const result = await runProbe(probe, check, {
        identity: { agent_id: s.agentId, vantage: config.vantage, region: config.region },
        clock: systemClock,
        logger: checkLog,
        agent_id: s.agentId,
        secrets: s.secrets,
      })
      checkLog[result.success || result.challenged ? 'info' : 'warn'](
        { type: check.type, target: check.target, success: result.success, challenged: result.challenged, error_code: result.error_code ?? null, error: result.error ?? null, duration_seconds: result.duration_seconds },
        'probe finished',
      )
      results[i] = result
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, checks.length) }, worker))
  return results
}

function summary(r: ProbeResult): ProbeSummary {
  return { check: r.check, type: r.type, success: r.success, challenged: r.challenged, error_code: r.error_code ?? null, duration_seconds: r.duration_seconds }
}

/**
 * Queued batches first (oldest first, so seqs reach the hub in order), then the new one. The
 * first failure stops delivery for this run: what is left waits in the queue (or, without one,
 * the new batch's results are lost and counted).
 */
async function deliver(s: Settings, outbox: Outbox, fresh: QueuedBatch | null, log: EdgeLogger): Promise<DeliveryReport> {
  const report: DeliveryReport = {
    queue: outbox.kind,
    delivered_batches: 0,
    delivered_results: 0,
    duplicates: 0,
    queued_batches: 0,
    lost_results: 0,
    dropped_total: 0,
    error: null,
  }
  let queued: QueuedBatch[] = []
  try {
    queued = await outbox.pending()
  } catch (err) {
    log.error({ err: (err as Error).message }, 'cannot read the queue binding')
  }
  const items = [...queued.map((batch) => ({ batch, stored: true })), ...(fresh ? [{ batch: fresh, stored: false }] : [])]
  for (const item of items) {
    if (report.error === null) {
      let outcome = await pushBatch(s.hubUrl, s.agentId, s.privateKey, item.batch, Date.now())
      if (!outcome.ok && !outcome.transient && REPLAY_REASONS.has(outcome.reason)) {
        // The hub holds a higher seq from this agent (another isolate, a lost counter): the same
        // results under a fresh seq; the hub still stores each result_id once.
        const old = item.batch.seq
        item.batch = await outbox.renumber(item.batch, Date.now())
        log.warn({ seq: old, new_seq: item.batch.seq }, 'hub refused the seq as a replay: re-sending the batch under a new seq')
        outcome = await pushBatch(s.hubUrl, s.agentId, s.privateKey, item.batch, Date.now())
      }
      if (outcome.ok) {
        if (item.stored) await outbox.remove(item.batch.seq)
        report.delivered_batches++
        report.delivered_results += outcome.ack.accepted
        report.duplicates += outcome.ack.duplicates ?? 0
        log.info({ seq: item.batch.seq, results: item.batch.results.length, accepted: outcome.ack.accepted, duplicates: outcome.ack.duplicates, queued: item.stored }, 'batch delivered')
        continue
      }
      report.error = outcome.error
      if (outcome.transient) log.warn({ seq: item.batch.seq, err: outcome.error }, 'hub unreachable: results not delivered')
      else log.error({ seq: item.batch.seq, reason: outcome.reason, err: outcome.error }, 'HUB REFUSED RESULTS: check AGENT_ID and AGENT_PRIVATE_KEY against the hub\'s agents list')
    }
    // Not delivered in this run.
    if (item.stored) {
      report.queued_batches++
      continue
    }
    try {
      const kept = await outbox.keep(item.batch)
      if (kept.kept) {
        report.queued_batches++
        log.info({ seq: item.batch.seq, results: item.batch.results.length }, 'batch queued for the next run')
      } else {
        report.lost_results += item.batch.results.length
        log.error({ seq: item.batch.seq, lost: item.batch.results.length, dropped_total: kept.dropped }, 'results lost: no queue binding (bind a Durable Object as QUEUE to keep them); the next batch reports the count')
      }
    } catch (err) {
      report.lost_results += item.batch.results.length
      await outbox.lose(item.batch.results.length).catch(() => 0)
      log.error({ seq: item.batch.seq, lost: item.batch.results.length, err: (err as Error).message }, 'results lost: the queue binding failed')
    }
  }
  report.dropped_total = await outbox.dropped().catch(() => 0)
  return report
}
