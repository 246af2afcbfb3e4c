// The Pushgateway-compatible metric store: groups keyed by their grouping labels, the
// Pushgateway's write semantics (PUT replaces the group, POST the families pushed, DELETE the
// group; push_time_seconds / push_failure_time_seconds; the grouping labels and an empty
// `instance` forced onto every metric), its consistency check, and its exposition.
//
// The check gives the answers the Pushgateway's full re-gather gives, but incrementally: the
// store is always consistent, so only the families a write changes are checked, against an
// index of every family's series. Where the Pushgateway's answer depends on Go's random map
// order (which of two clashing families is "previously collected", which HELP wins), ours is
// fixed: families already stored come first, and the HELP of the latest write wins.
//
// Each family of each group keeps its exposition lines, rendered when it is written; a scrape
// re-sorts only the families that changed since the last scrape, and the whole body is cached
// until the next write.
//
// Persistence: every accepted write (and every recorded failure) is written through to SQLite
// before the push is acknowledged (one row per group), and read back at start.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { gzipSync } from 'node:zlib'
import { formatFloat, formatUint, fromByteString, goJsonString, goQuote, rfc3339Nano, toByteString, validUtf8 } from './gofmt.ts'
import {
  groupingKeyFor,
  hasValueFor,
  INSTANCE_LABEL,
  isValidLabelName,
  JOB_LABEL,
  MetricType,
  PUSH_FAILURE_HELP,
  PUSH_FAILURE_METRIC,
  PUSH_TIME_HELP,
  PUSH_TIME_METRIC,
  sampleCount,
  sortLabelPairs,
  typeName,
  type LabelPair,
  type Metric,
  type MetricFamily,
} from './model.ts'
import { decodeDelimited, encodeDelimited, metricProtoText } from './protobuf.ts'
import { familyHeader, isExposableType, metricLines, metricSortKey } from './render.ts'
import { SELF_FAMILIES } from './self-families.ts'
import { openDatabase, type Database, type Statement } from './sqlite.ts'

export const TIMESTAMP_ERROR = 'pushed metrics must not have timestamps'
export const INCONSISTENT_PREFIX = 'pushed metrics are invalid or inconsistent with existing metrics: '

export interface StoreLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

const silent: StoreLogger = { info() {}, warn() {}, error() {} }

export interface PushStoreOptions {
  /** SQLite file for the store's own tables; null or absent: memory only. */
  file?: string | null
  /** Drop a group this long after its last push (successful or failed); null: keep forever (the Pushgateway's behaviour). */
  ttlMs?: number | null
  /** Most families one group may hold (push_time_seconds/push_failure_time_seconds not counted). */
  maxFamiliesPerGroup?: number
  /** Most samples (exposed lines) one group may hold. */
  maxSamplesPerGroup?: number
  /** Wall clock in milliseconds (fractions kept); default performance.timeOrigin + performance.now(). */
  now?: () => number
  logger?: StoreLogger
}

export const DEFAULT_MAX_FAMILIES_PER_GROUP = 10_000
export const DEFAULT_MAX_SAMPLES_PER_GROUP = 100_000

export type WriteResult = { ok: true } | { ok: false; error: string }

/**
 * One family of one group, kept compact: what the scrape needs (per metric: its sort key, its
 * exposition lines and its series signature), and the family as a delimited protobuf frame for
 * the JSON API, persistence and forwarding (decoded only when those ask).
 */
export class StoredFamily {
  readonly name: string
  readonly help: string | undefined
  readonly type: number
  readonly keys: string[]
  readonly lines: string[]
  readonly sigs: string[]
  /** The family as a length-prefixed protobuf message. */
  readonly frame: Buffer
  /** The first metric's gauge value (what push_time_seconds / push_failure_time_seconds hold). */
  readonly value0: number
  /** Samples (exposed lines), for the per-group cap. */
  readonly samples: number

  constructor(
    /** When this family was last written (ms). */
    readonly ts: number,
    mf: MetricFamily,
    sigs?: string[],
  ) {
    this.name = mf.name
    this.help = mf.help
    this.type = mf.type
    const n = mf.metric.length
    this.keys = new Array<string>(n)
    this.lines = new Array<string>(n)
    this.sigs = sigs ?? new Array<string>(n)
    for (let i = 0; i < n; i++) {
      const m = mf.metric[i]
      this.keys[i] = metricSortKey(m)
      this.lines[i] = metricLines(mf.name, mf.type, m)
      if (!sigs) this.sigs[i] = seriesSignature(m)
    }
    this.frame = encodeDelimited([mf])
    this.value0 = mf.metric[0]?.gauge?.value ?? 0
    this.samples = sampleCount(mf)
  }

