import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { generateKeyPair, type KeyPair } from '../../proto/keys.ts'
import { Backoff } from '../../agent/daemon/backoff.ts'
import { Outbox } from '../../agent/daemon/outbox.ts'
import { Pusher } from '../../agent/daemon/pusher.ts'
import { GrpcTransport } from '../../agent/daemon/transport-grpc.ts'
import { HttpTransport } from '../../agent/daemon/transport-http.ts'
import type { Transport } from '../../agent/daemon/transport.ts'
import { FakeTime } from './fake-time.ts'
import { sampleResult } from './fixtures.ts'
import { IngestServer } from './ingest-server.ts'
import { memoryLogger } from './log.ts'
import { waitFor } from './wait.ts'

let agent: KeyPair
let dir: string
let server: IngestServer
let outbox: Outbox
let time: FakeTime
const pushers: Pusher[] = []

beforeAll(async () => {
  agent = await generateKeyPair('eu-1')
})

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vantage-pusher-'))
  server = new IngestServer(agent.publicJwk)
  await server.start()
  time = new FakeTime(Date.now())
  outbox = Outbox.open(dir, { max: 1000, now: time.now })
})

afterEach(async () => {
  for (const p of pushers.splice(0)) await p.stop(0)
  outbox.close()
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
})

function pusher(opts: { transport?: Transport; fallback?: Transport; batchSize?: number; log?: ReturnType<typeof memoryLogger> } = {}) {
  const log = opts.log ?? memoryLogger()
  const p = new Pusher({
    agentId: 'eu-1',
    privateKey: agent.privateJwk,
    outbox,
    transport: opts.transport ?? new HttpTransport({ url: server.url }),
    fallback: opts.fallback,
    vantage: () => 'eu-west',
    batchSize: opts.batchSize ?? 500,
    clock: time,
    timers: time,
    logger: log,
    // No jitter: each wait is exactly half the current ceiling (125, 250, 500 ms, …).
    backoff: new Backoff({ baseMs: 250, capMs: 30_000, random: () => 0 }),
    rejectedRetryMs: 300_000,
  })
  pushers.push(p)
  return { p, log }
}

function add(from: number, to: number): string[] {
  const ids: string[] = []
  for (let i = from; i < to; i++) {
    const r = sampleResult(i, { vantage: 'eu-west' })
    outbox.add(r)
    ids.push(r.result_id)
  }
  return ids
}

