// The differential test: the real Pushgateway (Debian's prometheus-pushgateway, v1.5.1, started
// with --web.route-prefix=/pushgateway) and ours, side by side. The same requests go to both,
// in the same order; after every step the status codes, the answers (bodies and the headers
// clients look at) and the scrapes of /pushgateway/metrics and /pushgateway/api/v1/metrics
// must match.
//
// What is normalised, and only that (see normaliseScrape / normaliseApiMetrics in helpers.ts):
// - in /metrics: the Pushgateway's own families (go_*, process_*, pushgateway_*), which the hub
//   does not serve, are removed; non-zero push_time_seconds / push_failure_time_seconds values
//   become "T" (each side stamps its own clock; zeros are compared as they are);
// - in /api/v1/metrics: the same two values, every `time_stamp`, and the order of the groups
//   (Go lists them in random map order; both are sorted by their labels before comparing).
// Answers are compared byte for byte, except in two steps where the real Pushgateway's message
// itself depends on Go's random map order (which of two clashing families it meets first);
// there its answer must be one of the two texts it can give, and ours is the first of them.
//
// Steps the real Pushgateway 1.5.1 cannot survive are left out and tested on ours alone in
// pushgateway.test.ts: a failed push whose grouping label is not UTF-8, or whose failure stamp
// duplicates another group's series (both leave it failing every scrape), and a gauge
// histogram (stored, then every scrape fails). An invalid base64 job name leaves that route's
// handler locked in 1.5.1 (a mutex is never released), so it is the last step.
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeDelimited } from '../../hub/pushgateway/protobuf.ts'
import {
  normaliseApiMetrics,
  normaliseScrape,
  protobufBody,
  PROTOBUF_CONTENT_TYPE as PB,
  pushgatewayAvailable,
  SELF_PREFIXES,
  send,
  startOurPushgateway,
  startRealPushgateway,
  type Answer,
  type OurPushgateway,
  type RealPushgateway,
} from './helpers.ts'

interface Step {
  what: string
  method: string
  path: string
  body?: string | Uint8Array
  headers?: Record<string, string>
  /** How the answers are compared (default: byte for byte). */
  compare?: 'exact' | 'scrape' | 'api'
  /** The other text the real Pushgateway may answer (Go map order), beside ours. */
  orAlternative?: string
  /** The status this step must have (checks the step tests what it says). */
  expect: number
}

const INCONSISTENT = 'pushed metrics are invalid or inconsistent with existing metrics: '

