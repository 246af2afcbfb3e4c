// The hub's feed into the Pushgateway-compatible store (DESIGN.md, "What Prometheus sees"): the
// deduped, verified results become one group per vantage, `job="synthetic-probe", vantage="<v>"`
// for probes and `job="synthetic-journey", vantage="<v>"` for journeys, labelled
// `check, type, target, vantage, region`. A commit of the hub's store marks the vantages it
// touched; their groups are rewritten whole, at most once per `flushMs` per vantage (default
// 1 s): a commit after a quiet spell is written at once, commits that follow within the
// interval are gathered and written together when it ends (one write per group per flush, not
// one per commit or per result; Prometheus scrapes far less often). The interval grows with
// what the writes cost (FEED_MAX_SHARE), so that thousands of checks per vantage slow the feed
// down rather than the hub. A sync at start (and on config reloads) rebuilds every group and
// drops those of vantages that no longer have a configured check; close() writes what is still
// pending.
import type { HubConfig } from '../config.ts'
import type { ProbeResult, StepResult } from '../../proto/result.ts'
import { representative, type VoteState } from '../store/vote.ts'
import type { FeedFamily, FeedSample, PushStore, StoreLogger } from './store.ts'

export const PROBE_JOB = 'synthetic-probe'
export const JOURNEY_JOB = 'synthetic-journey'

/** What the feed reads: the hub store's latest vote per (check, vantage), and its commits. */
export interface FeedSource {
  currentVotes(): Iterable<VoteState>
  onCommit(listener: (votes: readonly VoteState[]) => void): () => void
}

export interface FeedOptions {
  source: FeedSource
  store: PushStore
  config: () => HubConfig
  logger?: StoreLogger
  /** Shortest time between two writes of one vantage's groups, in ms (default FEED_FLUSH_MS). */
  flushMs?: number
  /** Monotonic ms (tests). */
  now?: () => number
}

/** Rewriting a 100-check group costs milliseconds: under load, once a second per vantage is plenty. */
export const FEED_FLUSH_MS = 1000

/**
 * The largest share of the event loop the feed's writes take: the interval between two writes
 * of a vantage is at least the time the last writes of every vantage took, divided by this. A
 * group costs roughly 50–100 µs per check to rewrite: a hundred checks per vantage leave the
 * interval at FEED_FLUSH_MS; five thousand on each of five vantages stretch it to about 20 s
 * (Prometheus scrapes every 15–60 s) instead of taking the whole event loop.
 */
export const FEED_MAX_SHARE = 0.1

type Labels = Record<'check' | 'type' | 'target' | 'vantage' | 'region', string>

interface Row {
  labels: Labels
  vote: VoteState
  /** The whole result that stands for the vote. */
  result: ProbeResult
}

type Spec = { name: string; help: string; value: (v: VoteState, r: ProbeResult) => number | null | undefined }

const PROBE_FAMILIES: Spec[] = [
  { name: 'synthetic_probe_success', help: 'Whether the vantage saw the check succeed in its latest round (1 = up).', value: (v) => (v.vote === 'up' ? 1 : 0) },
  { name: 'synthetic_probe_challenged', help: 'Whether the vantage was answered with a bot/WAF challenge in its latest round.', value: (v) => (v.vote === 'challenged' ? 1 : 0) },
  { name: 'synthetic_probe_duration_seconds', help: 'Duration of the probe that stands for the vantage’s vote.', value: (_v, r) => r.duration_seconds },
  { name: 'synthetic_probe_status_code', help: 'HTTP status code of that probe.', value: (_v, r) => r.http?.status_code },
  { name: 'synthetic_probe_last_run_timestamp_seconds', help: 'When that probe started (unix seconds).', value: (_v, r) => Date.parse(r.started_at) / 1000 },
  {
    name: 'synthetic_probe_ssl_earliest_cert_expiry',
    help: 'Earliest NotAfter among the certificates the server sent (unix seconds).',
    value: (_v, r) => r.tls?.earliest_cert_expiry,
  },
]

const JOURNEY_FAMILIES: Spec[] = [
  { name: 'journey_up', help: 'Whether the journey succeeded from this vantage in its latest round (1 = up).', value: (v) => (v.vote === 'up' ? 1 : 0) },
  { name: 'journey_total_duration_seconds', help: 'Duration of the whole journey run that stands for the vantage’s vote.', value: (_v, r) => r.duration_seconds },
  { name: 'journey_last_run_timestamp_seconds', help: 'When that journey run started (unix seconds).', value: (_v, r) => Date.parse(r.started_at) / 1000 },
]

