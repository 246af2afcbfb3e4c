// A real hub (HTTP on 127.0.0.1 port 0) on a fake clock and fake timers, with signed agents
// pushing through the real ingest: for the operator API and /metrics suites.
import { loadHubConfig } from '../../hub/config.ts'
import { startHub, type Hub } from '../../hub/server.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { FakeTime } from '../agent/fake-time.ts'
import { makeKeys, postBatch, result, sign, silentLogger, tempDir, type AgentSigner, type TestDir } from '../hub/helpers.ts'

export const INTERVAL = 30_000

export const AGENTS: [id: string, vantage: string][] = [
  ['eu-1', 'eu'],
  ['eu-2', 'eu'],
  ['us-1', 'us'],
  ['ap-1', 'ap'],
]

export const HUB_YAML = (extra = '') => `hub_key: ./keys/hub.jwk
data: ./data
${extra}vantages:
  eu: { region: eu }
  us: { region: us }
  ap: { region: ap, failure_domain: aws }
agents:
${AGENTS.map(([id, v]) => `  - { id: ${id}, vantage: ${v}, public_key: ./keys/${id}.pub.jwk }`).join('\n')}
checks:
  - { name: shop, type: http, target: "https://shop.example/", interval: 30s, quorum: { min_down: 2, for: 1m, resolve_after: 30s } }
  - { name: api, type: tls, target: "api.example:443", interval: 30s, vantages: [us, ap] }
`

export type Outcome = 'up' | 'down' | 'challenged' | 'impaired'

export class TestHub {
  hub!: Hub
  readonly time: FakeTime
  readonly agents: Record<string, AgentSigner> = {}

  private constructor(readonly t: TestDir) {
    // A round boundary, so rounds are predictable.
    this.time = new FakeTime(Math.floor(Date.now() / INTERVAL) * INTERVAL)
  }

  static async start(yaml: string = HUB_YAML(), files: Record<string, string> = {}): Promise<TestHub> {
    const th = new TestHub(tempDir('vantage-review-'))
    const keys = await makeKeys(th.t, ['hub', ...AGENTS.map(([id]) => id)])
    for (const [id, vantage] of AGENTS) th.agents[id] = { id, vantage, keys: keys[id], seq: 0 }
    for (const [name, text] of Object.entries(files)) th.t.write(name, text)
    const file = th.t.write('hub.yaml', yaml)
    th.hub = await startHub({
      config: loadHubConfig(file, { httpListen: '127.0.0.1:0', grpcListen: '127.0.0.1:0' }),
      clock: th.time,
      timers: th.time,
      logger: silentLogger(),
    })
    return th
  }

  async close(): Promise<void> {
    await this.hub?.close()
    this.t.cleanup()
  }

  round(): number {
    return Math.floor(this.time.now() / INTERVAL)
  }

  /** One result from `agent`, signed and pushed through POST /v1/results. */
  async push(agent: string, outcome: Outcome, fields: Partial<ProbeResult> = {}): Promise<ProbeResult> {
    const a = this.agents[agent]
    const now = this.time.now()
    const r = result(
      {
        check: 'shop',
        vantage: a.vantage,
        agent_id: agent,
        region: a.vantage,
        round: this.round(),
        success: outcome === 'up',
        challenged: outcome === 'challenged',
        error: outcome === 'up' ? null : outcome === 'challenged' ? 'answered with a Cloudflare managed challenge' : `connect ECONNREFUSED (${agent})`,
        error_code: outcome === 'up' ? null : outcome === 'challenged' ? 'CHALLENGE_CLOUDFLARE' : 'CONNECTION_REFUSED',
        ...(outcome === 'impaired' ? { vantage_impaired: true } : {}),
        ...fields,
      },
      now,
    )
    const res = await postBatch(this.hub, await sign(a, [r], { sent_at: now }))
    if (res.status !== 200) throw new Error(`push refused: ${res.status} ${JSON.stringify(res.json)}`)
    return r
  }

  async votes(outcomes: Partial<Record<string, Outcome>>): Promise<void> {
    for (const [agent, outcome] of Object.entries(outcomes)) await this.push(agent, outcome!)
  }

  url(path: string): string {
    return `${this.hub.httpUrl}${path}`
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
    const res = await fetch(this.url(path), { headers })
    return { status: res.status, json: await res.json(), headers: res.headers }
  }

  async post(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    const init: RequestInit = { method: 'POST', headers: { ...headers } }
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body)
      ;(init.headers as Record<string, string>)['content-type'] ??= 'application/json'
    }
    const res = await fetch(this.url(path), init)
    return { status: res.status, json: await res.json() }
  }
}
