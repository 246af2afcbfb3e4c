// k6/http for the journey runtime. Requests are synchronous, as in k6: each hop goes to the
// agent's thread (our HTTP machinery: identity header, source address, CA, TLS rules, challenge
// classification) and the iteration blocks until it answers. Redirects, cookies and auth are
// handled here, hop by hop, with k6's (Go's) rules.
import type { ExpectedStatuses, HopReply, HopRequest, Tags } from '../protocol.ts'
import { CookieJar, cookiesFor, parseSetCookie, storeResponseCookies, type ResponseCookie } from './cookies.ts'
import { md5 } from './crypto.ts'
import { base64Decode, base64Encode, toArrayBuffer, toBytes, utf8Encode } from './encoding.ts'
import { gjson } from './gjson.ts'
import { callJson, json } from './host.ts'
import { formEncode, parseHTML, type Selection } from './html.ts'
import { stringTags } from './metrics.ts'
import { state } from './state.ts'
import { cleanHref, isHttpUrl, parseUrl, type ParsedUrl } from './url.ts'

export { CookieJar }

const DEFAULT_TIMEOUT_MS = 60_000
const REDIRECTS = new Set([301, 302, 303, 307, 308])

export const TLS_1_0 = 'tls1.0'
export const TLS_1_1 = 'tls1.1'
export const TLS_1_2 = 'tls1.2'
export const TLS_1_3 = 'tls1.3'
export const OCSP_STATUS_GOOD = 'good'
export const OCSP_STATUS_REVOKED = 'revoked'
export const OCSP_STATUS_UNKNOWN = 'unknown'

type Body = string | ArrayBuffer | ArrayBufferView | Record<string, unknown> | null | undefined

interface Params {
  headers?: Record<string, string>
  tags?: Record<string, string>
  timeout?: string | number
  redirects?: number
  cookies?: Record<string, string | { value?: string; replace?: boolean }>
  jar?: CookieJar | null
  responseType?: 'text' | 'binary' | 'none'
  auth?: 'basic' | 'digest' | 'ntlm'
  responseCallback?: ExpectedStatusesCallback | null
}

/** What http.url`...` returns: the URL, and a name tag with `${}` for each placeholder. */
export class HttpURL {
  constructor(
    readonly name: string,
    readonly url: string,
  ) {}
  toString(): string {
    return this.url
  }
}

export function url(strings: TemplateStringsArray, ...args: unknown[]): HttpURL {
  let name = strings[0]
  let full = strings[0]
  for (let i = 0; i < args.length; i++) {
    name += '${}' + strings[i + 1]
    full += String(args[i]) + strings[i + 1]
  }
  return new HttpURL(name, full)
}

export class FileData {
  constructor(
    readonly data: string | ArrayBuffer,
    readonly filename?: string,
    readonly content_type = 'application/octet-stream',
  ) {}
}

export function file(data: string | ArrayBuffer, filename?: string, contentType?: string): FileData {
  return new FileData(data, filename, contentType)
}

const specs = new WeakMap<ExpectedStatusesCallback, ExpectedStatuses>()

export class ExpectedStatusesCallback {
  constructor(spec: ExpectedStatuses) {
    specs.set(this, spec)
  }
}

export function expectedStatuses(...args: (number | { min: number; max: number })[]): ExpectedStatusesCallback {
  const spec: ExpectedStatuses = []
  for (const a of args) {
    if (typeof a === 'number' && Number.isInteger(a)) spec.push(a)
    else if (a && typeof a === 'object' && Number.isInteger(a.min) && Number.isInteger(a.max)) spec.push({ min: a.min, max: a.max })
    else throw new Error(`expectedStatuses: ${json.stringify(a)} is neither an integer status nor { min, max }`)
  }
  return new ExpectedStatusesCallback(spec)
}

export function setResponseCallback(callback: ExpectedStatusesCallback | null): void {
  if (callback === null || callback === undefined) {
    state.expected = null
    return
  }
  const spec = specs.get(callback)
  if (!spec) throw new Error('setResponseCallback takes what http.expectedStatuses() returns (or null)')
  state.expected = spec
}

// The iteration's jar (k6: one per VU, reset every iteration; a journey is one iteration).
let vuJar = new CookieJar()

export function cookieJar(): CookieJar {
  return vuJar
}

export function resetCookieJar(): void {
  vuJar = new CookieJar()
}

