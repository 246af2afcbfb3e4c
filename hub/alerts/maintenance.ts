// Maintenance windows: inside one, a check's alerts are not sent (the quorum engine, incidents,
// metrics and history keep recording). Two sources: `checks[].maintenance` in hub.yaml, and
// windows added through the operator API (`POST /api/v1/checks/{name}/maintenance`), kept in
// <data>/maintenance.json so they survive a restart.
import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { HubCheck, HubConfig, MaintenanceWindow } from '../config.ts'

export const MAINTENANCE_FILE = 'maintenance.json'
/** Ended API windows are kept this long for the listing, then forgotten. */
const KEEP_ENDED_MS = 7 * 86_400_000

export interface MaintenanceEntry extends MaintenanceWindow {
  id: string
  check: string
  source: 'config' | 'api'
  created_by?: string
  created_at?: number
}

export class MaintenanceBook {
  private api: MaintenanceEntry[] = []

  /**
   * @param file where API windows are kept; null keeps them in memory only.
   * A file that cannot be read as windows is an error: starting without them could page
   * during a maintenance the operator announced.
   */
  constructor(
    private readonly config: () => HubConfig,
    private readonly file: string | null,
  ) {
    if (!file) return
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new Error(`${file}: cannot read the maintenance windows: ${(err as Error).message}`)
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new Error(`${file}: not JSON (${(err as Error).message}); fix or remove it`)
    }
    const windows = (parsed as { windows?: unknown }).windows
    if (!Array.isArray(windows) || !windows.every(isEntry)) throw new Error(`${file}: expected { "windows": [{ id, check, start, end, reason }] }`)
    this.api = windows.map((w) => ({ ...w, source: 'api' as const }))
  }

  /** The window a check is in at `now`, if any (the one ending last). */
  active(check: string, now: number): MaintenanceEntry | null {
    let found: MaintenanceEntry | null = null
    for (const w of this.entries(check)) if (w.start <= now && now < w.end && (!found || w.end > found.end)) found = w
    return found
  }

  /** For the quorum engine's setMaintenance(): whether a check is in a window at `now`. */
  predicate(): (check: HubCheck, now: number) => boolean {
    return (check, now) => this.active(check.spec.name, now) !== null
  }

  /** Every window of a check (or of every check), config first, each list by start. */
  list(check?: string): MaintenanceEntry[] {
    return this.entries(check).sort((a, b) => (a.source === b.source ? a.start - b.start : a.source === 'config' ? -1 : 1))
  }

  add(check: string, window: MaintenanceWindow, by: string | undefined, now: number): MaintenanceEntry {
    const entry: MaintenanceEntry = { id: randomUUID(), check, ...window, source: 'api', created_at: now, ...(by ? { created_by: by } : {}) }
    this.api = this.api.filter((w) => w.end > now - KEEP_ENDED_MS)
    this.api.push(entry)
    this.save()
    return entry
  }

  /** Ends an API window now (or deletes it, if it had not started). */
  end(check: string, id: string, now: number): MaintenanceEntry | 'config' | null {
    const fromConfig = this.configEntries(check).find((w) => w.id === id)
    if (fromConfig) return 'config'
    const entry = this.api.find((w) => w.check === check && w.id === id)
    if (!entry) return null
    if (entry.start > now) this.api = this.api.filter((w) => w !== entry)
    else entry.end = Math.min(entry.end, now)
    this.save()
    return entry
  }

  private entries(check?: string): MaintenanceEntry[] {
    return [...this.configEntries(check), ...this.api.filter((w) => check === undefined || w.check === check)]
  }

  private configEntries(check?: string): MaintenanceEntry[] {
    const out: MaintenanceEntry[] = []
    const add = (name: string, c: HubCheck | undefined) =>
      c?.maintenance?.forEach((w, i) => out.push({ id: `config-${i}`, check: name, ...w, source: 'config' }))
    // One check: a lookup, not a walk over every check (the quorum engine asks for each check).
    if (check !== undefined) add(check, this.config().checks.get(check))
    else for (const [name, c] of this.config().checks) add(name, c)
    return out
  }

  private save(): void {
    if (!this.file) return
    mkdirSync(dirname(this.file), { recursive: true })
    const tmp = `${this.file}.tmp`
    const windows = this.api.map(({ source: _source, ...w }) => w)
    writeFileSync(tmp, `${JSON.stringify({ windows }, null, 2)}\n`)
    renameSync(tmp, this.file)
  }
}

function isEntry(w: unknown): w is MaintenanceEntry {
  const e = w as MaintenanceEntry
  return !!e && typeof e.id === 'string' && typeof e.check === 'string' && typeof e.start === 'number' && typeof e.end === 'number' && typeof e.reason === 'string'
}