  get metricCount(): number {
    return this.keys.length
  }

  /** The family as stored (decoded from its frame). */
  family(): MetricFamily {
    return decodeDelimited(this.frame).values().next().value!
  }
}

export interface Group {
  readonly key: string
  /** The grouping labels (job included), byte strings. */
  readonly labels: Readonly<Record<string, string>>
  readonly families: ReadonlyMap<string, StoredFamily>
  /** Last push to this group, successful or failed (ms); what the TTL counts from. */
  readonly lastWrite: number
}

interface MutableGroup {
  key: string
  labels: Record<string, string>
  families: Map<string, StoredFamily>
  lastWrite: number
}

/** One family name across all groups. */
class FamilyIndex {
  readonly groups = new Map<string, StoredFamily>()
  /** Series signature -> owning group key. */
  readonly series = new Map<string, string>()
  dirty = true
  block = ''
  metrics = 0
  /** The HELP the exposition shows (set when rendered). */
  help: string | undefined
  constructor(readonly name: string) {}

  /** The family's type: every group holding it agrees (the check sees to it). */
  type(): number {
    for (const sf of this.groups.values()) return sf.type
    return MetricType.UNTYPED
  }

  /** Whether some group other than `key` holds this family. */
  heldElsewhere(key: string): boolean {
    return this.groups.size > (this.groups.has(key) ? 1 : 0)
  }
}

export type ChangeListener = (key: string, group: Group | null) => void

function seriesSignature(m: Metric): string {
  let sig = ''
  for (const lp of m.label) sig += lp.name + '\xff' + lp.value + '\xff'
  return sig
}

/** sanitizeLabels: the grouping labels overwrite or join each metric's, `instance` is added empty when missing, and the pairs are sorted. */
export function sanitizeLabels(mf: MetricFamily, grouping: Record<string, string>): void {
  const names = Object.keys(grouping)
  const values = names.map((n) => grouping[n])
  const done = new Uint8Array(names.length)
  for (const m of mf.metric) {
    done.fill(0)
    let left = names.length
    let hasInstance = false
    for (const lp of m.label) {
      const i = names.indexOf(lp.name)
      if (i >= 0 && done[i] === 0) {
        lp.value = values[i]
        done[i] = 1
        left--
      }
      if (lp.name === INSTANCE_LABEL) hasInstance = true
      if (left === 0 && hasInstance) break
    }
    for (let i = 0; i < names.length; i++) {
      if (done[i] === 1) continue
      m.label.push({ name: names[i], value: values[i] })
      if (names[i] === INSTANCE_LABEL) hasInstance = true
    }
    if (!hasInstance) m.label.push({ name: INSTANCE_LABEL, value: '' })
    sortLabelPairs(m.label)
  }
}

function timestampGauge(name: string, help: string, grouping: Record<string, string>, seconds: number): MetricFamily {
  const mf: MetricFamily = { name, help, type: MetricType.GAUGE, metric: [{ label: [], gauge: { value: seconds } }] }
  sanitizeLabels(mf, grouping)
  return mf
}

export class PushStore {
  private readonly groups = new Map<string, MutableGroup>()
  private readonly index = new Map<string, FamilyIndex>()
  private readonly listeners = new Set<ChangeListener>()
  private readonly now: () => number
  private readonly logger: StoreLogger
  private readonly db: Database | null
  private readonly upsert: Statement | null = null
  private readonly remove: Statement | null = null
  private sortedNames: string[] | null = null
  private body: Buffer | null = null
  private gzipped: Buffer | null = null
  private sweeper: NodeJS.Timeout | null = null
  private closed = false
  readonly ttlMs: number | null
  readonly maxFamiliesPerGroup: number
  readonly maxSamplesPerGroup: number
  readonly file: string | null

  static open(opts: PushStoreOptions = {}): PushStore {
    return new PushStore(opts)
  }