export const get = (u: string | HttpURL, params?: Params | null) => request('GET', u, null, params)
export const head = (u: string | HttpURL, params?: Params | null) => request('HEAD', u, null, params)
export const post = (u: string | HttpURL, body?: Body, params?: Params | null) => request('POST', u, body, params)
export const put = (u: string | HttpURL, body?: Body, params?: Params | null) => request('PUT', u, body, params)
export const patch = (u: string | HttpURL, body?: Body, params?: Params | null) => request('PATCH', u, body, params)
export const del = (u: string | HttpURL, body?: Body, params?: Params | null) => request('DELETE', u, body, params)
export const options = (u: string | HttpURL, body?: Body, params?: Params | null) => request('OPTIONS', u, body, params)

export function request(method: string, u: string | HttpURL, body?: Body, params?: Params | null): Response {
  const flow = new Flow(String(method).toUpperCase(), u, body, params ?? {})
  run([flow])
  return flow.response()
}

/** k6's async variant: the request is made at once (the runtime is synchronous), then resolved. */
export function asyncRequest(method: string, u: string | HttpURL, body?: Body, params?: Params | null): Promise<Response> {
  try {
    return Promise.resolve(request(method, u, body, params))
  } catch (err) {
    return Promise.reject(err)
  }
}

type BatchItem = string | HttpURL | [string, string | HttpURL, Body?, (Params | null)?] | { method: string; url: string | HttpURL; body?: Body; params?: Params | null }

export function batch(requests: BatchItem[] | Record<string, BatchItem>): Response[] | Record<string, Response> {
  const entries: [string, BatchItem][] = Array.isArray(requests) ? requests.map((r, i) => [String(i), r]) : Object.entries(requests)
  const flows = entries.map(([, r]) => {
    if (typeof r === 'string' || r instanceof HttpURL) return new Flow('GET', r, null, {})
    if (Array.isArray(r)) return new Flow(String(r[0]).toUpperCase(), r[1], r[2], r[3] ?? {})
    if (r && typeof r === 'object') return new Flow(String(r.method ?? 'GET').toUpperCase(), r.url, r.body, r.params ?? {})
    throw new Error(`batch: invalid request ${json.stringify(r)}`)
  })
  run(flows) // side by side: each round sends every flow's next hop at once
  if (Array.isArray(requests)) return flows.map((f) => f.response())
  const out: Record<string, Response> = {}
  entries.forEach(([k], i) => (out[k] = flows[i].response()))
  return out
}

function run(flows: Flow[]): void {
  if (state.phase === 'init') throw new Error('making HTTP requests in the init context is not supported: move them into default(), setup() or teardown()')
  for (;;) {
    const pending = flows.map((f) => ({ f, hop: f.nextHop() })).filter((x) => x.hop !== null)
    if (pending.length === 0) return
    const replies = callJson<HopReply[]>('http', pending.map((x) => x.hop))
    pending.forEach((x, i) => x.f.feed(replies[i]))
  }
}

/** One request with its redirects and auth retries. */
class Flow {
  private url: ParsedUrl
  private readonly firstHost: string
  private readonly nameTag: string | undefined
  private readonly headers: Record<string, string>
  private body: HopRequest['body']
  private readonly jar: CookieJar | null
  private readonly maxRedirects: number
  private readonly timeoutMs: number
  private readonly responseType: 'text' | 'binary' | 'none'
  private readonly tags: Tags
  private readonly expected: ExpectedStatuses | null
  private readonly credentials: { user: string; pass: string } | null
  private readonly auth: string
  private readonly paramCookies: { name: string; value: string; replace: boolean }[]
  private redirects = 0
  private digestTried = false
  private sent: HopRequest | null = null
  private reply: HopReply | null = null
  private done = false

