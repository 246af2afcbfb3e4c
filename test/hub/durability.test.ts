// The hub as a real process (`vantage hub` through hub/cli.ts), SIGKILLed under load: every
// result it acknowledged is in the store when it comes back, and replay protection survived.
// Then SIGHUP reloads its config and SIGTERM stops it cleanly.
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PushAck } from '../../proto/batch.ts'
import { INGEST_SERVICE, signedBatchBytes } from '../../hub/ingest/grpc.ts'
import { openDatabase } from '../../hub/store/sqlite.ts'
import { STORE_FILE } from '../../hub/store/store.ts'
import { killAll, spawnHub, spawnVantage, waitForLine, type LoggedProcess } from '../helpers/processes.ts'
import { makeKeys, result, sign, tempDir, type AgentSigner, type TestDir } from './helpers.ts'

let t: TestDir
let agents: AgentSigner[]
const children: LoggedProcess[] = []
const ARGS = ['--config', 'hub.yaml', '--http-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0']

const yaml = (extra = '') => `hub_key: ./keys/hub.jwk
data: ./data
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
  - { id: eu-2, vantage: eu-west, public_key: ./keys/eu-2.pub.jwk }
  - { id: us-1, vantage: us-east, public_key: ./keys/us-1.pub.jwk }
  - { id: us-2, vantage: us-east, public_key: ./keys/us-2.pub.jwk }
checks:
  - { name: shop, type: http, target: "https://shop.example/", interval: 30s }
${extra}`

beforeAll(async () => {
  t = tempDir('vantage-hub-durability-')
  const keys = await makeKeys(t, ['hub', 'eu-1', 'eu-2', 'us-1', 'us-2'])
  agents = ['eu-1', 'eu-2', 'us-1', 'us-2'].map((id) => ({ id, vantage: id.startsWith('eu') ? 'eu-west' : 'us-east', keys: keys[id], seq: 0 }))
  t.write('hub.yaml', yaml())
})
afterAll(async () => {
  await killAll(children)
  t?.cleanup()
})

