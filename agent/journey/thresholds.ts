// k6 thresholds over one iteration's samples: `metric{tag:value,...}` → ["p(95)<500", ...], with
// k6's aggregations per metric type (counter: count, rate; gauge: value; rate: rate; trend: avg,
// min, max, med, p(N)) and k6's values for a metric without samples (0). Portable.
import type { MetricType, Tags } from './protocol.ts'

export interface Sample {
  metric: string
  value: number
  tags: Tags
}

export interface ThresholdResult {
  /** As written in options.thresholds, e.g. `http_req_duration{group:::login}`. */
  metric: string
  expression: string
  ok: boolean
  /** The aggregated value the expression compared. */
  value: number
}

interface Parsed {
  name: string
  filters: [string, string][]
}

interface Expression {
  aggregation: string
  percentile?: number
  op: string
  value: number
}

const SUPPORTED: Record<MetricType, string[]> = {
  counter: ['count', 'rate'],
  gauge: ['value'],
  rate: ['rate'],
  trend: ['avg', 'min', 'max', 'med', 'p'],
}

export function parseMetricSpec(spec: string): Parsed {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\{(.*)\})?\s*$/.exec(spec)
  if (!m) throw new Error(`invalid threshold metric "${spec}" (expected name or name{tag:value})`)
  const filters: [string, string][] = []
  if (m[2] !== undefined) {
    for (const part of m[2].split(',')) {
      const i = part.indexOf(':')
      if (i <= 0) throw new Error(`invalid tag filter "${part}" in "${spec}" (expected tag:value)`)
      filters.push([part.slice(0, i).trim(), part.slice(i + 1).trim().replace(/^(["'])(.*)\1$/, '$2')])
    }
  }
  return { name: m[1], filters }
}

export function parseExpression(source: string): Expression {
  const m = /^\s*(avg|min|max|med|count|rate|value|p\(\s*(\d+(?:\.\d+)?)\s*\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(source)
  if (!m) throw new Error(`invalid threshold "${source}" (expected e.g. "p(95)<500", "rate<0.01", "avg<200", "count>0")`)
  const percentile = m[2] !== undefined ? Number(m[2]) : undefined
  return { aggregation: percentile !== undefined ? 'p' : m[1], percentile, op: m[3], value: Number(m[4]) }
}

/** Null when every threshold names a known metric with an aggregation its type supports. */
export function validateThresholds(thresholds: Record<string, string[]>, metrics: Record<string, MetricType>): string | null {
  for (const [spec, list] of Object.entries(thresholds)) {
    try {
      const { name } = parseMetricSpec(spec)
      const type = metrics[name]
      if (!type) return `threshold on "${spec}": no metric named "${name}" (declare custom metrics in the init context)`
      for (const source of list) {
        const e = parseExpression(source)
        if (!SUPPORTED[type].includes(e.aggregation)) {
          return `threshold "${source}" on "${spec}": a ${type} supports ${SUPPORTED[type].map((a) => (a === 'p' ? 'p(N)' : a)).join(', ')}`
        }
      }
    } catch (err) {
      return (err as Error).message
    }
  }
  return null
}

export function evaluateThresholds(
  thresholds: Record<string, string[]>,
  metrics: Record<string, MetricType>,
  samples: Sample[],
  durationSeconds: number,
): ThresholdResult[] {
  const out: ThresholdResult[] = []
  for (const [spec, list] of Object.entries(thresholds)) {
    const { name, filters } = parseMetricSpec(spec)
    const values = samples.filter((s) => s.metric === name && filters.every(([k, v]) => s.tags[k] === v)).map((s) => s.value)
    for (const source of list) {
      const e = parseExpression(source)
      const value = aggregate(metrics[name], values, e, durationSeconds)
      out.push({ metric: spec, expression: source, ok: compare(value, e.op, e.value), value })
    }
  }
  return out
}

function aggregate(type: MetricType, values: number[], e: Expression, durationSeconds: number): number {
  const sum = values.reduce((a, b) => a + b, 0)
  switch (type) {
    case 'counter':
      return e.aggregation === 'count' ? sum : durationSeconds > 0 ? sum / durationSeconds : 0
    case 'gauge':
      return values.length ? values[values.length - 1] : 0
    case 'rate':
      return values.length ? values.filter((v) => v !== 0).length / values.length : 0
    case 'trend': {
      if (values.length === 0) return 0
      const sorted = [...values].sort((a, b) => a - b)
      switch (e.aggregation) {
        case 'avg':
          return sum / values.length
        case 'min':
          return sorted[0]
        case 'max':
          return sorted[sorted.length - 1]
        case 'med':
          return percentile(sorted, 0.5)
        default:
          return percentile(sorted, e.percentile! / 100)
      }
    }
  }
}

/** k6's TrendSink.P: linear interpolation between the closest ranks. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 1) return sorted[0]
  const i = p * (sorted.length - 1)
  const lo = sorted[Math.floor(i)]
  const hi = sorted[Math.ceil(i)]
  return lo + (hi - lo) * (i - Math.floor(i))
}

function compare(lhs: number, op: string, rhs: number): boolean {
  switch (op) {
    case '<':
      return lhs < rhs
    case '<=':
      return lhs <= rhs
    case '>':
      return lhs > rhs
    case '>=':
      return lhs >= rhs
    case '!=':
      return lhs !== rhs
    default:
      return lhs === rhs
  }
}
