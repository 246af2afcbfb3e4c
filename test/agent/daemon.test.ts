// The daemon in-process against a real hub: identity from the hub's assignment, the self-check
// (canaries), checks of a type this agent cannot run, and a graceful stop that flushes.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadHubConfig } from '../../hub/config.ts'
import { startHub, type Hub } from '../../hub/server.ts'
import { loadAgentConfig } from '../../agent/daemon/config.ts'
import { startAgent } from '../../agent/daemon/daemon.ts'
import { probes } from '../../agent/probes/index.ts'
import { writeTestKeys } from './keys.ts'
import { memoryLogger } from './log.ts'
import { waitFor } from './wait.ts'

let dir: string
let hub: Hub
const servers: Server[] = []

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vantage-daemon-'))
  mkdirSync(join(dir, 'keys'))
  await writeTestKeys(join(dir, 'keys'))
  const target = await listen((req, res) => res.writeHead(200).end(`Shop for ${req.headers['x-vantage-probe']}`))
  writeFileSync(
    join(dir, 'hub.yaml'),
    `listen: { http: 127.0.0.1:0, grpc: 127.0.0.1:0 }
data: ./hub-data
hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
checks:
  - { name: shop-home, type: http, target: "${target.url}", interval: 1s, timeout: 500ms }
  - { name: resolver, type: dns, target: example.test, interval: 1s, timeout: 500ms }
`,
  )
  hub = await startHub({ config: loadHubConfig(join(dir, 'hub.yaml')), logger: pino({ level: 'silent' }) })
})

afterAll(async () => {
  await hub?.close()
  await Promise.all(servers.map(close))
  rmSync(dir, { recursive: true, force: true })
})

describe('startAgent', () => {
  it('probes with the hub-assigned identity, marks results while its canaries fail, and flushes on stop', { timeout: 60_000 }, async () => {
    const canary = await listen((_req, res) => res.writeHead(200).end('ok'))
    const file = join(dir, 'agent.yaml')
    writeFileSync(
      file,
      `id: eu-1
private_key: ./keys/eu-1.jwk
hub: { url: ${hub.httpUrl}, grpc: ${hub.grpcAddress}, public_key: ./keys/hub.pub.jwk }
data: ./agent-data
canaries: [${canary.url}]
canary_interval: 1s
canary_timeout: 300ms
`,
    )
    const log = memoryLogger()
    // This agent has no DNS probe: the hub's dns check is reported and skipped, the rest runs.
    const { dns: _dns, ...withoutDns } = probes
    const agent = await startAgent({ config: loadAgentConfig(file), logger: log, probes: withoutDns, flushMs: 5_000 })
    const assigned = await agent.configured
    expect(assigned).toMatchObject({ vantage: 'eu-west', region: 'eu' })
    expect(log.lines.find((l) => l.msg.includes('cannot run checks of this type'))).toMatchObject({ level: 'error', check: 'resolver', type: 'dns' })

    const history = () => hub.store.history({ check: 'shop-home', vantage: 'eu-west', limit: 1000 })
    await waitFor(() => history().length >= 2, 10_000)
    expect(history()[0]).toMatchObject({ agent_id: 'eu-1', vantage: 'eu-west', region: 'eu', success: true })
    expect(history()[0].vantage_impaired).toBeUndefined()
    expect(hub.store.history({ check: 'resolver', limit: 10 })).toEqual([])

    // Every canary fails: this vantage's own network is suspect, and its results say so.
    await close(canary.server)
    await waitFor(() => agent.status().impaired, 10_000)
    expect(log.lines.some((l) => l.level === 'error' && /every canary fails/.test(l.msg))).toBe(true)
    await waitFor(() => history().some((r) => r.vantage_impaired === true), 10_000)

    // Graceful stop: nothing left behind in the outbox, and the per-check log lines carry identity.
    await agent.stop()
    expect(log.lines.at(-1)).toMatchObject({ msg: 'agent stopped', queued: 0 })
    const done = log.lines.filter((l) => l.msg === 'probe done')
    expect(done.length).toBeGreaterThan(0)
    expect(done[0]).toMatchObject({ agent: 'eu-1', check: 'shop-home', vantage: 'eu-west' })
    const ids = new Set(history().map((r) => r.result_id))
    for (const line of done) expect(ids.has(line.result_id as string)).toBe(true)
  })
})