  private constructor(opts: PushStoreOptions) {
    this.now = opts.now ?? (() => performance.timeOrigin + performance.now())
    this.logger = opts.logger ?? silent
    this.ttlMs = opts.ttlMs ?? null
    this.maxFamiliesPerGroup = opts.maxFamiliesPerGroup ?? DEFAULT_MAX_FAMILIES_PER_GROUP
    this.maxSamplesPerGroup = opts.maxSamplesPerGroup ?? DEFAULT_MAX_SAMPLES_PER_GROUP
    this.file = opts.file ?? null
    if (this.file) {
      mkdirSync(dirname(this.file), { recursive: true })
      const db = openDatabase(this.file)
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
      db.exec(`CREATE TABLE IF NOT EXISTS pushgateway_group (
        grouping_key TEXT PRIMARY KEY,
        labels TEXT NOT NULL,
        families BLOB NOT NULL,
        family_times TEXT NOT NULL,
        last_write REAL NOT NULL
      ) WITHOUT ROWID`)
      this.db = db
      this.upsert = db.prepare(
        'INSERT OR REPLACE INTO pushgateway_group (grouping_key, labels, families, family_times, last_write) VALUES (?, ?, ?, ?, ?)',
      )
      this.remove = db.prepare('DELETE FROM pushgateway_group WHERE grouping_key = ?')
      this.restore()
    } else {
      this.db = null
    }
    if (this.ttlMs !== null) {
      const every = Math.min(60_000, Math.max(1_000, Math.floor(this.ttlMs / 10)))
      this.sweeper = setInterval(() => this.expire(), every)
      this.sweeper.unref()
    }
  }

  // ---- reading ----

  get size(): number {
    return this.groups.size
  }

  group(labels: Record<string, string>): Group | undefined {
    return this.groups.get(groupingKeyFor(labels))
  }

  groupByKey(key: string): Group | undefined {
    return this.groups.get(key)
  }

