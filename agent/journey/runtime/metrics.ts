// k6/metrics: custom metrics are declared in the init context (as k6 requires) and every add()
// is a sample the agent's thread keeps for thresholds.
import { BUILTIN_METRICS, type MetricType, type Tags } from '../protocol.ts'
import { emit } from './host.ts'
import { state } from './state.ts'

/** Custom metrics declared so far (name → type). */
export const declared: Record<string, MetricType> = {}

const NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/

abstract class Metric {
  readonly name: string
  constructor(name: string, isTime = false) {
    if (state.phase !== 'init') throw new Error('metrics must be declared in the init context (outside the default function)')
    if (typeof name !== 'string' || !NAME.test(name)) throw new Error(`invalid metric name "${String(name)}": use letters, digits and _ (at most 128)`)
    this.name = name
    const known = BUILTIN_METRICS[name] ?? declared[name]
    const type = this.kind()
    if (known && known !== type) throw new Error(`metric "${name}" already exists as a ${known}, not a ${type}`)
    declared[name] = type
    emit({ t: 'metric-def', name, type, isTime: !!isTime })
  }

  protected abstract kind(): MetricType

  add(value: number | boolean, tags?: Tags): boolean {
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : Number(value)
    if (Number.isNaN(v)) throw new Error(`${this.name}.add: ${String(value)} is not a number`)
    emit({ t: 'metric', name: this.name, value: this.kind() === 'rate' ? (v !== 0 ? 1 : 0) : v, group: state.group, tags: { ...state.tags, ...stringTags(tags) } })
    return true
  }
}

export class Counter extends Metric {
  protected kind(): MetricType {
    return 'counter'
  }
}

export class Gauge extends Metric {
  protected kind(): MetricType {
    return 'gauge'
  }
}

export class Rate extends Metric {
  protected kind(): MetricType {
    return 'rate'
  }
}

export class Trend extends Metric {
  protected kind(): MetricType {
    return 'trend'
  }
}

export function stringTags(tags: unknown): Tags {
  const out: Tags = {}
  if (tags && typeof tags === 'object') for (const [k, v] of Object.entries(tags)) out[k] = String(v)
  return out
}
