// Reads YAML configs so that every mistake names the file, the line and the field, and unknown
// keys are errors (a typo must never silently disable a check). Shared by hub.yaml and
// agent.yaml. Portable (the `yaml` package is plain JS): no `node:` imports; callers read files.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml'
import { parseDuration } from './duration.ts'

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${reason}`)
    this.name = 'ConfigError'
  }
}

export function readYaml(text: string, file: string): ConfigField {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const first = doc.errors[0]
  if (first) {
    const line = first.linePos?.[0]?.line ?? lines.linePos(first.pos[0]).line
    throw new ConfigError(file, line, '', first.message.split('\n')[0])
  }
  return new ConfigField(doc.contents as Node | null, '', { file, lines })
}

interface Source {
  file: string
  lines: LineCounter
}

/** One value in the document, with where it came from. Accessors throw ConfigError. */
export class ConfigField {
  constructor(
    private readonly node: Node | null | undefined,
    readonly path: string,
    private readonly src: Source,
    private readonly parentLine: number | null = null,
  ) {}

  get line(): number | null {
    const offset = this.node?.range?.[0]
    return offset === undefined ? this.parentLine : this.src.lines.linePos(offset).line
  }

  /** Absent or explicitly null. */
  get missing(): boolean {
    return this.node == null || (isScalar(this.node) && this.node.value === null)
  }

  error(reason: string): ConfigError {
    return new ConfigError(this.src.file, this.line, this.path, reason)
  }

  private child(node: Node | null | undefined, key: string | number): ConfigField {
    const path = typeof key === 'number' ? `${this.path}[${key}]` : this.path ? `${this.path}.${key}` : key
    return new ConfigField(node, path, this.src, this.line)
  }

  /** The keys of a mapping, each checked against `allowed`. */
  keys(allowed: readonly string[]): string[] {
    if (this.missing) return []
    if (!isMap(this.node)) throw this.error(`expected a mapping (key: value), got ${describe(this.node)}`)
    const keys: string[] = []
    for (const pair of this.node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
      if (!allowed.includes(key)) {
        const where = new ConfigField(pair.key as Node, this.path ? `${this.path}.${key}` : key, this.src, this.line)
        const hint = closest(key, allowed)
        throw where.error(`unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; allowed here: ${allowed.join(', ')}`)
      }
      keys.push(key)
    }
    return keys
  }

  get(key: string): ConfigField {
    if (this.missing || !isMap(this.node)) return this.child(undefined, key)
    const pair = this.node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === key)
    return this.child(pair?.value as Node | undefined, key)
  }

  /** Every entry of a mapping (for name → settings maps such as `vantages:`). */
  entries(): [string, ConfigField][] {
    if (this.missing) return []
    if (!isMap(this.node)) throw this.error(`expected a mapping, got ${describe(this.node)}`)
    return this.node.items.map((p) => {
      const key = isScalar(p.key) ? String(p.key.value) : String(p.key)
      return [key, this.child(p.value as Node | undefined, key)]
    })
  }

  list(): ConfigField[] {
    if (this.missing) return []
    if (!isSeq(this.node)) throw this.error(`expected a list, got ${describe(this.node)}`)
    return this.node.items.map((n, i) => this.child(n as Node, i))
  }

  private scalar(): unknown {
    if (this.missing) throw this.error('is required')
    if (!isScalar(this.node)) throw this.error(`expected a single value, got ${describe(this.node)}`)
    return this.node.value
  }

  string(): string {
    const v = this.scalar()
    if (typeof v !== 'string' && typeof v !== 'number') throw this.error(`expected text, got ${JSON.stringify(v)}`)
    const s = String(v)
    if (s === '') throw this.error('must not be empty')
    return s
  }

  optionalString(): string | undefined {
    return this.missing ? undefined : this.string()
  }

  number(opts: { min?: number; max?: number; integer?: boolean } = {}): number {
    const v = this.scalar()
    if (typeof v !== 'number' || Number.isNaN(v)) throw this.error(`expected a number, got ${JSON.stringify(v)}`)
    if (opts.integer && !Number.isInteger(v)) throw this.error(`expected a whole number, got ${v}`)
    if (opts.min !== undefined && v < opts.min) throw this.error(`must be at least ${opts.min}, got ${v}`)
    if (opts.max !== undefined && v > opts.max) throw this.error(`must be at most ${opts.max}, got ${v}`)
    return v
  }

  boolean(): boolean {
    const v = this.scalar()
    if (typeof v !== 'boolean') throw this.error(`expected true or false, got ${JSON.stringify(v)}`)
    return v
  }

  /** A duration such as 500ms, 30s, 2m, 1h, in milliseconds. */
  duration(opts: { min?: number } = {}): number {
    const v = this.scalar()
    let ms: number
    try {
      ms = parseDuration(String(v))
    } catch (err) {
      throw this.error((err as Error).message)
    }
    if (opts.min !== undefined && ms < opts.min) throw this.error(`must be at least ${opts.min}ms, got ${String(v)}`)
    return ms
  }

  oneOf<T extends string>(choices: readonly T[]): T {
    const s = this.string()
    if (!choices.includes(s as T)) throw this.error(`must be one of ${choices.join(', ')}, got "${s}"`)
    return s as T
  }

  stringList(): string[] {
    if (!this.missing && isScalar(this.node)) return [this.string()]
    return this.list().map((f) => f.string())
  }
}

function describe(node: Node | null | undefined): string {
  if (isMap(node)) return 'a mapping'
  if (isSeq(node)) return 'a list'
  if (isScalar(node)) return JSON.stringify(node.value)
  return 'nothing'
}

/** The allowed key a typo most likely meant (edit distance ≤ 2). */
function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of allowed) {
    const d = editDistance(key, candidate)
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  return best
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return row[b.length]
}
