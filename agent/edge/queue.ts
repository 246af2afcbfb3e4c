// Where undelivered batches wait for the next run. With a Durable Object bound as QUEUE (see
// deploy/edge/wrangler.toml), batches are kept in its storage, strongly consistent and in seq
// order, together with the seq counter, the dropped counter and the last good signed config.
// Without a binding nothing survives the run: a batch the hub did not take is lost, counted, and
// the count goes out in the next batch's `dropped` (a counter per isolate, as the Node agent's is
// per process).
//
// Batches are frozen (seq, results, dropped) when formed and signed afresh at every attempt, as
// the Node agent's pusher does: `sent_at` must be near the hub's clock, while a re-sent batch
// keeps its seq and results, so the hub recognises it.
import { DurableObject } from 'cloudflare:workers'
import type { ProbeResult } from '../../proto/result.ts'
import type { Env } from './env.ts'

export interface QueuedBatch {
  seq: number
  vantage: string
  /** The dropped counter when the batch was formed. */
  dropped: number
  results: ProbeResult[]
}

export interface Outbox {
  readonly kind: 'durable_object' | 'none'
  /** A seq above every seq used before, and at least `now` (ms), so it survives a lost counter. */
  nextSeq(now: number): Promise<number>
  /** Undelivered batches, oldest first. */
  pending(): Promise<QueuedBatch[]>
  /** Keeps a batch for the next run. Without a binding it cannot: its results are counted lost. */
  keep(batch: QueuedBatch): Promise<{ kept: boolean; dropped: number }>
  /** The hub took it. */
  remove(seq: number): Promise<void>
  /** The hub refused the seq as a replay: the same results under a fresh seq (moved, if kept). */
  renumber(batch: QueuedBatch, now: number): Promise<QueuedBatch>
  /** Results lost so far (the next batch reports it). */
  dropped(): Promise<number>
  /** Counts results lost; returns the new total. */
  lose(results: number): Promise<number>
  /** The last good signed config (JSON text), verified again whenever it is read. */
  loadConfig(): Promise<string | null>
  saveConfig(text: string): Promise<void>
}

// ---------------------------------------------------------------------------------------------
// The Durable Object

const BATCH_PREFIX = 'batch:'
const batchKey = (seq: number) => `${BATCH_PREFIX}${String(seq).padStart(16, '0')}`

/** One instance per agent (idFromName(AGENT_ID)); its methods are called over RPC. */
export class VantageQueue extends DurableObject<Env> {
  async nextSeq(now: number): Promise<number> {
    const last = (await this.ctx.storage.get<number>('seq')) ?? 0
    const seq = Math.max(last + 1, Math.floor(now))
    await this.ctx.storage.put('seq', seq)
    return seq
  }

  async enqueue(batch: QueuedBatch, maxBatches: number): Promise<{ dropped: number }> {
    await this.ctx.storage.put(batchKey(batch.seq), batch)
    const keys = [...(await this.ctx.storage.list<QueuedBatch>({ prefix: BATCH_PREFIX })).entries()]
    let dropped = (await this.ctx.storage.get<number>('dropped')) ?? 0
    if (keys.length > maxBatches) {
      // Full: the oldest go, and are counted.
      const excess = keys.slice(0, keys.length - maxBatches)
      for (const [, b] of excess) dropped += b.results.length
      await this.ctx.storage.delete(excess.map(([key]) => key))
      await this.ctx.storage.put('dropped', dropped)
    }
    return { dropped }
  }

  async pending(limit: number): Promise<QueuedBatch[]> {
    return [...(await this.ctx.storage.list<QueuedBatch>({ prefix: BATCH_PREFIX, limit })).values()]
  }

  async remove(seq: number): Promise<void> {
    await this.ctx.storage.delete(batchKey(seq))
  }

  async renumber(batch: QueuedBatch, now: number): Promise<QueuedBatch> {
    const fresh = { ...batch, seq: await this.nextSeq(now) }
    if ((await this.ctx.storage.get(batchKey(batch.seq))) !== undefined) {
      await this.ctx.storage.put(batchKey(fresh.seq), fresh)
      await this.ctx.storage.delete(batchKey(batch.seq))
    }
    return fresh
  }

  async dropped(): Promise<number> {
    return (await this.ctx.storage.get<number>('dropped')) ?? 0
  }

  async lose(results: number): Promise<number> {
    const total = ((await this.ctx.storage.get<number>('dropped')) ?? 0) + results
    await this.ctx.storage.put('dropped', total)
    return total
  }

  async loadConfig(): Promise<string | null> {
    return (await this.ctx.storage.get<string>('config')) ?? null
  }

  async saveConfig(text: string): Promise<void> {
    await this.ctx.storage.put('config', text)
  }
}

// ---------------------------------------------------------------------------------------------
// Outboxes

/** Most batches delivered (or retried) per run: the rest wait for the next one. */
const PENDING_PER_RUN = 20

class DurableOutbox implements Outbox {
  readonly kind = 'durable_object'
  constructor(
    private readonly stub: DurableObjectStub<VantageQueue>,
    private readonly maxBatches: number,
  ) {}

  nextSeq(now: number) {
    return this.stub.nextSeq(now)
  }
  async pending() {
    return (await this.stub.pending(PENDING_PER_RUN)) as QueuedBatch[]
  }
  async keep(batch: QueuedBatch) {
    const { dropped } = await this.stub.enqueue(batch, this.maxBatches)
    return { kept: true, dropped }
  }
  remove(seq: number) {
    return this.stub.remove(seq)
  }
  async renumber(batch: QueuedBatch, now: number) {
    return (await this.stub.renumber(batch, now)) as QueuedBatch
  }
  dropped() {
    return this.stub.dropped()
  }
  lose(results: number) {
    return this.stub.lose(results)
  }
  loadConfig() {
    return this.stub.loadConfig()
  }
  saveConfig(text: string) {
    return this.stub.saveConfig(text)
  }
}

// Per isolate: what an unbound worker can remember between runs (lost when the isolate goes).
const memory = { seq: 0, dropped: 0 }

class MemoryOutbox implements Outbox {
  readonly kind = 'none'
  async nextSeq(now: number) {
    memory.seq = Math.max(memory.seq + 1, Math.floor(now))
    return memory.seq
  }
  async pending() {
    return []
  }
  async keep(batch: QueuedBatch) {
    memory.dropped += batch.results.length
    return { kept: false, dropped: memory.dropped }
  }
  async remove() {}
  async renumber(batch: QueuedBatch, now: number) {
    return { ...batch, seq: await this.nextSeq(now) }
  }
  async dropped() {
    return memory.dropped
  }
  async lose(results: number) {
    memory.dropped += results
    return memory.dropped
  }
  async loadConfig() {
    return null
  }
  async saveConfig() {}
}

export function openOutbox(env: Env, agentId: string, maxBatches: number): Outbox {
  if (!env.QUEUE) return new MemoryOutbox()
  return new DurableOutbox(env.QUEUE.get(env.QUEUE.idFromName(agentId)), maxBatches)
}
