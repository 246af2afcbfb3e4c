// Shared by the hub suites: key files made with proto/keys.ts, a hub.yaml in a temp dir, real
// hubs on 127.0.0.1 port 0, results and signed batches as agents make them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import pino from 'pino'
import type { ResultBatch } from '../../proto/batch.ts'
import { signBatch, type FlattenedJWS } from '../../proto/envelope.ts'
import { generateKeyPair, type KeyPair } from '../../proto/keys.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { uuidv7 } from '../../agent/core/ids.ts'
import type { Clock } from '../../agent/core/probe.ts'
import { loadHubConfig } from '../../hub/config.ts'
import { startHub, type Hub } from '../../hub/server.ts'

export interface TestDir {
  dir: string
  write(name: string, text: string): string
  cleanup(): void
}

export function tempDir(prefix = 'vantage-hub-'): TestDir {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {
    dir,
    write(name, text) {
      const path = join(dir, name)
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, text)
      return path
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** Writes ID.jwk / ID.pub.jwk under dir/keys for each id (as `vantage keygen` does). */
export async function makeKeys(t: TestDir, ids: string[]): Promise<Record<string, KeyPair>> {
  const keys: Record<string, KeyPair> = {}
  for (const id of ids) {
    keys[id] = await generateKeyPair(id)
    t.write(`keys/${id}.jwk`, JSON.stringify(keys[id].privateJwk))
    t.write(`keys/${id}.pub.jwk`, JSON.stringify(keys[id].publicJwk))
  }
  return keys
}

/** A settable clock (the only thing tests mock). */
export function testClock(start = Date.now()): Clock & { set(ms: number): void; advance(ms: number): void } {
  let now = start
  return { now: () => now, set: (ms) => void (now = ms), advance: (ms) => void (now += ms) }
}

export const silentLogger = () => pino({ level: 'silent' })

/** Starts a hub from a hub.yaml written into t.dir, on loopback port 0. */
export async function startTestHub(t: TestDir, yaml: string, opts: { clock?: Clock } = {}): Promise<Hub> {
  const file = t.write('hub.yaml', yaml)
  const overrides = { httpListen: '127.0.0.1:0', grpcListen: '127.0.0.1:0' }
  const config = loadHubConfig(file, overrides)
  return startHub({ config, clock: opts.clock, logger: silentLogger(), reloadConfig: () => loadHubConfig(file, overrides) })
}

export function result(fields: Partial<ProbeResult> & Pick<ProbeResult, 'check' | 'vantage' | 'agent_id'>, nowMs = Date.now()): ProbeResult {
  const interval = 30_000
  return {
    type: 'http',
    target: 'https://shop.example/',
    region: 'eu',
    result_id: uuidv7(nowMs),
    round: Math.floor(nowMs / interval),
    started_at: new Date(nowMs).toISOString(),
    success: true,
    challenged: false,
    duration_seconds: 0.05,
    error: null,
    error_code: null,
    ...fields,
  }
}

export interface AgentSigner {
  id: string
  vantage: string
  keys: KeyPair
  seq: number
}

export async function sign(
  agent: AgentSigner,
  results: ProbeResult[],
  fields: Partial<Omit<ResultBatch, 'results'>> = {},
): Promise<FlattenedJWS> {
  const batch: ResultBatch = {
    agent_id: agent.id,
    vantage: agent.vantage,
    seq: fields.seq ?? ++agent.seq,
    sent_at: Date.now(),
    dropped: 0,
    results,
    ...fields,
  }
  return signBatch(batch, { kid: agent.id, privateKey: agent.keys.privateJwk })
}

export async function postBatch(hub: Hub, body: unknown, contentType = 'application/json'): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${hub.httpUrl}/v1/results`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let json: Record<string, unknown>
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    json = { text }
  }
  return { status: res.status, json }
}

/** Value of one series in Prometheus text output, or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const got: Record<string, string> = {}
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[l[1]] = l[2]
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4])
  }
  return undefined
}

export async function scrape(hub: Hub): Promise<string> {
  return (await fetch(`${hub.httpUrl}/metrics`)).text()
}

/** The hub's Pushgateway-compatible scrape, after the feed has written every pending result. */
export async function scrapeFed(hub: Hub): Promise<string> {
  hub.pushgateway.feed?.sync()
  return (await fetch(`${hub.httpUrl}/pushgateway/metrics`)).text()
}
