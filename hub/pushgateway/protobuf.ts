// io.prometheus.client.MetricFamily in protobuf: the delimited stream the Pushgateway accepts
// (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`),
// read and written by hand so that field presence (HELP set or not) and the exact bytes of
// strings survive, and errors read as the Pushgateway's (golang/protobuf 1.3 and pbutil).
// METRIC_FAMILY_DESCRIPTOR is the same schema for protobufjs reflection (tests, tooling).
import { formatProtoTextFloat, formatUint } from './gofmt.ts'
import { MetricType, type Bucket, type LabelPair, type Metric, type MetricFamily, type Quantile } from './model.ts'

/** client_model's metrics.proto (the fields the Pushgateway's exposition uses), for protobufjs. */
export const METRIC_FAMILY_DESCRIPTOR = {
  nested: {
    io: { nested: { prometheus: { nested: { client: { nested: {
      LabelPair: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
      MetricType: { values: { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4, GAUGE_HISTOGRAM: 5 } },
      Gauge: { fields: { value: { type: 'double', id: 1 } } },
      Counter: { fields: { value: { type: 'double', id: 1 } } },
      Quantile: { fields: { quantile: { type: 'double', id: 1 }, value: { type: 'double', id: 2 } } },
      Summary: { fields: {
        sample_count: { type: 'uint64', id: 1 }, sample_sum: { type: 'double', id: 2 },
        quantile: { rule: 'repeated', type: 'Quantile', id: 3 } } },
      Untyped: { fields: { value: { type: 'double', id: 1 } } },
      Bucket: { fields: { cumulative_count: { type: 'uint64', id: 1 }, upper_bound: { type: 'double', id: 2 } } },
      Histogram: { fields: {
        sample_count: { type: 'uint64', id: 1 }, sample_sum: { type: 'double', id: 2 },
        bucket: { rule: 'repeated', type: 'Bucket', id: 3 } } },
      Metric: { fields: {
        label: { rule: 'repeated', type: 'LabelPair', id: 1 }, gauge: { type: 'Gauge', id: 2 },
        counter: { type: 'Counter', id: 3 }, summary: { type: 'Summary', id: 4 }, untyped: { type: 'Untyped', id: 5 },
        histogram: { type: 'Histogram', id: 7 }, timestamp_ms: { type: 'int64', id: 6 } } },
      MetricFamily: { fields: {
        name: { type: 'string', id: 1 }, help: { type: 'string', id: 2 }, type: { type: 'MetricType', id: 3 },
        metric: { rule: 'repeated', type: 'Metric', id: 4 } } },
    } } } } } },
  },
} as const

export const DELIMITED_CONTENT_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'

/** A malformed protobuf body; the message is what the Pushgateway answers. */
export class ProtobufError extends Error {
  override readonly name = 'ProtobufError'
}

const UNEXPECTED_EOF = 'unexpected EOF'

class Reader {
  pos: number
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start
  }

  varint(): number {
    let result = 0
    let mul = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError(UNEXPECTED_EOF)
      const b = this.buf[this.pos++]
      result += (b & 0x7f) * mul
      if (b < 0x80) return result
      mul *= 128
    }
    throw new ProtobufError('proto: integer overflow')
  }

  /** A varint as a signed 64-bit integer (int64 fields). */
  int64(): number {
    const start = this.pos
    const v = this.varint()
    if (v < 2 ** 63) return v
    // Re-read exactly for the negative range.
    let big = 0n
    let shift = 0n
    for (let p = start; p < this.pos; p++, shift += 7n) big |= BigInt(this.buf[p] & 0x7f) << shift
    return Number(BigInt.asIntN(64, big))
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new ProtobufError(UNEXPECTED_EOF)
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readDoubleLE(0)
    this.pos += 8
    return v
  }

  /** [start, end) of a length-delimited field. */
  span(): [number, number] {
    const len = this.varint()
    const start = this.pos
    if (len > this.end - start) throw new ProtobufError(UNEXPECTED_EOF)
    this.pos = start + len
    return [start, start + len]
  }

  string(): string {
    const [s, e] = this.span()
    return latin1(this.buf, s, e)
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint()
        return
      case 1:
        if (this.pos + 8 > this.end) throw new ProtobufError(UNEXPECTED_EOF)
        this.pos += 8
        return
      case 2:
        this.span()
        return
      case 3:
        // A group: skip fields until its end tag.
        for (;;) {
          const tag = this.varint()
          const w = tag & 7
          if (w === 4) return
          this.skip(w)
        }
      case 5:
        if (this.pos + 4 > this.end) throw new ProtobufError(UNEXPECTED_EOF)
        this.pos += 4
        return
      default:
        throw new ProtobufError(`proto: can't skip unknown wire type ${wire}`)
    }
  }

  /** The next field's number and wire type; [0, 0] at the end. */
  tag(type: string): [number, number] {
    if (this.pos >= this.end) return [0, 0]
    const t = this.varint()
    const field = Math.floor(t / 8)
    const wire = t & 7
    if (wire === 4) throw new ProtobufError(`proto: ${type}: wiretype end group for non-group`)
    if (field <= 0) throw new ProtobufError(`proto: ${type}: illegal tag ${field} (wire type ${wire})`)
    return [field, wire]
  }
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1')
}

