// Fetches the agent's assigned checks from the hub (GET /v1/agents/{id}/config, authenticated
// with a short JWT signed by the agent's key) and accepts them only when signed by the pinned hub
// key. The last good config is cached on disk as the signed document itself, and verified again
// when it is loaded, so an agent restarted while the hub is down keeps probing what it was told.
//
// A failed fetch, a bad signature or a malformed payload never replaces the last good config.
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { createAgentToken, EnvelopeError, type KeyInput } from '../../proto/envelope.ts'
import { AGENT_CONFIG_TYP, ConfigPayloadError, parseAssignment, verifyAssignment, type AssignedConfig } from '../core/assignment.ts'
import type { Logger } from '../core/probe.ts'
import { Backoff } from './backoff.ts'
import { describeError, RejectedError, TransientError } from './errors.ts'
import { stableKey } from './scheduler.ts'
import { sleep, type Clock, type Timers } from './time.ts'

export { AGENT_CONFIG_TYP, ConfigPayloadError, parseAssignment, type AssignedConfig }

export type ConfigSource = 'hub' | 'cache'

export interface ConfigClientOptions {
  agentId: string
  privateKey: KeyInput
  /** The hub's base URL. */
  hubUrl: string
  /** The pinned hub key: nothing else may sign the agent's config. */
  hubPublicKey: KeyInput
  /** Where `config.json` (the cached signed config) lives. */
  dataDir: string
  clock: Clock
  timers: Timers
  logger: Logger
  /** How often to fetch again after a success (default 30 s). */
  refreshMs?: number
  /** Waits after failures (default 1 s doubling to the refresh period). */
  backoff?: Backoff
  requestTimeoutMs?: number
  /** Called with every newly accepted config (not for an unchanged version). */
  onConfig(config: AssignedConfig, source: ConfigSource): void
}

export const CACHE_FILE = 'config.json'

export class ConfigClient {
  private current_: AssignedConfig | null = null
  private readonly backoff: Backoff
  private readonly dispatcher: Agent
  private readonly halt = new AbortController()
  private running: Promise<void> | null = null

  constructor(private readonly opts: ConfigClientOptions) {
    const refresh = opts.refreshMs ?? 30_000
    this.backoff = opts.backoff ?? new Backoff({ baseMs: 1_000, capMs: Math.max(refresh, 1_000) })
    const timeout = opts.requestTimeoutMs ?? 10_000
    this.dispatcher = new Agent({ connectTimeout: timeout, headersTimeout: timeout, bodyTimeout: timeout })
  }

  get current(): AssignedConfig | null {
    return this.current_
  }

