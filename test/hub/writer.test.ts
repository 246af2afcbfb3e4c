// The ingest writer thread (hub/ingest/writer.ts): the hub's results are written by it, read by
// the event loop at once, its votes saved through it, and what it committed survives a restart.
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeResult } from '../../proto/codec.ts'
import type { ProbeResult } from '../../proto/result.ts'
import type { Worker } from 'node:worker_threads'
import { IngestWriter } from '../../hub/ingest/writer-client.ts'
import type { WriteOutcome } from '../../hub/ingest/writer.ts'
import { openDatabase } from '../../hub/store/sqlite.ts'
import { HISTORY_FILE } from '../../hub/store/history.ts'
import { Store, STORE_FILE, toLogBatch } from '../../hub/store/store.ts'
import { makeKeys, postBatch, result, sign, silentLogger, startTestHub, tempDir, type AgentSigner, type TestDir } from './helpers.ts'

const YAML = `hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
checks:
  - { name: shop, type: http, target: "https://shop.example/", interval: 30s }
`

let t: TestDir | undefined
afterEach(() => t?.cleanup())

describe('the ingest writer thread', () => {
  it('stores concurrent batches in arrival order, answers each after its commit, and the event loop reads them at once', async () => {
    t = tempDir()
    const keys = await makeKeys(t, ['hub', 'eu-1'])
    const agent: AgentSigner = { id: 'eu-1', vantage: 'eu-west', keys: keys['eu-1'], seq: 0 }
    const hub = await startTestHub(t, YAML)
    let savedVote = 0
    try {
      const batches: ProbeResult[][] = Array.from({ length: 12 }, () =>
        Array.from({ length: 5 }, () => result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1' })),
      )
      // Signed in seq order, posted all at once: seq order must survive (no replayed_seq).
      const signed = []
      for (const b of batches) signed.push(await sign(agent, b))
      const answers = await Promise.all(signed.map((s) => postBatch(hub, s)))
      expect(answers.map((a) => a.status)).toEqual(batches.map(() => 200))
      expect(answers.map((a) => a.json.accepted)).toEqual(batches.map(() => 5))
      // Acknowledged means readable: the result, the history (not indexed yet) and the vote.
      const last = batches.at(-1)!.at(-1)!
      expect(hub.store.result(last.result_id)).toEqual(last)
      expect(hub.store.history({ check: 'shop', limit: 1000 })).toHaveLength(60)
      expect(hub.store.vote('shop', 'eu-west')?.n_results).toBeGreaterThan(0)
      expect([...hub.store.agentsSeen()].map((a) => a.seq)).toEqual([12])
      savedVote = hub.store.vote('shop', 'eu-west')!.n_results

      // A retry of an acknowledged batch is all duplicates; a lower seq is a replay.
      const again = await postBatch(hub, signed[11])
      expect([again.status, again.json.accepted, again.json.duplicates]).toEqual([200, 0, 5])
      const replay = await postBatch(hub, signed[3])
      expect([replay.status, replay.json.reason]).toEqual([409, 'replayed_seq'])
    } finally {
      await hub.close()
    }

    // Closed: every result is in the file, indexed, and the vote saved (by the writer thread).
    const db = openDatabase(join(t.dir, 'data', STORE_FILE))
    try {
      expect(db.prepare<{ n: number }>('SELECT count(*) AS n FROM results').get()!.n).toBe(60)
      db.prepare('ATTACH DATABASE ? AS history').run(join(t.dir, 'data', HISTORY_FILE)) // kept by the indexer thread
      expect(db.prepare<{ n: number }>('SELECT count(*) AS n FROM history.results_history').get()!.n).toBe(60)
      expect(db.prepare<{ n: number }>('SELECT n_results AS n FROM votes WHERE check_name = ?').get('shop')?.n).toBe(savedVote)
    } finally {
      db.close()
    }

    // And a new hub on the same data takes up from there.
    const reopened = await startTestHub(t, YAML)
    try {
      expect(reopened.store.resultCount()).toBe(60)
      expect(reopened.store.vote('shop', 'eu-west')).toBeDefined()
      expect([...reopened.store.agentsSeen()].map((a) => a.seq)).toEqual([12])
    } finally {
      await reopened.close()
    }
  })

  it('answers "unavailable" for what a dying writer held, and a new one takes over', async () => {
    t = tempDir()
    const store = Store.open(t.dir)
    store.close()
    const writer = await IngestWriter.start({ file: join(t.dir, STORE_FILE), sync: 'full', logger: silentLogger() })
    const write = (seq: number, results: ProbeResult[]) =>
      new Promise<WriteOutcome>((resolve) =>
        writer.write(toLogBatch({ agent_id: 'eu-1', vantage: 'eu-west', seq, dropped: 0, results, bodies: results.map((r) => encodeResult(r)), received_at: Date.now() }), resolve),
      )
    const batch = () => Array.from({ length: 3 }, () => result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1' }))
    expect(await write(1, batch())).toEqual({ ok: true, accepted: [0, 1, 2], duplicates: 0, last_id: 3 })

    // The worker is killed (as a crash would); a batch handed to it meanwhile is not acknowledged.
    const dying = (writer as unknown as { running: { worker: Worker } }).running.worker.terminate()
    const second = batch()
    const lost = await write(2, second)
    await dying
    expect(lost).toMatchObject({ ok: false, reason: 'unavailable', storeError: true })
    // The agent sends it again: the new writer stores it.
    expect(await write(2, second)).toEqual({ ok: true, accepted: [0, 1, 2], duplicates: 0, last_id: 6 })
    await writer.close()

    const reopened = Store.open(t.dir)
    expect(reopened.resultCount()).toBe(6)
    reopened.close()
  })

  it('fails to start when the store cannot be opened', async () => {
    t = tempDir()
    await expect(IngestWriter.start({ file: join(t.dir, 'missing', STORE_FILE), sync: 'full', logger: silentLogger() })).rejects.toThrow()
  })
})
