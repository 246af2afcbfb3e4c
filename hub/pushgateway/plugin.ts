// The Pushgateway-compatible HTTP API, as an encapsulated fastify plugin; register it with
// `{ prefix: '/pushgateway' }`. It answers like the real Pushgateway (v1.5.1) started with
// `--web.route-prefix=/pushgateway`: the same routes, methods, redirects, status codes, error
// texts and exposition. Routing is done here rather than by fastify's router so that paths
// are decoded and cleaned as Go decodes and cleans them (an encoded "/" in a label value splits
// it, as it does there; that is what `@base64` is for).
//
// Beyond the Pushgateway: an optional bearer token for writes (reads stay open), a body size
// limit, and the store's per-group cap and TTL.
import { createHash, timingSafeEqual } from 'node:crypto'
import { gunzipSync, gzipSync } from 'node:zlib'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { goJsonString, goQuote, rfc3339Nano } from './gofmt.ts'
import {
  acceptsGzip,
  Base64Error,
  BadRequestURI,
  cleanPath,
  decodeBase64,
  escapePath,
  isDelimitedProtobuf,
  LabelPathError,
  parseMediaType,
  splitLabels,
  unescapePath,
} from './http.ts'
import type { MetricFamily } from './model.ts'
import { decodeDelimited, ProtobufError } from './protobuf.ts'
import { describeGroup, type PushStore } from './store.ts'
import { parseText, TextParseError } from './textparse.ts'

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

export interface PushgatewayPluginOptions {
  store: PushStore
  /** Bearer token that PUT/POST/DELETE must carry; null/absent: writes are open. A function is read per request (config reloads). */
  token?: string | null | (() => string | null)
  /** Largest request body, and largest body after gunzip (default 16 MiB). */
  maxBodyBytes?: number
  /** Shown by /api/v1/status (build_information and flags). */
  status?: { build?: Record<string, string>; flags?: Record<string, string> }
  /** /-/ready answers 503 while this is false (default: always ready). */
  ready?: () => boolean
}

const TEXT = 'text/plain; charset=utf-8'
const EXPOSITION = 'text/plain; version=0.0.4; charset=utf-8'
const PROTOBUF_EXPOSITION = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'
const CORS: Record<string, string> = {
  'access-control-allow-headers': 'Accept, Authorization, Content-Type, Origin',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'Date',
  'cache-control': 'no-cache, no-store, must-revalidate',
}
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'] as const

const kContentType = Symbol('pushgateway.contentType')
const kRawBody = Symbol('pushgateway.rawBody')
type PgRequest = FastifyRequest & { [kContentType]?: string; [kRawBody]?: Buffer }

type Fallback = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>
/** Per HTTP server and prefix: the plugin's handler for requests fastify could not route. */
const fallbacks = new WeakMap<object, Map<string, Fallback>>()

function readBody(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    stream.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) {
        reject(new Error('too large'))
        return
      }
      chunks.push(c)
    })
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}

/** http.Error: the text, a newline, text/plain, nosniff. */
function goError(reply: FastifyReply, code: number, msg: string): FastifyReply {
  return reply
    .code(code)
    .header('content-type', TEXT)
    .header('x-content-type-options', 'nosniff')
    .send(Buffer.from(msg + '\n', 'latin1'))
}

function notFound(reply: FastifyReply): FastifyReply {
  return goError(reply, 404, '404 page not found')
}

/** httprouter's answer for a known path and another method (OPTIONS lists the methods). */
function methodNotAllowed(request: FastifyRequest, reply: FastifyReply, allow: string): FastifyReply {
  if (request.method === 'OPTIONS') return reply.code(200).header('allow', allow).send()
  return goError(reply.header('allow', allow), 405, 'Method Not Allowed')
}

