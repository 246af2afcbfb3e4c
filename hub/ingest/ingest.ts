// The one ingest pipeline behind POST /v1/results and the gRPC Ingest service:
// size → parse → verify signature → vantage is the agent's → seq not replayed → commit → ack.
// Nothing is stored before the signature verified; nothing is acknowledged before it is
// committed. Verification runs here; the commit on the ingest writer thread
// (hub/ingest/writer.ts), while this thread verifies the next batches.
import type { PushAck } from '../../proto/batch.ts'
import type { Clock, Logger } from '../../agent/core/probe.ts'
import type { HubConfig } from '../config.ts'
import type { HubMetrics, Transport } from '../metrics/metrics.ts'
import { StoreUnavailableError } from '../store/committer.ts'
import { toLogBatch, type Store } from '../store/store.ts'
import type { VoteRule } from '../store/vote.ts'
import { IngestRejection, type RejectReason } from './errors.ts'
import { verifySignedBatch, type VerifiedBatch } from './verify.ts'
import { HistoryIndexer } from '../store/indexer.ts'
import { IngestWriter } from './writer-client.ts'
import type { WriteOutcome } from './writer.ts'

export interface IngestDeps {
  config: () => HubConfig
  /** Opened with writer 'elsewhere': the writer thread writes, this store keeps the votes. */
  store: Store
  metrics: HubMetrics
  clock: Clock
  logger: Logger
}

export class Ingest {
  /** Settles once the last batch was handed to the writer (or refused): the next one follows it. */
  private handedOn: Promise<void> = Promise.resolve()

  private constructor(
    private readonly deps: IngestDeps,
    private readonly writer: IngestWriter,
    private readonly indexer: HistoryIndexer,
  ) {}

  /**
   * Starts the writer thread on the store's file and hands it the store's votes to save, and
   * the thread that keeps the history index of what it writes.
   */
  static async start(deps: IngestDeps): Promise<Ingest> {
    const { store, logger } = deps
    const writer = await IngestWriter.start({ file: store.file, sync: store.sync, logger })
    let indexer: HistoryIndexer
    try {
      indexer = await HistoryIndexer.start(store.file, logger)
    } catch (err) {
      await writer.close()
      throw err
    }
    store.persistVotes = (unsaved) => writer.persistVotes(unsaved)
    return new Ingest(deps, writer, indexer)
  }

  /**
   * Verifies and stores one signed batch (JWS JSON, as text or bytes) and returns its ack. Batches reach the
   * writer in call order (an agent's seq is checked in that order), each once verified. Throws
   * IngestRejection (4xx: the agent's fault, counted by reason) or StoreUnavailableError (5xx:
   * retry later).
   */
  push(jws: string | Uint8Array, transport: Transport): Promise<PushAck> {
    const { clock } = this.deps
    const started = performance.now()
    const now = clock.now()
    const cfg = this.deps.config() // one snapshot per batch: a reload mid-batch cannot mix two configs
    // Verified at once (concurrently with the batches before it), handed on in arrival order.
    const verified = verifySignedBatch(jws, cfg, now)
    const handed = this.handedOn.then(async () => ({ acked: this.write(await verified, cfg, transport, now, started) }))
    this.handedOn = handed.then(
      () => {},
      () => {},
    )
    return handed
      .then((h) => h.acked)
      .catch((err: unknown) => {
        if (err instanceof IngestRejection) throw this.reject(err.reason, err.message, transport, err.agent, err.seq)
        throw err
      })
  }

  /** Hands the batch to the writer now; the promise settles when the writer answered. */
  private write(v: VerifiedBatch, cfg: HubConfig, transport: Transport, now: number, started: number): Promise<PushAck> {
    const { batch, bodies } = v
    return new Promise((resolve, reject) => {
      this.writer.write(toLogBatch({ ...batch, bodies, received_at: now }), (outcome) => {
        try {
          resolve(this.settle(outcome, v, cfg, transport, now, started))
        } catch (err) {
          reject(err)
        }
      })
    })
  }

  /** Runs at once when the writer answers, in commit order: the votes take the batch before its ack. */
  private settle(outcome: WriteOutcome, verified: VerifiedBatch, cfg: HubConfig, transport: Transport, now: number, started: number): PushAck {
    const { store, metrics, logger } = this.deps
    const { batch, bodies } = verified
    if (!outcome.ok) {
      if (outcome.reason === 'replayed_seq') throw new IngestRejection('replayed_seq', outcome.error, batch.agent_id, batch.seq)
      if (outcome.storeError) {
        metrics.storeErrors.inc()
        logger.error({ error: outcome.error }, 'store commit failed')
      }
      throw new StoreUnavailableError(outcome.error)
    }
    const accepted = outcome.accepted.length
    store.committed([
      {
        agent_id: batch.agent_id,
        vantage: batch.vantage,
        seq: batch.seq,
        dropped: batch.dropped,
        received_at: now,
        results: batch.results,
        bodies,
        accepted: outcome.accepted,
        last_id: outcome.last_id,
        rule: (name) => voteRule(cfg, name, batch.vantage),
      },
    ])
    metrics.batches.inc({ transport })
    metrics.resultsAccepted.inc(accepted)
    metrics.resultsDuplicate.inc(outcome.duplicates)
    metrics.ingestDuration.observe({ transport }, (performance.now() - started) / 1000)
    logger.debug(
      { agent: batch.agent_id, vantage: batch.vantage, seq: batch.seq, transport, accepted, duplicates: outcome.duplicates },
      'batch accepted',
    )
    return { seq: batch.seq, accepted, duplicates: outcome.duplicates }
  }

  /** Counts and logs a rejection; transports call it for what they refuse before push(). */
  reject(reason: RejectReason, message: string, transport: Transport, agent?: string, seq?: number): IngestRejection {
    this.deps.metrics.rejected.inc({ reason })
    this.deps.logger.warn({ agent, reason, transport, seq, error: message }, 'batch rejected')
    return new IngestRejection(reason, message, agent, seq)
  }

  /** Lets every batch handed on commit and be answered, saves the votes, stops the writer, then the indexer. */
  async close(): Promise<void> {
    await this.handedOn
    await this.writer.idle() // every batch taken into the votes before they are saved
    await this.writer.close(this.deps.store.takeUnsavedVotes())
    await this.indexer.close()
  }
}

/** Votes only for configured checks, from the vantages that are assigned to run them. */
export function voteRule(cfg: HubConfig, checkName: string, vantage: string): VoteRule | null {
  const check = cfg.checks.get(checkName)
  if (!check || !check.vantages.includes(vantage)) return null
  return { interval_ms: check.spec.interval_ms, stale_after_ms: check.stale_after_ms }
}
