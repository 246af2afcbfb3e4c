// The Prometheus text exposition format (0.0.4), parsed as the Pushgateway parses pushes (the
// state machine of prometheus/common's expfmt.TextParser): the same acceptance, the same
// grouping of _sum/_count/_bucket lines into summaries and histograms, and the same error
// texts ("text format parsing error in line N: ..."). Works on bytes: label values and HELP
// texts come out as byte strings.
import { floatToUint64, goQuote, goQuoteByte, parseGoFloat, validUtf8 } from './gofmt.ts'
import { MetricType, type LabelPair, type Metric, type MetricFamily } from './model.ts'

export class TextParseError extends Error {
  override readonly name = 'TextParseError'
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`text format parsing error in line ${line}: ${detail}`)
  }
}

const TYPES: Record<string, number> = {
  COUNTER: MetricType.COUNTER,
  GAUGE: MetricType.GAUGE,
  SUMMARY: MetricType.SUMMARY,
  UNTYPED: MetricType.UNTYPED,
  HISTOGRAM: MetricType.HISTOGRAM,
  GAUGE_HISTOGRAM: MetricType.GAUGE_HISTOGRAM,
}

type State = (() => State) | null

const EOF = 1

function isBlankOrTab(b: number): boolean {
  return b === 0x20 || b === 0x09
}
function isLabelNameStart(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f
}
function isLabelNameContinuation(b: number): boolean {
  return isLabelNameStart(b) || (b >= 0x30 && b <= 0x39)
}
function isMetricNameStart(b: number): boolean {
  return isLabelNameStart(b) || b === 0x3a
}
function isMetricNameContinuation(b: number): boolean {
  return isLabelNameContinuation(b) || b === 0x3a
}
function isCount(name: string): boolean {
  return name.length > 6 && name.endsWith('_count')
}
function isSum(name: string): boolean {
  return name.length > 4 && name.endsWith('_sum')
}
function isBucket(name: string): boolean {
  return name.length > 7 && name.endsWith('_bucket')
}
function summaryName(name: string): string {
  if (isCount(name)) return name.slice(0, -6)
  if (isSum(name)) return name.slice(0, -4)
  return name
}
function histogramName(name: string): string {
  if (isCount(name)) return name.slice(0, -6)
  if (isSum(name)) return name.slice(0, -4)
  if (isBucket(name)) return name.slice(0, -7)
  return name
}

/** Families in order of first appearance; families without samples are dropped. */
export function parseText(input: Uint8Array): Map<string, MetricFamily> {
  return new TextParser(input).parse()
}

interface ParsingFamily extends Omit<MetricFamily, 'type'> {
  type?: number
}

class TextParser {
  private pos = 0
  private b = 0
  private err: typeof EOF | TextParseError | null = null
  private line = 0
  private token = ''
  private readonly families = new Map<string, ParsingFamily>()
  private mf!: ParsingFamily
  private metric!: Metric
  private labelPair!: LabelPair
  private currentLabels: Record<string, string> = {}
  private summaries = new Map<string, Metric>()
  private histograms = new Map<string, Metric>()
  private quantile = NaN
  private bucket = NaN
  private isSummaryCount = false
  private isSummarySum = false
  private isHistogramCount = false
  private isHistogramSum = false

  constructor(private readonly input: Uint8Array) {}

  parse(): Map<string, MetricFamily> {
    for (let next: State = this.startOfLine; next; next = next.call(this));
    const out = new Map<string, MetricFamily>()
    for (const [name, mf] of this.families) {
      if (mf.metric.length > 0) out.set(name, mf as MetricFamily)
    }
    if (this.err === EOF) this.parseError('unexpected end of input stream')
    if (this.err) throw this.err
    return out
  }

  private readByte(): boolean {
    if (this.pos >= this.input.length) {
      this.err = EOF
      return false
    }
    this.b = this.input[this.pos++]
    return true
  }

  private parseError(msg: string): void {
    this.err = new TextParseError(this.line, msg)
  }

  private skipBlankTab(): void {
    while (this.readByte() && isBlankOrTab(this.b));
  }

  private skipBlankTabIfCurrentBlankTab(): void {
    if (isBlankOrTab(this.b)) this.skipBlankTab()
  }

