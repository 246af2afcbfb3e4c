import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ProbeResult } from '../../proto/result.ts'
import { Outbox } from '../../agent/daemon/outbox.ts'
import { sampleResult } from './fixtures.ts'

const NOW = 1_800_000_000_000
let dir: string
const open: Outbox[] = []

function openOutbox(max = 1000): Outbox {
  const outbox = Outbox.open(dir, { max, now: () => NOW })
  open.push(outbox)
  return outbox
}

function ids(results: ProbeResult[]): string[] {
  return results.map((r) => r.result_id)
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vantage-outbox-'))
})

afterEach(() => {
  for (const o of open.splice(0)) o.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('Outbox', () => {
  it('keeps results across a reopen, exactly as they were added', () => {
    const a = openOutbox()
    const results = [sampleResult(1), sampleResult(2, { success: false, error: 'boom', error_code: 'TIMEOUT' }), sampleResult(3)]
    for (const r of results) a.add(r)
    a.close()
    const b = openOutbox()
    expect(b.size).toBe(3)
    expect(b.peek(10).map((row) => row.result)).toEqual(results)
  })

  it('survives SIGKILL right after add() returns', () => {
    // A real process adds 50 results and kills itself without any cleanup.
    const script = `
      import { Outbox } from ${JSON.stringify(join(import.meta.dirname, '../../agent/daemon/outbox.ts'))}
      import { sampleResult } from ${JSON.stringify(join(import.meta.dirname, 'fixtures.ts'))}
      const outbox = Outbox.open(${JSON.stringify(dir)}, { max: 1000 })
      for (let i = 0; i < 50; i++) outbox.add(sampleResult(i))
      outbox.nextBatch(20)
      process.kill(process.pid, 'SIGKILL')
    `
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(child.signal).toBe('SIGKILL')
    const outbox = openOutbox()
    expect(outbox.size).toBe(50)
    expect(outbox.stats().in_flight).toBe(20) // the frozen batch survived too
    expect(outbox.nextBatch(500)?.results).toHaveLength(20)
  })

  it('drops the oldest beyond the bound, counts them, and reports the count in the next batch', () => {
    const a = openOutbox(5)
    let dropped = 0
    for (let i = 0; i < 8; i++) dropped += a.add(sampleResult(i))
    expect(dropped).toBe(3)
    expect(a.size).toBe(5)
    expect(ids(a.peek(10).map((r) => r.result))).toEqual(ids([3, 4, 5, 6, 7].map((i) => sampleResult(i))))
    a.close()
    // The counter is persisted, and a batch carries it.
    const b = openOutbox(5)
    expect(b.stats().dropped_total).toBe(3)
    const batch = b.nextBatch(2)!
    expect(batch.dropped).toBe(3)
    expect(ids(batch.results)).toEqual(ids([3, 4].map((i) => sampleResult(i))))
  })

  it('never drops results of a batch that was formed but not acked', () => {
    const outbox = openOutbox(4)
    for (let i = 0; i < 4; i++) outbox.add(sampleResult(i))
    const batch = outbox.nextBatch(2)!
    for (let i = 4; i < 8; i++) outbox.add(sampleResult(i))
    expect(outbox.size).toBe(4)
    expect(outbox.stats().dropped_total).toBe(4)
    // The in-flight batch is intact; the drops came from the rest, oldest first.
    expect(outbox.nextBatch(2)).toEqual(batch)
    expect(ids(outbox.peek(10).map((r) => r.result))).toEqual(ids([0, 1, 6, 7].map((i) => sampleResult(i))))
  })

  it('re-sends an un-acked batch with the same seq and results, across restarts', () => {
    const a = openOutbox()
    expect(a.nextBatch(3)).toBeNull() // nothing to send
    for (let i = 0; i < 5; i++) a.add(sampleResult(i))
    const first = a.nextBatch(3)!
    expect(first.seq).toBe(NOW) // a fresh outbox starts its seq at the time in ms
    expect(ids(first.results)).toEqual(ids([0, 1, 2].map((i) => sampleResult(i))))
    a.add(sampleResult(5))
    // Not acked: the same batch again, not re-split, even with a larger limit or after a restart.
    expect(a.nextBatch(500)).toEqual(first)
    a.close()
    const b = openOutbox()
    expect(b.nextBatch(500)).toEqual(first)
    expect(b.ack(first.seq)).toBe(3)
    expect(b.ack(first.seq)).toBe(0) // a second ack (duplicate) changes nothing
    const second = b.nextBatch(500)!
    expect(second.seq).toBe(first.seq + 1)
    expect(ids(second.results)).toEqual(ids([3, 4, 5].map((i) => sampleResult(i))))
    b.ack(second.seq)
    expect(b.size).toBe(0)
    b.close()
    // The seq keeps increasing across restarts.
    const c = openOutbox()
    c.add(sampleResult(6))
    expect(c.nextBatch(10)!.seq).toBe(first.seq + 2)
  })

  it('renumbers a batch the hub refused as a replay, keeping its results', () => {
    const outbox = openOutbox()
    for (let i = 0; i < 3; i++) outbox.add(sampleResult(i))
    const batch = outbox.nextBatch(10)!
    const fresh = outbox.renumber(batch.seq)
    expect(fresh).toBe(batch.seq + 1)
    expect(outbox.nextBatch(10)).toEqual({ ...batch, seq: fresh })
  })
})
