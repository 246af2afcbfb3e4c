// The agent daemon: the hub assigns checks (config-client), the scheduler runs them on the round
// grid, every result goes to the durable outbox first, and the pusher drains the outbox to the
// hub. Canaries (DESIGN.md "Self-check") tell whether a failure is the target's or our own.
import type { CheckSpec } from '../../proto/check.ts'
import { importPrivate } from '../../proto/keys.ts'
import type { CheckType, ProbeResult } from '../../proto/result.ts'
import type { Logger, Probe } from '../core/probe.ts'
import { runProbe, type Identity } from '../core/run.ts'
import { probes as builtinProbes } from '../probes/index.ts'
import type { AgentConfig } from './config.ts'
import { ConfigClient, type AssignedConfig } from './config-client.ts'
import { describeError } from './errors.ts'
import { Outbox } from './outbox.ts'
import { Pusher, type PusherStats } from './pusher.ts'
import { Scheduler, type SchedulerStats } from './scheduler.ts'
import { sleep, systemClock, systemTimers, type Clock, type Timers } from './time.ts'
import { GrpcTransport } from './transport-grpc.ts'
import { HttpTransport } from './transport-http.ts'
import type { Transport } from './transport.ts'

/** pino's Logger fits this: one child per check carries check, vantage and agent. */
export interface DaemonLogger extends Logger {
  child(bindings: Record<string, unknown>): DaemonLogger
}

export interface StartAgentOptions {
  config: AgentConfig
  logger: DaemonLogger
  clock?: Clock
  timers?: Timers
  /** Probe modules by check type (default: agent/probes). */
  probes?: Partial<Record<CheckType, Probe>>
  /** Secrets probes may use by name (bypass tokens); default: the process environment. */
  secrets?: Readonly<Record<string, string | undefined>>
  /** On stop: how long running probes may finish before they are aborted (default 10 s). */
  drainProbesMs?: number
  /** On stop: how long to keep pushing the outbox (default 5 s). */
  flushMs?: number
}

export interface AgentStatus {
  assigned: { vantage: string; region: string; version: string; checks: number } | null
  impaired: boolean
  outbox: ReturnType<Outbox['stats']>
  scheduler: SchedulerStats
  pusher: PusherStats
}

export interface AgentHandle {
  /** Graceful: stop scheduling, let running probes finish (bounded), flush the outbox (bounded). */
  stop(): Promise<void>
  status(): AgentStatus
  /** Resolves once the agent has a config (from the hub or its cache) and is probing. */
  readonly configured: Promise<AssignedConfig>
}

export async function startAgent(opts: StartAgentOptions): Promise<AgentHandle> {
  const { config } = opts
  const clock = opts.clock ?? systemClock
  const timers = opts.timers ?? systemTimers
  const probeTable = opts.probes ?? builtinProbes
  const secrets = opts.secrets ?? process.env
  const logger = opts.logger.child({ agent: config.id })

  // Fail at start, with the file named, rather than at the first push.
  const privateKey = await importPrivate(config.private_key, config.private_key_file)
  const outbox = Outbox.open(config.data, { max: config.outbox_max, now: clock.now })

  let assigned: AssignedConfig | null = null
  const shutdown = new AbortController()
  const canaries = new Canaries(config, probeTable, logger, clock)

  const http = new HttpTransport({ url: config.hub.url })
  const transport: Transport = config.hub.grpc ? new GrpcTransport({ address: config.hub.grpc }) : http
  const pusher = new Pusher({
    agentId: config.id,
    privateKey,
    outbox,
    transport,
    fallback: transport === http ? undefined : http,
    vantage: () => assigned?.vantage ?? null,
    batchSize: config.batch_size,
    clock,
    timers,
    logger: logger.child({ component: 'pusher' }),
  })

  const unsupported = new Set<string>()
  const runCheck = async (check: CheckSpec): Promise<void> => {
    const identity = identityOf(assigned, config.id)
    const probe = probeTable[check.type]
    const log = logger.child({ check: check.name, vantage: identity.vantage })
    if (!probe) return // filtered out at reconcile; a probe module may have been removed since
    const result = await runProbe(probe, check, {
      identity,
      clock,
      logger: log,
      agent_id: config.id,
      source_address: config.source_address,
      secrets,
      ca: config.ca,
      signal: shutdown.signal,
    })
    // Cut short by shutdown: not a measurement of the target, so it must not become a down vote.
    if (shutdown.signal.aborted) return
    store(markImpaired(result, canaries.impaired), log)
  }

  const store = (result: ProbeResult, log: Logger): void => {
    let dropped: number
    try {
      dropped = outbox.add(result)
    } catch (err) {
      log.error({ round: result.round, err: describeError(err) }, 'cannot store the result in the outbox')
      return
    }
    pusher.notify()
    log.debug(
      {
        round: result.round,
        result_id: result.result_id,
        success: result.success,
        challenged: result.challenged,
        error_code: result.error_code ?? undefined,
        duration_seconds: result.duration_seconds,
        impaired: result.vantage_impaired,
      },
      'probe done',
    )
    if (dropped > 0) log.warn({ dropped, dropped_total: outbox.stats().dropped_total, outbox_max: config.outbox_max }, 'outbox full: dropped the oldest results')
  }

  const scheduler = new Scheduler({ clock, timers, concurrency: config.concurrency, run: runCheck, logger: logger.child({ component: 'scheduler' }) })

  let markConfigured!: (c: AssignedConfig) => void
  const configured = new Promise<AssignedConfig>((resolve) => (markConfigured = resolve))
  const apply = (next: AssignedConfig): void => {
    assigned = next
    const runnable = next.checks.filter((c) => {
      if (probeTable[c.type]) return true
      if (!unsupported.has(c.name)) {
        unsupported.add(c.name)
        logger.error({ check: c.name, type: c.type, vantage: next.vantage }, 'this agent cannot run checks of this type: skipping the check')
      }
      return false
    })
    const summary = scheduler.reconcile(runnable, next.version)
    logger.info({ vantage: next.vantage, version: next.version, ...summary }, 'checks reconciled')
    pusher.notify() // results left from a previous run can go now that the vantage is known
    markConfigured(next)
  }

  const configClient = new ConfigClient({
    agentId: config.id,
    privateKey,
    hubUrl: config.hub.url,
    hubPublicKey: config.hub.public_key,
    dataDir: config.data,
    clock,
    timers,
    logger: logger.child({ component: 'config' }),
    refreshMs: config.config_refresh_ms,
    onConfig: apply,
  })

  // The cache first: with the hub down, a restarted agent resumes its checks at once.
  await configClient.loadCache()
  configClient.start()
  pusher.start()
  canaries.start(timers)
  logger.info(
    { hub: config.hub.url, grpc: config.hub.grpc, data: config.data, queued: outbox.size, canaries: config.canaries.length },
    'agent started',
  )

  let stopping: Promise<void> | null = null
  const stop = async (): Promise<void> => {
    const drainProbesMs = opts.drainProbesMs ?? 10_000
    logger.info({ running: scheduler.stats().running, queued: outbox.size }, 'agent stopping')
    await Promise.allSettled([configClient.stop(), canaries.stop()])
    const finished = scheduler.stop()
    const giveUp = new AbortController()
    const inTime = await Promise.race([finished.then(() => true), sleep(timers, drainProbesMs, giveUp.signal).then(() => false)])
    giveUp.abort() // clears the timer, so nothing keeps the process alive
    if (!inTime) {
      logger.warn({ running: scheduler.stats().running }, 'probes still running at shutdown: aborting them')
      shutdown.abort()
      await finished
    }
    await pusher.stop(opts.flushMs ?? 5_000)
    const left = outbox.stats()
    outbox.close()
    logger.info({ queued: left.queued, pushed: pusher.stats().results_acked }, left.queued ? 'agent stopped; unsent results stay in the outbox' : 'agent stopped')
  }

  return {
    stop: () => (stopping ??= stop()),
    configured,
    status: () => ({
      assigned: assigned && { vantage: assigned.vantage, region: assigned.region, version: assigned.version, checks: assigned.checks.length },
      impaired: canaries.impaired,
      outbox: outbox.stats(),
      scheduler: scheduler.stats(),
      pusher: pusher.stats(),
    }),
  }
}

