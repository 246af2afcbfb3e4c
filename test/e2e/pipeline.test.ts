// The whole pipeline as users run it: a real hub (`node bin/vantage.js hub`) and four real
// agents (`node bin/vantage.js agent`), each binding its own loopback source address, probing a
// real local HTTP target. Three vantages, eu-west with two agents:
//
//   agent  vantage   source     push   /up   /partial
//   eu-1   eu-west   127.0.0.2  gRPC   200   200
//   eu-2   eu-west   127.0.0.5  gRPC   200   503   ← eu-west is still up: one of its agents succeeded
//   us-1   us-east   127.0.0.3  gRPC   200   503   ← the one vantage that sees /partial down
//   ap-1   ap-south  127.0.0.4  HTTP   200   200
//
// Checked: results in the hub's store from every agent, the source address of every request the
// target saw, lockstep rounds, one vote per vantage (store, operator API, /metrics) and the
// synthetic_probe_* / last-seen series. Nothing sleeps and hopes: every wait polls the hub (its
// store, its API, its /metrics) with a deadline.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeResult } from '../../proto/codec.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { openDatabase, type Database } from '../../hub/store/sqlite.ts'
import { STORE_FILE } from '../../hub/store/store.ts'
import { waitFor } from '../agent/wait.ts'
import { parsePrometheusText, type Sample } from '../helpers/blackbox.ts'
import { killAll, spawnAgent, spawnHub, type HubProcess, type LoggedProcess } from '../helpers/processes.ts'
import { makeKeys, tempDir, type TestDir } from '../hub/helpers.ts'

const INTERVAL_MS = 2000
const REGIONS: Record<string, string> = { 'eu-west': 'eu', 'us-east': 'us', 'ap-south': 'ap' }
const AGENTS = [
  { id: 'eu-1', vantage: 'eu-west', source: '127.0.0.2', grpc: true },
  { id: 'us-1', vantage: 'us-east', source: '127.0.0.3', grpc: true },
  { id: 'ap-1', vantage: 'ap-south', source: '127.0.0.4', grpc: false },
  { id: 'eu-2', vantage: 'eu-west', source: '127.0.0.5', grpc: true },
] as const
const FAILS_PARTIAL = new Set(['127.0.0.3', '127.0.0.5'])
const CHECKS = ['shop-home', 'shop-partial'] as const
type CheckName = (typeof CHECKS)[number]

/** What each agent must see: /partial answers 503 to us-1 and eu-2. */
const agentSucceeds = (check: CheckName, source: string) => check === 'shop-home' || !FAILS_PARTIAL.has(source)
/** One vote per vantage: up when any of its agents succeeded in the round. */
const vantageUp = (check: CheckName, vantage: string) =>
  AGENTS.filter((a) => a.vantage === vantage).some((a) => agentSucceeds(check, a.source))
const VANTAGES = Object.keys(REGIONS)

interface Hit {
  source: string
  agent: string | undefined
  path: string
}

/** A row of the hub's results table, with the result decoded from the bytes its agent signed. */
interface StoredResult {
  check_name: CheckName
  vantage: string
  started_at: string
  result: ProbeResult
  agent_id: string
  round: number
}

interface VoteRow {
  check_name: string
  vantage: string
  round: number
  vote: string
  agents: string
  n_results: number
  n_success: number
  n_down: number
}

let t: TestDir
let target: Server
let targetUrl: string
const hits: Hit[] = []
let hub: HubProcess
const processes: LoggedProcess[] = []
const agents = new Map<string, LoggedProcess>()
let db: Database | undefined
let startedAt: number

const storedResults = (): StoredResult[] =>
  db!
    .prepare<{ check_name: CheckName; vantage: string; started_at: string; body: Uint8Array }>('SELECT check_name, vantage, started_at, body FROM results')
    .all()
    .map((row) => {
      const result = decodeResult(row.body)
      return { check_name: row.check_name, vantage: row.vantage, started_at: row.started_at, result, agent_id: result.agent_id, round: result.round }
    })
