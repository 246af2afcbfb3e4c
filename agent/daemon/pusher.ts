// Drains the outbox to the hub: one batch in flight at a time, signed with the agent's key,
// over gRPC PushStream when configured (HTTP POST /v1/results for a batch whose stream broke),
// deleted from the outbox only once acked. Failures never drop anything: transient ones back
// off (capped, jittered), refusals are logged loudly and retried rarely.
//
// Publishing never blocks probing: probes only add() to the outbox and notify() this loop.
import type { PushAck, ResultBatch } from '../../proto/batch.ts'
import { signBatch, type KeyInput } from '../../proto/envelope.ts'
import type { Logger } from '../core/probe.ts'
import { Backoff } from './backoff.ts'
import { describeError, RejectedError, TransientError } from './errors.ts'
import type { Outbox, OutboxBatch } from './outbox.ts'
import { sleep, type Clock, type Timers } from './time.ts'
import type { Transport } from './transport.ts'

export interface PusherOptions {
  agentId: string
  privateKey: KeyInput
  outbox: Outbox
  /** Primary transport (gRPC when configured, else HTTP). */
  transport: Transport
  /** Used for a batch when the primary fails transiently (HTTP behind gRPC); none: no fallback. */
  fallback?: Transport
  /** The vantage batches are sent for (from the hub-assigned config); null: not known yet. */
  vantage: () => string | null
  batchSize: number
  clock: Clock
  timers: Timers
  logger: Logger
  /** Retry waits for transient failures (default 250 ms doubling to 30 s, jittered). */
  backoff?: Backoff
  /** Wait after the hub refused a batch (default 5 minutes): long, but never giving up. */
  rejectedRetryMs?: number
  /** After the primary failed, how long batches go to the fallback before trying it again. */
  primaryRetryMs?: number
}

/** Reasons the hub gives for a seq it will not take again (hub/ingest/errors.ts: replayed_seq). */
const REPLAY_REASONS = new Set(['replayed_seq', 'replay'])

export interface PusherStats {
  batches_acked: number
  results_acked: number
  duplicates: number
  transient_failures: number
  rejections: number
  fallbacks: number
  last_error: string | null
}

export class Pusher {
  private readonly backoff: Backoff
  private readonly stats_: PusherStats = {
    batches_acked: 0,
    results_acked: 0,
    duplicates: 0,
    transient_failures: 0,
    rejections: 0,
    fallbacks: 0,
    last_error: null,
  }
  private running: Promise<void> | null = null
  /** Aborts waits and the request in flight: the flush deadline has passed. */
  private readonly halt = new AbortController()
  /** Aborted when stop() begins: cuts short a backoff wait, so the flush tries at once. */
  private readonly stopping = new AbortController()
  private wakeUp: (() => void) | null = null
  private pendingWake = false
  /** Set by stop(): drain until this time, then give up. */
  private drainUntil: number | null = null
  private primaryDownUntil = 0

  constructor(private readonly opts: PusherOptions) {
    this.backoff = opts.backoff ?? new Backoff({ baseMs: 250, capMs: 30_000 })
  }

  start(): void {
    // The loop handles its own failures; anything escaping it is a bug worth a loud line.
    this.running ??= this.loop().catch((err) => this.opts.logger.error({ err: describeError(err) }, 'pusher stopped unexpectedly'))
  }

  /** New results are in the outbox. Cheap; never waits. */
  notify(): void {
    this.pendingWake = true
    this.wakeUp?.()
  }

  stats(): PusherStats {
    return { ...this.stats_ }
  }

  /**
   * Sends what it can within `flushMs`, then stops. Whatever is not acked stays in the outbox
   * for the next start (a batch cut off mid-flight is re-sent then with the same seq).
   */
  async stop(flushMs: number): Promise<void> {
    this.drainUntil = this.opts.clock.now() + Math.max(0, flushMs)
    if (flushMs <= 0) this.halt.abort()
    const deadline = this.opts.timers.setTimeout(() => this.halt.abort(), Math.max(0, flushMs))
    this.stopping.abort()
    this.notify()
    try {
      await this.running
    } finally {
      this.opts.timers.clearTimeout(deadline)
      this.halt.abort()
      await Promise.allSettled([this.opts.transport.close(), this.opts.fallback?.close()])
    }
  }

  private get draining(): boolean {
    return this.drainUntil !== null
  }

  private get pastDeadline(): boolean {
    return this.halt.signal.aborted || (this.drainUntil !== null && this.opts.clock.now() >= this.drainUntil)
  }

  private async loop(): Promise<void> {
    const { outbox, logger } = this.opts
    while (!this.pastDeadline) {
      const vantage = this.opts.vantage()
      const batch = vantage === null ? null : outbox.nextBatch(this.opts.batchSize)
      if (!batch) {
        if (this.draining) return // everything is sent (or nothing can be: no vantage yet)
        await this.idle()
        continue
      }
      try {
        const ack = await this.send(batch, vantage!)
        outbox.ack(batch.seq)
        if (this.backoff.failures > 0) logger.info({ seq: batch.seq, failures: this.backoff.failures, queued: outbox.size }, 'hub reachable again: pushing the backlog')
        this.backoff.reset()
        this.stats_.batches_acked++
        this.stats_.results_acked += batch.results.length
        this.stats_.duplicates += ack.duplicates ?? 0
        logger.debug({ seq: batch.seq, results: batch.results.length, accepted: ack.accepted, duplicates: ack.duplicates, queued: outbox.size }, 'batch acked')
      } catch (err) {
        await this.failed(batch, err)
      }
    }
  }