  constructor(
    private method: string,
    target: string | HttpURL | undefined,
    body: Body,
    params: Params,
  ) {
    if (target === undefined || target === null) throw new Error(`${method}: a URL is required`)
    const raw = target instanceof HttpURL ? target.url : String(target)
    let u: ParsedUrl
    try {
      u = parseUrl(raw)
    } catch {
      throw new Error(`invalid URL "${raw}"`)
    }
    if (!isHttpUrl(u)) throw new Error(`invalid URL "${raw}": only http:// and https:// are supported`)
    this.credentials = u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : null
    this.url = u.username ? parseUrl(cleanHref(u)) : u
    this.firstHost = this.url.hostname
    this.auth = params.auth ?? 'basic'
    if (this.auth === 'ntlm') throw new Error('auth "ntlm" is not supported by the Vantage journey runtime')
    if (this.auth !== 'basic' && this.auth !== 'digest') throw new Error(`unknown auth "${String(this.auth)}" (use basic or digest)`)

    const tags = { ...state.tags, ...stringTags(params.tags) }
    this.nameTag = tags.name ?? (target instanceof HttpURL ? target.name : undefined)
    delete tags.name
    this.tags = tags
    this.headers = {}
    for (const [k, v] of Object.entries(params.headers ?? {})) if (v !== undefined && v !== null) this.headers[k] = String(v)
    if (state.userAgent && !hasHeader(this.headers, 'user-agent')) this.headers['User-Agent'] = state.userAgent
    if (this.credentials && this.auth === 'basic') {
      this.headers['Authorization'] = `Basic ${base64Encode(utf8Encode(`${this.credentials.user}:${this.credentials.pass}`))}`
    }
    this.body = encodeBody(body, this.headers)
    this.jar = params.jar === undefined || params.jar === null ? vuJar : params.jar
    this.maxRedirects = params.redirects ?? state.maxRedirects
    this.timeoutMs = parseTimeout(params.timeout)
    this.responseType = params.responseType ?? (state.discardResponseBodies ? 'none' : 'text')
    this.expected = 'responseCallback' in params ? (params.responseCallback ? (specs.get(params.responseCallback) ?? null) : null) : state.expected
    this.paramCookies = Object.entries(params.cookies ?? {}).map(([name, c]) =>
      typeof c === 'object' && c !== null ? { name, value: String(c.value ?? ''), replace: !!c.replace } : { name, value: String(c), replace: false },
    )
  }

  nextHop(): HopRequest | null {
    if (this.done) return null
    const headers = { ...this.headers }
    const cookie = this.cookieHeader()
    if (cookie) {
      const existing = takeHeader(headers, 'cookie')
      headers['Cookie'] = existing ? `${existing}; ${cookie}` : cookie
    }
    this.sent = {
      method: this.method,
      url: this.url.href,
      headers,
      body: this.body,
      timeoutMs: this.timeoutMs,
      responseType: this.responseType,
      group: state.group,
      tags: { ...this.tags, name: this.nameTag ?? cleanHref(this.url) },
      expected: this.expected,
    }
    return this.sent
  }

  feed(reply: HopReply): void {
    this.reply = reply
    if (reply.status === 0) {
      this.done = true
      return
    }
    // Cookies set on every hop land in the jar, redirects included (params.cookies never do).
    if (this.jar) storeResponseCookies(this.jar, this.url, reply.set_cookies)

    if (reply.status === 401 && this.auth === 'digest' && this.credentials && !this.digestTried) {
      const challenge = headerOf(reply, 'www-authenticate')
      if (challenge && /^digest\s/i.test(challenge)) {
        this.digestTried = true
        this.headers['Authorization'] = digestAuthorization(challenge, this.method, this.url, this.credentials)
        return
      }
    }
    const location = headerOf(reply, 'location')
    if (!REDIRECTS.has(reply.status) || location === undefined) {
      this.done = true
      return
    }
    // As k6 (Go's CheckRedirect): `redirects: n` follows n hops, then returns the 3xx it got.
    if (this.redirects >= this.maxRedirects) {
      this.done = true
      return
    }
    let next: ParsedUrl
    try {
      next = parseUrl(location, this.url.href)
    } catch {
      this.done = true
      return
    }
    if (!isHttpUrl(next)) {
      this.done = true
      return
    }
    // Go: 301/302/303 turn anything but GET/HEAD into a body-less GET; 307/308 repeat as they are.
    if (reply.status <= 303 && this.method !== 'GET' && this.method !== 'HEAD') {
      this.method = 'GET'
      this.body = undefined
      takeHeader(this.headers, 'content-type')
    }
    // Go sends a Referer on redirects (never from https to http) and keeps credentials only
    // for the same host or its subdomains.
    if (!(this.url.protocol === 'https:' && next.protocol === 'http:')) this.headers['Referer'] = cleanHref(this.url)
    if (next.hostname !== this.firstHost && !next.hostname.endsWith(`.${this.firstHost}`)) {
      for (const h of ['authorization', 'www-authenticate', 'cookie', 'cookie2']) takeHeader(this.headers, h)
    }
    this.redirects++
    this.url = next
  }

  private cookieHeader(): string {
    const replaced = new Set(this.paramCookies.filter((c) => c.replace).map((c) => c.name))
    const pairs = this.paramCookies.map((c) => `${c.name}=${c.value}`)
    if (this.jar) for (const c of cookiesFor(this.jar, this.url)) if (!replaced.has(c.name)) pairs.push(`${c.name}=${c.value}`)
    return pairs.join('; ')
  }

  response(): Response {
    return new Response(this.sent!, this.reply!, this.method)
  }
}

