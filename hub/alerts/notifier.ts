// The alerting loop, level-based like Prometheus' rule evaluation and notifier: each evaluation
// (on every quorum change and on a timer) computes the set of alerts that hold from the quorum
// snapshot (rules.ts), then
//   - a condition held for its `for` starts firing and is sent to every receiver;
//   - a firing alert is sent again every `resend_interval`, and at once when what it says
//     changes (another vantage fails, the certificate's expiry moves): any annotation but the
//     prose (`summary`, `description`, whose error texts and countdowns change every round);
//   - an alert that no longer holds is sent once more as resolved (endsAt = now), retried until
//     delivered. An alert firing when its check enters a maintenance window is resolved the same
//     way, and fires again if the condition still holds when the window ends.
// Evaluation only enqueues: delivery is asynchronous, per receiver (receivers.ts), and never
// blocks ingest or the quorum engine.
//
// Firing state is in memory: after a restart, the first evaluation sends what still holds (with
// the same startsAt, the check's `since`); an alert that resolved while the hub was down ends
// in Alertmanager by itself when its endsAt (4 × resend_interval) passes.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Clock, Logger } from '../../agent/core/probe.ts'
import { systemTimers, type Timers } from '../../agent/daemon/time.ts'
import type { HubConfig } from '../config.ts'
import type { QuorumSnapshot } from '../quorum/types.ts'
import type { MaintenanceBook } from './maintenance.ts'
import { ALERT_NAMES, fingerprint, type AlertCondition, type AlertMessage, type AlertName } from './model.ts'
import {
  AlertmanagerSender,
  DeliveryQueue,
  newDispatcher,
  WebhookSender,
  type RetryPolicy,
  type SendResult,
} from './receivers.ts'
import { evaluateRules } from './rules.ts'

/** How often alerts are evaluated with no quorum change (certificate thresholds, windows, resends). */
export const DEFAULT_EVALUATE_EVERY_MS = 15_000
/** Default runbooks, relative to the hub's URL (served by the alerts plugin from deploy/runbooks). */
export const RUNBOOK_PATH = '/runbooks'

export interface AlertingOptions {
  config: HubConfig | (() => HubConfig)
  snapshot: () => QuorumSnapshot
  clock: Clock
  timers?: Timers
  logger: Logger
  registry: Registry
  /** The hub's URL as operators reach it: generatorURL and the default runbook links. */
  external_url?: string
  /** Default runbook base (`<base>/<AlertName>.md`); default `<external_url>/runbooks`, else `deploy/runbooks`. */
  runbook_base?: string
  maintenance?: MaintenanceBook
  /** Called with a listener to run on every quorum change; may return an unsubscribe function. */
  subscribe?: (listener: () => void) => (() => void) | void
  evaluate_every_ms?: number
  retry?: RetryPolicy
  random?: () => number
}

export interface Alerting {
  /** Evaluates now: computes the alerts that hold and enqueues what must be sent. */
  evaluate(): void
  /** Firing alerts, as last sent. */
  firing(): AlertMessage[]
  /** Alerts that hold but are not sent (maintenance), with the window's reason. */
  suppressed(): { labels: Record<string, string>; reason: string }[]
  /** Undelivered messages per receiver. */
  pending(): Record<string, number>
  stop(): void
}

interface Tracked {
  condition: AlertCondition
  /** When the condition was first seen holding (or the snapshot's `since`). */
  first_seen: number
  firing: boolean
  starts_at: number
  last_sent: number
  sent_annotations: string
}

const METRIC_NAMES = ['hub_alerts_sent_total', 'hub_alerts_active', 'hub_alerts_suppressed', 'hub_alerts_pending'] as const

