// Durations as users write them in configs and flags: "500ms", "30s", "2m", "1h", "1m30s".
// Portable: no `node:` imports.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y

/** Milliseconds, or throws an Error whose message says what was wrong. */
export function parseDuration(text: string): number {
  const input = text.trim()
  if (input === '') throw new Error('empty duration (use e.g. 500ms, 30s, 2m, 1h)')
  let total = 0
  PART.lastIndex = 0
  while (PART.lastIndex < input.length) {
    const start = PART.lastIndex
    const m = PART.exec(input)
    if (!m) {
      throw new Error(`invalid duration "${text}" at "${input.slice(start)}" (use e.g. 500ms, 30s, 2m, 1h)`)
    }
    total += Number(m[1]) * UNIT_MS[m[2]]
  }
  return Math.round(total)
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`
  return `${ms}ms`
}
