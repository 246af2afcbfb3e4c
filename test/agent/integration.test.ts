// A real hub and a real agent process probing a real local HTTP target, through the failure the
// issue names: the hub stops for a while, the agent is SIGKILLed and restarted meanwhile, then
// the hub comes back. Afterwards every result the agent produced is stored exactly once.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadHubConfig } from '../../hub/config.ts'
import { startHub, type Hub } from '../../hub/server.ts'
import { freePort } from '../helpers/blackbox.ts'
import { killAll, spawnAgent, type LoggedProcess } from '../helpers/processes.ts'
import { writeTestKeys } from './keys.ts'
import { waitFor } from './wait.ts'

/** `vantage agent --config FILE`, its stderr passed through. */
const startAgentProcess = (configFile: string): LoggedProcess => spawnAgent(configFile, { echoStderr: true })

/** result_ids the agent logged after committing them to its outbox ("probe done"). */
function produced(agent: LoggedProcess): string[] {
  return agent.entries.filter((l) => l.msg === 'probe done').map((l) => l.result_id as string)
}

let dir: string
let target: Server
let targetHits = 0
let hubFile: string
let agentFile: string
let hub: Hub | null = null
const agents: LoggedProcess[] = []

async function hubUp(): Promise<Hub> {
  hub = await startHub({ config: loadHubConfig(hubFile), logger: pino({ level: 'silent' }) })
  return hub
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vantage-integration-'))
  mkdirSync(join(dir, 'keys'))
  await writeTestKeys(join(dir, 'keys'))
  target = createServer((req, res) => {
    if (req.headers['x-vantage-probe']) targetHits++
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Shop</h1>')
  })
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`
  const [httpPort, grpcPort] = [await freePort(), await freePort()]

  hubFile = join(dir, 'hub.yaml')
  writeFileSync(
    hubFile,
    `listen: { http: 127.0.0.1:${httpPort}, grpc: 127.0.0.1:${grpcPort} }
data: ./hub-data
hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
checks:
  - name: shop-home
    type: http
    target: ${targetUrl}
    interval: 1s
    timeout: 500ms
    http: { body_contains: Shop }
`,
  )
  agentFile = join(dir, 'agent.yaml')
  writeFileSync(
    agentFile,
    `id: eu-1
private_key: ./keys/eu-1.jwk
hub: { url: http://127.0.0.1:${httpPort}, grpc: 127.0.0.1:${grpcPort}, public_key: ./keys/hub.pub.jwk }
data: ./agent-data
log_level: debug
config_refresh: 2s
`,
  )
})

afterAll(async () => {
  await killAll(agents)
  await hub?.close()
  await new Promise<void>((resolve) => target.close(() => resolve()))
  rmSync(dir, { recursive: true, force: true })
})

describe('agent + hub', () => {
  it('stores every result exactly once across a hub outage and an agent SIGKILL', { timeout: 120_000 }, async () => {
    let h = await hubUp()
    const first = startAgentProcess(agentFile)
    agents.push(first)
    await waitFor(() => h.store.resultCount() >= 3, 30_000)
    const stored = h.store.history({ check: 'shop-home', vantage: 'eu-west', limit: 10 })
    expect(stored[0]).toMatchObject({ check: 'shop-home', agent_id: 'eu-1', vantage: 'eu-west', region: 'eu', success: true })

    // The hub goes away; the agent keeps probing into its outbox.
    await h.close()
    hub = null
    const before = produced(first).length
    await waitFor(() => produced(first).length >= before + 2, 10_000)

    // Killed without warning while the hub is down, and started again: it must resume from
    // its cached config (the hub is still down) and keep what its outbox held.
    first.child.kill('SIGKILL')
    expect((await first.exited).signal).toBe('SIGKILL')
    const second = startAgentProcess(agentFile)
    agents.push(second)
    await waitFor(() => produced(second).length >= 2, 20_000)
    expect(second.entries.some((l) => l.msg === 'config accepted' && l.source === 'cache')).toBe(true)

    // The hub returns (same store, same ports): the backlog drains.
    h = await hubUp()
    const all = () => [...produced(first), ...produced(second)]
    await waitFor(() => all().every((id) => h.store.result(id) !== undefined), 60_000)

    // A graceful stop flushes what is left and exits cleanly.
    second.child.kill('SIGTERM')
    expect(await second.exited).toEqual({ code: 0, signal: null })

    const ids = all()
    const history = h.store.history({ check: 'shop-home', vantage: 'eu-west', limit: 100_000 })
    const storedIds = history.map((r) => r.result_id)
    // None lost: every result the agent committed is at the hub.
    for (const id of ids) expect(storedIds).toContain(id)
    // None doubled: one result per round, each result_id once.
    expect(new Set(storedIds).size).toBe(storedIds.length)
    expect(new Set(history.map((r) => r.round)).size).toBe(history.length)
    // At most the one result the SIGKILL caught between commit and its log line is unlogged.
    expect(history.length - ids.length).toBeGreaterThanOrEqual(0)
    expect(history.length - ids.length).toBeLessThanOrEqual(1)
    // Every probe the target saw became a stored result, except one the kill may have cut off.
    expect(targetHits - history.length).toBeLessThanOrEqual(1)
    expect(history.every((r) => r.success)).toBe(true)
  })
})