  /** Every group, sorted by grouping key. */
  allGroups(): Group[] {
    this.expire()
    return [...this.groups.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  // ---- writing ----

  /**
   * A push as the Pushgateway handles PUT (replace: true) and POST: families already parsed,
   * grouping labels (job included) as byte strings. Rejections record the failure time.
   */
  push(labels: Record<string, string>, families: Map<string, MetricFamily>, replace: boolean): WriteResult {
    this.expire()
    const now = this.now()
    const key = groupingKeyFor(labels)
    for (const mf of families.values()) {
      for (const m of mf.metric) {
        if (m.timestampMs !== undefined) {
          this.recordFailure(key, labels, now)
          return { ok: false, error: INCONSISTENT_PREFIX + TIMESTAMP_ERROR }
        }
      }
    }
    for (const mf of families.values()) sanitizeLabels(mf, labels)

    const old = this.groups.get(key)
    // The group as it will be: the families written now (the pushed ones and the push times),
    // and those kept as they are (POST keeps the others, PUT only the failure time).
    const changed = new Map<string, MetricFamily>(families)
    changed.set(PUSH_TIME_METRIC, timestampGauge(PUSH_TIME_METRIC, PUSH_TIME_HELP, labels, now / 1000))
    if (!old?.families.has(PUSH_FAILURE_METRIC) && !families.has(PUSH_FAILURE_METRIC)) {
      changed.set(PUSH_FAILURE_METRIC, timestampGauge(PUSH_FAILURE_METRIC, PUSH_FAILURE_HELP, labels, 0))
    }
    const kept = new Map<string, StoredFamily>()
    if (old) {
      for (const [name, sf] of old.families) {
        if (changed.has(name)) continue
        if (!replace || name === PUSH_TIME_METRIC || name === PUSH_FAILURE_METRIC) kept.set(name, sf)
      }
    }
    const sigs = new Map<string, string[]>()
    for (const [name, mf] of changed) sigs.set(name, mf.metric.map(seriesSignature))

    const capError = this.checkCaps(kept, changed)
    const errors = capError ? [capError] : this.check(key, kept, changed, sigs)
    if (errors.length > 0) {
      this.recordFailure(key, labels, now)
      const detail = errors.length === 1 ? errors[0] : `${errors.length} error(s) occurred:` + errors.map((e) => `\n* ${e}`).join('')
      return { ok: false, error: INCONSISTENT_PREFIX + detail }
    }

    const group: MutableGroup = old ?? { key, labels: { ...labels }, families: new Map(), lastWrite: now }
    if (old) {
      for (const name of [...old.families.keys()]) {
        if (!kept.has(name) && !changed.has(name)) {
          old.families.delete(name)
          this.unindex(name, key)
        }
      }
    }
    for (const [name, mf] of changed) {
      const sf = new StoredFamily(now, mf, sigs.get(name))
      group.families.set(name, sf)
      this.indexFamily(name, key, sf)
    }
    this.touch(group, now)
    this.persist(group)
    this.emit(key, group)
    return { ok: true }
  }

  /** DELETE: the group goes; a group that does not exist is no error. */
  delete(labels: Record<string, string>): void {
    this.deleteKey(groupingKeyFor(labels))
  }

  /**
   * The hub's feed: one call per batch replaces a whole group (as a PUT would) with families
   * given as plain JS strings. Checked like any push; a rejection is returned, not thrown.
   */
  replaceGroup(groupingKey: Record<string, string>, families: FeedFamily[]): WriteResult {
    const labels = feedGroupingLabels(groupingKey)
    const map = new Map<string, MetricFamily>()
    for (const f of families) map.set(toByteString(f.name), feedFamily(f))
    return this.push(labels, map, true)
  }

  /** The hub's feed: drop a group (a vantage that is no longer configured). */
  deleteGroup(groupingKey: Record<string, string>): void {
    this.delete(feedGroupingLabels(groupingKey))
  }

  /** Groups whose last push is older than the TTL go (no-op without a TTL). */
  expire(): number {
    if (this.ttlMs === null || this.closed) return 0
    const cutoff = this.now() - this.ttlMs
    const expired: string[] = []
    // Map order is last-write order (touch() re-inserts), so the oldest come first.
    for (const g of this.groups.values()) {
      if (g.lastWrite > cutoff) break
      expired.push(g.key)
    }
    for (const key of expired) {
      this.logger.info({ group: describeGroup(this.groups.get(key)!.labels) }, 'pushgateway group expired')
      this.deleteKey(key)
    }
    return expired.length
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.sweeper) clearInterval(this.sweeper)
    this.db?.close()
  }

  // ---- the exposition ----

  /** GET /metrics: the text exposition of every group, as the Pushgateway sorts and writes it. */
  render(): Buffer {
    this.expire()
    if (this.body) return this.body
    if (!this.sortedNames) this.sortedNames = [...this.index.keys()].sort()
    const parts: string[] = []
    for (const name of this.sortedNames) {
      const fi = this.index.get(name)!
      if (fi.dirty) this.renderFamily(fi)
      if (fi.metrics === 0) continue
      parts.push(fi.block)
    }
    this.body = Buffer.from(parts.join(''), 'latin1')
    return this.body
  }

  /**
   * The exposition as delimited protobuf (what promhttp answers an Accept of the protobuf media
   * type with): the same families, HELP, types and order as the text; built on demand.
   */
  renderProtobuf(): Buffer {
    this.expire()
    if (!this.sortedNames) this.sortedNames = [...this.index.keys()].sort()
    const families: MetricFamily[] = []
    for (const name of this.sortedNames) {
      const fi = this.index.get(name)!
      if (fi.dirty) this.renderFamily(fi)
      if (fi.metrics === 0) continue
      const entries: { k: string; m: Metric }[] = []
      for (const sf of fi.groups.values()) {
        const mf = sf.family()
        mf.metric.forEach((m, i) => entries.push({ k: sf.keys[i], m }))
      }
      entries.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
      families.push({ name, help: fi.help, type: fi.type(), metric: entries.map((e) => e.m) })
    }
    return encodeDelimited(families)
  }

  /** The exposition gzipped (cached like the plain one). */
  renderGzip(): Buffer {
    const body = this.render()
    this.gzipped ??= gzipSync(body, { level: 1 })
    return this.gzipped
  }

  private renderFamily(fi: FamilyIndex): void {
    const type = fi.type()
    let n = 0
    for (const sf of fi.groups.values()) n += sf.keys.length
    const keys = new Array<string>(n)
    const lines = new Array<string>(n)
    let help: string | undefined
    let helpTs = -Infinity
    let i = 0
    let sorted = true
    for (const sf of fi.groups.values()) {
      for (let j = 0; j < sf.keys.length; j++, i++) {
        keys[i] = sf.keys[j]
        lines[i] = sf.lines[j]
        if (sorted && i > 0 && keys[i - 1] > keys[i]) sorted = false
      }
      if (sf.ts > helpTs) {
        helpTs = sf.ts
        help = sf.help
      }
    }
    const self = SELF_FAMILIES.get(fi.name)
    if (self?.atStartup) help = self.help
    let block = familyHeader(fi.name, help, type)
    if (sorted) {
      for (let k = 0; k < n; k++) block += lines[k]
    } else {
      const order = new Uint32Array(n)
      for (let k = 0; k < n; k++) order[k] = k
      order.sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0))
      for (let k = 0; k < n; k++) block += lines[order[k]]
    }
    fi.block = block
    fi.metrics = n
    fi.help = help
    fi.dirty = false
  }

  /** GET /api/v1/metrics, byte for byte as the Pushgateway's encoding/json writes it. */
  apiMetricsJson(): Buffer {
    const groups = this.allGroups()
    const out: string[] = []
    for (const g of groups) {
      const entries: [string, string][] = []
      entries.push(['labels', jsonStringMap(g.labels)])
      entries.push(['last_push_successful', lastPushSuccessful(g) ? 'true' : 'false'])
      for (const [name, sf] of g.families) entries.push([name, familyJson(sf.ts, sf.family())])
      entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      out.push('{' + entries.map(([k, v]) => goJsonString(k) + ':' + v).join(',') + '}')
    }
    return Buffer.from('{"status":"success","data":[' + out.join(',') + ']}', 'latin1')
  }

  // ---- the consistency check ----

  private checkCaps(kept: Map<string, StoredFamily>, changed: Map<string, MetricFamily>): string | null {
    let families = 0
    let samples = 0
    for (const [name, sf] of kept) {
      if (name === PUSH_TIME_METRIC || name === PUSH_FAILURE_METRIC) continue
      families++
      samples += sf.samples
    }
    for (const [name, mf] of changed) {
      if (name === PUSH_TIME_METRIC || name === PUSH_FAILURE_METRIC) continue
      families++
      samples += sampleCount(mf)
    }
    if (families > this.maxFamiliesPerGroup) {
      return `the group would hold ${families} metric families, more than the per-group cap of ${this.maxFamiliesPerGroup}`
    }
    if (samples > this.maxSamplesPerGroup) {
      return `the group would hold ${samples} samples, more than the per-group cap of ${this.maxSamplesPerGroup}`
    }
    return null
  }

  /**
   * What a full gather of the new state would report, for the families this write changes
   * (the rest of the store was consistent before and is unchanged).
   */
  private check(key: string, kept: Map<string, StoredFamily>, changed: Map<string, MetricFamily>, sigs: Map<string, string[]>): string[] {
    const errors: string[] = []
    const passed = new Map<string, number>()
    // The type under which a name is already gathered when `name` comes up (undefined: not yet).
    const lookup = (name: string): number | undefined => {
      const self = SELF_FAMILIES.get(name)
      if (self) return self.type
      const fi = this.index.get(name)
      if (fi?.heldElsewhere(key)) return fi.type()
      if (changed.has(name)) return passed.get(name)
      return kept.get(name)?.type
    }
    for (const name of [...changed.keys()].sort()) {
      const mf = changed.get(name)!
      const fi = this.index.get(name)
      let type: number
      const self = SELF_FAMILIES.get(name)
      if (self) {
        const held = fi?.heldElsewhere(key) ? fi.type() : mf.type
        if (!self.atStartup && (mf.help ?? '') !== self.help) {
          errors.push(`gathered metric family ${name} has help ${goQuote(mf.help ?? '')} but should have ${goQuote(self.help)}`)
          continue
        }
        if (held !== self.type) {
          errors.push(`gathered metric family ${name} has type ${typeName(held)} but should have ${typeName(self.type)}`)
          continue
        }
        type = self.type
      } else if (fi?.heldElsewhere(key)) {
        type = fi.type()
      } else {
        type = mf.type
        const collision = suffixCollision(name, type, lookup)
        if (collision) {
          errors.push(collision)
          continue
        }
        passed.set(name, type)
      }
      this.checkMetrics(key, name, type, mf, sigs.get(name)!, fi, errors)
    }
    return errors
  }

  private checkMetrics(key: string, name: string, type: number, mf: MetricFamily, sigs: string[], fi: FamilyIndex | undefined, errors: string[]): void {
    const seen = new Set<string>()
    const exposable = isExposableType(type)
    for (let i = 0; i < mf.metric.length; i++) {
      const m = mf.metric[i]
      let problem: string | null
      if (!exposable) {
        // The Pushgateway stores these and then fails every scrape; we refuse them.
        problem = `has type ${typeName(type)}, which the text exposition format cannot carry`
      } else if (!hasValueFor(type, m)) {
        problem = `is not a ${typeName(type)}`
      } else {
        problem = checkLabels(m)
        if (problem === null) {
          const sig = sigs[i]
          const owner = fi?.series.get(sig)
          if ((owner !== undefined && owner !== key) || seen.has(sig)) problem = 'was collected before with the same name and label values'
          else seen.add(sig)
        }
      }
      if (problem !== null) errors.push(`collected metric ${goQuote(name)} { ${metricProtoText(m)}} ${problem}`)
    }
  }

  /**
   * A failed push still stamps push_failure_time_seconds (and a zero push_time_seconds on a
   * new group), as the Pushgateway does, unless that stamp would itself be inconsistent (a
   * grouping label that is not UTF-8, or a group whose push-time series another group already
   * has): the Pushgateway records those too and then fails every scrape; we only log them.
   */
  private recordFailure(key: string, labels: Record<string, string>, now: number): void {
    const old = this.groups.get(key)
    const stamps = new Map<string, MetricFamily>()
    stamps.set(PUSH_FAILURE_METRIC, timestampGauge(PUSH_FAILURE_METRIC, PUSH_FAILURE_HELP, labels, now / 1000))
    if (!old?.families.has(PUSH_TIME_METRIC)) stamps.set(PUSH_TIME_METRIC, timestampGauge(PUSH_TIME_METRIC, PUSH_TIME_HELP, labels, 0))
    const errors: string[] = []
    for (const [name, mf] of stamps) this.checkMetrics(key, name, MetricType.GAUGE, mf, mf.metric.map(seriesSignature), this.index.get(name), errors)
    if (errors.length > 0) {
      this.logger.warn({ group: describeGroup(labels), error: errors[0] }, 'push failed; its failure time is not recorded')
      return
    }
    const group: MutableGroup = old ?? { key, labels: { ...labels }, families: new Map(), lastWrite: now }
    for (const [name, mf] of stamps) {
      const sf = new StoredFamily(now, mf)
      group.families.set(name, sf)
      this.indexFamily(name, key, sf)
    }
    this.touch(group, now)
    this.persist(group)
    this.emit(key, group)
  }

  // ---- index maintenance ----

  private changedOutput(): void {
    this.body = null
    this.gzipped = null
  }

  private indexFamily(name: string, key: string, sf: StoredFamily): void {
    let fi = this.index.get(name)
    if (!fi) {
      fi = new FamilyIndex(name)
      this.index.set(name, fi)
      this.sortedNames = null
    } else {
      this.dropSeries(fi, key)
    }
    fi.groups.set(key, sf)
    for (const sig of sf.sigs) fi.series.set(sig, key)
    fi.dirty = true
    this.changedOutput()
  }

  private dropSeries(fi: FamilyIndex, key: string): void {
    const old = fi.groups.get(key)
    if (!old) return
    for (const sig of old.sigs) {
      if (fi.series.get(sig) === key) fi.series.delete(sig)
    }
  }

  private unindex(name: string, key: string): void {
    const fi = this.index.get(name)
    if (!fi) return
    this.dropSeries(fi, key)
    fi.groups.delete(key)
    fi.dirty = true
    if (fi.groups.size === 0) {
      this.index.delete(name)
      this.sortedNames = null
    }
    this.changedOutput()
  }

  private touch(group: MutableGroup, now: number): void {
    group.lastWrite = now
    this.groups.delete(group.key)
    this.groups.set(group.key, group)
  }

  private deleteKey(key: string): void {
    const group = this.groups.get(key)
    if (!group) return
    for (const name of group.families.keys()) this.unindex(name, key)
    this.groups.delete(key)
    if (this.remove) this.remove.run(key)
    this.emit(key, null)
  }

  private emit(key: string, group: Group | null): void {
    for (const l of this.listeners) {
      try {
        l(key, group)
      } catch (err) {
        this.logger.error({ error: (err as Error).message }, 'pushgateway change listener failed')
      }
    }
  }

  // ---- persistence ----

  private persist(group: MutableGroup): void {
    if (!this.upsert) return
    const families = [...group.families.values()]
    this.upsert.run(
      group.key,
      JSON.stringify(group.labels),
      Buffer.concat(families.map((sf) => sf.frame)),
      JSON.stringify(families.map((sf) => sf.ts)),
      group.lastWrite,
    )
  }

  private restore(): void {
    const rows = this.db!.prepare<{
      grouping_key: string
      labels: string
      families: Buffer
      family_times: string
      last_write: number
    }>('SELECT grouping_key, labels, families, family_times, last_write FROM pushgateway_group ORDER BY last_write').all()
    for (const row of rows) {
      try {
        const labels = JSON.parse(row.labels) as Record<string, string>
        const times = JSON.parse(row.family_times) as number[]
        const decoded = [...decodeDelimitedOrdered(row.families)]
        const group: MutableGroup = { key: row.grouping_key, labels, families: new Map(), lastWrite: row.last_write }
        decoded.forEach((mf, i) => {
          const sf = new StoredFamily(times[i] ?? row.last_write, mf)
          group.families.set(mf.name, sf)
          this.indexFamily(mf.name, group.key, sf)
        })
        this.groups.set(group.key, group)
      } catch (err) {
        this.logger.error({ group: row.grouping_key, error: (err as Error).message }, 'pushgateway group could not be restored; skipped')
      }
    }
    if (rows.length > 0) this.logger.info({ groups: this.groups.size, file: this.file }, 'pushgateway groups restored')
  }
}

