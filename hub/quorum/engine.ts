// The quorum engine: per check, each vantage's vote, the quorum rule and the state machine
// (tally.ts, machine.ts), incidents, mutes and acks. It is the only writer of the quorum view
// (types.ts) that /metrics, the review API, the review page and the alerting read.
//
// It runs after store commits (votes of a new round, agents seen) and on a timer armed for the
// next thing that changes without traffic (a vote turning stale, a `for` or `resolve_after` wait
// ending, a mute expiring, an agent going quiet), so staleness is noticed with no traffic.
// Commits are coalesced per check, like the Pushgateway feed (hub/pushgateway/feed.ts): a check
// not evaluated for a commit in the last `coalesceMs` is evaluated at once (a quiet hub reacts
// immediately); a check touched again within that interval is marked dirty and evaluated when its
// interval ends, all dirty checks on one timer. Under ingest load (hundreds of group commits a
// second, each touching most checks) that is one evaluation per check per interval instead of one
// per commit. Readers (snapshot, check, current, incidents) evaluate the dirty checks first, so
// nobody sees a view older than the last commit; mutes, acks and maintenance act at once.
// Clock and timers are injected: tests drive time. Every decision is persisted (migration 2)
// and restored on start: a restarted hub neither re-opens nor forgets an outage.
import type { Clock, Logger } from '../../agent/core/probe.ts'
import { systemTimers, type Timers } from '../../agent/daemon/time.ts'
import type { ProbeResult } from '../../proto/result.ts'
import type { HubCheck, HubConfig } from '../config.ts'
import type { CheckStateRow, EvidenceEntry, IncidentQuery, MuteRow, VantageVoteRow } from '../store/quorum.ts'
import type { AgentSeen, Store } from '../store/store.ts'
import { representative, type VoteState } from '../store/vote.ts'
import { deadline as machineDeadline, step } from './machine.ts'
import { effectiveVote, isEligible, leafFingerprints, tally, type Tally } from './tally.ts'
import type { CheckView, Incident, QuorumChange, QuorumSnapshot, StaleAgent, VantageView } from './types.ts'

export interface QuorumEngineOptions {
  store: Store
  config: () => HubConfig
  clock: Clock
  timers?: Timers
  logger: Logger
  /** Longest wait between two evaluations, even when nothing is due (default 60 s). */
  maxWaitMs?: number
  /**
   * Shortest time between two commit-driven evaluations of one check, in ms (default
   * QUORUM_COALESCE_MS); 0 evaluates every commit at once.
   */
  coalesceMs?: number
  /**
   * Monotonic ms for the coalescing interval. Default: performance.now() with the system timers;
   * with injected timers, the injected clock (fake timers count fake time: an interval measured
   * in real time would never end under them, or end at random).
   */
  now?: () => number
}

/**
 * Quorum rules are in seconds (rounds of at least 1 s, `for` and `resolve_after` in seconds or
 * minutes): a commit's effect reaching the view, the listeners and the alerting at most 250 ms
 * late changes no decision anyone can act on, while it caps the work at about 4 evaluations per
 * check per second however many commits ingest makes (hundreds a second under load). Readers
 * never wait for it: they evaluate the dirty checks first.
 */
export const QUORUM_COALESCE_MS = 250

export type QuorumListener = (snapshot: QuorumSnapshot, change: QuorumChange) => void

/** Whether a check is inside a maintenance window (alerts suppressed, recording continues). */
export type MaintenancePredicate = (check: HubCheck, now: number) => boolean

export interface Mute {
  vantage: string
  reason: string
  /** Unix ms; null: until unmuted. */
  until: number | null
  by?: string
  created_at: number
}

export interface Ack {
  note: string
  by?: string
  at: number
  incident_id: number | null
}

interface CheckRuntime {
  row: CheckStateRow
  /** The row came from the store (start-up grace applies), rather than being new. */
  restored: boolean
  vantages: Map<string, VantageVoteRow>
  view: CheckView | null
  /** Change detection for listeners: the parts of the view that matter. */
  signature: string
  healthy: boolean | null
  /** Next time this check changes without traffic, or null. */
  deadline: number | null
  /** Config fingerprint last warned about (an unreachable K). */
  warned: string | null
  /** The check and vantages (config objects) warnUnreachable last looked at: unchanged, nothing to redo. */
  warnedFor: { check: HubCheck; vantages: HubConfig['vantages'] } | null
  /** The ack shown on the view, read once per ack id (acks are never updated). */
  ack: { id: number; view: CheckView['ack'] } | null
  /** What updateEvidence last brought the open incident up to (incident, failing vantages, their latest results). */
  evidenceKey: string | null
}

