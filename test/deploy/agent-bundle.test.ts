// The single-file agent (deploy/agent-bundle/build.ts): built into a temporary directory outside
// the repo, given only the native dependency (better-sqlite3 and its two runtime packages, copied
// from the repo's node_modules as `npm ci --omit=dev` would install them; no registry here), and
// started with plain `node` against a real hub: its results must show up in the hub.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLE_FILE, buildAgentBundle, EXTERNAL_PACKAGES, lockfileSubset, type BuiltAgent } from '../../deploy/agent-bundle/build.ts'
import { waitFor } from '../agent/wait.ts'
import { parsePrometheusText } from '../helpers/blackbox.ts'
import { killAll, ROOT, spawnHub, spawnNode, stopProcess, waitForEntry, type HubProcess, type LoggedProcess } from '../helpers/processes.ts'
import { makeKeys, tempDir, type TestDir } from '../hub/helpers.ts'

const JOURNEY = `import http from 'k6/http'
import { check, group } from 'k6'
export default function () {
  group('home', () => {
    const res = http.get(__ENV.BASE_URL + '/')
    check(res, { 'status is 200': (r) => r.status === 200, 'says Shop': (r) => r.body.includes('Shop') })
  })
}
`

let dir: string
let built: BuiltAgent
let hubDir: TestDir
let hub: HubProcess
let target: Server
let targetUrl: string
const hits: { agent: string | undefined; source: string | undefined }[] = []
const processes: LoggedProcess[] = []