/** Families of a stored row in their stored order (decodeDelimited keys by name, which is unique per group). */
function decodeDelimitedOrdered(buf: Buffer): Iterable<MetricFamily> {
  return decodeDelimited(buf).values()
}

function suffixCollision(name: string, type: number, lookup: (n: string) => number | undefined): string | null {
  let base = ''
  if (name.endsWith('_count')) base = name.slice(0, -6)
  else if (name.endsWith('_sum')) base = name.slice(0, -4)
  else if (name.endsWith('_bucket')) base = name.slice(0, -7)
  if (base !== '') {
    const baseType = lookup(base)
    if (baseType === MetricType.SUMMARY && !name.endsWith('_bucket')) {
      return `collected metric named ${goQuote(name)} collides with previously collected summary named ${goQuote(base)}`
    }
    if (baseType === MetricType.HISTOGRAM) {
      return `collected metric named ${goQuote(name)} collides with previously collected histogram named ${goQuote(base)}`
    }
  }
  if (type === MetricType.SUMMARY || type === MetricType.HISTOGRAM) {
    for (const suffix of ['_count', '_sum']) {
      if (lookup(name + suffix) !== undefined) {
        return `collected histogram or summary named ${goQuote(name)} collides with previously collected metric named ${goQuote(name + suffix)}`
      }
    }
  }
  if (type === MetricType.HISTOGRAM && lookup(name + '_bucket') !== undefined) {
    return `collected histogram named ${goQuote(name)} collides with previously collected metric named ${goQuote(name + '_bucket')}`
  }
  return null
}