const storedVotes = (): VoteRow[] => db!.prepare<VoteRow>('SELECT * FROM votes ORDER BY check_name, vantage').all()

/** Rounds of `check` for which every agent's result is in the store. */
function completeRounds(results: StoredResult[], check: CheckName): number[] {
  const byRound = new Map<number, Set<string>>()
  for (const r of results) {
    if (r.check_name !== check) continue
    if (!byRound.has(r.round)) byRound.set(r.round, new Set())
    byRound.get(r.round)!.add(r.agent_id)
  }
  return [...byRound].filter(([, ids]) => ids.size === AGENTS.length).map(([round]) => round).sort((a, b) => a - b)
}

/** Both scrape targets: /metrics (the hub's own) and /pushgateway/metrics (the fed probe results, whose
 * grouping labels job and instance are dropped here so series compare by their DESIGN.md labels). */
async function scrape(): Promise<Sample[]> {
  const samples: Sample[] = []
  for (const path of ['/metrics', '/pushgateway/metrics']) {
    const res = await fetch(`${hub.http}${path}`)
    expect(res.status).toBe(200)
    for (const sample of parsePrometheusText(await res.text())) {
      if (path !== '/metrics') {
        const { job: _job, instance: _instance, ...labels } = sample.labels
        sample.labels = labels
      }
      samples.push(sample)
    }
  }
  return samples
}

