// The ingest writer thread (hub/ingest/writer.ts): the hub's results are written by it, read by
// the event loop at once, its votes saved through it, and what it committed survives a restart.
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ProbeResult } from '../../proto/result.ts'
import { openDatabase } from '../../hub/store/sqlite.ts'
import { STORE_FILE } from '../../hub/store/store.ts'
import { makeKeys, postBatch, result, sign, startTestHub, tempDir, type AgentSigner, type TestDir } from './helpers.ts'

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
      expect(db.prepare<{ n: number }>('SELECT count(*) AS n FROM results_history').get()!.n).toBe(60)
      expect(db.prepare<{ n: number }>('SELECT n_results AS n FROM votes WHERE check_name = ?').get('shop')?.n).toBeGreaterThan(0)
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
})
