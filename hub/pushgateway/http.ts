// The HTTP details of the Pushgateway (v1.5.1) that clients can see, re-implemented: Go's
// path decoding and cleaning (net/http's ServeMux redirects unclean paths), the grouping key in
// the path (`/job/<job>{/<label>/<value>}`, `@base64` values), its error texts, and the
// media-type test that picks the protobuf parser.

/** A Go URL path could not be unescaped: Go's server answers "400 Bad Request" itself. */
export class BadRequestURI extends Error {
  override readonly name = 'BadRequestURI'
}

function unhex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10
  return -1
}

/** url.PathUnescape over the raw request path; returns a byte string. */
export function unescapePath(raw: string): string {
  if (!raw.includes('%')) return raw
  let out = ''
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c !== 0x25) {
      out += raw[i]
      continue
    }
    const h = i + 2 < raw.length ? unhex(raw.charCodeAt(i + 1)) : -1
    const l = i + 2 < raw.length ? unhex(raw.charCodeAt(i + 2)) : -1
    if (h < 0 || l < 0) throw new BadRequestURI(`invalid URL escape ${JSON.stringify(raw.slice(i, i + 3))}`)
    out += String.fromCharCode(h * 16 + l)
    i += 2
  }
  return out
}

/** path.Clean, as net/http's ServeMux applies it (keeping a trailing slash). */
export function cleanPath(p: string): string {
  if (p === '') return '/'
  if (p[0] !== '/') p = '/' + p
  const parts = p.split('/')
  const out: string[] = []
  for (const part of parts) {
    if (part === '' || part === '.') continue
    if (part === '..') out.pop()
    else out.push(part)
  }
  let np = '/' + out.join('/')
  if (p.endsWith('/') && np !== '/') np += '/'
  return np
}

/** url.URL.EscapedPath for a path that has no valid raw form (Go's shouldEscape, encodePath). */
export function escapePath(p: string): string {
  let out = ''
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i)
    const keep =
      (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
      c === 0x2d || c === 0x5f || c === 0x2e || c === 0x7e ||
      c === 0x24 || c === 0x26 || c === 0x2b || c === 0x2c || c === 0x2f || c === 0x3a || c === 0x3b || c === 0x3d || c === 0x40
    out += keep ? p[i] : '%' + c.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

// ---- base64 (RFC 4648 URL-safe alphabet, padding ignored), as the Pushgateway decodes it ----

const B64 = new Int16Array(256).fill(-1)
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((ch, i) => (B64[ch.charCodeAt(0)] = i))

export class Base64Error extends Error {
  override readonly name = 'Base64Error'
  constructor(
    readonly offset: number,
    /** What Go's DecodeString returns beside the error: the bytes of the quanta before it. */
    readonly partial: string,
  ) {
    super(`illegal base64 data at input byte ${offset}`)
  }
}

/** base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "=")) over a byte string. */
export function decodeBase64(s: string): string {
  s = s.replace(/=+$/, '')
  let out = ''
  let si = 0
  for (;;) {
    const q: number[] = []
    let dlen = 4
    for (let j = 0; j < 4; j++) {
      if (si === s.length) {
        if (j === 0) return out
        if (j === 1) throw new Base64Error(si - j, out)
        dlen = j
        break
      }
      const c = s.charCodeAt(si++)
      const v = c < 256 ? B64[c] : -1
      if (v >= 0) {
        q.push(v)
        continue
      }
      if (c === 0x0a || c === 0x0d) {
        j--
        continue
      }
      throw new Base64Error(si - 1, out)
    }
    const n = (q[0] << 18) | (q[1] << 12) | ((q[2] ?? 0) << 6) | (q[3] ?? 0)
    out += String.fromCharCode((n >> 16) & 0xff)
    if (dlen >= 3) out += String.fromCharCode((n >> 8) & 0xff)
    if (dlen === 4) out += String.fromCharCode(n & 0xff)
    if (dlen < 4) return out
  }
}

/** A byte string as unpadded URL-safe base64 ("=" for the empty value, which the path needs). */
export function encodeBase64(s: string): string {
  if (s === '') return '='
  return Buffer.from(s, 'latin1').toString('base64url')
}

export class LabelPathError extends Error {
  override readonly name = 'LabelPathError'
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** splitLabels: "/name/value/name@base64/value..." (after the job) to a label map. */
export function splitLabels(labels: string, goQuote: (s: string) => string): Record<string, string> {
  const result: Record<string, string> = {}
  if (labels.length <= 1) return result
  const parts = labels.slice(1).split('/')
  if (parts.length % 2 !== 0) throw new LabelPathError(`odd number of components in label string ${goQuote(labels)}`)
  for (let i = 0; i < parts.length - 1; i += 2) {
    const name = parts[i]
    const value = parts[i + 1]
    const trimmed = name.endsWith('@base64') ? name.slice(0, -7) : name
    if (!LABEL_NAME.test(trimmed) || trimmed.startsWith('__')) throw new LabelPathError(`improper label name ${goQuote(trimmed)}`)
    if (name === trimmed) {
      result[name] = value
      continue
    }
    try {
      result[trimmed] = decodeBase64(value)
    } catch (err) {
      throw new LabelPathError(`invalid base64 encoding for label ${trimmed}=${goQuote(value)}: ${(err as Error).message}`)
    }
  }
  return result
}

/** The grouping key as a URL path (after `/metrics`), every value base64-encoded. */
export function groupingPath(labels: Record<string, string>): string {
  let path = '/job@base64/' + encodeBase64(labels.job ?? '')
  for (const name of Object.keys(labels).sort()) {
    if (name === 'job') continue
    path += `/${name}@base64/${encodeBase64(labels[name])}`
  }
  return path
}

/** mime.ParseMediaType, enough to tell the Pushgateway's protobuf media type from the rest. */
export function parseMediaType(value: string | undefined): { type: string; params: Record<string, string> } | null {
  if (value === undefined) return null
  const semi = value.indexOf(';')
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase()
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+(\/[!#$%&'*+\-.^_`|~0-9a-z]+)?$/.test(type)) return null
  const params: Record<string, string> = {}
  let rest = semi < 0 ? '' : value.slice(semi + 1)
  const PARAM = /^\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*(?:;|$)/
  while (rest.trim() !== '') {
    const m = PARAM.exec(rest)
    if (!m) {
      // Go tolerates a trailing ";" but nothing else it cannot read.
      if (/^\s*;?\s*$/.test(rest)) break
      return null
    }
    const key = m[1].toLowerCase()
    if (key in params) return null
    params[key] = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2]
    rest = rest.slice(m[0].length)
  }
  return { type, params }
}

export function isDelimitedProtobuf(contentType: string | undefined): boolean {
  const mt = parseMediaType(contentType)
  return (
    mt !== null &&
    mt.type === 'application/vnd.google.protobuf' &&
    mt.params.encoding === 'delimited' &&
    mt.params.proto === 'io.prometheus.client.MetricFamily'
  )
}

/** promhttp's gzipAccepted. */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false
  return header.split(',').some((part) => {
    const p = part.trim()
    return p === 'gzip' || p.startsWith('gzip;')
  })
}
