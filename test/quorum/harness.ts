// The quorum engine over a real store in a temp dir, driven by a fake clock and fake timers (the
// only thing mocked). Votes arrive the way ingest stores them: store.applyBatches.
import pino from 'pino'
import type { ProbeResult } from '../../proto/result.ts'
import { uuidv7 } from '../../agent/core/ids.ts'
import { parseHubConfig, type HubConfig } from '../../hub/config.ts'
import { QuorumEngine } from '../../hub/quorum/engine.ts'
import type { QuorumChange, QuorumSnapshot } from '../../hub/quorum/types.ts'
import { Store } from '../../hub/store/store.ts'
import { FakeTime } from '../agent/fake-time.ts'
import { tempDir, type TestDir } from '../hub/helpers.ts'

/** A round boundary for 30 s (and 60 s) intervals. */
export const T0 = 1_800_000_000_000

export type Outcome = 'up' | 'down' | 'challenged' | 'impaired'

export interface HarnessOptions {
  /** The `checks:` and `vantages:` of a hub.yaml (no agents: no keys needed). */
  yaml: string
  dir?: TestDir
  time?: FakeTime
  logs?: Record<string, unknown>[]
  /**
   * The engine's coalescing interval (default: the engine's). Its window is measured on the fake
   * clock (the engine's default with injected timers): commits at one fake instant after the
   * first are deferred until a read (view(), snapshot()…) or the end of the interval.
   */
  coalesceMs?: number
}

export class Harness {
  readonly dir: TestDir
  readonly time: FakeTime
  readonly store: Store
  readonly engine: QuorumEngine
  readonly cfg: HubConfig
  readonly changes: QuorumChange[] = []
  readonly logs: Record<string, unknown>[]
  private seq = new Map<string, number>()

  constructor(opts: HarnessOptions) {
    this.dir = opts.dir ?? tempDir('vantage-quorum-')
    this.time = opts.time ?? new FakeTime(T0)
    this.cfg = parseHubConfig(opts.yaml, `${this.dir.dir}/hub.yaml`, { data: `${this.dir.dir}/data` })
    this.store = Store.open(this.cfg.data)
    for (const a of this.store.agentsSeen()) this.seq.set(a.agent_id, a.seq)
    this.logs = opts.logs ?? []
    const logs = this.logs
    const logger = pino(
      { level: 'debug', base: null, timestamp: false },
      { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
    )
    this.engine = new QuorumEngine({
      store: this.store,
      config: () => this.cfg,
      clock: this.time,
      timers: this.time,
      logger,
      ...(opts.coalesceMs === undefined ? {} : { coalesceMs: opts.coalesceMs }),
    })
    this.engine.onChange((_s: QuorumSnapshot, change) => void this.changes.push(change))
    this.engine.start()
  }

  /** Stops the engine and closes the store (the temp dir stays, for a restart). */
  close(): void {
    this.engine.stop()
    this.store.close()
  }

  cleanup(): void {
    this.close()
    this.dir.cleanup()
  }

  now(): number {
    return this.time.now()
  }

  round(check = 'shop'): number {
    return Math.floor(this.now() / this.cfg.checks.get(check)!.spec.interval_ms)
  }

  /** One result from one agent of `vantage` (agent default: `<vantage>-1`), stored as ingest would. */
  report(vantage: string, outcome: Outcome, fields: Partial<ProbeResult> & { agent?: string } = {}): ProbeResult {
    const { agent = `${vantage}-1`, ...rest } = fields
    const check = rest.check ?? 'shop'
    const c = this.cfg.checks.get(check)!
    const now = this.now()
    const r: ProbeResult = {
      check,
      type: c.spec.type,
      target: c.spec.target,
      vantage,
      region: this.cfg.vantages.get(vantage)?.region ?? vantage,
      agent_id: agent,
      result_id: uuidv7(now),
      round: this.round(check),
      started_at: new Date(now).toISOString(),
      success: outcome === 'up',
      challenged: outcome === 'challenged',
      duration_seconds: 0.05,
      error: outcome === 'up' ? null : outcome === 'challenged' ? 'challenged by Cloudflare' : `connect ECONNREFUSED from ${vantage}`,
      error_code: outcome === 'up' ? null : outcome === 'challenged' ? 'CHALLENGE_CLOUDFLARE' : 'CONNECTION_REFUSED',
      ...(outcome === 'impaired' ? { vantage_impaired: true } : {}),
      ...rest,
    }
    const seq = (this.seq.get(agent) ?? 0) + 1
    this.seq.set(agent, seq)
    const [outcomeOf] = this.store.applyBatches([
      {
        agent_id: agent,
        vantage,
        seq,
        dropped: 0,
        results: [r],
        received_at: now,
        rule: (name) => {
          const cc = this.cfg.checks.get(name)
          return cc && cc.vantages.includes(vantage) ? { interval_ms: cc.spec.interval_ms, stale_after_ms: cc.stale_after_ms } : null
        },
      },
    ])
    if (outcomeOf instanceof Error || !outcomeOf.ok) throw new Error(`batch not stored: ${String(outcomeOf instanceof Error ? outcomeOf.message : outcomeOf.error)}`)
    return r
  }

  /** Every listed vantage reports the current round. */
  votes(outcomes: Record<string, Outcome>, check = 'shop'): void {
    for (const [vantage, outcome] of Object.entries(outcomes)) this.report(vantage, outcome, { check })
  }

  /**
   * Runs `rounds` rounds: at the start of each, the vantages report `outcomes`; time moves on by
   * one interval each (timers fire on the way).
   */
  async rounds(rounds: number, outcomes: Record<string, Outcome>, check = 'shop'): Promise<void> {
    const interval = this.cfg.checks.get(check)!.spec.interval_ms
    for (let i = 0; i < rounds; i++) {
      this.votes(outcomes, check)
      await this.time.advance(interval)
    }
  }

  /**
   * The view as the engine last decided it: only checks with commits still deferred (coalescing)
   * are evaluated on read, so a state reached with no traffic proves the timer ran.
   */
  view(check = 'shop') {
    const v = this.engine.current().checks.find((c) => c.name === check)
    if (!v) throw new Error(`no view of ${check}`)
    return v
  }

  vote(vantage: string, check = 'shop') {
    return this.view(check).vantages.find((v) => v.vantage === vantage)!
  }

  transitions(check = 'shop'): string[] {
    return this.changes.flatMap((c) => c.transitions.filter((t) => t.check === check).map((t) => `${t.from}→${t.to}`))
  }
}

export const THREE = `
vantages:
  eu: { region: eu }
  us: { region: us }
  ap: { region: ap }
`