/** Plain node: no tsx loader, no NODE_PATH into the repo. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  delete env.NODE_PATH
  return env
}

function copyPackage(name: string) {
  cpSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), { recursive: true, dereference: true })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vantage-agent-bundle-'))
  built = await buildAgentBundle({ outDir: join(dir, 'opt') })
  // The runtime part of `npm ci --omit=dev` for better-sqlite3 (prebuild-install only runs at install).
  dir = built.outDir
  for (const name of ['better-sqlite3', 'bindings', 'file-uri-to-path']) copyPackage(name)

  target = createServer((req, res) => {
    hits.push({ agent: req.headers['x-vantage-probe'] as string | undefined, source: req.socket.remoteAddress })
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Shop</h1>')
  })
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`

  hubDir = tempDir('vantage-bundle-hub-')
  await makeKeys(hubDir, ['hub', 'vm-1'])
  hubDir.write('journeys/shop.js', JOURNEY)
  hubDir.write(
    'hub.yaml',
    `listen: { http: 127.0.0.1:0, grpc: 127.0.0.1:0 }
data: ./hub-data
hub_key: ./keys/hub.jwk
vantages:
  eu-vm: { region: eu }
agents:
  - { id: vm-1, vantage: eu-vm, public_key: ./keys/vm-1.pub.jwk }
checks:
  - { name: shop, type: http, target: ${targetUrl}/, interval: 1s, timeout: 900ms, http: { body_contains: Shop } }
  - { name: shop-port, type: tcp, target: ${targetUrl.replace('http://', '')}, interval: 1s, timeout: 900ms }
  - { name: shop-journey, type: journey, target: shop, interval: 1s, timeout: 900ms, journey: { script: ./journeys/shop.js, env: { BASE_URL: "${targetUrl}" } } }
`,
  )
  hub = await spawnHub(hubDir.dir, ['--config', 'hub.yaml'])
  processes.push(hub)
}, 120_000)

afterAll(async () => {
  await killAll(processes)
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()))
  hubDir?.cleanup()
  if (dir) rmSync(join(dir, '..'), { recursive: true, force: true })
})

describe('the agent bundle', () => {
  it('is one ESM file outside the repo, with package.json and package-lock.json for its native dependency', () => {
    expect(relative(ROOT, built.outDir).startsWith('..')).toBe(true)
    expect(built.files).toEqual([BUNDLE_FILE, 'package.json', 'package-lock.json', 'vantage-agent.service', 'README.md'])
    for (const f of built.files) expect(existsSync(join(dir, f)), f).toBe(true)
    const text = readFileSync(built.bundle, 'utf8')
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true)
    expect(text).not.toContain(ROOT) // nothing is loaded from the repo by path
    // The journey worker and runtime are inlined: runner.ts starts the worker from a string.
    for (const m of ['agent/cli/agent.ts', 'agent/daemon/daemon.ts', 'agent/probes/http.ts', 'agent/journey/runner.ts', 'proto/envelope.ts']) {
      expect(built.modules).toContain(m)
    }
    expect(built.modules.filter((m) => m.startsWith('hub/'))).toEqual([])
    console.info(`agent bundle: ${(built.bytes / 1024).toFixed(0)} KiB, ${built.modules.length} modules of the repo`)

    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type: string; dependencies: Record<string, string> }
    const rootLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; integrity?: string }> }
    expect(pkg.type).toBe('module')
    expect(Object.keys(pkg.dependencies).sort()).toEqual([...EXTERNAL_PACKAGES].sort())
    for (const [name, version] of Object.entries(pkg.dependencies)) expect(version).toBe(rootLock.packages[`node_modules/${name}`].version)

    // The lockfile: the repo's entries (same versions, same integrity), closed under dependencies.
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as {
      lockfileVersion: number
      packages: Record<string, { version?: string; integrity?: string; dependencies?: Record<string, string>; optional?: boolean }>
    }
    expect(lock.lockfileVersion).toBe(3)
    expect(lock.packages['']).toMatchObject({ dependencies: pkg.dependencies })
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === '') continue
      expect(entry.integrity, path).toBe(rootLock.packages[path].integrity)
      for (const dep of Object.keys(entry.dependencies ?? {})) {
        const candidates = [`${path}/node_modules/${dep}`, `node_modules/${dep}`]
        expect(candidates.some((c) => lock.packages[c]), `${path} → ${dep}`).toBe(true)
      }
    }
    for (const name of ['better-sqlite3', 'bindings', 'file-uri-to-path', 'prebuild-install', 'esbuild']) {
      expect(lock.packages[`node_modules/${name}`]?.optional, name).toBeUndefined()
    }
    // Nothing of the dev tree (wrangler's own esbuild, vitest, …).
    expect(Object.keys(lock.packages).filter((p) => /wrangler|vitest|typescript/.test(p))).toEqual([])
  })

  it('lockfileSubset finds nested packages as Node does and refuses a missing one', () => {
    const lock = {
      packages: {
        'node_modules/a': { version: '1.0.0', dependencies: { b: '^2' } },
        'node_modules/a/node_modules/b': { version: '2.0.0', dependencies: { c: '*' } },
        'node_modules/b': { version: '1.0.0' },
        'node_modules/c': { version: '3.0.0', dev: true },
      },
    }
    expect(Object.keys(lockfileSubset(['a'], lock))).toEqual(['node_modules/a', 'node_modules/a/node_modules/b', 'node_modules/c'])
    expect(lockfileSubset(['a'], lock)['node_modules/c']).toEqual({ version: '3.0.0' })
    expect(() => lockfileSubset(['zz'], lock)).toThrow(/zz .*not in the lockfile/)
  })

  /** The view of `check` on the hub once vantage eu-vm's vote matches `vote`. */
  async function waitForVote(check: string, vote: string, agent: LoggedProcess): Promise<Record<string, unknown>> {
    let latest: Record<string, unknown> | undefined
    await waitFor(
      async () => {
        const res = await fetch(`${hub.http}/api/v1/checks/${check}`)
        if (!res.ok) return false
        const view = (await res.json()) as { vantages: { vantage: string; vote: string; latest: Record<string, unknown> | null }[] }
        const v = view.vantages.find((x) => x.vantage === 'eu-vm')
        latest = v?.latest ?? undefined
        return v?.vote === vote && !!v.latest
      },
      30_000,
      { intervalMs: 200, describe: () => `${check}: ${JSON.stringify(latest)}\nagent stdout:\n${agent.lines.slice(-10).join('\n')}\nstderr:\n${agent.stderr()}` },
    )
    return latest!
  }

  it('`node vantage-agent.mjs agent` runs from its own directory, pushes to the hub, and its results show up there', { timeout: 120_000 }, async () => {
    writeFileSync(
      join(dir, 'agent.yaml'),
      `id: vm-1
private_key: ./keys/vm-1.jwk
hub: { url: ${hub.http}, grpc: ${hub.grpc}, public_key: ./keys/hub.pub.jwk }
data: ./agent-data
canaries: [${hub.http}/-/healthy]
`,
    )
    mkdirSync(join(dir, 'keys'), { mode: 0o700 })
    cpSync(join(hubDir.dir, 'keys', 'vm-1.jwk'), join(dir, 'keys', 'vm-1.jwk'))
    cpSync(join(hubDir.dir, 'keys', 'hub.pub.jwk'), join(dir, 'keys', 'hub.pub.jwk'))
    expect(existsSync(join(dir, 'node_modules', 'esbuild'))).toBe(false) // only journeys need it

    const agent = spawnNode(join(dir, BUNDLE_FILE), ['agent', '--config', 'agent.yaml'], { cwd: dir, env: plainEnv() })
    processes.push(agent)

    const latest = { shop: await waitForVote('shop', 'up', agent), 'shop-port': await waitForVote('shop-port', 'up', agent) }
    expect(latest.shop).toMatchObject({ check: 'shop', type: 'http', agent_id: 'vm-1', vantage: 'eu-vm', region: 'eu', success: true })
    expect(latest['shop-port']).toMatchObject({ check: 'shop-port', type: 'tcp', agent_id: 'vm-1', success: true })
    expect(hits.some((h) => h.agent === 'vm-1')).toBe(true)

    // And in what Prometheus scrapes (the probe families move to /pushgateway/metrics).
    // The hub's feed writes a vantage's group within a second of a commit: poll, bounded.
    let samples = [] as ReturnType<typeof parsePrometheusText>
    const success = () => samples.find((s) => s.name === 'synthetic_probe_success' && s.labels.check === 'shop' && s.labels.vantage === 'eu-vm')
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && success()?.value !== 1; await new Promise((r) => setTimeout(r, 100))) {
      samples = []
      for (const path of ['/metrics', '/pushgateway/metrics']) {
        const res = await fetch(`${hub.http}${path}`)
        if (res.ok) samples.push(...parsePrometheusText(await res.text()))
      }
    }
    expect(success()?.value).toBe(1)
    expect(samples.find((s) => s.name === 'synthetic_vantage_last_seen_timestamp_seconds' && s.labels.agent === 'vm-1')).toBeDefined()

    // Without esbuild the journey check fails with the reason, and every other check runs.
    const journey = await waitForVote('shop-journey', 'down', agent)
    expect(journey).toMatchObject({ type: 'journey', success: false, error_code: 'JOURNEY_SCRIPT_INVALID' })
    expect(journey.error).toContain('journeys need the esbuild package beside the agent bundle')

    // The outbox is SQLite through the external better-sqlite3, in the agent's data directory.
    expect(existsSync(join(dir, 'agent-data'))).toBe(true)
    const exit = await stopProcess(agent)
    expect(exit.code).toBe(0)
    await waitForEntry(agent, (e) => e.msg === 'stopping')
  })

  it('runs journeys in its worker thread once esbuild is installed beside it: `journey` and the daemon', { timeout: 120_000 }, async () => {
    const script = join(dir, 'journey.js')
    writeFileSync(script, JOURNEY)
    const run = async () => {
      const p = spawnNode(join(dir, BUNDLE_FILE), ['journey', script, '--json', '--env', `BASE_URL=${targetUrl}`], { cwd: dir, env: plainEnv() })
      processes.push(p)
      const exit = await p.exited
      return { exit, out: p.lines.join('\n'), err: p.stderr() }
    }
    const without = await run()
    expect(without.exit.code).toBe(1)
    expect(without.out).toContain('JOURNEY_SCRIPT_INVALID')
    expect(without.out).toContain('journeys need the esbuild package beside the agent bundle')

    copyPackage('esbuild')
    copyPackage(`@esbuild/${process.platform}-${process.arch}`)
    const withEsbuild = await run()
    expect(withEsbuild.exit.code, withEsbuild.err).toBe(0)
    const result = JSON.parse(withEsbuild.out) as { success: boolean; steps: { name: string; success: boolean; status_code: number }[] }
    expect(result.success).toBe(true)
    expect(result.steps).toEqual([expect.objectContaining({ name: 'home', success: true, status_code: 200 })])

    // The daemon runs the hub's journey check (the script as the hub distributes it) in the worker.
    const agent = spawnNode(join(dir, BUNDLE_FILE), ['agent', '--config', 'agent.yaml'], { cwd: dir, env: plainEnv() })
    processes.push(agent)
    const latest = await waitForVote('shop-journey', 'up', agent)
    expect(latest).toMatchObject({ type: 'journey', agent_id: 'vm-1', success: true })
    expect(latest.steps).toEqual([expect.objectContaining({ name: 'home', success: true, status_code: 200 })])
    expect((await stopProcess(agent)).code).toBe(0)
  })
})