  private startOfLine(): State {
    this.line++
    this.skipBlankTab()
    if (this.err) {
      // The end of the input at the start of a line is the one legitimate end.
      this.err = null
      return null
    }
    if (this.b === 0x23) return this.startComment
    if (this.b === 0x0a) return this.startOfLine
    return this.readingMetricName
  }

  private startComment(): State {
    this.skipBlankTab()
    if (this.err) return null
    if (this.b === 0x0a) return this.startOfLine
    this.readTokenUntilWhitespace()
    if (this.err) return null
    if (this.b === 0x0a) return this.startOfLine
    const keyword = this.token
    if (keyword !== 'HELP' && keyword !== 'TYPE') {
      while (this.b !== 0x0a) {
        if (!this.readByte()) return null
      }
      return this.startOfLine
    }
    this.skipBlankTab()
    if (this.err) return null
    this.readTokenAsMetricName()
    if (this.err) return null
    if (this.b === 0x0a) return this.startOfLine
    if (!isBlankOrTab(this.b)) {
      this.parseError('invalid metric name in comment')
      return null
    }
    this.setOrCreateCurrentMF()
    this.skipBlankTab()
    if (this.err) return null
    if (this.b === 0x0a) return this.startOfLine
    return keyword === 'HELP' ? this.readingHelp : this.readingType
  }

  private readingMetricName(): State {
    this.readTokenAsMetricName()
    if (this.err) return null
    if (this.token.length === 0) {
      this.parseError('invalid metric name')
      return null
    }
    this.setOrCreateCurrentMF()
    if (this.mf.type === undefined) this.mf.type = MetricType.UNTYPED
    this.metric = { label: [] }
    this.skipBlankTabIfCurrentBlankTab()
    if (this.err) return null
    return this.readingLabels
  }

  private readingLabels(): State {
    if (this.mf.type === MetricType.SUMMARY || this.mf.type === MetricType.HISTOGRAM) {
      this.currentLabels = { __name__: this.mf.name }
      this.quantile = NaN
      this.bucket = NaN
    }
    if (this.b !== 0x7b) return this.readingValue
    return this.startLabelName
  }

  private startLabelName(): State {
    this.skipBlankTab()
    if (this.err) return null
    if (this.b === 0x7d) {
      this.skipBlankTab()
      if (this.err) return null
      return this.readingValue
    }
    this.readTokenAsLabelName()
    if (this.err) return null
    if (this.token.length === 0) {
      this.parseError(`invalid label name for metric ${goQuote(this.mf.name)}`)
      return null
    }
    this.labelPair = { name: this.token, value: '' }
    if (this.labelPair.name === '__name__') {
      this.parseError('label name "__name__" is reserved')
      return null
    }
    if (
      !(this.mf.type === MetricType.SUMMARY && this.labelPair.name === 'quantile') &&
      !(this.mf.type === MetricType.HISTOGRAM && this.labelPair.name === 'le')
    ) {
      this.metric.label.push(this.labelPair)
    }
    this.skipBlankTabIfCurrentBlankTab()
    if (this.err) return null
    if (this.b !== 0x3d) {
      this.parseError(`expected '=' after label name, found ${goQuoteByte(this.b)}`)
      return null
    }
    const seen = new Set<string>()
    for (const l of this.metric.label) {
      if (seen.has(l.name)) {
        this.parseError(`duplicate label names for metric ${goQuote(this.mf.name)}`)
        return null
      }
      seen.add(l.name)
    }
    return this.startLabelValue
  }