export function startAlerting(opts: AlertingOptions): Alerting {
  const config = typeof opts.config === 'function' ? opts.config : () => opts.config as HubConfig
  const timers = opts.timers ?? systemTimers
  const { clock, logger } = opts
  const evaluateEvery = opts.evaluate_every_ms ?? DEFAULT_EVALUATE_EVERY_MS
  const runbookBase = opts.runbook_base ?? (opts.external_url ? `${opts.external_url.replace(/\/+$/, '')}${RUNBOOK_PATH}` : 'deploy/runbooks')
  const dispatcher = newDispatcher()

  for (const name of METRIC_NAMES) opts.registry.removeSingleMetric(name)
  const registers = [opts.registry]
  const sent = new Counter({
    name: 'hub_alerts_sent_total',
    help: 'Alert messages delivered or attempted, by receiver and result (ok; error: will be retried; rejected: refused by the receiver, dropped; dropped: queue full).',
    labelNames: ['receiver', 'result'],
    registers,
  })
  const active = new Gauge({ name: 'hub_alerts_active', help: 'Alerts firing now, by alertname (not counting suppressed ones).', labelNames: ['alertname'], registers })
  const suppressedGauge = new Gauge({
    name: 'hub_alerts_suppressed',
    help: 'Alerts that hold but are not sent because their check is in a maintenance window, by alertname.',
    labelNames: ['alertname'],
    registers,
  })
  for (const alertname of ALERT_NAMES) {
    active.set({ alertname }, 0)
    suppressedGauge.set({ alertname }, 0)
  }
  let queues: DeliveryQueue[] = []
  new Gauge({
    name: 'hub_alerts_pending',
    help: 'Alert messages waiting for delivery (undelivered or being retried), by receiver.',
    labelNames: ['receiver'],
    registers,
    collect() {
      this.reset()
      for (const q of queues) this.set({ receiver: q.name }, q.size)
    },
  })
  const count = (receiver: string, result: SendResult, n: number) => sent.inc({ receiver, result }, n)

  let receiversFor = ''
  const buildReceivers = (cfg: HubConfig) => {
    const key = JSON.stringify(cfg.alerting)
    if (key === receiversFor) return false
    for (const q of queues) q.stop()
    receiversFor = key
    const validFor = 4 * cfg.alerting.resend_interval_ms
    const queueOpts = { timers, logger, retry: opts.retry, random: opts.random, count }
    queues = cfg.alerting.alertmanager.map(
      (url) =>
        new DeliveryQueue({ ...queueOpts, sender: new AlertmanagerSender(url, { clock, dispatcher, external_url: opts.external_url, valid_for_ms: validFor }) }),
    )
    const hook = cfg.alerting.webhook
    if (hook.url) {
      if (!hook.secret) logger.warn({ receiver: 'webhook' }, 'alerting.webhook has no secret_file: its messages are not signed')
      queues.push(new DeliveryQueue({ ...queueOpts, sender: new WebhookSender(hook.url, { clock, dispatcher, secret: hook.secret, external_url: opts.external_url }) }))
    }
    for (const q of queues) sent.inc({ receiver: q.name, result: 'ok' }, 0)
    if (queues.length === 0) logger.info({}, 'no alerting receivers configured: alerts are computed (hub_alerts_active) but not sent')
    return true
  }

  const tracked = new Map<string, Tracked>()
  let suppressedNow: { labels: Record<string, string>; reason: string }[] = []
  let timer: unknown = null
  let stopped = false

  const message = (t: Tracked, status: 'firing' | 'resolved', endsAt: number | null): AlertMessage => ({
    fingerprint: fingerprint(t.condition.labels),
    name: t.condition.name,
    labels: t.condition.labels,
    annotations: t.condition.annotations,
    status,
    starts_at: t.starts_at,
    ends_at: endsAt,
    review_path: t.condition.review_path,
  })
  const enqueue = (m: AlertMessage) => {
    for (const q of queues) q.push(m)
  }

  const evaluate = () => {
    if (stopped) return
    if (timer !== null) timers.clearTimeout(timer)
    timer = null
    const now = clock.now()
    const cfg = config()
    const resend = cfg.alerting.resend_interval_ms
    if (buildReceivers(cfg)) for (const t of tracked.values()) t.last_sent = -Infinity // new receivers get what fires

    let snapshot: QuorumSnapshot
    try {
      snapshot = opts.snapshot()
    } catch (err) {
      logger.error({ error: (err as Error).message }, 'alert evaluation skipped: no quorum snapshot')
      schedule(evaluateEvery)
      return
    }
    const result = evaluateRules(snapshot, {
      config: cfg,
      now,
      runbook_base: runbookBase,
      maintenance: opts.maintenance ? (check, at) => opts.maintenance!.active(check, at) : undefined,
    })

    let next = evaluateEvery
    const seen = new Set<string>()
    for (const condition of result.conditions) {
      const fp = fingerprint(condition.labels)
      seen.add(fp)
      let t = tracked.get(fp)
      if (!t) {
        t = { condition, first_seen: condition.active_since ?? now, firing: false, starts_at: 0, last_sent: -Infinity, sent_annotations: '' }
        tracked.set(fp, t)
      }
      t.condition = condition
      if (!t.firing) {
        if (condition.active_since !== undefined) t.first_seen = condition.active_since
        const due = t.first_seen + condition.for_ms - now
        if (due > 0) {
          next = Math.min(next, due)
          continue
        }
        t.firing = true
        t.starts_at = t.first_seen
        logger.warn({ alertname: condition.name, ...condition.labels, summary: condition.annotations.summary }, 'alert firing')
      }
      const annotations = significant(condition.annotations)
      if (annotations !== t.sent_annotations || now - t.last_sent >= resend) {
        enqueue(message(t, 'firing', null))
        t.last_sent = now
        t.sent_annotations = annotations
      }
      next = Math.min(next, t.last_sent + resend - now)
    }

    const suppressedFps = new Map(result.suppressed.map((s) => [fingerprint(s.condition.labels), s.reason]))
    for (const [fp, t] of tracked) {
      if (seen.has(fp)) continue
      tracked.delete(fp)
      if (!t.firing) continue
      enqueue(message(t, 'resolved', now))
      const reason = suppressedFps.get(fp)
      logger.info(
        { alertname: t.condition.name, ...t.condition.labels, ...(reason !== undefined ? { maintenance: reason } : {}) },
        reason !== undefined ? 'alert resolved: its check entered a maintenance window' : 'alert resolved',
      )
    }

    suppressedNow = result.suppressed.map((s) => ({ labels: s.condition.labels, reason: s.reason }))
    const byName = (names: Iterable<AlertName>) => {
      const counts = new Map<AlertName, number>(ALERT_NAMES.map((n) => [n, 0]))
      for (const n of names) counts.set(n, counts.get(n)! + 1)
      return counts
    }
    for (const [alertname, n] of byName([...tracked.values()].filter((t) => t.firing).map((t) => t.condition.name))) active.set({ alertname }, n)
    for (const [alertname, n] of byName(result.suppressed.map((s) => s.condition.name))) suppressedGauge.set({ alertname }, n)
    schedule(next)
  }

  const schedule = (ms: number) => {
    if (stopped) return
    if (timer !== null) timers.clearTimeout(timer)
    timer = timers.setTimeout(evaluate, Math.max(1, ms))
  }

  // Quorum changes arrive in bursts (one per batch): evaluate once per burst.
  let queued = false
  const unsubscribe = opts.subscribe?.(() => {
    if (queued || stopped) return
    queued = true
    queueMicrotask(() => {
      queued = false
      evaluate()
    })
  })

  evaluate()

  return {
    evaluate,
    firing: () => [...tracked.values()].filter((t) => t.firing).map((t) => message(t, 'firing', null)),
    suppressed: () => suppressedNow,
    pending: () => Object.fromEntries(queues.map((q) => [q.name, q.size])),
    stop() {
      if (stopped) return
      stopped = true
      if (timer !== null) timers.clearTimeout(timer)
      timer = null
      if (typeof unsubscribe === 'function') unsubscribe()
      for (const q of queues) q.stop()
      void dispatcher.close().catch(() => undefined)
      for (const name of METRIC_NAMES) opts.registry.removeSingleMetric(name)
    },
  }
}

/** The annotations whose change is news (not the prose that changes every round). */
function significant(annotations: Record<string, string>): string {
  const { summary: _summary, description: _description, ...rest } = annotations
  return JSON.stringify(rest)
}