export class Response {
  readonly status: number
  readonly status_text: string
  readonly proto: string
  readonly url: string
  readonly headers: Record<string, string>
  readonly cookies: Record<string, ResponseCookie[]>
  readonly body: string | ArrayBuffer | null
  readonly timings: HopReply['timings']
  readonly error: string
  readonly error_code: number
  readonly tls_version: string
  readonly tls_cipher_suite: string
  readonly ocsp = { produced_at: 0, this_update: 0, next_update: 0, revocation_reason: '', revoked_at: 0, status: '' }
  readonly remote_ip = ''
  readonly remote_port = 0
  readonly request: { method: string; url: string; headers: Record<string, string[]>; body: string; cookies: Record<string, { name: string; value: string; replace: boolean }[]> }
  #parsedJson: { value: unknown } | null = null
  #document: Selection | null = null

  constructor(sent: HopRequest, reply: HopReply, method: string) {
    this.status = reply.status
    this.status_text = reply.status_text
    this.proto = reply.proto
    this.url = sent.url
    this.headers = {}
    for (const [k, v] of Object.entries(reply.headers)) this.headers[canonicalHeaderKey(k)] = v
    this.cookies = {}
    for (const sc of reply.set_cookies) {
      const c = parseSetCookie(sc)
      if (c) (this.cookies[c.name] ??= []).push(c)
    }
    this.body = responseBody(reply, sent, method)
    this.timings = reply.timings
    this.error = reply.error
    this.error_code = reply.error_code
    this.tls_version = reply.tls_version
    this.tls_cipher_suite = reply.tls_cipher_suite
    const reqHeaders: Record<string, string[]> = {}
    for (const [k, v] of Object.entries(sent.headers)) reqHeaders[canonicalHeaderKey(k)] = [v]
    const reqCookies: Record<string, { name: string; value: string; replace: boolean }[]> = {}
    for (const pair of (sent.headers['Cookie'] ?? '').split(/;\s*/).filter(Boolean)) {
      const i = pair.indexOf('=')
      const name = pair.slice(0, i)
      ;(reqCookies[name] ??= []).push({ name, value: pair.slice(i + 1), replace: false })
    }
    const b = sent.body
    this.request = { method: sent.method, url: sent.url, headers: reqHeaders, body: b === undefined ? '' : 'text' in b ? b.text : '', cookies: reqCookies }
  }

  json(selector?: string): unknown {
    if (this.#parsedJson === null) {
      if (typeof this.body !== 'string') throw new Error(`cannot parse json: the response has ${this.body === null ? 'no body' : 'a binary body'}`)
      this.#parsedJson = { value: json.parse(this.body) }
    }
    return selector === undefined ? this.#parsedJson.value : gjson(this.#parsedJson.value, String(selector))
  }

  html(selector?: string): Selection {
    this.#document ??= parseHTML(typeof this.body === 'string' ? this.body : '')
    return selector === undefined ? this.#document : this.#document.find(selector)
  }

  submitForm(args: { formSelector?: string; fields?: Record<string, string>; submitSelector?: string; params?: Params | null } = {}): Response {
    const formSelector = args.formSelector ?? 'form'
    const form = this.html(formSelector)
    if (form.size() === 0) throw new Error(`submitForm: no form found for selector "${formSelector}" in the response from ${this.url}`)
    const method = (form.attr('method') ?? 'GET').toUpperCase()
    const action = form.attr('action')
    const target = action ? parseUrl(action, this.url).href : this.url
    const values = form.first().serializeObject()
    const submit = form.find(args.submitSelector ?? '[type="submit"]')
    const submitName = submit.attr('name')
    if (submit.size() > 0 && submitName) values[submitName] = submit.val() ?? ''
    for (const [k, v] of Object.entries(args.fields ?? {})) values[k] = String(v)
    if (method === 'GET') {
      const u = parseUrl(target)
      const query = formEncode(Object.keys(values).sort().map((name) => ({ name, value: values[name] })))
      return request('GET', `${cleanHref({ ...u, search: '' })}${query ? `?${query}` : ''}`, null, args.params)
    }
    return request(method, target, values, args.params)
  }

  clickLink(args: { selector?: string; params?: Params | null } = {}): Response {
    const selector = args.selector ?? 'a[href]'
    const link = this.html(selector)
    const href = link.attr('href')
    if (link.size() === 0 || href === undefined) throw new Error(`clickLink: no link found for selector "${selector}" in the response from ${this.url}`)
    return request('GET', parseUrl(href, this.url).href, null, args.params)
  }
}

