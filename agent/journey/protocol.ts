// What crosses between the journey's three places: the script's vm context (runtime/), the
// worker thread around it (worker.ts) and the agent's thread (runner.ts): the messages, and the
// constants all three must agree on (the k6 modules, the built-in metrics, the event bound).
// Portable: no `node:` imports (the runtime is bundled for a bare vm context).

/** Every k6 module the runtime provides, with its named exports. Anything else fails the load. */
export const K6_MODULES: Readonly<Record<string, readonly string[]>> = {
  k6: ['check', 'fail', 'group', 'sleep', 'randomSeed'],
  'k6/http': [
    'get', 'post', 'put', 'patch', 'del', 'head', 'options', 'request', 'asyncRequest', 'batch', 'url', 'file',
    'cookieJar', 'CookieJar', 'expectedStatuses', 'setResponseCallback',
    'TLS_1_0', 'TLS_1_1', 'TLS_1_2', 'TLS_1_3', 'OCSP_STATUS_GOOD', 'OCSP_STATUS_REVOKED', 'OCSP_STATUS_UNKNOWN',
  ],
  'k6/html': ['parseHTML'],
  'k6/encoding': ['b64encode', 'b64decode'],
  'k6/crypto': [
    'md4', 'md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha512_224', 'sha512_256', 'ripemd160',
    'hmac', 'createHash', 'createHMAC', 'randomBytes',
  ],
  'k6/metrics': ['Counter', 'Gauge', 'Rate', 'Trend'],
  'k6/execution': ['scenario', 'instance', 'test', 'vu'],
}

export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend'

/** k6's built-in metrics; a custom metric may not reuse a name with another type. */
export const BUILTIN_METRICS: Record<string, MetricType> = {
  http_reqs: 'counter',
  http_req_duration: 'trend',
  http_req_blocked: 'trend',
  http_req_connecting: 'trend',
  http_req_tls_handshaking: 'trend',
  http_req_sending: 'trend',
  http_req_waiting: 'trend',
  http_req_receiving: 'trend',
  http_req_failed: 'rate',
  checks: 'rate',
  group_duration: 'trend',
  iteration_duration: 'trend',
  iterations: 'counter',
  data_sent: 'counter',
  data_received: 'counter',
  vus: 'gauge',
  vus_max: 'gauge',
}

export type Tags = Record<string, string>

/** `http.expectedStatuses(...)` as data: statuses and inclusive ranges. */
export type ExpectedStatuses = (number | { min: number; max: number })[]

/** One request on the wire (one hop: redirects are followed by the runtime, hop by hop). */
export interface HopRequest {
  method: string
  url: string
  headers: Record<string, string>
  /** UTF-8 text, or base64 for binary bodies. */
  body?: { text: string } | { base64: string }
  timeoutMs: number
  responseType: 'text' | 'binary' | 'none'
  /** The group path the request was made in (`::login`); attributes it to a step. */
  group: string
  /** Metric tags (options.tags, params.tags, name) besides the system tags. */
  tags: Tags
  /** null: setResponseCallback(null), no http_req_failed sample. */
  expected: ExpectedStatuses | null
}

export interface HopTimings {
  blocked: number
  connecting: number
  tls_handshaking: number
  sending: number
  waiting: number
  receiving: number
  duration: number
}

export interface HopReply {
  /** 0 when no response arrived. */
  status: number
  status_text: string
  proto: string
  /** Lower-case names, repeated headers joined with ", "; the runtime canonicalises them as k6 does. */
  headers: Record<string, string>
  set_cookies: string[]
  body: { text: string } | { base64: string } | null
  timings: HopTimings
  /** k6's error text and numeric code (1050 timeout, 1212 refused, 1000+status for >= 400). */
  error: string
  error_code: number
  tls_version: string
  tls_cipher_suite: string
}

/** How a script stopped: an exception, fail()/exec.test.abort(), or its binary-memory budget. */
export type ErrorKind = 'error' | 'fail' | 'abort' | 'memory'

export interface ScriptError {
  message: string
  kind: ErrorKind
}

/** Messages the worker posts to the agent's thread, in the order things happened. */
export type WorkerEvent =
  | { t: 'init'; thresholds: Record<string, string[]>; tags: Tags; metrics: Record<string, MetricType>; phases: string[] }
  | { t: 'http'; reqs: HopRequest[] }
  | { t: 'group-start'; path: string }
  | { t: 'group-end'; path: string; seconds: number; error?: ScriptError }
  | { t: 'check'; name: string; group: string; pass: boolean; tags: Tags }
  | { t: 'metric-def'; name: string; type: MetricType; isTime: boolean }
  | { t: 'metric'; name: string; value: number; group: string; tags: Tags }
  /** An exception that ended a phase (setup, default, teardown); `inGroup` when a group already reported it. */
  | { t: 'phase-end'; phase: 'setup' | 'default' | 'teardown'; seconds: number; error?: ScriptError; inGroup?: boolean }
  | { t: 'test-fail'; message: string }
  | { t: 'log'; level: string; message: string }
  | { t: 'done' }
  /** The script could not be loaded or initialised (unknown export, init-time exception). */
  | { t: 'load-error'; message: string }
  /** Too many events (checks, samples, console lines): the worker stops itself (see worker.ts). */
  | { t: 'flood'; events: number }

/** Events (besides requests) one iteration may send: it is a journey, not a load test. */
export const MAX_EVENTS = 100_000

/** What the runtime's install() receives (JSON). */
export interface RuntimeInit {
  env: Record<string, string>
  scriptName: string
  /** Budget for ArrayBuffers and typed arrays, which live outside the V8 heap limit. */
  binaryBudgetBytes: number
}