  private async send(batch: OutboxBatch, vantage: string): Promise<PushAck> {
    const { transport, fallback } = this.opts
    const usePrimary = !fallback || this.opts.clock.now() >= this.primaryDownUntil
    if (!usePrimary) return this.attempt(fallback!, batch, vantage)
    try {
      return await this.attempt(transport, batch, vantage)
    } catch (err) {
      if (!fallback || !(err instanceof TransientError) || this.pastDeadline) throw err
      // The stream broke: this batch goes over HTTP, and gRPC gets another chance later.
      this.primaryDownUntil = this.opts.clock.now() + (this.opts.primaryRetryMs ?? 15_000)
      this.stats_.fallbacks++
      this.opts.logger.warn({ seq: batch.seq, transport: transport.name, fallback: fallback.name, err: err.message }, 'push failed: falling back')
      return this.attempt(fallback, batch, vantage)
    }
  }

  private async attempt(transport: Transport, batch: OutboxBatch, vantage: string): Promise<PushAck> {
    // Signed afresh for every attempt: sent_at must be near the hub's clock, while seq, results
    // and dropped stay exactly those of the frozen batch, so the hub can tell a re-send.
    const message: ResultBatch = {
      agent_id: this.opts.agentId,
      vantage,
      seq: batch.seq,
      sent_at: Math.floor(this.opts.clock.now()),
      results: batch.results,
      dropped: batch.dropped,
    }
    const jws = await signBatch(message, { kid: this.opts.agentId, privateKey: this.opts.privateKey })
    const ack = await transport.send(jws, batch.seq, this.halt.signal)
    if (ack.reason) throw new RejectedError(ack.reason, `hub refused seq ${batch.seq}: ${ack.error ?? ack.reason}`)
    return ack
  }

  private async failed(batch: OutboxBatch, err: unknown): Promise<void> {
    const { logger, outbox } = this.opts
    const context = { seq: batch.seq, results: batch.results.length, queued: outbox.size }
    this.stats_.last_error = describeError(err)
    if (err instanceof RejectedError && REPLAY_REASONS.has(err.reason)) {
      // The hub has accepted a higher seq from this agent (e.g. our data directory was restored
      // from a backup): send the same results under a fresh seq, at least the current time in
      // ms (where a fresh outbox starts); the hub still stores each result_id once.
      const fresh = outbox.renumber(batch.seq, Math.floor(this.opts.clock.now()))
      const wait = this.backoff.next()
      logger.warn({ ...context, new_seq: fresh, retry_in_ms: wait, err: err.message }, 'hub refused the seq as a replay: re-sending the batch under a new seq')
      await this.wait(wait)
      return
    }
    if (err instanceof RejectedError) {
      this.stats_.rejections++
      const wait = this.opts.rejectedRetryMs ?? 300_000
      logger.error(
        { ...context, reason: err.reason, status: err.status, err: err.message, retry_in_ms: wait },
        'HUB REFUSED RESULTS: check this agent\'s id and key against the hub\'s agents list; keeping them and retrying',
      )
      if (this.draining) this.halt.abort() // no point retrying a refusal while shutting down
      else await this.wait(wait)
      return
    }
    this.stats_.transient_failures++
    const wait = Math.max(this.backoff.next(), err instanceof TransientError ? (err.retryAfterMs ?? 0) : 0)
    const level = this.backoff.failures <= 3 ? 'warn' : 'error'
    logger[level]({ ...context, err: describeError(err), failures: this.backoff.failures, retry_in_ms: wait }, 'push failed: will retry')
    await this.wait(wait)
  }

  /**
   * A retry wait. stop() cuts it short once (the flush tries at once); while flushing, waits
   * never go past the deadline.
   */
  private wait(ms: number): Promise<void> {
    if (this.drainUntil === null) return sleep(this.opts.timers, ms, this.stopping.signal)
    const remaining = Math.max(0, this.drainUntil - this.opts.clock.now())
    return sleep(this.opts.timers, Math.min(ms, remaining), this.halt.signal)
  }

  /** Waits for notify() or stop(), at most a poll period (in case a wake-up was missed). */
  private async idle(): Promise<void> {
    if (this.pendingWake) {
      this.pendingWake = false
      return
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        this.opts.timers.clearTimeout(timer)
        this.halt.signal.removeEventListener('abort', done)
        this.wakeUp = null
        resolve()
      }
      const timer = this.opts.timers.setTimeout(done, 5_000)
      this.halt.signal.addEventListener('abort', done, { once: true })
      this.wakeUp = done
    })
    this.pendingWake = false
  }
}