function identityOf(assigned: AssignedConfig | null, agentId: string): Identity {
  return { agent_id: agentId, vantage: assigned?.vantage ?? '', region: assigned?.region ?? '' }
}

function markImpaired(result: ProbeResult, impaired: boolean): ProbeResult {
  return impaired ? { ...result, vantage_impaired: true } : result
}

/**
 * The self-check: each canary URL is probed as an http check every canary interval. When every
 * canary fails, the problem is this vantage's own network, and results say so (vantage_impaired).
 */
class Canaries {
  private readonly latest = new Map<string, boolean>()
  private scheduler: Scheduler | null = null
  private impaired_ = false

  constructor(
    private readonly config: AgentConfig,
    private readonly probes: Partial<Record<CheckType, Probe>>,
    private readonly logger: DaemonLogger,
    private readonly clock: Clock,
  ) {}

  /** True only when every canary has reported and the latest report of each is a failure. */
  get impaired(): boolean {
    return this.impaired_
  }

  start(timers: Timers): void {
    const urls = this.config.canaries
    const probe = this.probes.http
    if (urls.length === 0) return
    if (!probe) {
      this.logger.error({ canaries: urls }, 'canaries need the http probe, which this agent does not have: self-check disabled')
      return
    }
    const checks: CheckSpec[] = urls.map((url) => ({
      name: `canary:${url}`,
      type: 'http',
      target: url,
      interval_ms: this.config.canary_interval_ms,
      timeout_ms: Math.min(this.config.canary_timeout_ms, this.config.canary_interval_ms),
    }))
    const log = this.logger.child({ component: 'canary' })
    this.scheduler = new Scheduler({
      clock: this.clock,
      timers,
      concurrency: checks.length,
      logger: log,
      run: async (check) => {
        const result = await runProbe(probe, check, {
          identity: { agent_id: this.config.id, vantage: '', region: '' },
          clock: this.clock,
          logger: log.child({ check: check.name }),
          agent_id: this.config.id,
          source_address: this.config.source_address,
          secrets: {},
          ca: this.config.ca,
        })
        this.record(check.target, result)
      },
    })
    this.scheduler.reconcile(checks)
  }

  async stop(): Promise<void> {
    await this.scheduler?.stop()
  }

  private record(url: string, result: ProbeResult): void {
    if (this.latest.get(url) !== result.success) {
      this.logger[result.success ? 'info' : 'warn']({ canary: url, success: result.success, error: result.error ?? undefined }, result.success ? 'canary reachable' : 'canary failed')
    }
    this.latest.set(url, result.success)
    const all = this.config.canaries
    const impaired = all.length > 0 && all.every((u) => this.latest.get(u) === false)
    if (impaired !== this.impaired_) {
      this.impaired_ = impaired
      if (impaired) this.logger.error({ canaries: all }, 'every canary fails: this vantage\'s own network is impaired; results are marked vantage_impaired')
      else this.logger.info({}, 'a canary answers again: vantage no longer impaired')
    }
  }
}
