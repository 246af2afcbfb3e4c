// The Go behaviours the Pushgateway's answers depend on, pinned: float formatting (strconv 'g'),
// %q quoting, RawURL base64 with its error offsets, path cleaning, the text parser's grouping
// rules and errors, and our protobuf codec against protobufjs (an independent implementation).
import protobuf from 'protobufjs'
import { describe, expect, it } from 'vitest'
import { formatFloat, formatSampleValue, goQuote, parseGoFloat } from '../../hub/pushgateway/gofmt.ts'
import { cleanPath, decodeBase64, splitLabels } from '../../hub/pushgateway/http.ts'
import { MetricType, type MetricFamily } from '../../hub/pushgateway/model.ts'
import { decodeDelimited, encodeDelimited, METRIC_FAMILY_DESCRIPTOR } from '../../hub/pushgateway/protobuf.ts'
import { parseText } from '../../hub/pushgateway/textparse.ts'

describe('Go float formatting', () => {
  it.each([
    [0, '0'], [1, '1'], [-1, '-1'], [0.5, '0.5'], [123456, '123456'], [123456.5, '123456.5'], [1e6, '1e+06'], [1234567, '1.234567e+06'],
    [0.0001, '0.0001'], [0.00001, '1e-05'], [1e21, '1e+21'], [1.5e-300, '1.5e-300'], [5e-324, '5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'],
    [-2.5e10, '-2.5e+10'], [1795318617.424734, '1.795318617424734e+09'], [0.1 + 0.2, '0.30000000000000004'], [NaN, 'NaN'], [Infinity, '+Inf'], [-Infinity, '-Inf'],
    [-0, '-0'], [100, '100'], [1e100, '1e+100'],
  ])('%s -> %s', (x, text) => {
    expect(formatFloat(x)).toBe(text)
  })

  it('writes -0 as 0 in samples, as expfmt does', () => {
    expect(formatSampleValue(-0)).toBe('0')
  })

  it.each([
    ['1', 1], ['-1.5e3', -1500], ['+.5', 0.5], ['5.', 5], ['Inf', Infinity], ['+inf', Infinity], ['-Infinity', -Infinity], ['nan', NaN], ['NaN', NaN],
    ['1e400', undefined], ['0x10', undefined], ['1_0', undefined], ['1p3', undefined], ['+nan', undefined], ['', undefined], ['1e', undefined], ['infin', undefined],
  ])('parses %j as %s', (text, value) => {
    expect(parseGoFloat(text)).toBe(value)
  })
})

describe('Go %q', () => {
  it.each([
    ['plain', '"plain"'], ['q"b\\', '"q\\"b\\\\"'], ['\n\t\x01\x7f', '"\\n\\t\\x01\\x7f"'], ['\xff', '"\\xff"'], ['\xc3\xa9', '"\xc3\xa9"'], ['\xc2\xa0', '"\\u00a0"'],
  ])('%j', (s, q) => {
    expect(goQuote(s)).toBe(q)
  })
})

describe('the grouping key in the path', () => {
  it('decodes RawURL base64 (padding ignored) and reports Go error offsets', () => {
    expect(decodeBase64('L3Zhci90bXA')).toBe('/var/tmp')
    expect(decodeBase64('YWJjZA==')).toBe('abcd')
    expect(decodeBase64('=')).toBe('')
    expect(() => decodeBase64('Y')).toThrow('illegal base64 data at input byte 0')
    expect(() => decodeBase64('YWJj!!')).toThrow('illegal base64 data at input byte 4')
    expect(() => decodeBase64('a+b/')).toThrow('illegal base64 data at input byte 1')
  })

  it('splits labels as the Pushgateway does', () => {
    expect(splitLabels('/', goQuote)).toEqual({})
    expect(splitLabels('/a/1/a/2/b@base64/=', goQuote)).toEqual({ a: '2', b: '' })
    expect(splitLabels('/a/', goQuote)).toEqual({ a: '' })
    expect(() => splitLabels('/a', goQuote)).toThrow('odd number of components in label string "/a"')
    expect(() => splitLabels('/__a/1', goQuote)).toThrow('improper label name "__a"')
  })

  it('cleans paths as net/http does', () => {
    expect(cleanPath('/a//b/')).toBe('/a/b/')
    expect(cleanPath('/a/./b/../c')).toBe('/a/c')
    expect(cleanPath('/a/b/')).toBe('/a/b/')
    expect(cleanPath('')).toBe('/')
  })
})

const utf8 = (s: string) => new TextEncoder().encode(s)