// Field decoders: a field with an unexpected wire type is skipped as unknown, as Go does.

function readValueMessage(r: Reader, into: { value?: number }, type: string): void {
  const [s, e] = r.span()
  const sub = new Reader(r.buf, s, e)
  for (let [f, w] = sub.tag(type); f; [f, w] = sub.tag(type)) {
    if (f === 1 && w === 1) into.value = sub.double()
    else sub.skip(w)
  }
}

function readLabel(r: Reader): LabelPair {
  const [s, e] = r.span()
  const sub = new Reader(r.buf, s, e)
  const lp: LabelPair = { name: '', value: '' }
  for (let [f, w] = sub.tag('io_prometheus_client.LabelPair'); f; [f, w] = sub.tag('io_prometheus_client.LabelPair')) {
    if (f === 1 && w === 2) lp.name = sub.string()
    else if (f === 2 && w === 2) lp.value = sub.string()
    else sub.skip(w)
  }
  return lp
}

function readSummary(r: Reader, into: Metric['summary'] & object): void {
  const [s, e] = r.span()
  const sub = new Reader(r.buf, s, e)
  const T = 'io_prometheus_client.Summary'
  for (let [f, w] = sub.tag(T); f; [f, w] = sub.tag(T)) {
    if (f === 1 && w === 0) into.sampleCount = sub.varint()
    else if (f === 2 && w === 1) into.sampleSum = sub.double()
    else if (f === 3 && w === 2) {
      const [qs, qe] = sub.span()
      const q = new Reader(sub.buf, qs, qe)
      const quantile: Quantile = { quantile: 0, value: 0 }
      for (let [g, v] = q.tag('io_prometheus_client.Quantile'); g; [g, v] = q.tag('io_prometheus_client.Quantile')) {
        if (g === 1 && v === 1) quantile.quantile = q.double()
        else if (g === 2 && v === 1) quantile.value = q.double()
        else q.skip(v)
      }
      into.quantile.push(quantile)
    } else sub.skip(w)
  }
}

function readHistogram(r: Reader, into: Metric['histogram'] & object): void {
  const [s, e] = r.span()
  const sub = new Reader(r.buf, s, e)
  const T = 'io_prometheus_client.Histogram'
  for (let [f, w] = sub.tag(T); f; [f, w] = sub.tag(T)) {
    if (f === 1 && w === 0) into.sampleCount = sub.varint()
    else if (f === 2 && w === 1) into.sampleSum = sub.double()
    else if (f === 3 && w === 2) {
      const [bs, be] = sub.span()
      const b = new Reader(sub.buf, bs, be)
      const bucket: Bucket = { cumulativeCount: 0, upperBound: 0 }
      for (let [g, v] = b.tag('io_prometheus_client.Bucket'); g; [g, v] = b.tag('io_prometheus_client.Bucket')) {
        if (g === 1 && v === 0) bucket.cumulativeCount = b.varint()
        else if (g === 2 && v === 1) bucket.upperBound = b.double()
        else b.skip(v)
      }
      into.bucket.push(bucket)
    } else sub.skip(w)
  }
}