function tokenMatches(expected: string, header: string | undefined): boolean {
  if (!header) return false
  const m = /^Bearer\s+(.+)$/i.exec(header.trim())
  if (!m) return false
  // Compare digests: constant time whatever the lengths.
  const a = createHash('sha256').update(m[1]).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export const pushgatewayRoutes: FastifyPluginAsync<PushgatewayPluginOptions> = async (app, opts) => {
  const { store } = opts
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const token = typeof opts.token === 'function' ? opts.token : () => (opts.token as string | null | undefined) ?? null
  const ready = opts.ready ?? (() => true)
  const started = Date.now()
  const prefix = app.prefix

  // Bodies are read as bytes whatever their Content-Type (the Pushgateway falls back to the
  // text format for anything but its protobuf type, malformed types included).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_req, body, done) => done(null, body))
  app.addHook('onRequest', async (request) => {
    const headers = request.headers
    ;(request as PgRequest)[kContentType] = headers['content-type']
    headers['content-type'] = 'application/octet-stream'
  })
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      request.log.warn({ path: request.url, limit: maxBodyBytes }, 'pushgateway push refused: body too large')
      return goError(reply, 413, `request body too large: the limit is ${maxBodyBytes} bytes`)
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) request.log.error({ path: request.url, error: err.message }, 'pushgateway request failed')
    return goError(reply, status, err.message)
  })

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = request.raw.url ?? '/'
    const q = raw.indexOf('?')
    const rawPath = q < 0 ? raw : raw.slice(0, q)
    let path: string
    try {
      path = unescapePath(rawPath)
    } catch (err) {
      if (err instanceof BadRequestURI) {
        return reply.code(400).header('content-type', TEXT).header('connection', 'close').send('400 Bad Request')
      }
      throw err
    }
    const clean = cleanPath(path)
    if (clean !== path) {
      // net/http's ServeMux: 301 to the clean path, a small HTML body for GET.
      const location = escapePath(clean) + (q < 0 ? '' : raw.slice(q))
      reply.code(301).header('location', location)
      if (request.method === 'GET' || request.method === 'HEAD') {
        reply.header('content-type', 'text/html; charset=utf-8')
        if (request.method === 'GET') return reply.send(`<a href="${htmlEscape(location)}">Moved Permanently</a>.\n\n`)
      }
      return reply.send()
    }
    if (!path.startsWith(prefix + '/') && path !== prefix) return notFound(reply)
    const rest = path.slice(prefix.length)
    return route(rest, request as PgRequest, reply)
  }

  app.route({ method: [...METHODS], url: '/*', handler, exposeHeadRoute: false })
  app.route({ method: [...METHODS], url: '/', handler, exposeHeadRoute: false })

  // URLs fastify's router cannot decode (%FF is fine for Go) reach us through
  // pushgatewayFrameworkErrors, with the body still unread.
  let byPrefix = fallbacks.get(app.server)
  if (!byPrefix) fallbacks.set(app.server, (byPrefix = new Map()))
  byPrefix.set(prefix, async (request, reply) => {
    const req = request as PgRequest
    req[kContentType] = request.headers['content-type']
    try {
      req[kRawBody] = await readBody(request.raw, maxBodyBytes)
    } catch {
      return goError(reply, 413, `request body too large: the limit is ${maxBodyBytes} bytes`)
    }
    return handler(request, reply)
  })

  const route = (rest: string, request: PgRequest, reply: FastifyReply) => {
    const method = request.method
    if (rest === '') {
      // httprouter: the status page lives at "<prefix>/".
      if (method === 'GET') return reply.code(301).header('location', prefix + '/').header('content-type', 'text/html; charset=utf-8').send(`<a href="${prefix}/">Moved Permanently</a>.\n\n`)
      return reply.code(method === 'HEAD' ? 301 : 307).header('location', prefix + '/').send()
    }
    if (rest === '/-/healthy' || rest === '/-/ready') {
      if (method !== 'GET') return methodNotAllowed(request, reply, 'GET, OPTIONS')
      if (rest === '/-/ready' && !ready()) return goError(reply, 500, 'not ready')
      return reply.code(200).header('content-type', TEXT).send('OK')
    }
    if (rest === '/metrics') {
      if (method !== 'GET') return methodNotAllowed(request, reply, 'GET, OPTIONS')
      return scrape(request, reply)
    }
    if (rest.startsWith('/metrics/job/') || rest.startsWith('/metrics/job@base64/')) {
      const base64 = rest.startsWith('/metrics/job@base64/')
      const after = rest.slice(base64 ? '/metrics/job@base64/'.length : '/metrics/job/'.length)
      const slash = after.indexOf('/')
      const jobParam = slash < 0 ? after : after.slice(0, slash)
      const labelsParam = slash < 0 ? '' : after.slice(slash)
      if (jobParam === '') {
        // httprouter's trailing-slash redirect for "/metrics/job/" (not for the base64 route).
        if (base64 || (method !== 'PUT' && method !== 'POST' && method !== 'DELETE')) return notFound(reply)
        return reply.code(307).header('location', prefix + '/metrics/job').send()
      }
      if (method !== 'PUT' && method !== 'POST' && method !== 'DELETE') return methodNotAllowed(request, reply, 'DELETE, OPTIONS, POST, PUT')
      return write(request, reply, method, jobParam, labelsParam, base64)
    }
    if (rest === '/-/quit') {
      if (method === 'PUT' || method === 'POST') return reply.code(403).send('Lifecycle API is not enabled.')
      return methodNotAllowed(request, reply, 'POST, PUT')
    }
    if (rest.startsWith('/api/v1/')) return api(rest.slice('/api/v1'.length), request, reply)
    if (rest === '/' || rest === '/status') {
      if (method !== 'GET') return methodNotAllowed(request, reply, 'GET, OPTIONS')
      return reply.code(200).header('content-type', 'text/html; charset=utf-8').send(statusPage(store, prefix))
    }
    return notFound(reply)
  }

  const scrape = (request: FastifyRequest, reply: FastifyReply) => {
    if (wantsProtobuf(request.headers.accept)) {
      const body = store.renderProtobuf()
      reply.code(200).header('content-type', PROTOBUF_EXPOSITION)
      if (acceptsGzip(request.headers['accept-encoding'])) return reply.header('content-encoding', 'gzip').send(gzipSync(body, { level: 1 }))
      return reply.send(body)
    }
    reply.code(200).header('content-type', EXPOSITION)
    if (acceptsGzip(request.headers['accept-encoding'])) return reply.header('content-encoding', 'gzip').send(store.renderGzip())
    return reply.send(store.render())
  }

  const api = (rest: string, request: FastifyRequest, reply: FastifyReply) => {
    if (request.method === 'OPTIONS') return reply.headers(CORS).code(200).send()
    if (rest !== '/status' && rest !== '/metrics') return notFound(reply)
    if (request.method !== 'GET') return methodNotAllowed(request, reply, 'GET, OPTIONS')
    reply.headers(CORS).code(200).header('content-type', 'application/json')
    if (rest === '/metrics') return reply.send(store.apiMetricsJson())
    return reply.send(Buffer.from(statusJson(opts.status, store, maxBodyBytes, prefix, started), 'latin1'))
  }

  const write = (request: PgRequest, reply: FastifyReply, method: string, jobParam: string, labelsParam: string, base64: boolean) => {
    const expected = token()
    if (expected !== null && !tokenMatches(expected, request.headers.authorization)) {
      request.log.warn({ method, path: request.url }, 'pushgateway write refused: missing or wrong bearer token')
      return reply
        .header('www-authenticate', 'Bearer realm="pushgateway"')
        .code(401)
        .header('content-type', TEXT)
        .send('unauthorized: this Pushgateway needs a bearer token to push or delete\n')
    }
    // Go's gunzipRequest wraps every route: a gzip body is opened before anything else.
    let body = request[kRawBody] ?? (request.body instanceof Buffer ? request.body : Buffer.alloc(0))
    if (request.headers['content-encoding'] === 'gzip') {
      const headerError = gzipHeaderError(body)
      if (headerError) return goError(reply, 400, headerError)
      try {
        body = gunzipSync(body, { maxOutputLength: maxBodyBytes })
      } catch (err) {
        return goError(reply, 400, gzipErrorText(err as Error & { code?: string }, maxBodyBytes))
      }
    }
    let job = jobParam
    if (base64) {
      try {
        job = decodeBase64(jobParam)
      } catch (err) {
        const e = err as Base64Error
        return goError(reply, 400, `invalid base64 encoding in job name ${goQuote(e.partial)}: ${e.message}`)
      }
    }
    let labels: Record<string, string>
    try {
      labels = splitLabels(labelsParam, goQuote)
    } catch (err) {
      if (err instanceof LabelPathError) return goError(reply, 400, err.message)
      throw err
    }
    if (job === '') return goError(reply, 400, 'job name is required')
    labels.job = job

    if (method === 'DELETE') {
      store.delete(labels)
      request.log.info({ group: describeGroup(labels) }, 'pushgateway group deleted')
      return reply.code(202).send()
    }

    let families: Map<string, MetricFamily>
    try {
      families = isDelimitedProtobuf(request[kContentType]) ? decodeDelimited(body) : parseText(body)
    } catch (err) {
      if (err instanceof TextParseError || err instanceof ProtobufError) {
        request.log.warn({ group: describeGroup(labels), error: err.message }, 'pushgateway push refused: malformed body')
        return goError(reply, 400, err.message)
      }
      throw err
    }
    const result = store.push(labels, families, method === 'PUT')
    if (!result.ok) {
      request.log.warn({ group: describeGroup(labels), method, error: result.error }, 'pushgateway push refused')
      return goError(reply, 400, result.error)
    }
    request.log.debug({ group: describeGroup(labels), method, families: families.size }, 'pushgateway push')
    return reply.code(200).send()
  }
}