describe('the text format parser', () => {
  it('groups _sum/_count/_bucket lines into summaries and histograms by their labels', () => {
    const families = parseText(
      utf8('# TYPE s summary\ns{quantile="0.5",a="x"} 1\ns_sum{a="x"} 2\ns{quantile="0.9",a="y"} 3\ns_count{a="x"} 4\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 2\nh_sum 3\n'),
    )
    const s = families.get('s')!
    expect(s.type).toBe(MetricType.SUMMARY)
    expect(s.metric).toHaveLength(2)
    expect(s.metric[0].summary).toEqual({ quantile: [{ quantile: 0.5, value: 1 }], sampleSum: 2, sampleCount: 4 })
    expect(families.get('h')!.metric[0].histogram).toEqual({ bucket: [{ upperBound: 1, cumulativeCount: 1 }], sampleCount: 2, sampleSum: 3 })
  })

  it('keeps HELP absent, empty HELP lines absent, and families without samples out', () => {
    const families = parseText(utf8('# HELP a\n# HELP b  \n# TYPE c gauge\nd 1\n'))
    expect([...families.keys()]).toEqual(['d'])
    expect(families.get('d')!.help).toBeUndefined()
  })

  it.each([
    ['x 1', 'text format parsing error in line 1: unexpected end of input stream'],
    ['x{a="1",a="2"} 1\n', 'text format parsing error in line 1: duplicate label names for metric "x"'],
    ['\n\nx{a="\\q"} 1\n', "text format parsing error in line 3: invalid escape sequence '\\q'"],
    ['x{a=1} 1\n', 'text format parsing error in line 1: expected \'"\' at start of label value, found \'1\''],
    ['# TYPE x gauge\n# TYPE x counter\n', 'text format parsing error in line 2: second TYPE line for metric name "x", or TYPE reported after samples'],
    ['x 1 1.5\n', 'text format parsing error in line 1: expected integer as timestamp, got "1.5"'],
    ['x{le="a"} 1\n# TYPE y histogram\ny_bucket{le="a"} 1\n', 'text format parsing error in line 3: expected float as value for \'le\' label, got "a"'],
  ])('%j', (text, message) => {
    expect(() => parseText(utf8(text))).toThrow(message)
  })
})

describe('the protobuf codec', () => {
  const root = protobuf.Root.fromJSON(METRIC_FAMILY_DESCRIPTOR as unknown as protobuf.INamespace)
  const T = root.lookupType('io.prometheus.client.MetricFamily')
  const family: MetricFamily = {
    name: 'm',
    help: '',
    type: MetricType.HISTOGRAM,
    metric: [
      { label: [{ name: 'a', value: 'v' }], histogram: { sampleCount: 2 ** 40, sampleSum: 1.5, bucket: [{ upperBound: 1, cumulativeCount: 3 }, { upperBound: Infinity, cumulativeCount: 2 ** 40 }] } },
      { label: [], gauge: {}, timestampMs: -5 },
    ],
  }

  it('writes what protobufjs reads', () => {
    const buf = encodeDelimited([family])
    // An empty HELP is sent (field 2, length 0): presence is what the exposition shows.
    expect(buf.subarray(0, 8)).toEqual(Buffer.from([buf[0], 0x0a, 0x01, 0x6d, 0x12, 0x00, 0x18, 0x04]))
    const decoded = T.toObject(T.decodeDelimited(buf), { longs: Number, defaults: false }) as Record<string, unknown>
    expect(decoded).toEqual({
      name: 'm',
      type: 4,
      metric: [
        { label: [{ name: 'a', value: 'v' }], histogram: { sample_count: 2 ** 40, sample_sum: 1.5, bucket: [{ upper_bound: 1, cumulative_count: 3 }, { upper_bound: Infinity, cumulative_count: 2 ** 40 }] } },
        { gauge: {}, timestamp_ms: -5 },
      ],
    })
  })

  it('reads what it writes, keeping presence', () => {
    expect([...decodeDelimited(encodeDelimited([family])).values()]).toEqual([family])
    const noHelp = { ...family, help: undefined }
    expect([...decodeDelimited(encodeDelimited([noHelp])).values()][0].help).toBeUndefined()
  })

  it('reports truncated and malformed streams as the Pushgateway does', () => {
    const buf = encodeDelimited([family])
    expect(() => decodeDelimited(buf.subarray(0, buf.length - 1))).toThrow('unexpected EOF')
    expect(() => decodeDelimited(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]))).toThrow('invalid varint32 encountered')
    // A clean end in the middle of a length prefix is the end of the stream.
    expect(decodeDelimited(Buffer.from([0x80])).size).toBe(0)
  })
})