describe('Pusher', () => {
  it('pushes signed batches and deletes them from the outbox once acked', async () => {
    const ids = add(0, 5)
    const { p } = pusher({ batchSize: 2 })
    p.start()
    await waitFor(() => outbox.size === 0)
    expect(server.received.map((r) => r.result_ids.length)).toEqual([2, 2, 1])
    const seqs = server.received.map((r) => r.seq)
    expect(seqs).toEqual([seqs[0], seqs[0] + 1, seqs[0] + 2])
    expect([...server.stored.keys()]).toEqual(ids)
    expect(p.stats()).toMatchObject({ batches_acked: 3, results_acked: 5 })

    // New results wake the pusher up at once (no polling wait).
    add(5, 6)
    p.notify()
    await waitFor(() => server.stored.size === 6)
  })

  it('retries a 503 after a capped, exponential backoff on the injected timer', async () => {
    add(0, 3)
    server.faults.push({ kind: 'status', status: 503 }, { kind: 'status', status: 502 })
    const { p, log } = pusher()
    p.start()
    await waitFor(() => log.lines.some((l) => l.msg === 'push failed: will retry'))
    expect(time.nextIn).toBe(125) // first wait: half of 250 ms
    expect(server.stored.size).toBe(0)
    await time.advance(124)
    expect(server.faults).toHaveLength(1) // not retried early
    await time.advance(1)
    await waitFor(() => log.lines.filter((l) => l.msg === 'push failed: will retry').length === 2)
    expect(time.nextIn).toBe(250) // doubled
    await time.advance(250)
    await waitFor(() => outbox.size === 0)
    expect(server.stored.size).toBe(3)
    expect(p.stats()).toMatchObject({ transient_failures: 2, batches_acked: 1 })
  })

  it('honours Retry-After when it asks for longer than the backoff', async () => {
    add(0, 1)
    server.faults.push({ kind: 'status', status: 503, headers: { 'retry-after': '7' } })
    const { p, log } = pusher()
    p.start()
    await waitFor(() => log.lines.some((l) => l.msg === 'push failed: will retry'))
    expect(time.nextIn).toBe(7_000)
  })

  it('re-sends a batch whose ack was lost with the same seq and results: stored once', async () => {
    const ids = add(0, 4)
    server.faults.push({ kind: 'commit-then-close' })
    const { p, log } = pusher()
    p.start()
    await waitFor(() => log.lines.some((l) => l.msg === 'push failed: will retry'))
    expect(server.stored.size).toBe(4) // the hub committed, but the agent never heard
    expect(outbox.size).toBe(4)
    await time.advance(time.nextIn!)
    await waitFor(() => outbox.size === 0)
    const [first, again] = server.received
    expect(again.seq).toBe(first.seq)
    expect(again.result_ids).toEqual(first.result_ids)
    expect([...server.stored.keys()]).toEqual(ids)
  })

  it('keeps refused batches, logs the refusal loudly, and retries only after a long wait', async () => {
    add(0, 2)
    server.faults.push({ kind: 'status', status: 401, reason: 'unknown_kid' })
    const { p, log } = pusher()
    p.start()
    await waitFor(() => log.lines.some((l) => l.level === 'error'))
    const line = log.lines.find((l) => l.level === 'error')!
    expect(line.msg).toMatch(/HUB REFUSED RESULTS/)
    expect(line).toMatchObject({ reason: 'unknown_kid', status: 401, results: 2 })
    expect(outbox.size).toBe(2)
    expect(time.nextIn).toBe(300_000)
    await time.advance(300_000)
    await waitFor(() => outbox.size === 0)
    expect(p.stats().rejections).toBe(1)
  })

  it('re-sends under a fresh seq when the hub calls the seq a replay', async () => {
    add(0, 2)
    // Another batch with a much higher seq was accepted before (e.g. a restored data directory).
    ;(server as unknown as { lastSeq: number }).lastSeq = Number.MAX_SAFE_INTEGER - 10
    const { p } = pusher()
    p.start()
    await waitFor(() => outbox.stats().next_seq > 0 && time.nextIn !== undefined && time.nextIn < 1000)
    ;(server as unknown as { lastSeq: number }).lastSeq = 0
    await time.advance(time.nextIn!)
    await waitFor(() => outbox.size === 0)
    expect(server.stored.size).toBe(2)
  })

  it('pushes over a gRPC stream, falls back to HTTP when it breaks, and returns to gRPC later', async () => {
    await server.startGrpc()
    const grpcTransport = new GrpcTransport({ address: server.grpcAddress, ackTimeoutMs: 5_000 })
    const { p } = pusher({ transport: grpcTransport, fallback: new HttpTransport({ url: server.url }) })
    add(0, 2)
    p.start()
    await waitFor(() => outbox.size === 0)
    add(2, 3)
    p.notify()
    await waitFor(() => outbox.size === 0)
    expect(server.received.map((r) => r.transport)).toEqual(['grpc', 'grpc']) // one stream, kept open

    const port = Number(server.grpcAddress.split(':')[1])
    server.stopGrpc()
    add(3, 4)
    p.notify()
    await waitFor(() => outbox.size === 0, 10_000)
    expect(server.received.at(-1)?.transport).toBe('http')
    expect(p.stats().fallbacks).toBe(1)

    // The hub's gRPC side is back: after the retry period, batches use it again (the first try
    // may still find the channel reconnecting, and fall back once more).
    await server.startGrpc(port)
    let added = 4
    while (added < 10 && server.received.at(-1)?.transport !== 'grpc') {
      await time.advance(15_000)
      add(added, ++added)
      p.notify()
      await waitFor(() => outbox.size === 0, 10_000)
      if (server.received.at(-1)?.transport !== 'grpc') await new Promise((r) => setTimeout(r, 300))
    }
    expect(server.received.at(-1)?.transport).toBe('grpc')
    expect(server.stored.size).toBe(added) // every result once, whichever way it went
  })

  it('flushes on stop within its deadline and leaves the rest for the next start', async () => {
    add(0, 3)
    const { p } = pusher()
    await p.stop(5_000) // never started: stop returns at once and sends nothing
    expect(outbox.size).toBe(3)

    const second = pusher().p
    second.start()
    await second.stop(5_000)
    expect(outbox.size).toBe(0)

    // Hub down: stop gives up at the deadline and the results stay.
    await server.stop()
    add(3, 5)
    const third = pusher().p
    third.start()
    const stopped = third.stop(1_000)
    await waitFor(() => time.nextIn !== undefined)
    await time.advance(1_000)
    await stopped
    expect(outbox.size).toBe(2)
  })
})