function checkLabels(m: Metric): string | null {
  let previous = ''
  for (const lp of m.label) {
    if (lp.name === previous) return `has two or more labels with the same name: ${lp.name}`
    if (!isValidLabelName(lp.name)) return `has a label with an invalid name: ${lp.name}`
    if (m.summary && lp.name === 'quantile') return 'must not have an explicit "quantile" label'
    if (!validUtf8(lp.value)) return `has a label named ${goQuote(lp.name)} whose value is not utf8: ${goQuote(lp.value)}`
    previous = lp.name
  }
  return null
}

function lastPushSuccessful(g: Group): boolean {
  const fail = g.families.get(PUSH_FAILURE_METRIC)
  const success = g.families.get(PUSH_TIME_METRIC)
  if (!fail || !success) return true
  return fail.value0 <= success.value0
}

function jsonStringMap(map: Readonly<Record<string, string>> | LabelPair[]): string {
  const pairs: [string, string][] = Array.isArray(map) ? map.map((lp) => [lp.name, lp.value]) : Object.entries(map)
  // A Go map: one value per key (the last), keys sorted.
  const dedup = new Map(pairs)
  const keys = [...dedup.keys()].sort()
  return '{' + keys.map((k) => goJsonString(k) + ':' + goJsonString(dedup.get(k)!)).join(',') + '}'
}