function readMetric(r: Reader): Metric {
  const [s, e] = r.span()
  const sub = new Reader(r.buf, s, e)
  const m: Metric = { label: [] }
  const T = 'io_prometheus_client.Metric'
  for (let [f, w] = sub.tag(T); f; [f, w] = sub.tag(T)) {
    if (w !== 2 && f !== 6) {
      sub.skip(w)
      continue
    }
    switch (f) {
      case 1: m.label.push(readLabel(sub)); break
      case 2: readValueMessage(sub, (m.gauge ??= {}), 'io_prometheus_client.Gauge'); break
      case 3: readValueMessage(sub, (m.counter ??= {}), 'io_prometheus_client.Counter'); break
      case 4: readSummary(sub, (m.summary ??= { quantile: [] })); break
      case 5: readValueMessage(sub, (m.untyped ??= {}), 'io_prometheus_client.Untyped'); break
      case 6:
        if (w === 0) m.timestampMs = sub.int64()
        else sub.skip(w)
        break
      case 7: readHistogram(sub, (m.histogram ??= { bucket: [] })); break
      default: sub.skip(w)
    }
  }
  return m
}

/** One MetricFamily message (the bytes between two length prefixes). */
export function decodeMetricFamily(buf: Uint8Array, start = 0, end = buf.length): MetricFamily {
  const r = new Reader(buf, start, end)
  const mf: MetricFamily = { name: '', type: MetricType.COUNTER, metric: [] }
  const T = 'io_prometheus_client.MetricFamily'
  for (let [f, w] = r.tag(T); f; [f, w] = r.tag(T)) {
    if (f === 1 && w === 2) mf.name = r.string()
    else if (f === 2 && w === 2) mf.help = r.string()
    else if (f === 3 && w === 0) mf.type = Number(BigInt.asIntN(32, BigInt(r.varint())))
    else if (f === 4 && w === 2) mf.metric.push(readMetric(r))
    else r.skip(w)
  }
  return mf
}

/**
 * A delimited stream, as pbutil.ReadDelimited reads it in a loop: a clean end (also in the
 * middle of a length prefix, or right after one) ends the stream; a later family of the same
 * name replaces the earlier one.
 */
export function decodeDelimited(buf: Uint8Array): Map<string, MetricFamily> {
  const out = new Map<string, MetricFamily>()
  let pos = 0
  while (pos < buf.length) {
    // The length prefix: a varint32 read byte by byte, at most 5 bytes.
    let len = 0
    let mul = 1
    let done = false
    for (let i = 0; i < 5; i++) {
      if (pos >= buf.length) return out
      const b = buf[pos++]
      len += (b & 0x7f) * mul
      mul *= 128
      if (b < 0x80) {
        done = true
        break
      }
    }
    if (!done) throw new ProtobufError('invalid varint32 encountered')
    if (len === 0) {
      // io.ReadFull of zero bytes succeeds: an empty family named "".
      const mf = decodeMetricFamily(buf, pos, pos)
      out.delete(mf.name)
      out.set(mf.name, mf)
      continue
    }
    if (pos >= buf.length) return out
    if (len > buf.length - pos) throw new ProtobufError(UNEXPECTED_EOF)
    const mf = decodeMetricFamily(buf, pos, pos + len)
    pos += len
    out.delete(mf.name)
    out.set(mf.name, mf)
  }
  return out
}

// ---- encoding ----
// Sizes first, then one buffer written in place: no intermediate buffers per sub-message.
// Byte strings are latin1, so a string's byte length is its length.

function varintSize(v: number): number {
  if (v < 0) return 10
  let n = 1
  while (v >= 128) {
    v = Math.floor(v / 128)
    n++
  }
  return n
}

function lenField(len: number): number {
  return 1 + varintSize(len) + len
}

function valueSize(v: { value?: number }): number {
  return v.value !== undefined ? 9 : 0
}