const STEP_FAMILIES: { name: string; help: string; value: (s: StepResult) => number }[] = [
  { name: 'journey_step_up', help: 'Whether the journey step succeeded (1 = up).', value: (s) => (s.success ? 1 : 0) },
  { name: 'journey_step_challenged', help: 'Whether the journey step was answered with a bot/WAF challenge.', value: (s) => (s.challenged ? 1 : 0) },
  { name: 'journey_step_duration_seconds', help: 'Duration of the journey step.', value: (s) => s.duration_seconds },
]

function usable(v: number | null | undefined): v is number {
  return v !== null && v !== undefined && Number.isFinite(v)
}

/** The families of one `synthetic-probe` group. */
export function probeFamilies(rows: readonly Row[]): FeedFamily[] {
  const out: FeedFamily[] = []
  for (const spec of PROBE_FAMILIES) {
    const samples: FeedSample[] = []
    for (const { labels, vote, result } of rows) {
      const v = spec.value(vote, result)
      if (usable(v)) samples.push({ labels, value: v })
    }
    if (samples.length > 0) out.push({ name: spec.name, help: spec.help, type: 'gauge', samples })
  }
  const tls: FeedSample[] = []
  for (const { labels, result } of rows) {
    const version = result.tls?.version
    if (version) tls.push({ labels: { ...labels, version }, value: 1 })
  }
  if (tls.length > 0) out.push({ name: 'synthetic_probe_tls_version_info', help: 'The TLS version the probe negotiated (1 for the version seen).', type: 'gauge', samples: tls })
  return out
}

/** The families of one `synthetic-journey` group. */
export function journeyFamilies(rows: readonly Row[]): FeedFamily[] {
  const out: FeedFamily[] = []
  for (const spec of JOURNEY_FAMILIES) {
    const samples: FeedSample[] = []
    for (const { labels, vote, result } of rows) {
      const v = spec.value(vote, result)
      if (usable(v)) samples.push({ labels, value: v })
    }
    if (samples.length > 0) out.push({ name: spec.name, help: spec.help, type: 'gauge', samples })
  }
  for (const spec of STEP_FAMILIES) {
    const samples: FeedSample[] = []
    for (const { labels, result } of rows) {
      const seen = new Set<string>()
      for (const step of result.steps ?? []) {
        // Two steps of one name would be one series twice: the first one counts.
        if (seen.has(step.name)) continue
        seen.add(step.name)
        const v = spec.value(step)
        if (usable(v)) samples.push({ labels: { ...labels, step: step.name }, value: v })
      }
    }
    if (samples.length > 0) out.push({ name: spec.name, help: spec.help, type: 'gauge', samples })
  }
  return out
}

export interface FeedStats {
  writes: number
  rejected: number
  deleted: number
}

export class PushgatewayFeed {
  private readonly unsubscribe: () => void
  private readonly logger: StoreLogger | undefined
  /** The groups this feed wrote, as "job\xffvantage". */
  private readonly written = new Set<string>()
  /** Vantages touched by commits and not written since. */
  private readonly dirty = new Set<string>()
  /** When each vantage's groups were last written for a commit (monotonic ms). */
  private readonly lastWrite = new Map<string, number>()
  /** What each vantage's last write took (ms): the interval follows (interval()). */
  private readonly cost = new Map<string, number>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private closed = false
  private readonly flushMs: number
  private readonly now: () => number
  readonly stats: FeedStats = { writes: 0, rejected: 0, deleted: 0 }

  constructor(private readonly opts: FeedOptions) {
    this.logger = opts.logger
    this.flushMs = opts.flushMs ?? FEED_FLUSH_MS
    this.now = opts.now ?? (() => performance.now())
    // Groups fed before a restart (the store persists them) are ours to rebuild or drop.
    for (const g of opts.store.allGroups()) {
      const names = Object.keys(g.labels)
      if (names.length === 2 && g.labels.vantage !== undefined && (g.labels.job === PROBE_JOB || g.labels.job === JOURNEY_JOB)) {
        this.written.add(`${g.labels.job}\xff${g.labels.vantage}`)
      }
    }
    this.unsubscribe = opts.source.onCommit((votes) => this.committed(votes))
    this.sync()
  }

  /** Vantages quiet for flushMs are written now; the others when their interval ends. */
  private committed(votes: readonly VoteState[]): void {
    if (this.closed) return
    const now = this.now()
    const interval = this.interval()
    let due: Set<string> | null = null
    for (const v of votes) {
      const vantage = v.vantage
      if (this.dirty.has(vantage)) continue
      const last = this.lastWrite.get(vantage)
      if (last === undefined || now - last >= interval) (due ??= new Set()).add(vantage)
      else this.dirty.add(vantage)
    }
    if (due) {
      for (const vantage of due) this.lastWrite.set(vantage, now)
      this.write(due)
    }
    this.arm()
  }