function responseBody(reply: HopReply, sent: HopRequest, method: string): string | ArrayBuffer | null {
  // k6: null after a network error, for 204/304 and with responseType "none"; "" for HEAD.
  if (reply.status === 0 || sent.responseType === 'none' || reply.status === 204 || reply.status === 304) return null
  if (method === 'HEAD') return ''
  const b = reply.body
  if (sent.responseType === 'binary') return toArrayBuffer(b && 'base64' in b ? base64Decode(b.base64) : b && 'text' in b ? utf8Encode(b.text) : new Uint8Array(0))
  return b && 'text' in b ? b.text : ''
}

/** Go's textproto.CanonicalMIMEHeaderKey: "x-request-id" → "X-Request-Id". */
export function canonicalHeaderKey(name: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name)) return name
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())
}

function headerOf(reply: HopReply, name: string): string | undefined {
  return reply.headers[name]
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name)
}

/** Removes a header whatever its case; returns its value. */
function takeHeader(headers: Record<string, string>, name: string): string | undefined {
  let value: string | undefined
  for (const k of Object.keys(headers)) {
    if (k.toLowerCase() === name) {
      value = headers[k]
      delete headers[k]
    }
  }
  return value
}

function encodeBody(body: Body, headers: Record<string, string>): HopRequest['body'] {
  if (body === null || body === undefined) return undefined
  if (typeof body === 'string') return { text: body }
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return { base64: base64Encode(toBytes(body)) }
  if (typeof body !== 'object') return { text: String(body) }
  const entries = Object.entries(body as Record<string, unknown>)
  if (entries.some(([, v]) => v instanceof FileData)) return multipart(entries, headers)
  // As k6: an object is form-encoded (Go's url.Values: keys sorted).
  if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/x-www-form-urlencoded'
  const pairs = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, v]) => ({ name, value: formValue(v) }))
  return { text: formEncode(pairs) }
}

function formValue(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'object') return json.stringify(v)
  return String(v)
}

function multipart(entries: [string, unknown][], headers: Record<string, string>): HopRequest['body'] {
  const boundary = `----vantage${Math.random().toString(16).slice(2)}${Math.random().toString(16).slice(2)}`
  const chunks: Uint8Array[] = []
  const quote = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')
  for (const [name, v] of entries) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"`
    let data: Uint8Array
    if (v instanceof FileData) {
      head += `; filename="${quote(v.filename ?? name)}"\r\nContent-Type: ${v.content_type}`
      data = toBytes(v.data)
    } else {
      data = utf8Encode(formValue(v))
    }
    chunks.push(utf8Encode(`${head}\r\n\r\n`), data, utf8Encode('\r\n'))
  }
  chunks.push(utf8Encode(`--${boundary}--\r\n`))
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const c of chunks) {
    all.set(c, at)
    at += c.length
  }
  takeHeader(headers, 'content-type')
  headers['Content-Type'] = `multipart/form-data; boundary=${boundary}`
  return { base64: base64Encode(all) }
}

/** k6 timeouts: a number of milliseconds or a duration such as "10s", "1m30s", "500ms". */
function parseTimeout(t: string | number | undefined): number {
  if (t === undefined || t === null) return DEFAULT_TIMEOUT_MS
  if (typeof t === 'number') return t
  const text = String(t).trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text)
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g
  let consumed = 0
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * units[m[2]]
    consumed += m[0].length
  }
  if (consumed !== text.length || consumed === 0) throw new Error(`invalid timeout "${text}" (use milliseconds or a duration such as "10s")`)
  return total
}

function digestAuthorization(challenge: string, method: string, u: ParsedUrl, cred: { user: string; pass: string }): string {
  const p: Record<string, string> = {}
  for (const m of challenge.replace(/^digest\s+/i, '').matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) p[m[1].toLowerCase()] = m[2] ?? m[3]
  const uri = `${u.pathname}${u.search}`
  const h = (s: string) => md5(s, 'hex') as string
  const ha1 = h(`${cred.user}:${p.realm ?? ''}:${cred.pass}`)
  const ha2 = h(`${method}:${uri}`)
  const qop = (p.qop ?? '').split(',').map((s) => s.trim()).includes('auth') ? 'auth' : ''
  const nc = '00000001'
  const cnonce = (md5(String(Math.random()), 'hex') as string).slice(0, 16)
  const response = qop ? h(`${ha1}:${p.nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : h(`${ha1}:${p.nonce}:${ha2}`)
  const parts = [`username="${cred.user}"`, `realm="${p.realm ?? ''}"`, `nonce="${p.nonce ?? ''}"`, `uri="${uri}"`, `response="${response}"`]
  if (p.algorithm) parts.push(`algorithm=${p.algorithm}`)
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`)
  if (p.opaque !== undefined) parts.push(`opaque="${p.opaque}"`)
  return `Digest ${parts.join(', ')}`
}

