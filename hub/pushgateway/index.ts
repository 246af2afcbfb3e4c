// The Pushgateway-compatible part of the hub, assembled from hub.yaml's `pushgateway:` settings:
// the store (SQLite file in the hub's data directory), the feed of deduped results, optional
// forwarding to an external Pushgateway, and the options of the HTTP plugin. The hub's server
// registers the plugin under /pushgateway and closes this on shutdown:
//
//   const pushgateway = openHubPushgateway({ config, source: store, logger })
//   const app = Fastify({ ..., frameworkErrors: pushgatewayFrameworkErrors() })
//   await app.register(pushgatewayRoutes, { prefix: PUSHGATEWAY_PREFIX, ...pushgateway.routeOptions })
//   ... on reload: pushgateway.reloaded()   ... on close: await pushgateway.close()
import { join } from 'node:path'
import type { HubConfig } from '../config.ts'
import { PushgatewayFeed, type FeedSource } from './feed.ts'
import { Forwarder } from './forward.ts'
import type { PushgatewayPluginOptions } from './plugin.ts'
import { PushStore, type StoreLogger } from './store.ts'

export { PushStore, type FeedFamily, type FeedSample, type WriteResult } from './store.ts'
export { pushgatewayRoutes, pushgatewayFrameworkErrors, type PushgatewayPluginOptions } from './plugin.ts'
export { PushgatewayFeed, PROBE_JOB, JOURNEY_JOB, type FeedSource } from './feed.ts'
export { Forwarder } from './forward.ts'

export const PUSHGATEWAY_PREFIX = '/pushgateway'
export const PUSHGATEWAY_FILE = 'pushgateway.sqlite'

export interface HubPushgatewayOptions {
  config: () => HubConfig
  /** The hub store (its votes and commits); null: no feed. */
  source: FeedSource | null
  logger?: StoreLogger
  /** Shown by /pushgateway/api/v1/status. */
  version?: string
}

export interface HubPushgateway {
  readonly store: PushStore
  readonly feed: PushgatewayFeed | null
  readonly forwarder: Forwarder | null
  /** Spread into the plugin's options (with prefix PUSHGATEWAY_PREFIX). */
  readonly routeOptions: PushgatewayPluginOptions
  /** After a config reload: the feed rebuilds its groups (checks or vantages may have changed). The token follows the config by itself; ttl and forward_url take effect at restart. */
  reloaded(): void
  close(): Promise<void>
}

export function openHubPushgateway(opts: HubPushgatewayOptions): HubPushgateway {
  const cfg = opts.config()
  const store = PushStore.open({ file: join(cfg.data, PUSHGATEWAY_FILE), ttlMs: cfg.pushgateway.ttl_ms, logger: opts.logger })
  let feed: PushgatewayFeed | null = null
  let forwarder: Forwarder | null = null
  try {
    feed = opts.source ? new PushgatewayFeed({ source: opts.source, store, config: opts.config, logger: opts.logger }) : null
    forwarder = cfg.pushgateway.forward_url ? new Forwarder({ url: cfg.pushgateway.forward_url, store, logger: opts.logger }) : null
  } catch (err) {
    feed?.close()
    store.close()
    throw err
  }
  return {
    store,
    feed,
    forwarder,
    routeOptions: {
      store,
      token: () => opts.config().pushgateway.token,
      status: { build: { version: opts.version ?? '', goVersion: process.version } },
    },
    reloaded() {
      feed?.sync()
    },
    async close() {
      feed?.close()
      await forwarder?.close()
      store.close()
    },
  }
}
