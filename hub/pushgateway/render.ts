// The text exposition (0.0.4) exactly as the Pushgateway writes it (expfmt.MetricFamilyToText
// after client_golang's NormalizeMetricFamilies): HELP only when set, then TYPE; one line per
// sample; summaries with quantile lines then _sum and _count; histograms with their buckets, a
// +Inf bucket when none was pushed, then _sum and _count. Everything is a byte string.
import { formatFloat, formatSampleValue } from './gofmt.ts'
import { MetricType, type LabelPair, type Metric } from './model.ts'

const TYPE_WORDS: Record<number, string> = {
  [MetricType.COUNTER]: 'counter',
  [MetricType.GAUGE]: 'gauge',
  [MetricType.SUMMARY]: 'summary',
  [MetricType.UNTYPED]: 'untyped',
  [MetricType.HISTOGRAM]: 'histogram',
}

/** Whether the text format can carry this type (gauge histograms and unknown values cannot). */
export function isExposableType(type: number): boolean {
  return TYPE_WORDS[type] !== undefined
}

const HELP_ESCAPE = /[\\\n]/g
const HELP_NEEDS_ESCAPE = /[\\\n]/
const VALUE_ESCAPE = /[\\\n"]/g
const VALUE_NEEDS_ESCAPE = /[\\\n"]/

function escapeHelp(s: string): string {
  return HELP_NEEDS_ESCAPE.test(s) ? s.replace(HELP_ESCAPE, (c) => (c === '\n' ? '\\n' : '\\\\')) : s
}

function escapeLabelValue(s: string): string {
  return VALUE_NEEDS_ESCAPE.test(s) ? s.replace(VALUE_ESCAPE, (c) => (c === '\n' ? '\\n' : c === '"' ? '\\"' : '\\\\')) : s
}

export function familyHeader(name: string, help: string | undefined, type: number): string {
  const typeLine = `# TYPE ${name} ${TYPE_WORDS[type]}\n`
  if (help === undefined) return typeLine
  return `# HELP ${name} ${escapeHelp(help)}\n` + typeLine
}

/** `{a="1",b="2"` without the closing brace; '' when there are no labels. */
function openLabels(labels: LabelPair[]): string {
  let out = ''
  for (let i = 0; i < labels.length; i++) {
    const lp = labels[i]
    out += (i === 0 ? '{' : ',') + lp.name + '="' + escapeLabelValue(lp.value) + '"'
  }
  return out
}

/** The lines of one metric of a family of the given type. */
export function metricLines(name: string, type: number, m: Metric): string {
  const open = openLabels(m.label)
  const plain = open === '' ? '' : open + '}'
  switch (type) {
    case MetricType.COUNTER:
      return `${name}${plain} ${formatSampleValue(m.counter?.value ?? 0)}\n`
    case MetricType.GAUGE:
      return `${name}${plain} ${formatSampleValue(m.gauge?.value ?? 0)}\n`
    case MetricType.UNTYPED:
      return `${name}${plain} ${formatSampleValue(m.untyped?.value ?? 0)}\n`
    case MetricType.SUMMARY: {
      const s = m.summary ?? { quantile: [] }
      const pre = open === '' ? '{' : open + ','
      let out = ''
      for (const q of s.quantile) out += `${name}${pre}quantile="${formatSampleValue(q.quantile)}"} ${formatSampleValue(q.value)}\n`
      out += `${name}_sum${plain} ${formatSampleValue(s.sampleSum ?? 0)}\n`
      out += `${name}_count${plain} ${formatSampleValue(s.sampleCount ?? 0)}\n`
      return out
    }
    case MetricType.HISTOGRAM: {
      const h = m.histogram ?? { bucket: [] }
      const pre = open === '' ? '{' : open + ','
      let out = ''
      let infSeen = false
      for (const b of h.bucket) {
        out += `${name}_bucket${pre}le="${formatSampleValue(b.upperBound)}"} ${formatSampleValue(b.cumulativeCount)}\n`
        if (b.upperBound === Infinity) infSeen = true
      }
      if (!infSeen) out += `${name}_bucket${pre}le="+Inf"} ${formatSampleValue(h.sampleCount ?? 0)}\n`
      out += `${name}_sum${plain} ${formatSampleValue(h.sampleSum ?? 0)}\n`
      out += `${name}_count${plain} ${formatSampleValue(h.sampleCount ?? 0)}\n`
      return out
    }
    default:
      return ''
  }
}

/**
 * The order client_golang sorts the metrics of a family in: fewer labels first, then label
 * values compared position by position (bytewise). Ties (same values under different names)
 * are broken by the names, so our order is always the same.
 */
export function metricSortKey(m: Metric): string {
  let key = String.fromCharCode(m.label.length)
  for (const lp of m.label) key += lp.value + '\x00'
  key += '\x01'
  for (const lp of m.label) key += lp.name + '\x00'
  return key
}

export { formatFloat }
