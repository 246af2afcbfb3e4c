// Journeys as a hub check type: the script is bundled at config load (errors name file:line),
// distributed with the agent's config, run by the agent, and its steps reach the hub.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, loadHubConfig, parseHubConfig } from '../../hub/config.ts'
import { startHub, type Hub } from '../../hub/server.ts'
import { loadAgentConfig } from '../../agent/daemon/config.ts'
import { startAgent } from '../../agent/daemon/daemon.ts'
import { writeTestKeys } from '../agent/keys.ts'
import { memoryLogger } from '../agent/log.ts'
import { waitFor } from '../agent/wait.ts'

const dir = mkdtempSync(join(tmpdir(), 'vantage-journey-hub-'))
let hub: Hub | undefined
let server: Server | undefined
afterAll(async () => {
  await hub?.close()
  server?.closeAllConnections()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  rmSync(dir, { recursive: true, force: true })
})

const JOURNEY = `import http from 'k6/http'
import { check, group } from 'k6'
import { pathOf } from './lib.ts'

export default function () {
  group('home', () => {
    const res = http.get(__ENV.BASE + pathOf('home'))
    check(res, { 'status is 200': (r) => r.status === 200, 'says welcome': (r) => String(r.body).includes('welcome') })
  })
  group('cart', () => {
    const res = http.get(__ENV.BASE + pathOf('cart'))
    check(res, { 'cart is 200': (r) => r.status === 200 })
  })
}
`

function hubYaml(extraCheck: string): string {
  return `hub_key: ./keys/hub.jwk
vantages: { eu-west: { region: eu } }
agents: [{ id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }]
checks:
${extraCheck}`
}

function configError(text: string): ConfigError {
  try {
    parseHubConfig(text, join(dir, 'hub.yaml'))
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('journey checks in hub.yaml', () => {
  it('bundles the script and its relative imports into the check handed to agents', async () => {
    mkdirSync(join(dir, 'keys'), { recursive: true })
    await writeTestKeys(join(dir, 'keys'))
    mkdirSync(join(dir, 'journeys'), { recursive: true })
    writeFileSync(join(dir, 'journeys', 'shop.ts'), JOURNEY)
    writeFileSync(join(dir, 'journeys', 'lib.ts'), `export const pathOf = (page: string): string => page === 'home' ? '/' : '/' + page\n`)
    const config = parseHubConfig(
      hubYaml(`  - name: shop-journey
    type: journey
    target: shop
    interval: 2s
    journey: { script: journeys/shop.ts, env: { BASE: "http://127.0.0.1:1" } }
`),
      join(dir, 'hub.yaml'),
    )
    const spec = config.checks.get('shop-journey')!.spec
    expect(spec.journey).toMatchObject({ script: 'journeys/shop.ts', env: { BASE: 'http://127.0.0.1:1' } })
    expect(spec.journey!.source).toContain('from "k6/http"')
    expect(spec.journey!.source).toContain('"cart"') // lib.ts bundled in, TypeScript compiled
    expect(spec.journey!.source).not.toContain('./lib.ts')
  })

  it('refuses a script that does not load, naming the file, line and field', () => {
    writeFileSync(join(dir, 'journeys', 'broken.js'), `import { nothing } from 'k6/nope'\nexport default function () {}\n`)
    const err = configError(hubYaml(`  - name: broken
    type: journey
    target: x
    journey: { script: journeys/broken.js }
`))
    expect(err.message).toMatch(/hub\.yaml:8: checks\[0\]\.journey\.script: .*k6\/nope/)
  })

  it('requires the journey block on journey checks and refuses it elsewhere', () => {
    expect(configError(hubYaml(`  - { name: j, type: journey, target: x }\n`)).message).toMatch(/checks\[0\]\.journey: is required for journey checks/)
    expect(configError(hubYaml(`  - { name: h, type: http, target: "http://127.0.0.1/", journey: { script: journeys/shop.ts } }\n`)).message).toMatch(/checks\[0\]\.journey: applies only to journey checks/)
  })

  it('an agent runs the distributed journey and the hub stores its steps', { timeout: 60_000 }, async () => {
    server = createServer((req, res) => {
      if (req.url === '/') return res.writeHead(200).end('welcome to the shop')
      res.writeHead(503).end('cart is down')
    })
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    writeFileSync(
      join(dir, 'hub.yaml'),
      `listen: { http: 127.0.0.1:0, grpc: 127.0.0.1:0 }\ndata: ./hub-data\n` +
        hubYaml(`  - name: shop-journey
    type: journey
    target: ${base}/
    interval: 2s
    timeout: 1500ms
    journey: { script: journeys/shop.ts, env: { BASE: "${base}" } }
`),
    )
    hub = await startHub({ config: loadHubConfig(join(dir, 'hub.yaml')), logger: pino({ level: 'silent' }) })
    writeFileSync(
      join(dir, 'agent.yaml'),
      `id: eu-1\nprivate_key: ./keys/eu-1.jwk\nhub: { url: ${hub.httpUrl}, public_key: ./keys/hub.pub.jwk }\ndata: ./agent-data\n`,
    )
    // The agent runs elsewhere: a working directory without the script proves it came from the hub.
    const agent = await startAgent({ config: loadAgentConfig(join(dir, 'agent.yaml')), logger: memoryLogger() })
    try {
      const history = () => hub!.store.history({ check: 'shop-journey', limit: 10 })
      await waitFor(() => history().length > 0, 20_000)
      const [result] = history()
      expect(result).toMatchObject({ type: 'journey', success: false, challenged: false, vantage: 'eu-west' })
      expect(result.steps?.map((s) => [s.name, s.success, s.status_code])).toEqual([
        ['home', true, 200],
        ['cart', false, 503],
      ])
      expect(result.steps?.[0].checks).toEqual({ 'status is 200': { passes: 1, fails: 0 }, 'says welcome': { passes: 1, fails: 0 } })
    } finally {
      await agent.stop()
    }
  })
})
