import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { CheckSpec } from '../../proto/check.ts'
import { EnvelopeError, signJson, verifyAgentToken, type FlattenedJWS } from '../../proto/envelope.ts'
import { generateKeyPair, type KeyPair } from '../../proto/keys.ts'
import { AGENT_CONFIG_TYP, CACHE_FILE, ConfigClient, type AssignedConfig } from '../../agent/daemon/config-client.ts'
import { FakeTime } from './fake-time.ts'
import { memoryLogger } from './log.ts'
import { waitFor } from './wait.ts'

const CHECK: CheckSpec = { name: 'shop-home', type: 'http', target: 'http://127.0.0.1:9/', interval_ms: 30_000, timeout_ms: 5_000 }

let agent: KeyPair
let hub: KeyPair
let impostor: KeyPair

beforeAll(async () => {
  agent = await generateKeyPair('eu-1')
  hub = await generateKeyPair('hub')
  impostor = await generateKeyPair('hub')
})

/** A small hub stand-in: serves whatever document the test sets, checks the agent's JWT. */
class ConfigServer {
  document: string | null = null
  status = 200
  requests: { auth: string | undefined; ifNoneMatch: string | undefined; agentId: string | null }[] = []
  private server: Server | null = null
  url = ''

  async start(port = 0): Promise<void> {
    this.server = createServer(async (req, res) => {
      const auth = req.headers.authorization
      let agentId: string | null = null
      // Generous skew: the tests move the agent's clock forward.
      try {
        ;({ agentId } = await verifyAgentToken(auth?.replace(/^Bearer /, '') ?? '', () => agent.publicJwk, { now: Date.now(), maxSkewMs: 600_000 }))
      } catch {}
      this.requests.push({ auth, ifNoneMatch: req.headers['if-none-match'], agentId })
      if (!agentId) return res.writeHead(401).end(JSON.stringify({ error: 'bad token', reason: 'bad_signature' }))
      const version = this.document && (JSON.parse(Buffer.from(JSON.parse(this.document).payload, 'base64url').toString()) as { version: string }).version
      if (version && req.headers['if-none-match'] === `"${version}"`) return res.writeHead(304).end()
      res.writeHead(this.status, { 'content-type': 'application/json' }).end(this.document ?? '{}')
    })
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`
  }

  get port(): number {
    return Number(new URL(this.url).port)
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => this.server?.close(() => resolve()))
  }
}

async function signed(version: string, checks: CheckSpec[], opts: { key?: KeyPair; issued_at?: number; agentId?: string } = {}): Promise<string> {
  const payload = { agent: { id: opts.agentId ?? 'eu-1', vantage: 'eu-west', region: 'eu' }, version, issued_at: opts.issued_at ?? Date.now(), checks }
  const key = opts.key ?? hub
  return JSON.stringify(await signJson(payload, { kid: 'hub', privateKey: key.privateJwk, typ: AGENT_CONFIG_TYP }))
}

/** The same document with one byte of the payload changed (the signature no longer matches). */
function tampered(document: string): string {
  const jws = JSON.parse(document) as FlattenedJWS
  const original = Buffer.from(jws.payload, 'base64url').toString()
  const payload = original.replace('http://127.0.0.1:9/', 'http://127.0.0.1:8/')
  if (payload === original) throw new Error('tampered(): nothing to change in this document')
  return JSON.stringify({ ...jws, payload: Buffer.from(payload).toString('base64url') })
}

let dir: string
let server: ConfigServer
const clients: ConfigClient[] = []

function client(time = new FakeTime(Date.now()), log = memoryLogger(), agentKey = agent) {
  const accepted: { config: AssignedConfig; source: string }[] = []
  const c = new ConfigClient({
    agentId: 'eu-1',
    privateKey: agentKey.privateJwk,
    hubUrl: server.url,
    hubPublicKey: hub.publicJwk,
    dataDir: dir,
    clock: time,
    timers: time,
    logger: log,
    refreshMs: 30_000,
    onConfig: (config, source) => accepted.push({ config, source }),
  })
  clients.push(c)
  return { c, accepted, log, time }
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vantage-config-client-'))
  server = new ConfigServer()
  await server.start()
})

afterEach(async () => {
  for (const c of clients.splice(0)) await c.stop()
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('ConfigClient', () => {
  it('accepts a config signed by the pinned hub key, authenticating with its JWT', async () => {
    server.document = await signed('v1', [CHECK])
    const { c, accepted } = client()
    const config = await c.fetchOnce()
    expect(config).toMatchObject({ agent_id: 'eu-1', vantage: 'eu-west', region: 'eu', version: 'v1', checks: [CHECK] })
    expect(accepted).toEqual([{ config, source: 'hub' }])
    expect(server.requests[0].agentId).toBe('eu-1')
    // The signed document itself is the cache.
    expect(readFileSync(join(dir, CACHE_FILE), 'utf8')).toBe(server.document)
    // Unchanged: the hub answers 304 to the version we run, and nothing is re-applied.
    await c.fetchOnce()
    expect(server.requests[1].ifNoneMatch).toBe('"v1"')
    expect(accepted).toHaveLength(1)
  })

  it('refuses a tampered config or one signed by another key, keeping the last good one', async () => {
    const good = await signed('v1', [CHECK])
    server.document = good
    const { c, accepted } = client()
    await c.fetchOnce()

    server.document = tampered(await signed('v2', [CHECK]))
    await expect(c.fetchOnce()).rejects.toMatchObject({ name: 'EnvelopeError', reason: 'bad_signature' })
    server.document = await signed('v3', [], { key: impostor })
    await expect(c.fetchOnce()).rejects.toBeInstanceOf(EnvelopeError)
    server.document = await signed('v4', [], { agentId: 'us-1' })
    await expect(c.fetchOnce()).rejects.toThrow(/for agent "us-1", not "eu-1"/)

    expect(c.current?.version).toBe('v1')
    expect(accepted).toHaveLength(1)
    expect(readFileSync(join(dir, CACHE_FILE), 'utf8')).toBe(good) // the cache was not overwritten
  })

  it('refuses a validly signed config older than the one it runs (a replay)', async () => {
    const old = await signed('v1', [CHECK], { issued_at: Date.now() - 60_000 })
    server.document = await signed('v2', [], { issued_at: Date.now() })
    const { c } = client()
    await c.fetchOnce()
    server.document = old
    await expect(c.fetchOnce()).rejects.toThrow(/issued at .* before the one in use/)
    expect(c.current?.version).toBe('v2')
  })

  it('keeps probing after a restart with the hub down: the cache is verified again on load', async () => {
    server.document = await signed('v1', [CHECK])
    await client().c.fetchOnce()
    await server.stop()

    const restarted = client()
    const cached = await restarted.c.loadCache()
    expect(cached).toMatchObject({ version: 'v1', checks: [CHECK] })
    expect(restarted.accepted.map((a) => a.source)).toEqual(['cache'])
    await expect(restarted.c.fetchOnce()).rejects.toMatchObject({ name: 'TransientError' })
    expect(restarted.c.current?.version).toBe('v1')

    // A cache someone edited is not trusted.
    writeFileSync(join(dir, CACHE_FILE), tampered(readFileSync(join(dir, CACHE_FILE), 'utf8')))
    const edited = client()
    expect(await edited.c.loadCache()).toBeNull()
    expect(edited.log.lines.find((l) => l.level === 'error')?.msg).toMatch(/ignoring the cached config/)
  })

  it('refetches periodically, backs off on failure, and logs a refusal loudly', async () => {
    server.document = await signed('v1', [CHECK])
    const { c, accepted, log, time } = client()
    c.start()
    await waitFor(() => accepted.length === 1)
    expect(time.nextIn).toBe(30_000) // next fetch after the refresh period

    server.document = tampered(await signed('v2', [CHECK]))
    await advanceAndWait(time, 30_000, () => server.requests.length === 2)
    await waitFor(() => log.lines.some((l) => l.level === 'error'))
    const refusal = log.lines.find((l) => l.level === 'error')!
    expect(refusal.msg).toMatch(/REFUSED the hub's config \(keeping config version v1\)/)
    expect(refusal.reason).toBe('bad_signature')
    expect(time.nextIn).toBeLessThan(30_000) // failures retry sooner, with backoff

    server.document = await signed('v2', [])
    await advanceAndWait(time, time.nextIn!, () => accepted.length === 2)
    expect(accepted[1].config.version).toBe('v2')
  })

  it('says when the hub does not know this agent', async () => {
    server.document = await signed('v1', [CHECK])
    // A token signed by another key: the stand-in hub answers 401 like the real one.
    const { c } = client(undefined, undefined, impostor)
    await expect(c.fetchOnce()).rejects.toMatchObject({ name: 'RejectedError', reason: 'bad_signature', status: 401 })
  })
})

async function advanceAndWait(time: FakeTime, ms: number, cond: () => boolean): Promise<void> {
  await time.advance(ms)
  await waitFor(cond)
}