  private startLabelValue(): State {
    this.skipBlankTab()
    if (this.err) return null
    if (this.b !== 0x22) {
      this.parseError(`expected '"' at start of label value, found ${goQuoteByte(this.b)}`)
      return null
    }
    this.readTokenAsLabelValue()
    if (this.err) return null
    if (!validUtf8(this.token)) {
      this.parseError(`invalid label value ${goQuote(this.token)}`)
      return null
    }
    this.labelPair.value = this.token
    if (this.mf.type === MetricType.SUMMARY) {
      if (this.labelPair.name === 'quantile') {
        const q = parseGoFloat(this.labelPair.value)
        if (q === undefined) {
          this.parseError(`expected float as value for 'quantile' label, got ${goQuote(this.labelPair.value)}`)
          return null
        }
        this.quantile = q
      } else {
        this.currentLabels[this.labelPair.name] = this.labelPair.value
      }
    }
    if (this.mf.type === MetricType.HISTOGRAM) {
      if (this.labelPair.name === 'le') {
        const le = parseGoFloat(this.labelPair.value)
        if (le === undefined) {
          this.parseError(`expected float as value for 'le' label, got ${goQuote(this.labelPair.value)}`)
          return null
        }
        this.bucket = le
      } else {
        this.currentLabels[this.labelPair.name] = this.labelPair.value
      }
    }
    this.skipBlankTab()
    if (this.err) return null
    const b = this.b as number
    if (b === 0x2c) return this.startLabelName
    if (b === 0x7d) {
      this.skipBlankTab()
      if (this.err) return null
      return this.readingValue
    }
    this.parseError(`unexpected end of label value ${goQuote(this.labelPair.value)}`)
    return null
  }

  private readingValue(): State {
    const mf = this.mf
    if (mf.type === MetricType.SUMMARY || mf.type === MetricType.HISTOGRAM) {
      const seen = mf.type === MetricType.SUMMARY ? this.summaries : this.histograms
      const signature = labelsSignature(this.currentLabels)
      const existing = seen.get(signature)
      if (existing) {
        this.metric = existing
      } else {
        seen.set(signature, this.metric)
        mf.metric.push(this.metric)
      }
    } else {
      mf.metric.push(this.metric)
    }
    this.readTokenUntilWhitespace()
    if (this.err) return null
    const value = parseGoFloat(this.token)
    if (value === undefined) {
      this.parseError(`expected float as value, got ${goQuote(this.token)}`)
      return null
    }
    const m = this.metric
    switch (mf.type) {
      case MetricType.COUNTER:
        m.counter = { value }
        break
      case MetricType.GAUGE:
        m.gauge = { value }
        break
      case MetricType.UNTYPED:
        m.untyped = { value }
        break
      case MetricType.SUMMARY:
        m.summary ??= { quantile: [] }
        if (this.isSummaryCount) m.summary.sampleCount = floatToUint64(value)
        else if (this.isSummarySum) m.summary.sampleSum = value
        else if (!Number.isNaN(this.quantile)) m.summary.quantile.push({ quantile: this.quantile, value })
        break
      case MetricType.HISTOGRAM:
        m.histogram ??= { bucket: [] }
        if (this.isHistogramCount) m.histogram.sampleCount = floatToUint64(value)
        else if (this.isHistogramSum) m.histogram.sampleSum = value
        else if (!Number.isNaN(this.bucket)) m.histogram.bucket.push({ upperBound: this.bucket, cumulativeCount: floatToUint64(value) })
        break
      default:
        // A gauge histogram: Go's parser sets an error here that the next read overwrites, so
        // the sample is kept without a value (the store's check then refuses the family).
        break
    }
    if (this.b === 0x0a) return this.startOfLine
    return this.startTimestamp
  }

  private startTimestamp(): State {
    this.skipBlankTab()
    if (this.err) return null
    this.readTokenUntilWhitespace()
    if (this.err) return null
    if (!/^[+-]?\d+$/.test(this.token) || !fitsInt64(this.token)) {
      this.parseError(`expected integer as timestamp, got ${goQuote(this.token)}`)
      return null
    }
    this.metric.timestampMs = Number(this.token)
    this.readTokenUntilNewline(false)
    if (this.err) return null
    if (this.token.length > 0) {
      this.parseError(`spurious string after timestamp: ${goQuote(this.token)}`)
      return null
    }
    return this.startOfLine
  }

  private readingHelp(): State {
    if (this.mf.help !== undefined) {
      this.parseError(`second HELP line for metric name ${goQuote(this.mf.name)}`)
      return null
    }
    this.readTokenUntilNewline(true)
    if (this.err) return null
    this.mf.help = this.token
    return this.startOfLine
  }

  private readingType(): State {
    if (this.mf.type !== undefined) {
      this.parseError(`second TYPE line for metric name ${goQuote(this.mf.name)}, or TYPE reported after samples`)
      return null
    }
    this.readTokenUntilNewline(false)
    if (this.err) return null
    const t = TYPES[this.token.toUpperCase()]
    if (t === undefined) {
      this.parseError(`unknown metric type ${goQuote(this.token)}`)
      return null
    }
    this.mf.type = t
    return this.startOfLine
  }

