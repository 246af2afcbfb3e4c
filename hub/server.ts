// The hub: fastify (ingest, agent configs, metrics, health) and a gRPC server (ingest), over one
// store. The config is resolved once, injected, and swapped whole on reload, so each request
// sees one consistent config and ingest never stops for a reload.
import Fastify, { LogController } from 'fastify'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import pino, { type Logger as PinoLogger } from 'pino'
import type * as grpc from '@grpc/grpc-js'
import { importPrivate } from '../proto/keys.ts'
import { systemClock, type Clock } from '../agent/core/probe.ts'
import { agentConfigRoutes } from './agent-config/plugin.ts'
import { MAINTENANCE_FILE, MaintenanceBook } from './alerts/maintenance.ts'
import { startAlerting, type Alerting } from './alerts/notifier.ts'
import { alertRoutes } from './alerts/plugin.ts'
import { loadHubConfig, type HubConfig } from './config.ts'
import { startGrpcIngest, stopGrpc } from './ingest/grpc.ts'
import { ingestRoutes } from './ingest/http.ts'
import { Ingest, voteRule } from './ingest/ingest.ts'
import { HubMetrics } from './metrics/metrics.ts'
import { metricsRoutes } from './metrics/plugin.ts'
import { openHubPushgateway, PUSHGATEWAY_PREFIX, pushgatewayFrameworkErrors, pushgatewayRoutes, type HubPushgateway } from './pushgateway/index.ts'
import { QuorumEngine } from './quorum/engine.ts'
import { registerQuorumMetrics } from './quorum/metrics.ts'
import { reviewApi } from './review/plugin.ts'
import { reviewPage } from './review-page/plugin.ts'
import type { Timers } from '../agent/daemon/time.ts'
import { Store } from './store/store.ts'

export interface HubOptions {
  config: HubConfig
  clock?: Clock
  /** Timers of the quorum engine (tests inject fake ones with the clock). */
  timers?: Timers
  logger?: PinoLogger
  /** Reads the config again for reload() (SIGHUP); default: re-read config.file as it was loaded. */
  reloadConfig?: () => HubConfig
}

export type ReloadResult = { ok: true; changed: string[] } | { ok: false; error: string }

export interface Hub {
  /** e.g. http://127.0.0.1:8080 */
  readonly httpUrl: string
  /** e.g. 127.0.0.1:8081 */
  readonly grpcAddress: string
  readonly store: Store
  readonly metrics: HubMetrics
  /** The quorum view: snapshot(), onChange(listener), incidents(query), mute/ack (hub/quorum/engine.ts). */
  readonly quorum: QuorumEngine
  /** Alerts to Alertmanager / the webhook (hub/alerts/notifier.ts): evaluate(), firing(), pending(). */
  readonly alerting: Alerting
  /** The Pushgateway-compatible store under /pushgateway, its feed and forwarder (hub/pushgateway/index.ts). */
  readonly pushgateway: HubPushgateway
  config(): HubConfig
  /** Re-reads the config; a bad one is logged and the running one kept. */
  reload(next?: HubConfig): Promise<ReloadResult>
  /** Stops listening, lets batches in flight commit, closes the store. */
  close(): Promise<void>
}

