// Forwarding the store's groups to an external Pushgateway (for setups that keep theirs): every
// change of a group is sent there as a PUT of the whole group (delimited protobuf, every
// grouping label base64-encoded in the path), every deleted group as a DELETE. Changes are
// coalesced per group (only a group's latest state is sent), so the queue never holds more than
// one entry per group. Network errors, 5xx and 429 are retried with exponential backoff; other
// answers (a 400 for an inconsistent push) are logged and dropped. A periodic resync re-sends
// every group, so the external Pushgateway converges after an outage or a restart of either side.
import { request } from 'undici'
import { groupingPath } from './http.ts'
import { PUSH_FAILURE_METRIC, PUSH_TIME_METRIC } from './model.ts'
import { DELIMITED_CONTENT_TYPE } from './protobuf.ts'
import { describeGroup, type Group, type PushStore, type StoreLogger } from './store.ts'

export interface ForwarderOptions {
  /** Base URL of the external Pushgateway, with its route prefix if it has one (e.g. http://pg:9091). */
  url: string
  store: PushStore
  /** Bearer token the external Pushgateway (or its proxy) wants; null: none. */
  token?: string | null
  /** Which groups to forward (default: all). */
  filter?: (group: Group) => boolean
  /** Retries per change after the first attempt (default 5). */
  retries?: number
  minBackoffMs?: number
  maxBackoffMs?: number
  /** Per request (default 10 s). */
  timeoutMs?: number
  /** Re-send every group this often (default 5 min; 0: never). */
  resyncMs?: number
  logger?: StoreLogger
}

export interface ForwarderStats {
  sent: number
  deleted: number
  retried: number
  failed: number
  pending: number
}

const silent: StoreLogger = { info() {}, warn() {}, error() {} }

class Retryable extends Error {}

export class Forwarder {
  private readonly base: string
  private readonly pending = new Map<string, Record<string, string>>()
  private readonly unsubscribe: () => void
  private readonly logger: StoreLogger
  private readonly retries: number
  private readonly minBackoffMs: number
  private readonly maxBackoffMs: number
  private readonly timeoutMs: number
  private running: Promise<void> | null = null
  private resync: NodeJS.Timeout | null = null
  private closed = false
  private wake: (() => void) | null = null
  private idleWaiters: (() => void)[] = []
  readonly stats: ForwarderStats = { sent: 0, deleted: 0, retried: 0, failed: 0, pending: 0 }

  constructor(private readonly opts: ForwarderOptions) {
    this.base = opts.url.replace(/\/+$/, '')
    this.logger = opts.logger ?? silent
    this.retries = opts.retries ?? 5
    this.minBackoffMs = opts.minBackoffMs ?? 500
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000
    this.timeoutMs = opts.timeoutMs ?? 10_000
    this.unsubscribe = opts.store.onChange((key, group) => {
      if (group && opts.filter && !opts.filter(group)) return
      this.enqueue(key, group ? group.labels : this.lastLabels.get(key))
      if (group) this.lastLabels.set(key, group.labels)
      else this.lastLabels.delete(key)
    })
    const resyncMs = opts.resyncMs ?? 300_000
    if (resyncMs > 0) {
      this.resync = setInterval(() => this.resyncAll(), resyncMs)
      this.resync.unref()
    }
    this.resyncAll()
  }

  /** Labels of groups seen, to address a DELETE after the group is gone from the store. */
  private readonly lastLabels = new Map<string, Readonly<Record<string, string>>>()

  /** Queue every group of the store (at start and periodically). */
  resyncAll(): void {
    for (const g of this.opts.store.allGroups()) {
      if (this.opts.filter && !this.opts.filter(g)) continue
      this.lastLabels.set(g.key, g.labels)
      this.enqueue(g.key, g.labels)
    }
  }

  private enqueue(key: string, labels: Readonly<Record<string, string>> | undefined): void {
    if (this.closed || !labels) return
    this.pending.delete(key)
    this.pending.set(key, { ...labels })
    this.stats.pending = this.pending.size
    if (this.wake) {
      this.wake()
      this.wake = null
    }
    this.running ??= this.loop()
  }

  /** Resolves when nothing is queued or in flight (for tests and shutdown). */
  idle(): Promise<void> {
    if (this.pending.size === 0 && !this.running) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  async close(): Promise<void> {
    this.closed = true
    this.unsubscribe()
    if (this.resync) clearInterval(this.resync)
    this.pending.clear()
    if (this.wake) this.wake()
    await this.running
  }

  private async loop(): Promise<void> {
    try {
      while (!this.closed && this.pending.size > 0) {
        const [key, labels] = this.pending.entries().next().value as [string, Record<string, string>]
        this.pending.delete(key)
        this.stats.pending = this.pending.size
        await this.deliver(key, labels)
      }
    } finally {
      this.running = null
      if (this.pending.size === 0) {
        for (const w of this.idleWaiters.splice(0)) w()
      } else if (!this.closed) {
        this.running = this.loop()
      }
    }
  }

  private async deliver(key: string, labels: Record<string, string>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return
      // Always the latest state: a group changed while we waited is sent as it is now.
      const group = this.opts.store.groupByKey(key)
      try {
        await this.send(labels, group)
        if (group) this.stats.sent++
        else this.stats.deleted++
        return
      } catch (err) {
        const retryable = err instanceof Retryable
        if (!retryable || attempt >= this.retries) {
          this.stats.failed++
          this.logger.error(
            { group: describeGroup(labels), error: (err as Error).message, attempts: attempt + 1, forward_url: this.base },
            'pushgateway forward failed',
          )
          return
        }
        this.stats.retried++
        const backoff = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** attempt)
        this.logger.warn({ group: describeGroup(labels), error: (err as Error).message, retry_in_ms: backoff }, 'pushgateway forward failed; retrying')
        await this.sleep(backoff)
        // A newer change for this group was queued meanwhile: that one will carry it.
        if (this.pending.has(key)) return
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(t)
        resolve()
      }
    })
  }

  private async send(labels: Record<string, string>, group: Group | undefined): Promise<void> {
    const url = this.base + '/metrics' + groupingPath(labels)
    const headers: Record<string, string> = {}
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`
    let body: Buffer | undefined
    if (group) {
      headers['content-type'] = DELIMITED_CONTENT_TYPE
      body = Buffer.concat([...group.families.values()].filter((sf) => sf.name !== PUSH_TIME_METRIC && sf.name !== PUSH_FAILURE_METRIC).map((sf) => sf.frame))
    }
    let res
    try {
      res = await request(url, {
        method: group ? 'PUT' : 'DELETE',
        headers,
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
    } catch (err) {
      throw new Retryable(`${(err as Error).message}${(err as { code?: string }).code ? ` (${(err as { code?: string }).code})` : ''}`)
    }
    const text = await res.body.text()
    if (res.statusCode >= 200 && res.statusCode < 300) return
    const msg = `${res.statusCode}: ${text.trim().slice(0, 500)}`
    if (res.statusCode >= 500 || res.statusCode === 429) throw new Retryable(msg)
    throw new Error(msg)
  }
}