function floatKeyMap(pairs: [number, string][]): string {
  const dedup = new Map<string, string>()
  for (const [k, v] of pairs) dedup.set(formatFloat(k), v)
  const keys = [...dedup.keys()].sort()
  return '{' + keys.map((k) => goJsonString(k) + ':' + goJsonString(dedup.get(k)!)).join(',') + '}'
}

function familyJson(ts: number, mf: MetricFamily): string {
  const metrics = mf.metric.map((m) => {
    const labels = jsonStringMap(m.label)
    switch (mf.type) {
      case MetricType.SUMMARY: {
        const s = m.summary
        const q = floatKeyMap((s?.quantile ?? []).map((x) => [x.quantile, formatFloat(x.value)]))
        return `{"count":${goJsonString(formatUint(s?.sampleCount ?? 0))},"labels":${labels},"quantiles":${q},"sum":${goJsonString(formatFloat(s?.sampleSum ?? 0))}}`
      }
      case MetricType.HISTOGRAM: {
        const h = m.histogram
        const b = floatKeyMap((h?.bucket ?? []).map((x) => [x.upperBound, formatUint(x.cumulativeCount)]))
        return `{"buckets":${b},"count":${goJsonString(formatUint(h?.sampleCount ?? 0))},"labels":${labels},"sum":${goJsonString(formatFloat(h?.sampleSum ?? 0))}}`
      }
      default: {
        const v = m.gauge ? (m.gauge.value ?? 0) : m.counter ? (m.counter.value ?? 0) : m.untyped ? (m.untyped.value ?? 0) : 0
        return `{"labels":${labels},"value":${goJsonString(formatFloat(v))}}`
      }
    }
  })
  const help = mf.help ? `,"help":${goJsonString(mf.help)}` : ''
  return `{"time_stamp":"${rfc3339Nano(ts)}","type":${goJsonString(typeName(mf.type))}${help},"metrics":[${metrics.join(',')}]}`
}