  /** Schedules the flush of the pending vantages for the earliest end of their intervals. */
  private arm(): void {
    if (this.timer !== null || this.dirty.size === 0 || this.closed) return
    let at = Infinity
    const interval = this.interval()
    for (const vantage of this.dirty) at = Math.min(at, (this.lastWrite.get(vantage) ?? 0) + interval)
    this.timer = setTimeout(this.flushDue, Math.max(0, at - this.now()))
    this.timer.unref?.()
  }

  /** Writes one pending vantage that is due; the next one, if due too, at the next turn of the event loop. */
  private readonly flushDue = (): void => {
    this.timer = null
    const now = this.now()
    const interval = this.interval()
    // One group write (milliseconds to tens of them) per turn: acks and scrapes get in between.
    for (const vantage of this.dirty) {
      if (now - (this.lastWrite.get(vantage) ?? 0) < interval) continue
      this.writePending(new Set([vantage]), now)
      break
    }
    this.arm()
  }

  /** Between two writes of a vantage: FEED_FLUSH_MS, or longer when writing every vantage costs more than FEED_MAX_SHARE of it. */
  private interval(): number {
    let spent = 0
    for (const ms of this.cost.values()) spent += ms
    return Math.max(this.flushMs, spent / FEED_MAX_SHARE)
  }

  /** Writes every pending vantage now (close, tests). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.writePending(new Set(this.dirty), this.now())
  }

  private writePending(vantages: Set<string>, now: number): void {
    if (vantages.size === 0) return
    for (const vantage of vantages) {
      this.dirty.delete(vantage)
      this.lastWrite.set(vantage, now)
    }
    try {
      this.write(vantages)
    } catch (err) {
      this.logger?.error({ error: (err as Error).message }, 'pushgateway feed write failed')
    }
  }

  /** Rebuild every group from the current votes, and drop the groups of vanished vantages. */
  sync(): void {
    // Everything is written from the current votes: nothing stays pending.
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.dirty.clear()
    const live = this.write(null)
    for (const id of [...this.written]) {
      if (live.has(id)) continue
      const [job, vantage] = id.split('\xff')
      this.opts.store.deleteGroup({ job, vantage })
      this.written.delete(id)
      this.stats.deleted++
    }
  }

  /** Writes what is pending and stops following commits. */
  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.unsubscribe()
  }

  /** Writes the groups of the given vantages (all when null); returns the group ids written. */
  private write(vantages: Set<string> | null): Set<string> {
    const started = this.now()
    const cfg = this.opts.config()
    const probes = new Map<string, Row[]>()
    const journeys = new Map<string, Row[]>()
    for (const vote of this.opts.source.currentVotes()) {
      if (vantages && !vantages.has(vote.vantage)) continue
      const check = cfg.checks.get(vote.check)
      // A check removed or no longer assigned to this vantage has no series.
      if (!check || !check.vantages.includes(vote.vantage)) continue
      const result = representative(vote)
      const region = cfg.vantages.get(vote.vantage)?.region ?? result.region
      const labels = { check: check.spec.name, type: check.spec.type, target: check.spec.target, vantage: vote.vantage, region }
      const row: Row = { labels, vote, result }
      const into = check.spec.type === 'journey' ? journeys : probes
      let rows = into.get(vote.vantage)
      if (!rows) into.set(vote.vantage, (rows = []))
      rows.push(row)
    }
    const ids = new Set<string>()
    const put = (job: string, vantage: string, families: FeedFamily[]) => {
      const id = `${job}\xff${vantage}`
      ids.add(id)
      const result = this.opts.store.replaceGroup({ job, vantage }, families)
      this.written.add(id)
      if (result.ok) {
        this.stats.writes++
      } else {
        this.stats.rejected++
        this.logger?.error({ job, vantage, error: result.error }, 'pushgateway feed write refused')
      }
    }
    for (const [vantage, rows] of probes) put(PROBE_JOB, vantage, probeFamilies(rows))
    for (const [vantage, rows] of journeys) put(JOURNEY_JOB, vantage, journeyFamilies(rows))
    // A touched vantage whose last check of one kind went away: its group of that kind goes too.
    if (vantages) {
      for (const vantage of vantages) {
        for (const job of [PROBE_JOB, JOURNEY_JOB]) {
          const id = `${job}\xff${vantage}`
          if (!ids.has(id) && this.written.has(id)) {
            this.opts.store.deleteGroup({ job, vantage })
            this.written.delete(id)
            this.stats.deleted++
          }
        }
      }
    }
    // What this took is the written vantages' in equal parts (their groups are built together);
    // a vantage left without groups costs nothing any more.
    const took = this.now() - started
    const written = new Set([...probes.keys(), ...journeys.keys()])
    for (const vantage of written) this.cost.set(vantage, took / written.size)
    for (const vantage of vantages ?? [...this.cost.keys()]) if (!written.has(vantage)) this.cost.delete(vantage)
    return ids
  }
}