type Input = { vantage: string; failure_domain?: string; vote: VantageVoteRow['vote']; impaired: boolean; stored: VoteState | undefined; mute: MuteRow | undefined }

const DEFAULT_MAX_WAIT_MS = 60_000

export class QuorumEngine {
  private readonly store: Store
  private readonly config: () => HubConfig
  private readonly clock: Clock
  private readonly timers: Timers
  private readonly logger: Logger
  private readonly maxWaitMs: number
  private readonly coalesceMs: number
  private readonly monotonic: () => number
  private readonly checks = new Map<string, CheckRuntime>()
  private readonly mutes = new Map<string, MuteRow>()
  private readonly listeners = new Set<QuorumListener>()
  private maintenance: MaintenancePredicate = () => false
  private staleAgents: StaleAgent[] = []
  private agentsDeadline: number | null = null
  private startedAt = 0
  private timer: unknown = null
  private timerAt: number | null = null
  private unsubscribe: (() => void) | null = null
  private busy = false
  private running = false
  /** Checks touched by commits and not evaluated since (their interval had not ended). */
  private readonly dirty = new Set<string>()
  /** Monotonic ms when each check last evaluated commits (at once, or when its interval ended). */
  private readonly lastCommitEval = new Map<string, number>()
  /** A commit changed the agents seen and stale agents have not been recomputed since. */
  private agentsDirty = false
  /** Monotonic ms of the last evaluation (every evaluation recomputes stale agents). */
  private lastAgentsEval: number | null = null
  private coalesceTimer: unknown = null
  /** Per-vantage stale threshold (shortest stale_after of its checks), for one config. */
  private agentLimits: { cfg: HubConfig; limits: Map<string, number> } | null = null

  constructor(opts: QuorumEngineOptions) {
    this.store = opts.store
    this.config = opts.config
    this.clock = opts.clock
    this.timers = opts.timers ?? systemTimers
    this.logger = opts.logger
    this.maxWaitMs = opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS
    this.coalesceMs = Math.max(0, opts.coalesceMs ?? QUORUM_COALESCE_MS)
    const clock = opts.clock
    this.monotonic = opts.now ?? (opts.timers && opts.timers !== systemTimers ? () => clock.now() : () => performance.now())
  }

  /** Restores the persisted decisions, evaluates every check and starts listening and timing. */
  start(): void {
    if (this.running) return
    this.running = true
    this.startedAt = this.clock.now()
    const tables = this.store.quorum
    const votes = new Map<string, Map<string, VantageVoteRow>>()
    for (const v of tables.vantageVotes()) {
      let m = votes.get(v.check)
      if (!m) votes.set(v.check, (m = new Map()))
      m.set(v.vantage, v)
    }
    for (const row of tables.states()) {
      this.checks.set(row.check, this.runtime(row, true, votes.get(row.check) ?? new Map()))
    }
    for (const m of tables.mutes()) this.mutes.set(m.vantage, m)
    const restoredOpen = [...this.checks.values()].filter((c) => c.row.incident_id !== null)
    this.logger.info(
      { checks: this.checks.size, mutes: this.mutes.size, open_incidents: restoredOpen.map((c) => ({ check: c.row.check, incident: c.row.incident_id })) },
      'quorum state restored',
    )
    this.unsubscribe = this.store.onCommit((votes) => this.onCommit(votes))
    this.evaluate()
  }

  /** Stops the timers and the store subscription (the store stays open; dirty checks are dropped). */
  stop(): void {
    this.running = false
    this.unsubscribe?.()
    this.unsubscribe = null
    if (this.timer !== null) this.timers.clearTimeout(this.timer)
    this.timer = null
    this.timerAt = null
    if (this.coalesceTimer !== null) this.timers.clearTimeout(this.coalesceTimer)
    this.coalesceTimer = null
    this.dirty.clear()
    this.lastCommitEval.clear()
    this.agentsDirty = false
    this.lastAgentsEval = null
  }

