// Structured logs for Workers Logs / `wrangler tail`: one JSON line per event, with the agent
// (and, once known, the vantage) on every line and the check where there is one — the shape the
// Node agent's pino lines have.
import type { Logger } from '../core/probe.ts'

type Level = 'debug' | 'info' | 'warn' | 'error'
const LEVELS: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 }

export interface EdgeLogger extends Logger {
  /** A logger whose lines also carry `fields`. */
  child(fields: Record<string, unknown>): EdgeLogger
}

export function createLogger(level: string | undefined, base: Record<string, unknown>): EdgeLogger {
  const threshold = LEVELS[(level ?? 'info').toLowerCase() as Level] ?? LEVELS.info
  const make = (fields: Record<string, unknown>): EdgeLogger => {
    const write = (lvl: Level) => (obj: object, msg?: string) => {
      if (LEVELS[lvl] < threshold) return
      const line = JSON.stringify({ level: lvl, time: new Date().toISOString(), name: 'vantage-edge', ...fields, ...obj, msg: msg ?? '' }, replacer)
      if (lvl === 'error') console.error(line)
      else if (lvl === 'warn') console.warn(line)
      else console.log(line)
    }
    return {
      debug: write('debug'),
      info: write('info'),
      warn: write('warn'),
      error: write('error'),
      child: (more) => make({ ...fields, ...more }),
    }
  }
  return make(base)
}

/** Errors as their message (JSON.stringify would print `{}`). */
function replacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? `${value.name}: ${value.message}` : value
}
