// A logger that keeps every line, for tests that check what the daemon says (and how loudly).
import type { DaemonLogger } from '../../agent/daemon/daemon.ts'

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error'
  msg: string
  [key: string]: unknown
}

export function memoryLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): DaemonLogger & { lines: LogLine[] } {
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => lines.push({ ...bindings, ...obj, level, msg: msg ?? '' })
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => memoryLogger(lines, { ...bindings, ...more }),
  }
}