const STEPS: Step[] = [
  { what: 'health', method: 'GET', path: '/-/healthy', expect: 200 },
  { what: 'readiness', method: 'GET', path: '/-/ready', expect: 200 },
  { what: 'health answers only GET', method: 'POST', path: '/-/healthy', expect: 405 },
  {
    what: 'PUT text: HELP/TYPE, gauge, counter, untyped',
    method: 'PUT',
    path: '/metrics/job/batch',
    body: '# HELP batch_duration_seconds Duration of the batch job.\n# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 12.5\n# TYPE batch_records_total counter\nbatch_records_total{source="db"} 1000\nbatch_records_total{source="api"} 1e6\nbatch_untyped{z="1",a="2"} 3\n',
    expect: 200,
  },
  {
    what: 'instance in the grouping key',
    method: 'PUT',
    path: '/metrics/job/batch/instance/host1',
    body: '# HELP batch_duration_seconds Duration of the batch job.\n# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 2\n',
    expect: 200,
  },
  {
    what: 'POST replaces only the families pushed',
    method: 'POST',
    path: '/metrics/job/batch',
    body: '# HELP batch_duration_seconds Duration of the batch job.\n# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 13\nbatch_new 1\n',
    expect: 200,
  },
  { what: 'POST with an empty body only updates push_time_seconds', method: 'POST', path: '/metrics/job/batch', body: '', expect: 200 },
  { what: 'PUT with an empty body empties the group', method: 'PUT', path: '/metrics/job/batch/instance/host1', body: '', expect: 200 },
  {
    what: 'pushed labels that conflict with the grouping key are overwritten',
    method: 'PUT',
    path: '/metrics/job/conflict/instance/i1/zone/eu',
    body: 'conflict_metric{job="other",instance="x",zone="us",extra="kept"} 1\n',
    expect: 200,
  },
  { what: '@base64 label value with a slash', method: 'PUT', path: '/metrics/job/cleaner/path@base64/L3Zhci90bXA', body: 'cleaned_bytes 42\n', expect: 200 },
  {
    what: '@base64 "=" is the empty label value',
    method: 'PUT',
    path: '/metrics/job/example/first_label@base64/=/second_label/foobar',
    body: 'example_metric 1\n',
    expect: 200,
  },
  { what: 'job name in base64, value with padding', method: 'PUT', path: '/metrics/job@base64/Ym9vdC9zdHJhcA==/step/one', body: 'boot_step 1\n', expect: 200 },
  {
    what: 'summary: quantiles, _sum, _count grouped by labels',
    method: 'PUT',
    path: '/metrics/job/summary',
    body: '# HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds summary\nrpc_seconds{quantile="0.5",op="get"} 0.01\nrpc_seconds{quantile="0.99",op="get"} 0.2\nrpc_seconds_sum{op="get"} 12.5\nrpc_seconds_count{op="get"} 1000\nrpc_seconds_sum{op="put"} 1\nrpc_seconds_count{op="put"} 2\n',
    expect: 200,
  },
  {
    what: 'histogram without a +Inf bucket gets one',
    method: 'PUT',
    path: '/metrics/job/histogram',
    body: '# TYPE req_size_bytes histogram\nreq_size_bytes_bucket{le="100"} 3\nreq_size_bytes_bucket{le="1000"} 7\nreq_size_bytes_sum 2500\nreq_size_bytes_count 9\n',
    expect: 200,
  },
  {
    what: 'NaN, ±Inf, escapes in label values and HELP, exponents, -0',
    method: 'PUT',
    path: '/metrics/job/values',
    body: '# HELP odd_values Values with \\\\ and \\n in HELP.\nodd_values{v="nan"} NaN\nodd_values{v="inf"} +Inf\nodd_values{v="ninf"} -Inf\nodd_values{v="q\\"b\\\\n\\n"} 1e-7\nodd_values{v="neg0"} -0\nodd_values{v="big"} 123456789012\nodd_values{v="utf8 ✓"} 0.1\n',
    expect: 200,
  },
  {
    what: 'delimited protobuf: gauge with HELP and labels, counter without HELP',
    method: 'PUT',
    path: '/metrics/job/proto',
    body: protobufBody([
      { name: 'proto_gauge', help: 'A gauge sent as protobuf.', type: 1, metric: [{ label: [{ name: 'b', value: '2' }, { name: 'a', value: '1' }], gauge: { value: 0.25 } }] },
      { name: 'proto_total', type: 0, metric: [{ counter: { value: 7 } }] },
    ]),
    headers: { 'content-type': PB },
    expect: 200,
  },
  {
    what: 'delimited protobuf: histogram with its own +Inf bucket',
    method: 'POST',
    path: '/metrics/job/proto',
    body: protobufBody([
      { name: 'proto_hist', type: 4, metric: [{ histogram: { sample_count: 10, sample_sum: 2.5, bucket: [{ cumulative_count: 4, upper_bound: 0.1 }, { cumulative_count: 10, upper_bound: Infinity }] } }] },
    ]),
    headers: { 'content-type': PB },
    expect: 200,
  },
  {
    what: 'gzip-compressed text body',
    method: 'PUT',
    path: '/metrics/job/gzipped',
    body: gzipSync('gzipped_metric{a="b"} 42\n'),
    headers: { 'content-encoding': 'gzip' },
    expect: 200,
  },
  {
    what: 'timestamps are refused (text); the failure is stamped on a new group',
    method: 'PUT',
    path: '/metrics/job/stamped',
    body: 'stamped_metric 1 1700000000000\n',
    expect: 400,
  },
  {
    what: 'timestamps are refused (protobuf)',
    method: 'PUT',
    path: '/metrics/job/proto',
    body: protobufBody([{ name: 'proto_gauge', help: 'A gauge sent as protobuf.', type: 1, metric: [{ gauge: { value: 1 }, timestamp_ms: 5 }] }]),
    headers: { 'content-type': PB },
    expect: 400,
  },
  { what: 'a body must end with a newline', method: 'PUT', path: '/metrics/job/parse', body: 'no_newline 1', expect: 400 },
  { what: 'a value must be a float', method: 'PUT', path: '/metrics/job/parse', body: 'bad_value{a="1"} twelve\n', expect: 400 },
  { what: 'invalid escape in a label value', method: 'PUT', path: '/metrics/job/parse', body: 'bad_escape{a="\\t"} 1\n', expect: 400 },
  { what: 'second TYPE line', method: 'PUT', path: '/metrics/job/parse', body: 'late 1\n# TYPE late gauge\n', expect: 400 },
  { what: 'duplicate series in one push', method: 'PUT', path: '/metrics/job/dup', body: 'dup_metric{a="1"} 1\ndup_metric{a="1"} 2\n', expect: 400 },
  {
    what: 'another type for a family another group holds',
    method: 'PUT',
    path: '/metrics/job/othertype',
    body: '# TYPE batch_records_total gauge\nbatch_records_total{source="x"} 1\n',
    orAlternative:
      INCONSISTENT +
      '2 error(s) occurred:\n' +
      '* collected metric "batch_records_total" { label:<name:"instance" value:"" > label:<name:"job" value:"batch" > label:<name:"source" value:"db" > counter:<value:1000 > } is not a GAUGE\n' +
      '* collected metric "batch_records_total" { label:<name:"instance" value:"" > label:<name:"job" value:"batch" > label:<name:"source" value:"api" > counter:<value:1e+06 > } is not a GAUGE\n',
    expect: 400,
  },
  {
    what: 'another type for one of the Pushgateway\'s own families',
    method: 'PUT',
    path: '/metrics/job/selfclash',
    body: '# TYPE go_goroutines counter\ngo_goroutines 1\n',
    expect: 400,
  },
  {
    what: '_count that collides with a summary another group holds',
    method: 'PUT',
    path: '/metrics/job/collide',
    body: 'rpc_seconds_count 3\n',
    orAlternative: INCONSISTENT + 'collected histogram or summary named "rpc_seconds" collides with previously collected metric named "rpc_seconds_count"\n',
    expect: 400,
  },
  { what: 'reserved label name in the body', method: 'PUT', path: '/metrics/job/reserved', body: 'r{__hidden="1"} 1\n', expect: 400 },
  {
    what: 'quantile label on a summary metric (protobuf)',
    method: 'PUT',
    path: '/metrics/job/quantile',
    body: protobufBody([{ name: 'q_summary', type: 2, metric: [{ label: [{ name: 'quantile', value: 'x' }], summary: { sample_count: 1, sample_sum: 1 } }] }]),
    headers: { 'content-type': PB },
    expect: 400,
  },
  { what: 'reserved label name in the path', method: 'PUT', path: '/metrics/job/x/__name/y', body: 'x 1\n', expect: 400 },
  { what: 'odd number of path components', method: 'PUT', path: '/metrics/job/x/lonely', body: 'x 1\n', expect: 400 },
  { what: 'invalid base64 label value', method: 'PUT', path: '/metrics/job/x/v@base64/a!b', body: 'x 1\n', expect: 400 },
  { what: 'empty job name (base64 "=")', method: 'PUT', path: '/metrics/job@base64/=/a/b', body: 'x 1\n', expect: 400 },
  { what: 'percent-encoded UTF-8 in a label value', method: 'PUT', path: '/metrics/job/city/name/M%C3%BCnchen', body: 'city_metric 1\n', expect: 200 },
  { what: 'an encoded slash splits the path', method: 'PUT', path: '/metrics/job/a%2Fb', body: 'x 1\n', expect: 400 },
  { what: 'invalid percent-encoding', method: 'PUT', path: '/metrics/job/bad/v/%zz', body: 'x 1\n', expect: 400 },
  { what: 'unclean path is redirected', method: 'PUT', path: '/metrics/job/x//', body: 'x 1\n', expect: 301 },
  { what: 'trailing slash after /job is redirected', method: 'PUT', path: '/metrics/job/', body: 'x 1\n', expect: 307 },
  { what: 'GET on a push path', method: 'GET', path: '/metrics/job/batch', expect: 405 },
  { what: 'OPTIONS on a push path', method: 'OPTIONS', path: '/metrics/job/batch', expect: 200 },
  { what: 'PUT on /metrics', method: 'PUT', path: '/metrics', body: 'x 1\n', expect: 405 },
  { what: 'a successful push after a failed one', method: 'POST', path: '/metrics/job/stamped', body: 'stamped_metric 2\n', expect: 200 },
  { what: 'DELETE a group', method: 'DELETE', path: '/metrics/job/gzipped', expect: 202 },
  { what: 'DELETE a group that does not exist', method: 'DELETE', path: '/metrics/job/nothing/here/at-all', expect: 202 },
  { what: 'DELETE with base64 labels', method: 'DELETE', path: '/metrics/job/example/first_label@base64/=/second_label/foobar', expect: 202 },
  { what: 'the scrape', method: 'GET', path: '/metrics', compare: 'scrape', expect: 200 },
  { what: 'the scrape, gzipped', method: 'GET', path: '/metrics', headers: { 'accept-encoding': 'gzip' }, compare: 'scrape', expect: 200 },
  { what: 'the JSON API', method: 'GET', path: '/api/v1/metrics', compare: 'api', expect: 200 },
  { what: 'CORS preflight on the API', method: 'OPTIONS', path: '/api/v1/metrics', expect: 200 },
  { what: 'unknown API path', method: 'GET', path: '/api/v1/nothing', expect: 404 },
  { what: 'unknown path', method: 'GET', path: '/nothing', expect: 404 },
  { what: 'lifecycle API is off', method: 'PUT', path: '/-/quit', expect: 403 },
  { what: 'invalid base64 job name (last: it locks this route in 1.5.1)', method: 'PUT', path: '/metrics/job@base64/YWJj!!', body: 'x 1\n', expect: 400 },
]