function summarySize(sm: NonNullable<Metric['summary']>): number {
  let n = 0
  if (sm.sampleCount !== undefined) n += 1 + varintSize(sm.sampleCount)
  if (sm.sampleSum !== undefined) n += 9
  n += sm.quantile.length * lenField(18)
  return n
}

function histogramSize(h: NonNullable<Metric['histogram']>): number {
  let n = 0
  if (h.sampleCount !== undefined) n += 1 + varintSize(h.sampleCount)
  if (h.sampleSum !== undefined) n += 9
  for (const b of h.bucket) n += lenField(1 + varintSize(b.cumulativeCount) + 9)
  return n
}

function labelSize(lp: LabelPair): number {
  return lenField(lp.name.length) + lenField(lp.value.length)
}

function metricSize(m: Metric): number {
  let n = 0
  for (const lp of m.label) n += lenField(labelSize(lp))
  if (m.gauge) n += lenField(valueSize(m.gauge))
  if (m.counter) n += lenField(valueSize(m.counter))
  if (m.summary) n += lenField(summarySize(m.summary))
  if (m.untyped) n += lenField(valueSize(m.untyped))
  if (m.timestampMs !== undefined) n += 1 + varintSize(m.timestampMs)
  if (m.histogram) n += lenField(histogramSize(m.histogram))
  return n
}

function familySize(mf: MetricFamily, metricSizes: number[]): number {
  let n = lenField(mf.name.length)
  if (mf.help !== undefined) n += lenField(mf.help.length)
  n += 1 + varintSize(mf.type)
  for (let i = 0; i < mf.metric.length; i++) n += lenField(metricSizes[i])
  return n
}

class Out {
  pos = 0
  constructor(readonly buf: Buffer) {}

  varint(v: number): void {
    const buf = this.buf
    if (v < 0) {
      let big = BigInt.asUintN(64, BigInt(v))
      while (big >= 0x80n) {
        buf[this.pos++] = Number(big & 0x7fn) | 0x80
        big >>= 7n
      }
      buf[this.pos++] = Number(big)
      return
    }
    while (v >= 0x80) {
      buf[this.pos++] = (v % 128) | 0x80
      v = Math.floor(v / 128)
    }
    buf[this.pos++] = v
  }

  byte(b: number): void {
    this.buf[this.pos++] = b
  }

  double(v: number): void {
    this.buf.writeDoubleLE(v, this.pos)
    this.pos += 8
  }

  /** tag + length + bytes of a byte string. */
  string(tag: number, s: string): void {
    this.buf[this.pos++] = tag
    this.varint(s.length)
    this.pos += this.buf.write(s, this.pos, 'latin1')
  }

  value(tag: number, v: { value?: number }): void {
    this.byte(tag)
    this.varint(valueSize(v))
    if (v.value !== undefined) {
      this.byte(0x09)
      this.double(v.value)
    }
  }
}

function writeMetric(o: Out, m: Metric): void {
  for (const lp of m.label) {
    o.byte(0x0a)
    o.varint(labelSize(lp))
    o.string(0x0a, lp.name)
    o.string(0x12, lp.value)
  }
  if (m.gauge) o.value(0x12, m.gauge)
  if (m.counter) o.value(0x1a, m.counter)
  if (m.summary) {
    const sm = m.summary
    o.byte(0x22)
    o.varint(summarySize(sm))
    if (sm.sampleCount !== undefined) {
      o.byte(0x08)
      o.varint(sm.sampleCount)
    }
    if (sm.sampleSum !== undefined) {
      o.byte(0x11)
      o.double(sm.sampleSum)
    }
    for (const q of sm.quantile) {
      o.byte(0x1a)
      o.varint(18)
      o.byte(0x09)
      o.double(q.quantile)
      o.byte(0x11)
      o.double(q.value)
    }
  }
  if (m.untyped) o.value(0x2a, m.untyped)
  if (m.timestampMs !== undefined) {
    o.byte(0x30)
    o.varint(m.timestampMs)
  }
  if (m.histogram) {
    const h = m.histogram
    o.byte(0x3a)
    o.varint(histogramSize(h))
    if (h.sampleCount !== undefined) {
      o.byte(0x08)
      o.varint(h.sampleCount)
    }
    if (h.sampleSum !== undefined) {
      o.byte(0x11)
      o.double(h.sampleSum)
    }
    for (const b of h.bucket) {
      o.byte(0x1a)
      o.varint(1 + varintSize(b.cumulativeCount) + 9)
      o.byte(0x08)
      o.varint(b.cumulativeCount)
      o.byte(0x11)
      o.double(b.upperBound)
    }
  }
}

