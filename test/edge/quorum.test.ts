// End to end with the edge worker as one of three vantages: a real hub (startHub, with its quorum
// engine), two real Node agents (`vantage agent` processes, one pushing over gRPC, one over HTTP)
// and the edge worker in real workerd, all probing one real local target. The check needs all
// three vantages down (min_down: 3), so its outage can only be decided with the edge's vote.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Hub } from '../../hub/server.ts'
import type { CheckView } from '../../hub/quorum/types.ts'
import { waitFor } from '../agent/wait.ts'
import { killAll, spawnAgent, type LoggedProcess } from '../helpers/processes.ts'
import { makeKeys, startTestHub, tempDir, type TestDir } from '../hub/helpers.ts'
import { buildWorker, removeBundle, startEdgeWorker, type EdgeWorker } from './helpers.ts'

const AGENTS = [
  { id: 'eu-1', vantage: 'eu-west', grpc: true },
  { id: 'us-1', vantage: 'us-east', grpc: false },
] as const

let t: TestDir
let hub: Hub
let edge: EdgeWorker
let target: http.Server
let targetDown = false
const hitsBy = new Map<string, number>()
const processes: LoggedProcess[] = []
let ticking = true
let paused = false
let inflight: Promise<unknown> = Promise.resolve()
let ticker: Promise<void> = Promise.resolve()

beforeAll(async () => {
  t = tempDir('vantage-edge-quorum-')
  const keys = await makeKeys(t, ['hub', 'eu-1', 'us-1', 'edge-1'])
  target = http.createServer((req, res) => {
    const agent = String(req.headers['x-vantage-probe'] ?? '')
    hitsBy.set(agent, (hitsBy.get(agent) ?? 0) + 1)
    if (targetDown) res.writeHead(503, { 'content-type': 'text/plain' }).end('down for everyone')
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Shop</h1>')
  })
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`

  hub = await startTestHub(
    t,
    `hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
  us-east: { region: us }
  edge: { region: global, capabilities: [http, tcp, smtp] }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
  - { id: us-1, vantage: us-east, public_key: ./keys/us-1.pub.jwk }
  - { id: edge-1, vantage: edge, public_key: ./keys/edge-1.pub.jwk }
checks:
  - name: shop
    type: http
    target: ${targetUrl}
    interval: 2s
    timeout: 1s
    stale_after: 20s
    http: { body_contains: Shop }
    quorum: { min_down: 3, for: 2s, resolve_after: 2s }
`,
  )
  const grpc = hub.grpcAddress
  for (const a of AGENTS) {
    const file = t.write(
      `${a.id}.agent.yaml`,
      `id: ${a.id}
private_key: ./keys/${a.id}.jwk
hub: { url: ${hub.httpUrl}, ${a.grpc ? `grpc: ${grpc}, ` : ''}public_key: ./keys/hub.pub.jwk }
data: ./agent-data/${a.id}
`,
    )
    processes.push(spawnAgent(file, { cwd: t.dir }))
  }
  edge = await startEdgeWorker({ hubUrl: hub.httpUrl, agentId: 'edge-1', agentKeys: keys['edge-1'], hubPublicJwk: keys.hub.publicJwk })
  // Cloudflare's cron, sped up: a tick every second (the check's interval is under a minute, so
  // every tick probes it).
  ticker = (async () => {
    while (ticking) {
      if (!paused) {
        inflight = edge.tick(Date.now())
        await inflight
      }
      await new Promise((r) => setTimeout(r, 1000))
    }
  })()
}, 120_000)

afterAll(async () => {
  ticking = false
  await ticker.catch(() => {})
  await killAll(processes)
  await edge?.close()
  await hub?.close()
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()))
  if (edge) removeBundle(await buildWorker())
  t?.cleanup()
})

const view = (): CheckView | undefined => hub.quorum.check('shop')
const votes = () => Object.fromEntries((view()?.vantages ?? []).map((v) => [v.vantage, v.vote]).sort(([a], [b]) => (a < b ? -1 : 1)))
const describeState = () => `${JSON.stringify({ state: view()?.state, votes: votes(), hits: Object.fromEntries(hitsBy) })}\n${processes.map((p) => p.stderr()).join('\n')}`

describe('quorum with the edge worker as one of three vantages', () => {
  it('all three vantages vote up while the target answers', async () => {
    await waitFor(() => JSON.stringify(votes()) === JSON.stringify({ edge: 'up', 'eu-west': 'up', 'us-east': 'up' }), 60_000, { intervalMs: 100, describe: describeState })
    await waitFor(() => view()?.state === 'ok', 10_000, { intervalMs: 100, describe: describeState })
    expect(view()).toMatchObject({ state: 'ok', eligible: 3, down: 0, min_down: 3, disagreement: false })
    const edgeVote = view()!.vantages.find((v) => v.vantage === 'edge')!
    expect(edgeVote).toMatchObject({ vote: 'up', agents: ['edge-1'] })
    expect(edgeVote.latest).toMatchObject({ agent_id: 'edge-1', success: true, region: 'global' })
    expect(hitsBy.get('edge-1')).toBeGreaterThan(0)
  }, 90_000)

  it('target down for all: the edge vote completes the quorum and the check goes to outage', async () => {
    // The edge holds its last (up) vote while its ticks are paused: two down votes of three are
    // not the quorum.
    paused = true
    await inflight
    targetDown = true
    await waitFor(() => votes()['eu-west'] === 'down' && votes()['us-east'] === 'down', 20_000, { intervalMs: 100, describe: describeState })
    expect(votes().edge).toBe('up')
    expect(view()).toMatchObject({ state: 'ok', down: 2, min_down: 3, disagreement: true })

    paused = false
    await waitFor(() => view()?.state === 'outage', 30_000, { intervalMs: 100, describe: describeState })
    const v = view()!
    expect(v).toMatchObject({ state: 'outage', eligible: 3, down: 3, min_down: 3 })
    expect(votes()).toEqual({ edge: 'down', 'eu-west': 'down', 'us-east': 'down' })
    const edgeVote = v.vantages.find((x) => x.vantage === 'edge')!
    expect(edgeVote.latest).toMatchObject({ agent_id: 'edge-1', success: false, error_code: 'HTTP_STATUS_UNEXPECTED' })
    expect(v.incident_id).not.toBeNull()
    const incident = hub.quorum.incident(v.incident_id!)
    expect(incident).toBeDefined()
  })

  it('back up: the check resolves', async () => {
    targetDown = false
    await waitFor(() => view()?.state === 'ok', 30_000, { intervalMs: 100, describe: describeState })
    expect(votes()).toEqual({ edge: 'up', 'eu-west': 'up', 'us-east': 'up' })
  })
})
