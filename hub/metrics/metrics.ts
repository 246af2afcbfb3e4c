// The hub's own metrics, on a registry per hub instance (never prom-client's global one, so
// two hubs in one process, as in the tests, never share series).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { HubConfig } from '../config.ts'
import type { AgentSeen } from '../store/store.ts'
import type { VoteState } from '../store/vote.ts'
import { REJECT_REASONS } from '../ingest/errors.ts'

export type Transport = 'http' | 'grpc'

/** What the collectors read at scrape time. */
export interface MetricsSource {
  config(): HubConfig
  votes(): Iterable<VoteState>
  agentsSeen(): Iterable<AgentSeen>
}

export class HubMetrics {
  readonly registry = new Registry()
  readonly rejected: Counter<'reason'>
  readonly batches: Counter<'transport'>
  readonly resultsAccepted: Counter
  readonly resultsDuplicate: Counter
  readonly ingestDuration: Histogram<'transport'>
  readonly storeErrors: Counter
  readonly configRequests: Counter<'outcome'>
  readonly configReloads: Counter<'outcome'>

  constructor(source: MetricsSource) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })

    this.rejected = new Counter({
      name: 'hub_ingest_rejected_total',
      help: 'Batches rejected by the hub, by reason (unknown_kid, bad_signature, replayed_seq, …).',
      labelNames: ['reason'],
      registers,
    })
    for (const reason of REJECT_REASONS) this.rejected.inc({ reason }, 0)
    this.batches = new Counter({
      name: 'hub_ingest_batches_total',
      help: 'Batches accepted and acknowledged, by transport.',
      labelNames: ['transport'],
      registers,
    })
    for (const transport of ['http', 'grpc']) this.batches.inc({ transport }, 0)
    this.resultsAccepted = new Counter({ name: 'hub_ingest_results_accepted_total', help: 'Results stored (new result_id).', registers })
    this.resultsDuplicate = new Counter({
      name: 'hub_ingest_results_duplicate_total',
      help: 'Results acknowledged again without storing (result_id already stored: an agent retry).',
      registers,
    })
    this.ingestDuration = new Histogram({
      name: 'hub_ingest_duration_seconds',
      help: 'Time from receiving a batch to acknowledging it (verify + commit), by transport.',
      labelNames: ['transport'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    this.storeErrors = new Counter({ name: 'hub_store_errors_total', help: 'Batches the store failed to commit (answered 503 / UNAVAILABLE).', registers })
    this.configRequests = new Counter({
      name: 'hub_agent_config_requests_total',
      help: 'GET /v1/agents/{id}/config requests, by outcome (ok, not_modified, rejected).',
      labelNames: ['outcome'],
      registers,
    })
    this.configReloads = new Counter({
      name: 'hub_config_reloads_total',
      help: 'Config reloads (SIGHUP), by outcome (ok, failed).',
      labelNames: ['outcome'],
      registers,
    })

    new Gauge({
      name: 'synthetic_vantage_last_seen_timestamp_seconds',
      help: 'When the hub last accepted a batch from this agent (unix seconds).',
      labelNames: ['vantage', 'agent'],
      registers,
      collect() {
        this.reset()
        for (const a of source.agentsSeen()) this.set({ vantage: a.vantage, agent: a.agent_id }, a.last_seen / 1000)
      },
    })
    new Gauge({
      name: 'synthetic_agent_dropped_results',
      help: 'Results the agent reported dropping (outbox full) since it started, as of its last batch.',
      labelNames: ['vantage', 'agent'],
      registers,
      collect() {
        this.reset()
        for (const a of source.agentsSeen()) this.set({ vantage: a.vantage, agent: a.agent_id }, a.dropped)
      },
    })
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}