/** Families as one delimited stream (each message prefixed by its varint length). */
export function encodeDelimited(families: Iterable<MetricFamily>): Buffer {
  const list = [...families]
  const plans = list.map((mf) => {
    const sizes = mf.metric.map(metricSize)
    return { mf, sizes, size: familySize(mf, sizes) }
  })
  let total = 0
  for (const p of plans) total += varintSize(p.size) + p.size
  const o = new Out(Buffer.allocUnsafe(total))
  for (const { mf, sizes, size } of plans) {
    o.varint(size)
    o.string(0x0a, mf.name)
    if (mf.help !== undefined) o.string(0x12, mf.help)
    o.byte(0x18)
    o.varint(mf.type)
    for (let i = 0; i < mf.metric.length; i++) {
      o.byte(0x22)
      o.varint(sizes[i])
      writeMetric(o, mf.metric[i])
    }
  }
  return o.buf
}

/** One MetricFamily message, without the length prefix. */
export function encodeMetricFamily(mf: MetricFamily): Buffer {
  const framed = encodeDelimited([mf])
  let i = 0
  while (framed[i] >= 0x80) i++
  return framed.subarray(i + 1)
}

// ---- golang/protobuf 1.3's compact text format (how the Pushgateway prints a metric) ----

function protoTextString(s: string): string {
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    switch (c) {
      case 0x0a: out += '\\n'; break
      case 0x0d: out += '\\r'; break
      case 0x09: out += '\\t'; break
      case 0x22: out += '\\"'; break
      case 0x5c: out += '\\\\'; break
      default:
        out += c >= 0x20 && c < 0x7f ? s[i] : '\\' + c.toString(8).padStart(3, '0')
    }
  }
  return out + '"'
}

function valueText(name: string, v: { value?: number }): string {
  return `${name}:<${v.value !== undefined ? `value:${formatProtoTextFloat(v.value)} ` : ''}> `
}

/** `%s` of a *dto.Metric in the Pushgateway's error messages, e.g. `label:<name:"a" value:"1" > gauge:<value:1 > `. */
export function metricProtoText(m: Metric): string {
  let out = ''
  for (const lp of m.label) out += `label:<name:${protoTextString(lp.name)} value:${protoTextString(lp.value)} > `
  if (m.gauge) out += valueText('gauge', m.gauge)
  if (m.counter) out += valueText('counter', m.counter)
  if (m.summary) {
    const s = m.summary
    out += 'summary:<'
    if (s.sampleCount !== undefined) out += `sample_count:${formatUint(s.sampleCount)} `
    if (s.sampleSum !== undefined) out += `sample_sum:${formatProtoTextFloat(s.sampleSum)} `
    for (const q of s.quantile) out += `quantile:<quantile:${formatProtoTextFloat(q.quantile)} value:${formatProtoTextFloat(q.value)} > `
    out += '> '
  }
  if (m.untyped) out += valueText('untyped', m.untyped)
  if (m.histogram) {
    const h = m.histogram
    out += 'histogram:<'
    if (h.sampleCount !== undefined) out += `sample_count:${formatUint(h.sampleCount)} `
    if (h.sampleSum !== undefined) out += `sample_sum:${formatProtoTextFloat(h.sampleSum)} `
    for (const b of h.bucket) out += `bucket:<cumulative_count:${formatUint(b.cumulativeCount)} upper_bound:${formatProtoTextFloat(b.upperBound)} > `
    out += '> '
  }
  if (m.timestampMs !== undefined) out += `timestamp_ms:${m.timestampMs} `
  return out
}
