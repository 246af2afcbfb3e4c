// The data model of io.prometheus.client.MetricFamily (client_model's metrics.proto), as the
// Pushgateway keeps it. Names, HELP texts and label values are byte strings (see gofmt.ts).
// Presence matters where the exposition shows it: `help` undefined (no HELP line) is not
// `help: ''` (an empty HELP line), and `timestampMs` set means the push is refused.

export const MetricType = {
  COUNTER: 0,
  GAUGE: 1,
  SUMMARY: 2,
  UNTYPED: 3,
  HISTOGRAM: 4,
  GAUGE_HISTOGRAM: 5,
} as const
export type MetricType = (typeof MetricType)[keyof typeof MetricType] | number

export const TYPE_NAMES: Record<number, string> = {
  0: 'COUNTER',
  1: 'GAUGE',
  2: 'SUMMARY',
  3: 'UNTYPED',
  4: 'HISTOGRAM',
  5: 'GAUGE_HISTOGRAM',
}

/** dto.MetricType.String(): the enum name, or the number for an unknown value. */
export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? String(t)
}

export interface LabelPair {
  name: string
  value: string
}

export interface Quantile {
  quantile: number
  value: number
}

export interface Bucket {
  cumulativeCount: number
  upperBound: number
}

export interface Summary {
  sampleCount?: number
  sampleSum?: number
  quantile: Quantile[]
}

export interface Histogram {
  sampleCount?: number
  sampleSum?: number
  bucket: Bucket[]
}

export interface Metric {
  label: LabelPair[]
  gauge?: { value?: number }
  counter?: { value?: number }
  summary?: Summary
  untyped?: { value?: number }
  histogram?: Histogram
  timestampMs?: number
}

export interface MetricFamily {
  name: string
  help?: string
  /** Absent in a protobuf push means COUNTER (the enum's zero value), as Go's GetType() reads it. */
  type: number
  metric: Metric[]
}

/** The label name the Pushgateway always adds (empty when the push did not set it). */
export const INSTANCE_LABEL = 'instance'
export const JOB_LABEL = 'job'
export const PUSH_TIME_METRIC = 'push_time_seconds'
export const PUSH_TIME_HELP = 'Last Unix time when changing this group in the Pushgateway succeeded.'
export const PUSH_FAILURE_METRIC = 'push_failure_time_seconds'
export const PUSH_FAILURE_HELP = 'Last Unix time when changing this group in the Pushgateway failed.'

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** model.LabelNameRE, and not the reserved `__` prefix (client_golang's checkLabelName). */
export function isValidLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__')
}

export function isLabelNameSyntax(name: string): boolean {
  return LABEL_NAME.test(name)
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME.test(name)
}

/** A grouping key as the Pushgateway builds it: sorted names and values joined by 0xFF. */
export function groupingKeyFor(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort()
  let key = ''
  for (let i = 0; i < names.length; i++) {
    if (i > 0) key += '\xff'
    key += names[i] + '\xff' + labels[names[i]]
  }
  return key
}

/** Label pairs sorted by name, bytewise (Go's sort over label names). */
export function sortLabelPairs(labels: LabelPair[]): void {
  if (labels.length < 2) return
  labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** Whether a metric carries the field its family's type needs (checkMetricConsistency). */
export function hasValueFor(type: number, m: Metric): boolean {
  switch (type) {
    case MetricType.GAUGE: return m.gauge !== undefined
    case MetricType.COUNTER: return m.counter !== undefined
    case MetricType.SUMMARY: return m.summary !== undefined
    case MetricType.HISTOGRAM: return m.histogram !== undefined
    case MetricType.UNTYPED: return m.untyped !== undefined
    default: return true
  }
}

/** Sample count of a family as the per-group cap counts it (one per exposed line). */
export function sampleCount(mf: MetricFamily): number {
  let n = 0
  for (const m of mf.metric) {
    if (m.summary) n += m.summary.quantile.length + 2
    else if (m.histogram) n += m.histogram.bucket.length + 3
    else n += 1
  }
  return n
}