const HEADERS = ['content-type', 'content-encoding', 'allow', 'location', 'x-content-type-options', 'access-control-allow-origin', 'cache-control']

function comparable(step: Step, a: Answer): string {
  if (step.compare === 'scrape') return normaliseScrape(a.body)
  if (step.compare === 'api') return normaliseApiMetrics(a.body)
  return a.body
}

describe.skipIf(!pushgatewayAvailable)('differential: ours vs the real Pushgateway', () => {
  let real: RealPushgateway
  let ours: OurPushgateway

  beforeAll(async () => {
    ;[real, ours] = await Promise.all([startRealPushgateway(), startOurPushgateway()])
  })
  afterAll(async () => {
    await Promise.all([real?.stop(), ours?.stop()])
  })

  it('has at least 30 steps', () => {
    expect(STEPS.length).toBeGreaterThanOrEqual(30)
  })

  it.each(STEPS.map((s, i) => [`${String(i + 1).padStart(2, '0')} ${s.method} ${s.path}: ${s.what}`, s] as const))('%s', async (_name, step) => {
    const a = await send(real.url, step.method, step.path, step.body, step.headers)
    const b = await send(ours.url, step.method, step.path, step.body, step.headers)
    expect(b.status, 'status').toBe(a.status)
    expect(a.status, 'the step does what it says').toBe(step.expect)
    if (step.orAlternative !== undefined && a.body !== b.body) {
      expect(a.body, 'the real answer is one of its two possible texts').toBe(step.orAlternative)
    } else {
      expect(comparable(step, b), 'answer').toBe(comparable(step, a))
    }
    for (const h of HEADERS) expect(b.headers.get(h), `header ${h}`).toBe(a.headers.get(h))

    const [sa, sb] = await Promise.all([send(real.url, 'GET', '/metrics'), send(ours.url, 'GET', '/metrics')])
    expect(sb.status).toBe(sa.status)
    expect(normaliseScrape(sb.body), 'scrape after the step').toBe(normaliseScrape(sa.body))
    const [ja, jb] = await Promise.all([send(real.url, 'GET', '/api/v1/metrics'), send(ours.url, 'GET', '/api/v1/metrics')])
    expect(normaliseApiMetrics(jb.body), '/api/v1/metrics after the step').toBe(normaliseApiMetrics(ja.body))
  })

  it('the protobuf exposition (Accept: delimited protobuf) has the same families and metrics', async () => {
    const accept = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3'
    const read = async (base: string) => {
      const res = await fetch(base + '/metrics', { headers: { accept } })
      // The same normalisation as for the text: no self-metrics, push times that are not 0 as 1.
      const families = [...decodeDelimited(Buffer.from(await res.arrayBuffer())).values()].filter((f) => !SELF_PREFIXES.some((p) => f.name.startsWith(p)))
      for (const f of families) {
        if (f.name !== 'push_time_seconds' && f.name !== 'push_failure_time_seconds') continue
        for (const m of f.metric) if (m.gauge?.value) m.gauge.value = 1
      }
      return { type: res.headers.get('content-type'), families }
    }
    const [a, b] = await Promise.all([read(real.url), read(ours.url)])
    expect(b.type).toBe(a.type)
    expect(b.families.length).toBeGreaterThan(10)
    expect(b.families).toEqual(a.families)
  })

  it('/api/v1/status has the same shape', async () => {
    const [a, b] = await Promise.all([send(real.url, 'GET', '/api/v1/status'), send(ours.url, 'GET', '/api/v1/status')])
    expect(b.status).toBe(a.status)
    expect(b.headers.get('content-type')).toBe(a.headers.get('content-type'))
    const ja = JSON.parse(a.body)
    const jb = JSON.parse(b.body)
    expect(Object.keys(jb)).toEqual(Object.keys(ja))
    expect(Object.keys(jb.data)).toEqual(Object.keys(ja.data))
    expect(Object.keys(jb.data.build_information)).toEqual(Object.keys(ja.data.build_information))
    expect(jb.data.flags['web.route-prefix']).toBe(ja.data.flags['web.route-prefix'])
    expect(jb.data.flags['web.telemetry-path']).toBe(ja.data.flags['web.telemetry-path'])
    expect(jb.data.start_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
  })
})