  private readTokenUntilWhitespace(): void {
    const start = this.pos - 1
    while (this.err === null && !isBlankOrTab(this.b) && this.b !== 0x0a) this.readByte()
    // The byte that stopped us is not part of the token (at EOF, every byte read is).
    const end = this.err === null ? this.pos - 1 : this.pos
    this.token = latin1(this.input, start, end)
  }

  private readTokenUntilNewline(escapes: boolean): void {
    let token = ''
    let escaped = false
    while (this.err === null) {
      const b = this.b
      if (escapes && escaped) {
        if (b === 0x5c) token += '\\'
        else if (b === 0x6e) token += '\n'
        else {
          this.token = token
          this.parseError(`invalid escape sequence '\\${byteChar(b)}'`)
          return
        }
        escaped = false
      } else if (b === 0x0a) {
        this.token = token
        return
      } else if (b === 0x5c) {
        escaped = true
      } else {
        token += String.fromCharCode(b)
      }
      this.readByte()
    }
    this.token = token
  }

  private readTokenAsMetricName(): void {
    this.token = ''
    if (!isMetricNameStart(this.b)) return
    const start = this.pos - 1
    while (this.readByte() && isMetricNameContinuation(this.b));
    const end = this.err === null ? this.pos - 1 : this.pos
    this.token = latin1(this.input, start, end)
  }

  private readTokenAsLabelName(): void {
    this.token = ''
    if (!isLabelNameStart(this.b)) return
    const start = this.pos - 1
    while (this.readByte() && isLabelNameContinuation(this.b));
    const end = this.err === null ? this.pos - 1 : this.pos
    this.token = latin1(this.input, start, end)
  }

  private readTokenAsLabelValue(): void {
    let token = ''
    let escaped = false
    for (;;) {
      if (!this.readByte()) {
        this.token = token
        return
      }
      const b = this.b
      if (escaped) {
        if (b === 0x22 || b === 0x5c) token += String.fromCharCode(b)
        else if (b === 0x6e) token += '\n'
        else {
          this.token = token
          this.parseError(`invalid escape sequence '\\${byteChar(b)}'`)
          return
        }
        escaped = false
        continue
      }
      if (b === 0x22) {
        this.token = token
        return
      }
      if (b === 0x0a) {
        this.token = token
        this.parseError(`label value ${goQuote(token)} contains unescaped new-line`)
        return
      }
      if (b === 0x5c) escaped = true
      else token += String.fromCharCode(b)
    }
  }

  private setOrCreateCurrentMF(): void {
    this.isSummaryCount = false
    this.isSummarySum = false
    this.isHistogramCount = false
    this.isHistogramSum = false
    const name = this.token
    const direct = this.families.get(name)
    if (direct) {
      this.mf = direct
      return
    }
    const summary = this.families.get(summaryName(name))
    if (summary && summary.type === MetricType.SUMMARY) {
      this.mf = summary
      if (isCount(name)) this.isSummaryCount = true
      if (isSum(name)) this.isSummarySum = true
      return
    }
    const histogram = this.families.get(histogramName(name))
    if (histogram && histogram.type === MetricType.HISTOGRAM) {
      this.mf = histogram
      if (isCount(name)) this.isHistogramCount = true
      if (isSum(name)) this.isHistogramSum = true
      return
    }
    this.mf = { name, metric: [] }
    this.families.set(name, this.mf)
  }
}

/** %c of a byte in Go: the rune U+00XX, written as UTF-8 (a byte string). */
function byteChar(b: number): string {
  return b < 0x80 ? String.fromCharCode(b) : Buffer.from(String.fromCharCode(b), 'utf8').toString('latin1')
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  if (end - start < 64) {
    let s = ''
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i])
    return s
  }
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1')
}

function labelsSignature(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort()
  let sig = ''
  for (const n of names) sig += n + '\xff' + labels[n] + '\xff'
  return sig
}

const INT64_MAX = 9223372036854775807n
const INT64_MIN = -9223372036854775808n

function fitsInt64(s: string): boolean {
  const v = BigInt(s)
  return v <= INT64_MAX && v >= INT64_MIN
}