/** gzip.NewReader reads the 10-byte header first: its errors come before any inflating. */
function gzipHeaderError(body: Buffer): string | null {
  if (body.length === 0) return 'EOF'
  if (body.length < 10) return 'unexpected EOF'
  if (body[0] !== 0x1f || body[1] !== 0x8b || body[2] !== 8) return 'gzip: invalid header'
  return null
}

/** expfmt.Negotiate (without OpenMetrics, which the Pushgateway does not enable): the protobuf format only when it ranks first. */
function wantsProtobuf(accept: string | undefined): boolean {
  if (!accept) return false
  const ranked = accept
    .split(',')
    .map((part, i) => {
      const mt = parseMediaType(part)
      const q = mt?.params.q === undefined ? 1 : Number(mt.params.q)
      return { mt, q: Number.isFinite(q) ? q : 0, i }
    })
    .filter((e) => e.mt !== null && e.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i)
  for (const { mt } of ranked) {
    if (mt!.type === 'application/vnd.google.protobuf') {
      if (mt!.params.proto === 'io.prometheus.client.MetricFamily' && mt!.params.encoding === 'delimited') return true
      continue
    }
    if (mt!.type === 'text/plain' || mt!.type === '*/*') return false
  }
  return false
}

function gzipErrorText(err: Error & { code?: string }, limit: number): string {
  switch (err.code) {
    case 'Z_DATA_ERROR':
      return /header/i.test(err.message) ? 'gzip: invalid header' : /check/i.test(err.message) ? 'gzip: invalid checksum' : `flate: corrupt input (${err.message})`
    case 'Z_BUF_ERROR':
      return 'unexpected EOF'
    case 'ERR_BUFFER_TOO_LARGE':
      return `request body too large after gunzip: the limit is ${limit} bytes`
    default:
      return err.message
  }
}