describe('hub process', () => {
  it('loses no acknowledged result when SIGKILLed under load', async () => {
    const first = await spawnHub(t.dir, ARGS)
    children.push(first)
    const acked = new Set<string>()
    const lastSent = new Map<string, { seq: number; jws: unknown }>()
    let stop = false

    // Three agents over HTTP, one over gRPC Push; each sends its next batch after the ack.
    const httpAgent = async (agent: AgentSigner) => {
      while (!stop) {
        const results = Array.from({ length: 25 }, () => result({ check: 'shop', vantage: agent.vantage, agent_id: agent.id }))
        const jws = await sign(agent, results)
        lastSent.set(agent.id, { seq: agent.seq, jws })
        try {
          const res = await fetch(`${first.http}/v1/results`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(jws) })
          if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`)
          const ack = (await res.json()) as PushAck
          expect(ack).toEqual({ seq: agent.seq, accepted: 25, duplicates: 0 })
          for (const r of results) acked.add(r.result_id)
        } catch (err) {
          if (stop) return
          throw err
        }
      }
    }
    const Client = grpc.makeGenericClientConstructor(INGEST_SERVICE, 'Ingest')
    const client = new Client(first.grpc, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Push: Function }
    const grpcAgent = async (agent: AgentSigner) => {
      while (!stop) {
        const results = Array.from({ length: 25 }, () => result({ check: 'shop', vantage: agent.vantage, agent_id: agent.id }))
        const bytes = signedBatchBytes(JSON.stringify(await sign(agent, results)))
        const ack = await new Promise<PushAck | null>((resolve, reject) =>
          client.Push(bytes, (err: grpc.ServiceError | null, a: PushAck) => (err ? (stop ? resolve(null) : reject(err)) : resolve(a))),
        )
        if (!ack) return
        expect(ack.accepted).toBe(25)
        for (const r of results) acked.add(r.result_id)
      }
    }
    const load = Promise.all([httpAgent(agents[0]), httpAgent(agents[1]), httpAgent(agents[2]), grpcAgent(agents[3])])

    // Kill at an arbitrary point of steady load.
    while (acked.size < 2000) await new Promise((r) => setTimeout(r, 20))
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 100)))
    stop = true
    first.child.kill('SIGKILL')
    await first.exited
    await load
    client.close()
    expect(acked.size).toBeGreaterThanOrEqual(2000)

    // Back up on the same store: every acknowledged result is there.
    const second = await spawnHub(t.dir, ARGS)
    children.push(second)
    const db = openDatabase(join(t.dir, 'data', STORE_FILE), { readonly: true })
    const has = db.prepare<{ n: number }>('SELECT count(*) AS n FROM results WHERE result_id = ?')
    const missing = [...acked].filter((id) => has.get(id)!.n !== 1)
    db.close()
    expect(missing).toEqual([])

    // The batch in flight at the kill, sent again (an agent retrying an unacked batch): stored
    // now, or acknowledged as duplicates if it was committed before the kill.
    const eu1 = lastSent.get('eu-1')!
    const post = (body: unknown) =>
      fetch(`${second.http}/v1/results`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const again = await post(eu1.jws)
    expect(again.status).toBe(200)
    const ack = (await again.json()) as PushAck
    expect([ack.seq, ack.accepted + ack.duplicates]).toEqual([eu1.seq, 25])
    // Replay protection survived the kill: an older seq is refused.
    const older = await sign(agents[0], [result({ check: 'shop', vantage: 'eu-west', agent_id: 'eu-1' })], { seq: eu1.seq - 1 })
    const replay = await post(older)
    expect([replay.status, ((await replay.json()) as { reason: string }).reason]).toEqual([409, 'replayed_seq'])

    // SIGHUP reloads the file; a broken file is logged and the running config kept.
    t.write('hub.yaml', yaml('  - { name: api, type: tcp, target: "api.example:443" }\n'))
    second.child.kill('SIGHUP')
    expect(JSON.parse(await waitForLine(second, /"msg":"config reloaded"/))).toMatchObject({ checks: 2, changed: ['checks'] })
    t.write('hub.yaml', yaml('  - { name: api, type: tcp, target: "api.example:443", interval: often }\n'))
    second.child.kill('SIGHUP')
    const failed = JSON.parse(await waitForLine(second, /"msg":"config reload failed/)) as { error: string }
    expect(failed.error).toMatch(/hub\.yaml:10: checks\[1\]\.interval: invalid duration "often"/)
    expect((await fetch(`${second.http}/-/healthy`)).status).toBe(200)

    // SIGTERM: a clean stop, exit 0.
    second.child.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
    await waitForLine(second, /"msg":"hub stopped"/)
  }, 120_000)

  it('exits 2 naming file, line and field for a bad config, and starts empty from flags alone', async () => {
    t.write('bad.yaml', 'listen: { http: 127.0.0.1:0 }\nchecks:\n  - { name: x, type: http, target: "https://x/", timout: 1s }\n')
    const bad = spawnVantage('hub', ['--config', 'bad.yaml'], { cwd: t.dir })
    children.push(bad)
    const { code } = await bad.exited
    expect(code).toBe(2)
    expect(bad.stderr()).toMatch(/^vantage hub: .*bad\.yaml:3: checks\[0\]\.timout: unknown key \(did you mean "timeout"\?\)/)

    const empty = await spawnHub(t.dir, ['--http-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--data', join(t.dir, 'empty-data')])
    children.push(empty)
    expect(JSON.parse(await waitForLine(empty, /"msg":"hub listening"/))).toMatchObject({ agents: 0, checks: 0 })
    expect((await fetch(`${empty.http}/-/ready`)).status).toBe(200)
    empty.child.kill('SIGINT')
    expect((await empty.exited).code).toBe(0)
  }, 60_000)
})