  /** The cached config, verified again with the pinned key; null when absent or not trustworthy. */
  async loadCache(): Promise<AssignedConfig | null> {
    const path = join(this.opts.dataDir, CACHE_FILE)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.logger.warn({ file: path, err: describeError(err) }, 'cannot read the cached config')
      return null
    }
    try {
      const config = await this.verify(text)
      this.accept(config, 'cache')
      return config
    } catch (err) {
      // A cache that no longer verifies (hub key rotated, file edited) is ignored, not trusted.
      this.opts.logger.error({ file: path, err: describeError(err) }, 'ignoring the cached config: it does not verify with the pinned hub key')
      return null
    }
  }

  /** One fetch: the accepted config, or a TransientError / RejectedError / EnvelopeError. */
  async fetchOnce(): Promise<AssignedConfig> {
    const url = `${this.opts.hubUrl.replace(/\/+$/, '')}/v1/agents/${encodeURIComponent(this.opts.agentId)}/config`
    const token = await createAgentToken(this.opts.agentId, this.opts.privateKey, this.opts.clock.now())
    let status: number
    let text: string
    try {
      const res = await request(url, {
        method: 'GET',
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          // The hub answers 304 when the version we run is still current.
          ...(this.current_ ? { 'if-none-match': `"${this.current_.version}"` } : {}),
        },
        signal: this.halt.signal,
        dispatcher: this.dispatcher,
      })
      status = res.statusCode
      text = await res.body.text()
    } catch (err) {
      throw new TransientError(`GET ${url}: ${describeError(err)}`, undefined, { cause: err })
    }
    if (status === 304 && this.current_) return this.current_
    if (status === 408 || status === 429 || status >= 500) throw new TransientError(`GET ${url}: HTTP ${status}: ${text.slice(0, 200)}`)
    if (status < 200 || status >= 300) {
      let reason = `http_${status}`
      try {
        const body = JSON.parse(text) as { reason?: unknown }
        if (typeof body.reason === 'string') reason = body.reason
      } catch {}
      throw new RejectedError(reason, `GET ${url}: HTTP ${status}: ${text.slice(0, 300)}`, status)
    }
    const config = await this.verify(text)
    this.accept(config, 'hub')
    this.writeCache(text)
    return config
  }

  /** Fetches now, then every refresh period; failures back off and keep the last good config. */
  start(): void {
    this.running ??= this.loop()
  }

  async stop(): Promise<void> {
    this.halt.abort()
    await this.running
    await this.dispatcher.close()
  }

  private async loop(): Promise<void> {
    const { logger, timers } = this.opts
    while (!this.halt.signal.aborted) {
      let wait: number
      try {
        await this.fetchOnce()
        if (this.backoff.failures > 0) logger.info({ failures: this.backoff.failures }, 'config fetched from the hub again')
        this.backoff.reset()
        wait = this.opts.refreshMs ?? 30_000
      } catch (err) {
        if (this.halt.signal.aborted) break
        wait = this.backoff.next()
        const keeping = this.current_ ? `keeping config version ${this.current_.version}` : 'no config yet: not probing'
        const context = { err: describeError(err), retry_in_ms: wait, failures: this.backoff.failures }
        if (err instanceof EnvelopeError || err instanceof ConfigPayloadError) {
          logger.error({ ...context, reason: err instanceof EnvelopeError ? err.reason : 'bad_payload' }, `REFUSED the hub's config (${keeping})`)
        } else if (err instanceof RejectedError) {
          logger.error({ ...context, reason: err.reason, status: err.status }, `the hub refused this agent's config request (${keeping}); is the agent registered in hub.yaml with this key?`)
        } else {
          logger[this.backoff.failures <= 3 ? 'warn' : 'error']({ ...context }, `cannot fetch the config from the hub (${keeping})`)
        }
      }
      await sleep(timers, wait, this.halt.signal)
    }
  }

  private verify(text: string): Promise<AssignedConfig> {
    return verifyAssignment(text, this.opts.hubPublicKey, this.opts.agentId, contentVersion)
  }

  private accept(config: AssignedConfig, source: ConfigSource): void {
    const current = this.current_
    if (current?.version === config.version) return
    if (current?.issued_at != null && config.issued_at != null && config.issued_at < current.issued_at) {
      // Signed by the hub, but older than what we run: someone is replaying an old config.
      throw new ConfigPayloadError(
        `config version ${config.version} was issued at ${new Date(config.issued_at).toISOString()}, before the one in use (${current.version}, ${new Date(current.issued_at).toISOString()})`,
      )
    }
    const previous = current?.version ?? null
    this.current_ = config
    this.opts.logger.info({ version: config.version, previous, vantage: config.vantage, region: config.region, checks: config.checks.length, source }, 'config accepted')
    this.opts.onConfig(config, source)
  }

  /** Atomic replace (write, fsync, rename): a crash leaves the old cache or the new one, never half. */
  private writeCache(text: string): void {
    const path = join(this.opts.dataDir, CACHE_FILE)
    try {
      mkdirSync(this.opts.dataDir, { recursive: true })
      const tmp = `${path}.tmp`
      writeFileSync(tmp, text, { mode: 0o600 })
      const fd = openSync(tmp, 'r')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, path)
    } catch (err) {
      this.opts.logger.warn({ file: path, err: describeError(err) }, 'cannot cache the config (a restart with the hub down would not probe)')
    }
  }
}

/** Without a version from the hub, the content itself is the version. */
function contentVersion(payload: unknown): string {
  return createHash('sha256').update(stableKey(payload)).digest('hex').slice(0, 16)
}