beforeAll(async () => {
  startedAt = Date.now()
  t = tempDir('vantage-e2e-')
  await makeKeys(t, ['hub', ...AGENTS.map((a) => a.id)])

  target = createServer((req, res) => {
    const source = req.socket.remoteAddress ?? ''
    const agent = req.headers['x-vantage-probe'] as string | undefined
    hits.push({ source, agent, path: req.url ?? '' })
    if (req.url === '/partial' && FAILS_PARTIAL.has(source)) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable from here')
      return
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Shop</h1>')
  })
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`

  t.write(
    'hub.yaml',
    `listen: { http: 127.0.0.1:0, grpc: 127.0.0.1:0 }
data: ./hub-data
hub_key: ./keys/hub.jwk
vantages:
${VANTAGES.map((v) => `  ${v}: { region: ${REGIONS[v]} }`).join('\n')}
agents:
${AGENTS.map((a) => `  - { id: ${a.id}, vantage: ${a.vantage}, public_key: ./keys/${a.id}.pub.jwk }`).join('\n')}
checks:
  - name: shop-home
    type: http
    target: ${targetUrl}/up
    interval: ${INTERVAL_MS / 1000}s
    timeout: 1s
    http: { body_contains: Shop }
  - name: shop-partial
    type: http
    target: ${targetUrl}/partial
    interval: ${INTERVAL_MS / 1000}s
    timeout: 1s
    http: { expect_status: ["200-299"] }
`,
  )
  hub = await spawnHub(t.dir, ['--config', 'hub.yaml'])
  processes.push(hub)

  for (const a of AGENTS) {
    const file = t.write(
      `${a.id}.agent.yaml`,
      `id: ${a.id}
private_key: ./keys/${a.id}.jwk
hub: { url: ${hub.http}, ${a.grpc ? `grpc: ${hub.grpc}, ` : ''}public_key: ./keys/hub.pub.jwk }
data: ./agent-data/${a.id}
source_address: ${a.source}
`,
    )
    const p = spawnAgent(file, { cwd: t.dir })
    processes.push(p)
    agents.set(a.id, p)
  }
  db = openDatabase(join(t.dir, 'hub-data', STORE_FILE), { readonly: true })
})

afterAll(async () => {
  db?.close()
  await killAll(processes)
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()))
  t?.cleanup()
})

describe('hub + four agents in three vantages', () => {
  it('results from every agent reach the store, from two full rounds in lockstep', async () => {
    // Two rounds that every agent has reported, for both checks (agents start at different
    // times; from then on they probe the same rounds).
    await waitFor(
      () => {
        const all = storedResults()
        return CHECKS.every((c) => completeRounds(all, c).length >= 2)
      },
      45_000,
      {
        intervalMs: 100,
        describe: () => {
          const counts: Record<string, number> = {}
          for (const r of storedResults()) counts[`${r.check_name}/${r.agent_id}`] = (counts[`${r.check_name}/${r.agent_id}`] ?? 0) + 1
          const logs = [...agents].map(([id, p]) => `${id}: ${p.lines.slice(-5).join('\n')}\n${p.stderr()}`).join('\n')
          return `${JSON.stringify(counts)}\n${logs}`
        },
      },
    )

    const all = storedResults()
    for (const a of AGENTS) {
      for (const check of CHECKS) {
        const mine = all.filter((r) => r.agent_id === a.id && r.check_name === check)
        expect(mine.length, `${a.id} ${check}`).toBeGreaterThanOrEqual(2)
        for (const row of mine) {
          const r = row.result
          // The hub stamped nothing: vantage and region come from the agent's signed result.
          expect(r).toMatchObject({ check, type: 'http', agent_id: a.id, vantage: a.vantage, region: REGIONS[a.vantage] })
          expect(r.target).toBe(`${targetUrl}${check === 'shop-home' ? '/up' : '/partial'}`)
          expect(row.vantage).toBe(a.vantage)
          const ok = agentSucceeds(check, a.source)
          expect({ agent: a.id, check, success: r.success, status: r.http?.status_code }).toEqual({
            agent: a.id,
            check,
            success: ok,
            status: ok ? 200 : 503,
          })
        }
      }
    }
    // Each result once: one per agent, check and round.
    const keys = all.map((r) => `${r.agent_id}/${r.check_name}/${r.round}`)
    expect(new Set(keys).size).toBe(keys.length)
  })

  it('the target saw each agent from its own source address', () => {
    const seen = new Map<string, Set<string>>()
    for (const h of hits) {
      if (!h.agent) continue
      if (!seen.has(h.agent)) seen.set(h.agent, new Set())
      seen.get(h.agent)!.add(h.source)
    }
    for (const a of AGENTS) expect([a.id, [...(seen.get(a.id) ?? [])]]).toEqual([a.id, [a.source]])
    expect(new Set(hits.map((h) => h.source))).toEqual(new Set(AGENTS.map((a) => a.source)))
    // Every request was a probe (identity header present) to one of the two paths.
    expect(hits.filter((h) => !h.agent || !['/up', '/partial'].includes(h.path))).toEqual([])
  })

  it('all vantages probe the same rounds, within a second of each other', () => {
    const all = storedResults()
    for (const check of CHECKS) {
      const rows = all.filter((r) => r.check_name === check)
      const byRound = new Map<number, StoredResult[]>()
      for (const r of rows) {
        // A result's round is the one its start falls in.
        const start = Date.parse(r.started_at)
        expect(Math.floor(start / INTERVAL_MS), `${r.agent_id} ${check} ${r.started_at}`).toBe(r.round)
        if (!byRound.has(r.round)) byRound.set(r.round, [])
        byRound.get(r.round)!.push(r)
      }
      // Within each round, the agents (of all vantages) started within a second.
      for (const [round, group] of byRound) {
        const starts = group.map((r) => Date.parse(r.started_at))
        expect(Math.max(...starts) - Math.min(...starts), `${check} round ${round}: ${group.map((r) => `${r.agent_id}@${r.started_at}`).join(', ')}`).toBeLessThan(1000)
      }
      // Once every agent runs, none skips a round: between the last agent's first round and the
      // first agent's latest stored round, every agent has every round.
      const rounds = (id: string) => rows.filter((r) => r.agent_id === id).map((r) => r.round)
      const from = Math.max(...AGENTS.map((a) => Math.min(...rounds(a.id))))
      const to = Math.min(...AGENTS.map((a) => Math.max(...rounds(a.id))))
      expect(to - from).toBeGreaterThanOrEqual(1)
      for (const a of AGENTS) {
        const mine = new Set(rounds(a.id))
        const missing = []
        for (let r = from; r <= to; r++) if (!mine.has(r)) missing.push(r)
        expect([a.id, check, missing]).toEqual([a.id, check, []])
      }
      expect(completeRounds(all, check).length).toBeGreaterThanOrEqual(2)
    }
  })

  it('one vote per vantage per check: eu-west with two agents counts once, up when either succeeded', async () => {
    // The vote of a round is complete once every agent of the vantage has reported it.
    let votes: VoteRow[] = []
    const settled = () =>
      votes.length === CHECKS.length * VANTAGES.length &&
      votes.every((v) => {
        const members = AGENTS.filter((a) => a.vantage === v.vantage).map((a) => a.id)
        return (JSON.parse(v.agents) as string[]).length === members.length && v.vote === (vantageUp(v.check_name as CheckName, v.vantage) ? 'up' : 'down')
      })
    await waitFor(
      () => {
        votes = storedVotes()
        return settled()
      },
      20_000,
      { intervalMs: 100, describe: () => JSON.stringify(votes) },
    )
    // Exactly one row per (check, vantage), whatever the number of agents.
    expect(votes.map((v) => `${v.check_name}/${v.vantage}`)).toEqual(
      CHECKS.flatMap((c) => [...VANTAGES].sort().map((v) => `${c}/${v}`)),
    )
    const euPartial = votes.find((v) => v.check_name === 'shop-partial' && v.vantage === 'eu-west')!
    expect(JSON.parse(euPartial.agents).sort()).toEqual(['eu-1', 'eu-2'])
    expect(euPartial).toMatchObject({ vote: 'up', n_results: 2, n_success: 1, n_down: 1 })
    expect(votes.find((v) => v.check_name === 'shop-partial' && v.vantage === 'us-east')).toMatchObject({ vote: 'down', n_success: 0 })
    expect(votes.find((v) => v.check_name === 'shop-home' && v.vantage === 'eu-west')).toMatchObject({ vote: 'up', n_results: 2, n_success: 2 })
  })

  it('the scrape targets show one synthetic_probe_success series per check × vantage, and every agent last seen', async () => {
    const expected = CHECKS.flatMap((check) =>
      VANTAGES.map((vantage) => ({
        labels: {
          check,
          type: 'http',
          target: `${targetUrl}${check === 'shop-home' ? '/up' : '/partial'}`,
          vantage,
          region: REGIONS[vantage],
        },
        value: vantageUp(check, vantage) ? 1 : 0,
      })),
    )
    const key = (s: { labels: Record<string, string>; value: number }) => JSON.stringify([Object.entries(s.labels).sort(), s.value])
    let samples: Sample[] = []
    let success: string[] = []
    // Poll: a new round's first result (eu-2's 503) may briefly stand alone before eu-1's arrives.
    await waitFor(
      async () => {
        samples = await scrape()
        success = samples.filter((s) => s.name === 'synthetic_probe_success').map(key).sort()
        return JSON.stringify(success) === JSON.stringify(expected.map(key).sort())
      },
      20_000,
      { intervalMs: 200, describe: () => success.join('\n') },
    )
    expect(success).toHaveLength(CHECKS.length * VANTAGES.length)

    // The status code of the probe that stands for each vote.
    const status = (check: string, vantage: string) =>
      samples.find((s) => s.name === 'synthetic_probe_status_code' && s.labels.check === check && s.labels.vantage === vantage)?.value
    expect(status('shop-partial', 'us-east')).toBe(503)
    expect(status('shop-partial', 'eu-west')).toBe(200)
    expect(status('shop-home', 'ap-south')).toBe(200)

    // Every agent, under its vantage, seen since this test began.
    const seen = samples.filter((s) => s.name === 'synthetic_vantage_last_seen_timestamp_seconds')
    expect(seen.map((s) => `${s.labels.vantage}/${s.labels.agent}`).sort()).toEqual(AGENTS.map((a) => `${a.vantage}/${a.id}`).sort())
    for (const s of seen) {
      expect(s.value).toBeGreaterThanOrEqual(startedAt / 1000 - 1)
      expect(s.value).toBeLessThanOrEqual(Date.now() / 1000 + 1)
    }

    // Both transports carried batches: ap-1 pushes over HTTP, the others over gRPC PushStream.
    const batches = (transport: string) =>
      samples.find((s) => s.name === 'hub_ingest_batches_total' && s.labels.transport === transport)?.value ?? 0
    expect(batches('grpc')).toBeGreaterThan(0)
    expect(batches('http')).toBeGreaterThan(0)
    // Nothing was refused along the way.
    expect(samples.filter((s) => s.name === 'hub_ingest_rejected_total' && s.value > 0)).toEqual([])
  })

  it('the quorum view counts each vantage once: /partial is a disagreement, not an outage', async () => {
    interface View {
      name: string
      state: string
      disagreement: boolean
      vantages: { vantage: string; vote: string; agents: string[]; latest: ProbeResult | null }[]
    }
    const views = new Map<string, View>()
    const settled = () =>
      CHECKS.every((check) => {
        const v = views.get(check)
        return (
          v !== undefined &&
          v.vantages.length === VANTAGES.length &&
          v.vantages.every(
            (x) =>
              x.vote === (vantageUp(check, x.vantage) ? 'up' : 'down') &&
              x.agents.length === AGENTS.filter((a) => a.vantage === x.vantage).length,
          )
        )
      })
    // GET /api/v1/checks/{name} (the operator API answers loopback without a token).
    await waitFor(
      async () => {
        for (const check of CHECKS) {
          const res = await fetch(`${hub.http}/api/v1/checks/${check}`)
          if (res.status === 200) views.set(check, (await res.json()) as View)
        }
        return settled()
      },
      20_000,
      { intervalMs: 200, describe: () => JSON.stringify([...views.values()].map((v) => ({ ...v, vantages: v.vantages.map(({ latest: _, ...x }) => x) }))) },
    )
    const partial = views.get('shop-partial')!
    const eu = partial.vantages.find((v) => v.vantage === 'eu-west')!
    expect(eu.agents.sort()).toEqual(['eu-1', 'eu-2'])
    // The evidence behind eu-west's up vote is eu-1's success, not eu-2's 503.
    expect(eu.latest).toMatchObject({ agent_id: 'eu-1', success: true })
    expect(partial.vantages.find((v) => v.vantage === 'us-east')?.latest).toMatchObject({ agent_id: 'us-1', success: false })
    // One down vantage of three is below the default quorum (two): no outage, but a disagreement.
    expect({ state: partial.state, disagreement: partial.disagreement }).toEqual({ state: 'ok', disagreement: true })
    expect({ state: views.get('shop-home')!.state, disagreement: views.get('shop-home')!.disagreement }).toEqual({ state: 'ok', disagreement: false })

    // The same on /metrics: votes counted per vantage (eu-west's two agents once).
    const samples = await scrape()
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
    expect(value('synthetic_check_vantages', { check: 'shop-partial', vote: 'up' })).toBe(2)
    expect(value('synthetic_check_vantages', { check: 'shop-partial', vote: 'down' })).toBe(1)
    expect(value('synthetic_check_vantages', { check: 'shop-home', vote: 'up' })).toBe(3)
    expect(value('synthetic_check_disagreement', { check: 'shop-partial' })).toBe(1)
    expect(value('synthetic_check_outage', { check: 'shop-partial' })).toBe(0)
    expect(value('synthetic_check_state', { check: 'shop-partial', state: 'ok' })).toBe(1)
  })
})