  /** Subscribes to changes (state transitions, votes, flags, stale agents); returns the unsubscribe function. */
  onChange(listener: QuorumListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Decides who is in a maintenance window (the alerting's windows); re-evaluates at once. */
  setMaintenance(predicate: MaintenancePredicate): void {
    this.maintenance = predicate
    if (this.running) this.evaluate()
  }

  /** The quorum view of every configured check, as of now (config order). */
  snapshot(): QuorumSnapshot {
    if (this.running && !this.busy) this.evaluate()
    return this.current()
  }

  /**
   * The view as last evaluated, for readers that just had snapshot(): only checks touched by
   * commits since (dirty, their interval not over) are evaluated first.
   */
  current(): QuorumSnapshot {
    this.flushDirty()
    const cfg = this.config()
    const checks: CheckView[] = []
    for (const name of cfg.checks.keys()) {
      const view = this.checks.get(name)?.view
      if (view) checks.push(view)
    }
    return { at: this.clock.now(), checks, stale_agents: [...this.staleAgents] }
  }

  /** One check's view, or undefined when no such check is configured. */
  check(name: string): CheckView | undefined {
    if (!this.config().checks.has(name)) return undefined
    if (this.running && !this.busy) this.evaluate([name])
    return this.checks.get(name)?.view ?? undefined
  }

  incidents(q: IncidentQuery = {}): Incident[] {
    this.flushDirty()
    return this.store.quorum.incidents(q)
  }

  incident(id: number): Incident | undefined {
    this.flushDirty()
    return this.store.quorum.incident(id)
  }

  /** Checks touched by commits whose evaluation waits for the end of their interval (tests, diagnostics). */
  deferred(): string[] {
    return [...this.dirty]
  }

  /** Active mutes (expired ones are dropped at the next evaluation). */
  activeMutes(): Mute[] {
    const now = this.clock.now()
    return [...this.mutes.values()].filter((m) => isActive(m, now)).map(toMute)
  }

  mute(vantage: string, m: { reason: string; until: number | null; by?: string }): Mute {
    const row: MuteRow = { vantage, reason: m.reason, until: m.until, by: m.by ?? null, created_at: this.clock.now() }
    this.store.quorum.putMute(row)
    this.mutes.set(vantage, row)
    this.logger.info({ vantage, reason: m.reason, until: m.until === null ? null : new Date(m.until).toISOString(), by: m.by }, 'vantage muted')
    this.evaluate(this.checksOf(vantage))
    return toMute(row)
  }

  /** Returns whether the vantage was muted. */
  unmute(vantage: string, by?: string): boolean {
    const was = this.mutes.get(vantage)
    if (!was) return false
    this.store.quorum.deleteMute(vantage)
    this.mutes.delete(vantage)
    this.logger.info({ vantage, by }, 'vantage unmuted')
    this.evaluate(this.checksOf(vantage))
    return true
  }

  /**
   * Records an operator note on a check (and on its open incident). It shows on the check until
   * the check is healthy again (ok, no disagreement, not all challenged, no certificate mismatch).
   */
  ack(check: string, note: string, by?: string): Ack {
    if (this.running && !this.busy) this.evaluate([check])
    const rt = this.checks.get(check)
    const at = this.clock.now()
    const incidentId = rt?.row.incident_id ?? null
    const row = this.store.quorum.insertAck({ check, note, by: by ?? null, at, incident_id: incidentId })
    if (rt) {
      rt.row = { ...rt.row, ack_id: row.id }
      this.store.quorum.putState(rt.row, at)
    }
    this.logger.info({ check, incident: incidentId, by, note }, 'check acknowledged')
    this.evaluate([check], true)
    return by ? { note, by, at, incident_id: incidentId } : { note, at, incident_id: incidentId }
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Checks not evaluated for a commit in the last coalesceMs are evaluated now; the others are
   * marked dirty and evaluated when their interval ends (or by the next reader).
   */
  private onCommit(votes: readonly VoteState[]): void {
    if (!this.running) return
    const cfg = this.config()
    const now = this.monotonic()
    const due = new Set<string>()
    for (const v of votes) {
      const name = v.check
      // One entry per (check, vantage): a check already due or dirty is done.
      if (due.has(name) || this.dirty.has(name) || !cfg.checks.has(name)) continue
      // A commit during an evaluation (a listener's doing) waits for the timer, not lost.
      if (this.busy || !this.quiet(this.lastCommitEval.get(name), now)) this.dirty.add(name)
      else due.add(name)
    }
    // Agents seen changed too: stale agents are recomputed by every evaluation.
    const agentsDue = !this.busy && this.quiet(this.lastAgentsEval ?? undefined, now)
    if (due.size > 0 || agentsDue) {
      for (const name of due) this.lastCommitEval.set(name, now)
      this.evaluate(due)
    } else {
      this.agentsDirty = true
    }
    this.armCoalesce()
  }

  /** Whether an interval that began at `last` (monotonic ms) is over; a clock that went back ends it. */
  private quiet(last: number | undefined, now: number): boolean {
    return last === undefined || now - last >= this.coalesceMs || now < last
  }

  /** One timer for every dirty check, at the earliest end of their intervals. */
  private armCoalesce(): void {
    if (this.coalesceTimer !== null || !this.running || (this.dirty.size === 0 && !this.agentsDirty)) return
    let at = Infinity
    for (const name of this.dirty) at = Math.min(at, (this.lastCommitEval.get(name) ?? -Infinity) + this.coalesceMs)
    if (this.agentsDirty) at = Math.min(at, (this.lastAgentsEval ?? -Infinity) + this.coalesceMs)
    const handle = this.timers.setTimeout(this.flushDue, Math.max(0, Math.ceil(at - this.monotonic())))
    ;(handle as { unref?: () => void } | null)?.unref?.()
    this.coalesceTimer = handle
  }

  private readonly flushDue = (): void => {
    this.coalesceTimer = null
    if (!this.running) return
    const now = this.monotonic()
    let due = [...this.dirty].filter((name) => this.quiet(this.lastCommitEval.get(name), now))
    const agentsDue = this.agentsDirty && this.quiet(this.lastAgentsEval ?? undefined, now)
    // The timer fired with nothing due (a timer a hair early, or a clock out of step with the
    // timers): the timer decides, so a dirty check never waits for a clock that does not move.
    if (due.length === 0 && !agentsDue) due = [...this.dirty]
    if (due.length > 0 || this.agentsDirty) this.evaluate(due)
    this.armCoalesce()
  }

  /** Evaluates every dirty check now (readers: nobody sees a view older than the last commit). */
  private flushDirty(): void {
    if (!this.running || this.busy || (this.dirty.size === 0 && !this.agentsDirty)) return
    this.evaluate([...this.dirty])
    if (this.dirty.size === 0 && !this.agentsDirty && this.coalesceTimer !== null) {
      this.timers.clearTimeout(this.coalesceTimer)
      this.coalesceTimer = null
    }
  }

  /**
   * Checks evaluated now (`names`; undefined: every configured check) are no longer dirty: a
   * dirty one's interval starts again now. Stale agents are recomputed by every evaluation.
   */
  private settleDirty(cfg: HubConfig, names: string[] | undefined): void {
    const now = this.monotonic()
    if (names === undefined) {
      for (const name of this.dirty) if (cfg.checks.has(name)) this.lastCommitEval.set(name, now)
      this.dirty.clear()
      for (const name of this.lastCommitEval.keys()) if (!cfg.checks.has(name)) this.lastCommitEval.delete(name)
    } else {
      for (const name of names) if (this.dirty.delete(name) && cfg.checks.has(name)) this.lastCommitEval.set(name, now)
    }
    this.agentsDirty = false
    this.lastAgentsEval = now
  }

  /**
   * Evaluates the given checks (default: all, which also closes incidents of removed checks),
   * persists what changed in one transaction, re-arms the timer and tells the listeners.
   */
  evaluate(only?: Iterable<string>, forceChanged = false): void {
    if (this.busy) return
    this.busy = true
    const change: QuorumChange = { checks: [], transitions: [], stale_agents: false }
    try {
      const now = this.clock.now()
      const cfg = this.config()
      const requested = only === undefined ? undefined : [...only]
      const expired = this.expiredMutes(now)
      const every = requested === undefined || expired.length > 0
      const names = every ? [...cfg.checks.keys()] : requested.filter((n) => cfg.checks.has(n))
      this.settleDirty(cfg, every ? undefined : requested)
      // No check and no expired mute (a commit of agents seen only): nothing to write.
      if (names.length > 0 || expired.length > 0 || requested === undefined) {
        this.store.quorum.transaction(() => {
          this.expireMutes(expired)
          for (const name of names) {
            const changed = this.evaluateCheck(cfg, cfg.checks.get(name)!, now, change)
            if (changed || (forceChanged && requested !== undefined)) change.checks.push(name)
          }
          if (requested === undefined) this.closeRemoved(cfg, now, change)
        })
      }
      change.stale_agents = this.updateStaleAgents(cfg, now)
    } catch (err) {
      this.logger.error({ error: (err as Error).message }, 'quorum evaluation failed')
      // The transaction rolled back: incidents are compared with the store again next time.
      for (const rt of this.checks.values()) rt.evidenceKey = null
    } finally {
      this.busy = false
    }
    this.arm()
    if (change.checks.length > 0 || change.transitions.length > 0 || change.stale_agents) this.notify(change)
  }

  private evaluateCheck(cfg: HubConfig, check: HubCheck, now: number, change: QuorumChange): boolean {
    const name = check.spec.name
    const tables = this.store.quorum
    let rt = this.checks.get(name)
    if (!rt) {
      // Nothing known yet: unknown until enough vantages have voted.
      rt = this.runtime({ check: name, state: 'unknown', since: now, clear_since: null, disagreement_since: null, incident_id: null, ack_id: null }, false, new Map())
      this.checks.set(name, rt)
      tables.putState(rt.row, now)
    }

    // Each configured vantage's vote.
    const inputs: Input[] = []
    // The results behind live votes (certificate comparison).
    const latest: ProbeResult[] = []
    let nextStale: number | null = null
    for (const vantage of check.vantages) {
      const stored = this.store.vote(name, vantage)
      const mute = this.mutes.get(vantage)
      const eff = effectiveVote(stored, check.stale_after_ms, now, mute !== undefined && isActive(mute, now))
      if (eff.stale_at !== null) nextStale = nextStale === null ? eff.stale_at : Math.min(nextStale, eff.stale_at)
      const prev = rt.vantages.get(vantage)
      if (!prev || prev.vote !== eff.vote || prev.impaired !== eff.impaired) {
        const row: VantageVoteRow = {
          check: name,
          vantage,
          vote: eff.vote,
          impaired: eff.impaired,
          since: prev && prev.vote === eff.vote ? prev.since : now,
          down_result_id: eff.vote === 'down' ? (prev?.vote === 'down' && prev.down_result_id ? prev.down_result_id : stored!.result.result_id) : null,
        }
        tables.putVantageVote(row)
        rt.vantages.set(vantage, row)
        if (prev?.vote !== eff.vote) {
          // The first sight of a vantage (usually `stale` before it ever reported) is not news.
          this.logger[prev ? 'info' : 'debug']({ check: name, vantage, vote: eff.vote, previous: prev?.vote ?? null, impaired: eff.impaired, agents: stored?.agents ?? [] }, 'quorum vote changed')
        }
      }
      inputs.push({ vantage, failure_domain: cfg.vantages.get(vantage)?.failure_domain, vote: eff.vote, impaired: eff.impaired, stored, mute })
      if (eff.vote !== 'stale' && stored) latest.push(representative(stored))
    }

    const t = tally(inputs, check.quorum.min_down)
    this.warnUnreachable(rt, check, cfg)
    const hold = rt.restored && now < this.startedAt + check.stale_after_ms
    const rule = { for_ms: check.quorum.for_ms, resolve_after_ms: check.quorum.resolve_after_ms }
    const { next, transitions } = step(rt.row, { condition: t.condition, ...rule, now, incident_open: rt.row.incident_id !== null, hold })

    let row: CheckStateRow = { ...rt.row, state: next.state, since: next.since, clear_since: next.clear_since }
    row.disagreement_since = t.disagreement ? (rt.row.disagreement_since ?? now) : null

    // Incidents: opened on entering outage, closed on recovery to ok.
    for (const tr of transitions) {
      this.logger[tr.to === 'outage' ? 'warn' : 'info'](
        { check: name, state: tr.to, previous: tr.from, eligible: t.eligible, down: t.down, min_down: t.min_down, failing: t.failing },
        'check state changed',
      )
      if (tr.to === 'outage' && row.incident_id === null) {
        const evidence = this.evidenceFor(name, t.failing, [])
        row.incident_id = tables.openIncident(name, now, tr.from === 'pending' ? tr.from_since : now, t.failing, evidence)
        this.logger.warn({ check: name, incident: row.incident_id, failing: t.failing }, 'incident opened')
      } else if (tr.to === 'ok' && row.incident_id !== null) {
        tables.closeIncident(row.incident_id, now, 'recovered')
        this.logger.info({ check: name, incident: row.incident_id }, 'incident closed')
        row.incident_id = null
      }
      change.transitions.push({ check: name, from: tr.from, to: tr.to, at: now, incident_id: row.incident_id })
    }
    // While in outage, the incident keeps the evidence current: new failing vantages, last results.
    if (row.incident_id !== null && row.state === 'outage' && transitions.length === 0) this.updateEvidence(rt, row.incident_id, name, t.failing)

    // The view.
    const certMismatch = leafFingerprints(latest).length > 1
    const healthy = row.state === 'ok' && !t.disagreement && !t.all_challenged && !certMismatch
    if (rt.healthy === false && healthy && row.ack_id !== null) {
      this.logger.info({ check: name }, 'check healthy again: acknowledgement cleared')
      row.ack_id = null
    }
    rt.healthy = healthy
    if (!sameRow(row, rt.row)) tables.putState(row, now)
    rt.row = row

    const view = this.buildView(cfg, check, rt, inputs, t, certMismatch, now)
    rt.view = view
    rt.deadline = minOf(
      machineDeadline(next, { condition: t.condition, ...rule }),
      nextStale,
      rt.restored && now < this.startedAt + check.stale_after_ms ? this.startedAt + check.stale_after_ms : null,
    )
    const signature = JSON.stringify([
      view.state, view.since, view.eligible, view.down, view.min_down, view.disagreement, view.all_challenged, view.cert_mismatch,
      view.incident_id, view.ack?.at ?? null, view.in_maintenance,
      view.vantages.map((v) => [v.vote, v.impaired, v.mute?.until ?? null, v.mute?.reason ?? null]),
    ])
    const changed = signature !== rt.signature
    rt.signature = signature
    return changed
  }

  private buildView(
    cfg: HubConfig,
    check: HubCheck,
    rt: CheckRuntime,
    inputs: Input[],
    t: Tally,
    certMismatch: boolean,
    now: number,
  ): CheckView {
    const vantages: VantageView[] = inputs.map((i) => {
      const info = cfg.vantages.get(i.vantage)
      const v: VantageView = {
        vantage: i.vantage,
        region: info?.region ?? i.vantage,
        ...(info?.failure_domain ? { failure_domain: info.failure_domain } : {}),
        vote: i.vote,
        impaired: i.impaired,
        agents: i.stored ? [...i.stored.agents] : [],
        latest: i.stored ? representative(i.stored) : null,
        since: rt.vantages.get(i.vantage)?.since ?? now,
        // Exactly the vantages tally() counts (t.eligible_vantages), without a search per vantage.
        eligible: isEligible(i),
      }
      if (i.mute && isActive(i.mute, now)) v.mute = i.mute.by ? { reason: i.mute.reason, until: i.mute.until, by: i.mute.by } : { reason: i.mute.reason, until: i.mute.until }
      return v
    })
    const view: CheckView = {
      name: check.spec.name,
      type: check.spec.type,
      target: check.spec.target,
      state: rt.row.state,
      since: rt.row.since,
      vantages,
      eligible: t.eligible,
      down: t.down,
      min_down: t.min_down,
      up: t.up,
      disagreement: t.disagreement,
      disagreement_since: rt.row.disagreement_since,
      all_challenged: t.all_challenged,
      cert_mismatch: certMismatch,
      incident_id: rt.row.incident_id,
      severity: check.severity,
      in_maintenance: safeMaintenance(this.maintenance, check, now, this.logger),
    }
    if (check.runbook_url) view.runbook_url = check.runbook_url
    if (rt.row.ack_id !== null) {
      if (rt.ack?.id !== rt.row.ack_id) {
        const ack = this.store.quorum.ack(rt.row.ack_id)
        rt.ack = { id: rt.row.ack_id, view: ack ? (ack.by ? { note: ack.note, by: ack.by, at: ack.at } : { note: ack.note, at: ack.at }) : undefined }
      }
      if (rt.ack.view) view.ack = { ...rt.ack.view }
    }
    return view
  }

  /** First failing result (the start of each vantage's down streak) and the latest one. */
  private evidenceFor(check: string, failing: string[], existing: EvidenceEntry[]): EvidenceEntry[] {
    const out = existing.map((e) => ({ ...e }))
    for (const vantage of failing) {
      const stored = this.store.vote(check, vantage)
      if (!stored) continue
      const entry = out.find((e) => e.vantage === vantage)
      if (entry) {
        if (entry.last.result_id !== stored.result.result_id) entry.last = representative(stored)
        continue
      }
      const firstId = this.checks.get(check)?.vantages.get(vantage)?.down_result_id
      const last = representative(stored)
      const first: ProbeResult = (firstId && firstId !== last.result_id ? this.store.result(firstId) : undefined) ?? last
      out.push({ vantage, first, last })
    }
    return out
  }

  private updateEvidence(rt: CheckRuntime, id: number, check: string, failing: string[]): void {
    // Same incident, same failing vantages, same latest results as last time: nothing to add
    // (the engine is the incident's only writer), so no read of the incident either.
    let key = String(id)
    for (const v of failing) key += `\xff${v}\xfe${this.store.vote(check, v)?.result.result_id ?? ''}`
    if (rt.evidenceKey === key) return
    rt.evidenceKey = key
    const incident = this.store.quorum.incident(id)
    if (!incident || incident.ended_at !== null) return
    const evidence = this.evidenceFor(check, failing, incident.evidence)
    const vantages = [...incident.failing_vantages]
    for (const v of failing) if (!vantages.includes(v)) vantages.push(v)
    const changed =
      vantages.length !== incident.failing_vantages.length ||
      evidence.length !== incident.evidence.length ||
      evidence.some((e, i) => e.last.result_id !== incident.evidence[i]?.last.result_id)
    if (changed) this.store.quorum.updateIncident(id, vantages, evidence)
  }

  /** Incidents of checks that left the config are closed (nothing will ever resolve them). */
  private closeRemoved(cfg: HubConfig, now: number, change: QuorumChange): void {
    for (const [name, rt] of this.checks) {
      if (cfg.checks.has(name) || rt.row.incident_id === null) continue
      this.store.quorum.closeIncident(rt.row.incident_id, now, 'check_removed')
      this.logger.info({ check: name, incident: rt.row.incident_id }, 'check removed from the config: incident closed')
      rt.row = { ...rt.row, incident_id: null }
      this.store.quorum.putState(rt.row, now)
      change.checks.push(name)
    }
  }

  private expiredMutes(now: number): MuteRow[] {
    const out: MuteRow[] = []
    for (const m of this.mutes.values()) if (!isActive(m, now)) out.push(m)
    return out
  }

  private expireMutes(expired: MuteRow[]): void {
    for (const m of expired) {
      this.store.quorum.deleteMute(m.vantage)
      this.mutes.delete(m.vantage)
      this.logger.info({ vantage: m.vantage, reason: m.reason }, 'vantage mute expired')
    }
  }

  /**
   * An agent is stale when the hub has accepted nothing from it for the shortest stale_after of
   * the checks its vantage runs (it pushes at least every round of those). Counted from the
   * engine's start at the earliest, so a restart after a long stop does not flag every agent.
   */
  private updateStaleAgents(cfg: HubConfig, now: number): boolean {
    if (this.agentLimits?.cfg !== cfg) {
      const limits = new Map<string, number>()
      for (const c of cfg.checks.values()) {
        for (const v of c.vantages) limits.set(v, Math.min(limits.get(v) ?? Infinity, c.stale_after_ms))
      }
      this.agentLimits = { cfg, limits }
    }
    const threshold = this.agentLimits.limits
    const seen = new Map<string, AgentSeen>()
    for (const a of this.store.agentsSeen()) seen.set(a.agent_id, a)
    const stale: StaleAgent[] = []
    let next: number | null = null
    for (const agent of cfg.agents.values()) {
      const limit = threshold.get(agent.vantage)
      if (limit === undefined) continue
      const lastSeen = seen.get(agent.id)?.last_seen ?? 0
      const ref = Math.max(lastSeen, this.startedAt)
      if (now - ref > limit) stale.push({ vantage: agent.vantage, agent: agent.id, last_seen: lastSeen })
      else next = minOf(next, ref + limit + 1)
    }
    this.agentsDeadline = next
    const key = (list: StaleAgent[]) => list.map((a) => `${a.vantage}/${a.agent}`).join(',')
    const changed = key(stale) !== key(this.staleAgents)
    if (changed) {
      const before = new Set(this.staleAgents.map((a) => a.agent))
      for (const a of stale) if (!before.has(a.agent)) this.logger.warn({ vantage: a.vantage, agent: a.agent, last_seen: a.last_seen || null }, 'agent stale')
      const after = new Set(stale.map((a) => a.agent))
      for (const a of this.staleAgents) if (!after.has(a.agent)) this.logger.info({ vantage: a.vantage, agent: a.agent }, 'agent reporting again')
    }
    this.staleAgents = stale
    return changed
  }

  private warnUnreachable(rt: CheckRuntime, check: HubCheck, cfg: HubConfig): void {
    if (!('count' in check.quorum.min_down)) return
    if (rt.warnedFor?.check === check && rt.warnedFor.vantages === cfg.vantages) return
    rt.warnedFor = { check, vantages: cfg.vantages }
    const units = new Set(check.vantages.map((v) => cfg.vantages.get(v)?.failure_domain ?? `vantage:${v}`))
    const fp = `${check.quorum.min_down.count}/${[...units].join(',')}`
    if (units.size >= check.quorum.min_down.count || rt.warned === fp) return
    rt.warned = fp
    this.logger.warn(
      { check: check.spec.name, min_down: check.quorum.min_down.count, failure_domains: units.size },
      'min_down exceeds the independent failure domains of this check: it can never reach a quorum and stays unknown',
    )
  }

  /** Arms one timer for the earliest deadline (capped at maxWaitMs). */
  private arm(): void {
    if (!this.running) return
    const now = this.clock.now()
    let at: number | null = this.agentsDeadline
    for (const rt of this.checks.values()) at = minOf(at, rt.deadline)
    for (const m of this.mutes.values()) at = minOf(at, m.until)
    const target = Math.min(at ?? Infinity, now + this.maxWaitMs)
    if (this.timer !== null && this.timerAt === target) return
    if (this.timer !== null) this.timers.clearTimeout(this.timer)
    this.timerAt = target
    this.timer = this.timers.setTimeout(() => {
      this.timer = null
      this.timerAt = null
      if (this.running) this.evaluate()
    }, Math.max(1, target - now))
  }

  private notify(change: QuorumChange): void {
    if (this.listeners.size === 0) return
    this.busy = true
    try {
      const snapshot = this.snapshot()
      for (const listener of this.listeners) {
        try {
          listener(snapshot, change)
        } catch (err) {
          this.logger.error({ error: (err as Error).message }, 'quorum listener failed')
        }
      }
    } finally {
      this.busy = false
    }
  }

  private checksOf(vantage: string): string[] {
    return [...this.config().checks.values()].filter((c) => c.vantages.includes(vantage)).map((c) => c.spec.name)
  }

  private runtime(row: CheckStateRow, restored: boolean, vantages: Map<string, VantageVoteRow>): CheckRuntime {
    // A restored check was healthy if it was ok without disagreement (its ack clears on recovery).
    const healthy = restored ? row.state === 'ok' && row.disagreement_since === null : null
    return { row, restored, vantages, view: null, signature: '', healthy, deadline: null, warned: null, warnedFor: null, ack: null, evidenceKey: null }
  }
}

function isActive(m: MuteRow, now: number): boolean {
  return m.until === null || now < m.until
}

function toMute(m: MuteRow): Mute {
  const out: Mute = { vantage: m.vantage, reason: m.reason, until: m.until, created_at: m.created_at }
  if (m.by) out.by = m.by
  return out
}

function sameRow(a: CheckStateRow, b: CheckStateRow): boolean {
  return (
    a.state === b.state && a.since === b.since && a.clear_since === b.clear_since && a.disagreement_since === b.disagreement_since &&
    a.incident_id === b.incident_id && a.ack_id === b.ack_id
  )
}

function minOf(...values: (number | null)[]): number | null {
  let out: number | null = null
  for (const v of values) if (v !== null && (out === null || v < out)) out = v
  return out
}

function safeMaintenance(p: MaintenancePredicate, check: HubCheck, now: number, logger: Logger): boolean {
  try {
    return p(check, now)
  } catch (err) {
    logger.error({ check: check.spec.name, error: (err as Error).message }, 'maintenance window check failed')
    return false
  }
}