export function describeGroup(labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort((a, b) => (a === JOB_LABEL ? -1 : b === JOB_LABEL ? 1 : a < b ? -1 : 1))
  return '{' + names.map((n) => `${n}="${fromByteString(labels[n])}"`).join(',') + '}'
}

// ---- the feed's plain-JS shapes ----

export interface FeedSample {
  labels: Record<string, string>
  value: number
}

export interface FeedFamily {
  name: string
  help?: string
  type: 'counter' | 'gauge' | 'untyped'
  samples: FeedSample[]
}

const FEED_TYPES = { counter: MetricType.COUNTER, gauge: MetricType.GAUGE, untyped: MetricType.UNTYPED } as const

function feedGroupingLabels(groupingKey: Record<string, string>): Record<string, string> {
  const labels: Record<string, string> = {}
  if (!groupingKey[JOB_LABEL]) throw new Error('a grouping key needs a non-empty job label')
  for (const [name, value] of Object.entries(groupingKey)) {
    if (!isValidLabelName(name)) throw new Error(`improper label name ${JSON.stringify(name)} in a grouping key`)
    labels[name] = toByteString(value)
  }
  return labels
}

function feedFamily(f: FeedFamily): MetricFamily {
  const type = FEED_TYPES[f.type]
  return {
    name: toByteString(f.name),
    help: f.help === undefined ? undefined : toByteString(f.help),
    type,
    metric: f.samples.map((s) => {
      const label: LabelPair[] = Object.entries(s.labels).map(([name, value]) => ({ name, value: toByteString(value) }))
      const m: Metric = { label }
      if (type === MetricType.COUNTER) m.counter = { value: s.value }
      else if (type === MetricType.GAUGE) m.gauge = { value: s.value }
      else m.untyped = { value: s.value }
      return m
    }),
  }
}