function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!)
}

function jsonObject(map: Record<string, string>): string {
  const keys = Object.keys(map).sort()
  return '{' + keys.map((k) => goJsonString(k) + ':' + goJsonString(map[k])).join(',') + '}'
}

function statusJson(
  status: PushgatewayPluginOptions['status'],
  store: PushStore,
  maxBodyBytes: number,
  prefix: string,
  started: number,
): string {
  const build = {
    branch: '',
    buildDate: '',
    buildUser: '',
    goVersion: '',
    revision: '',
    version: '',
    ...status?.build,
  }
  const flags = {
    'persistence.file': store.file ?? '',
    'push.disable-consistency-check': 'false',
    'web.route-prefix': prefix,
    'web.telemetry-path': '/metrics',
    'vantage.max-body-bytes': String(maxBodyBytes),
    'vantage.max-families-per-group': String(store.maxFamiliesPerGroup),
    'vantage.max-samples-per-group': String(store.maxSamplesPerGroup),
    'vantage.ttl': store.ttlMs === null ? '' : `${store.ttlMs / 1000}s`,
    ...status?.flags,
  }
  return `{"status":"success","data":{"build_information":${jsonObject(build)},"flags":${jsonObject(flags)},"start_time":"${rfc3339Nano(started)}"}}`
}

function statusPage(store: PushStore, prefix: string): string {
  const rows = store
    .allGroups()
    .map((g) => {
      const push = g.families.get('push_time_seconds')?.value0 ?? 0
      const fail = g.families.get('push_failure_time_seconds')?.value0 ?? 0
      const fams = [...g.families.keys()].filter((n) => n !== 'push_time_seconds' && n !== 'push_failure_time_seconds').length
      const t = (s: number) => (s > 0 ? new Date(s * 1000).toISOString() : '—')
      return `<tr><td>${htmlEscape(describeGroup(g.labels))}</td><td>${fams}</td><td>${t(push)}</td><td>${t(fail)}</td></tr>`
    })
    .join('\n')
  return `<!doctype html><html><head><meta charset="utf-8"><title>Vantage Pushgateway</title></head><body>
<h1>Pushgateway-compatible store</h1>
<p>${store.size} groups. Metrics: <a href="${prefix}/metrics">${prefix}/metrics</a>, JSON: <a href="${prefix}/api/v1/metrics">${prefix}/api/v1/metrics</a>.</p>
<table border="1" cellpadding="4"><tr><th>group</th><th>families</th><th>last push</th><th>last failure</th></tr>
${rows}
</table></body></html>\n`
}

/**
 * For the Fastify instance's `frameworkErrors` option: fastify refuses a URL it cannot decode
 * (`%zz`) before any plugin runs. Under the Pushgateway prefix this answers as Go's server
 * does ("400 Bad Request", connection closed); anything else gets fastify's usual JSON error.
 */
export function pushgatewayFrameworkErrors(prefix = '/pushgateway') {
  return (error: Error & { code?: string; statusCode?: number }, request: FastifyRequest, reply: FastifyReply): void => {
    const url = request.raw.url ?? ''
    if (error.code === 'FST_ERR_BAD_URL' && (url === prefix || url.startsWith(prefix + '/'))) {
      const fallback = fallbacks.get(request.server.server)?.get(prefix)
      if (fallback) {
        // The plugin decodes the path as Go does (and answers 400 itself when Go would).
        fallback(request, reply).catch((err: Error) => reply.code(500).send(err))
        return
      }
      reply.code(400).header('content-type', TEXT).header('connection', 'close').send('400 Bad Request')
      return
    }
    reply.code(error.statusCode ?? 400).send(error)
  }
}