export async function startHub(opts: HubOptions): Promise<Hub> {
  const clock = opts.clock ?? systemClock
  const logger = opts.logger ?? pino({ name: 'vantage-hub' })
  let current = opts.config
  const config = () => current
  await checkHubKey(current)
  // Maintenance windows from hub.yaml and the operator API (kept beside the store).
  const maintenance = new MaintenanceBook(config, join(current.data, MAINTENANCE_FILE))

  // The rule replays into the votes what a crash left out of the votes table (see the store).
  // The ingest worker writes the results; this thread reads them and keeps the votes.
  const store = Store.open(current.data, { rule: (check, vantage) => voteRule(current, check, vantage), writer: 'elsewhere' })
  logger.info({ file: store.file }, 'store opened')
  store.onVoteChange = (v, previous) =>
    logger.info({ check: v.check, vantage: v.vantage, vote: v.vote, previous: previous?.vote ?? null, round: v.round, agents: v.agents }, 'vote changed')
  const metrics = new HubMetrics({ config, votes: () => store.currentVotes(), agentsSeen: () => store.agentsSeen() })
  let ingest: Ingest
  try {
    ingest = await Ingest.start({ config, store, metrics, clock, logger })
  } catch (err) {
    store.close()
    throw err
  }
  const quorum = new QuorumEngine({ store, config, clock, timers: opts.timers, logger })
  registerQuorumMetrics(metrics.registry, quorum)
  quorum.setMaintenance(maintenance.predicate())
  quorum.start()
  // The Pushgateway-compatible store, fed with the deduped votes at every commit.
  const pushgateway = openHubPushgateway({ config, source: store, logger })
  let alerting: Alerting | undefined

  let ready = false
  const app = Fastify({
    loggerInstance: logger,
    // One line per event: the routes log what happened; fastify's per-request lines are off.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    // URLs fastify cannot decode but Go can (%FF) still reach /pushgateway, as they would the Pushgateway.
    frameworkErrors: pushgatewayFrameworkErrors(PUSHGATEWAY_PREFIX),
  })
  let grpcServer: grpc.Server | undefined
  try {
    await app.register(metricsRoutes, { metrics, ready: () => ready })
    await app.register(ingestRoutes, { ingest, maxBodyBytes: current.ingest.max_body_bytes })
    await app.register(agentConfigRoutes, { config, clock, metrics })
    await app.register(reviewApi, { prefix: '/api/v1', engine: quorum, store, config, clock })
    await app.register(reviewPage, { engine: quorum, store, config, clock })
    await app.register(alertRoutes, { config, clock, maintenance, alerting: () => alerting })
    await app.register(pushgatewayRoutes, { prefix: PUSHGATEWAY_PREFIX, ...pushgateway.routeOptions, ready: () => ready })
    await app.listen({ host: current.listen.http.host, port: current.listen.http.port })
    const grpcStarted = await startGrpcIngest({
      ingest,
      logger,
      maxBodyBytes: () => current.ingest.max_body_bytes,
      host: current.listen.grpc.host,
      port: current.listen.grpc.port,
    })
    grpcServer = grpcStarted.server
    const httpAddress = app.server.address() as AddressInfo
    const httpUrl = `http://${httpAddress.family === 'IPv6' ? `[${httpAddress.address}]` : httpAddress.address}:${httpAddress.port}`
    const alerts = startAlerting({
      config,
      snapshot: () => quorum.snapshot(),
      subscribe: (listener) => quorum.onChange(listener),
      clock,
      timers: opts.timers,
      logger,
      registry: metrics.registry,
      external_url: httpUrl,
      maintenance,
    })
    alerting = alerts
    ready = true
    logger.info(
      { http: httpUrl, grpc: grpcStarted.address, agents: current.agents.size, checks: current.checks.size, config: current.file },
      'hub listening',
    )

    let closing: Promise<void> | undefined
    const server = grpcServer
    return {
      httpUrl,
      grpcAddress: grpcStarted.address,
      store,
      metrics,
      quorum,
      alerting: alerts,
      pushgateway,
      config,
      async reload(next?: HubConfig): Promise<ReloadResult> {
        try {
          const candidate = next ?? (opts.reloadConfig ? opts.reloadConfig() : reread(current))
          await checkHubKey(candidate)
          const changed = describeChanges(current, candidate)
          for (const key of RESTART_ONLY) {
            if (changed.includes(key)) logger.warn({ setting: key }, `${key} changed: it takes effect when the hub restarts`)
          }
          current = candidate
          pushgateway.reloaded()
          quorum.evaluate()
          alerts.evaluate() // receivers may have changed
          metrics.configReloads.inc({ outcome: 'ok' })
          logger.info({ config: candidate.file, agents: candidate.agents.size, checks: candidate.checks.size, changed }, 'config reloaded')
          return { ok: true, changed }
        } catch (err) {
          metrics.configReloads.inc({ outcome: 'failed' })
          const error = (err as Error).message
          logger.error({ error }, 'config reload failed: keeping the running config')
          return { ok: false, error }
        }
      },
      close() {
        closing ??= (async () => {
          ready = false
          alerts.stop()
          await Promise.all([stopGrpc(server), app.close()])
          await ingest.close()
          quorum.stop()
          await pushgateway.close()
          store.close()
          logger.info({}, 'hub stopped')
        })()
        return closing
      },
    }
  } catch (err) {
    if (grpcServer) grpcServer.forceShutdown()
    await app.close()
    await ingest.close()
    quorum.stop()
    await pushgateway.close()
    store.close()
    throw err
  }
}

/** Settings bound at start-up (listeners, store, route body limit). */
const RESTART_ONLY = ['listen', 'data', 'ingest.max_body'] as const

function describeChanges(a: HubConfig, b: HubConfig): string[] {
  const changed: string[] = []
  if (JSON.stringify(a.listen) !== JSON.stringify(b.listen)) changed.push('listen')
  if (a.data !== b.data) changed.push('data')
  if (a.ingest.max_body_bytes !== b.ingest.max_body_bytes) changed.push('ingest.max_body')
  if (JSON.stringify([...a.agents.values()]) !== JSON.stringify([...b.agents.values()])) changed.push('agents')
  if (JSON.stringify([...a.checks.values()]) !== JSON.stringify([...b.checks.values()])) changed.push('checks')
  if (JSON.stringify(a.hub_key?.jwk) !== JSON.stringify(b.hub_key?.jwk)) changed.push('hub_key')
  return changed
}

function reread(cfg: HubConfig): HubConfig {
  if (!cfg.file) throw new Error('this hub was started without --config: there is no file to reload')
  return loadHubConfig(cfg.file)
}

/** The hub's key must import before it is needed to sign a config. */
async function checkHubKey(cfg: HubConfig): Promise<void> {
  if (cfg.hub_key) await importPrivate(cfg.hub_key.jwk, cfg.hub_key.file)
}
