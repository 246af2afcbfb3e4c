// Go's formatting rules, re-implemented where the Pushgateway's output depends on them: float
// formatting (strconv 'g', shortest), %q quoting of strings and runes, float parsing
// (strconv.ParseFloat as expfmt uses it), encoding/json string escaping and RFC 3339 times.
//
// Strings here are "byte strings": every char is one byte (0–255), as Go strings are bytes.
// Label values, HELP texts and names keep whatever bytes were pushed, sort as Go sorts them
// (bytewise) and are written back byte for byte (Buffer.from(s, 'latin1')).

/** A JS (UTF-16) string to a byte string of its UTF-8 encoding. */
export function toByteString(s: string): string {
  return isAscii(s) ? s : Buffer.from(s, 'utf8').toString('latin1')
}

/** A byte string to a JS string (invalid UTF-8 becomes U+FFFD). */
export function fromByteString(s: string): string {
  return isAscii(s) ? s : Buffer.from(s, 'latin1').toString('utf8')
}

const NON_ASCII = /[^\x00-\x7f]/

export function isAscii(s: string): boolean {
  return !NON_ASCII.test(s)
}

// ---- floats ----

/** strconv.FormatFloat(x, 'g', -1, 64), which is also what fmt.Sprint(float64) prints. */
export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return '+Inf'
  if (x === -Infinity) return '-Inf'
  if (x === 0) return Object.is(x, -0) ? '-0' : '0'
  // Between 1e-4 and 1e6 both Go and JS write the shortest digits without an exponent.
  const abs = Math.abs(x)
  if (abs >= 1e-4 && abs < 1e6) return String(x)
  // toExponential() without an argument gives the shortest digits that round-trip, as Go's
  // shortest formatting does; Go then picks %e when the exponent is < -4 or >= 6 (for 'g'
  // with the shortest precision).
  const e = x.toExponential()
  const neg = e.charCodeAt(0) === 45
  const ePos = e.indexOf('e')
  const mantissa = e.slice(neg ? 1 : 0, ePos)
  const exp = Number(e.slice(ePos + 1))
  const digits = mantissa.length > 1 ? mantissa[0] + mantissa.slice(2) : mantissa
  let out: string
  if (exp < -4 || exp >= 6) {
    const e10 = Math.abs(exp)
    out = (digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits) + (exp < 0 ? 'e-' : 'e+') + (e10 < 10 ? '0' + e10 : String(e10))
  } else if (exp < 0) {
    out = '0.' + '0'.repeat(-exp - 1) + digits
  } else if (digits.length <= exp + 1) {
    out = digits + '0'.repeat(exp + 1 - digits.length)
  } else {
    out = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1)
  }
  return neg ? '-' + out : out
}

/** expfmt's writeFloat: like formatFloat, but 0 and -0 both print "0". */
export function formatSampleValue(x: number): string {
  if (x === 1) return '1'
  if (x === 0) return '0'
  return formatFloat(x)
}

/** fmt.Sprint of a float64 inside golang/protobuf 1.3's text format (inf, -inf, nan). */
export function formatProtoTextFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (x === Infinity) return 'inf'
  if (x === -Infinity) return '-inf'
  return formatFloat(x)
}

/** fmt.Sprint of a uint64 (kept as a JS number: exact up to 2^53). */
export function formatUint(x: number): string {
  return x < 1e21 ? BigInt(Math.trunc(x)).toString() : String(x)
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const INF = /^[+-]?(?:inf|infinity)$/i
const NAN = /^nan$/i

/** expfmt's parseFloat: strconv.ParseFloat(s, 64), refusing p, P and _. Undefined: invalid. */
export function parseGoFloat(s: string): number | undefined {
  if (DECIMAL.test(s)) {
    const v = Number(s)
    // Go reports a range error for finite text that overflows float64.
    return Number.isFinite(v) ? v : undefined
  }
  if (INF.test(s)) return s.charCodeAt(0) === 45 ? -Infinity : Infinity
  if (NAN.test(s)) return NaN
  return undefined
}

/** Go's uint64(f) on amd64, for counts parsed from the text format. */
export function floatToUint64(v: number): number {
  if (Number.isNaN(v) || v >= 18446744073709551616) return 9223372036854775808
  if (v < 0) {
    if (v <= -9223372036854775808) return 9223372036854775808
    return Number(BigInt.asUintN(64, BigInt(Math.trunc(v))))
  }
  return Math.trunc(v)
}

// ---- UTF-8 over byte strings ----

const RUNE_ERROR = 0xfffd

/** utf8.DecodeRuneInString over a byte string: [rune, width]; invalid bytes give [0xFFFD, 1]. */
export function decodeRune(s: string, i: number): [number, number] {
  const b0 = s.charCodeAt(i)
  if (b0 < 0x80) return [b0, 1]
  const n = s.length
  const cont = (k: number) => {
    const b = s.charCodeAt(k)
    return k < n && b >= 0x80 && b <= 0xbf ? b & 0x3f : -1
  }
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(i + 1)
    return c1 < 0 ? [RUNE_ERROR, 1] : [((b0 & 0x1f) << 6) | c1, 2]
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const b1 = s.charCodeAt(i + 1)
    if (i + 1 >= n) return [RUNE_ERROR, 1]
    const lo = b0 === 0xe0 ? 0xa0 : 0x80
    const hi = b0 === 0xed ? 0x9f : 0xbf
    if (b1 < lo || b1 > hi) return [RUNE_ERROR, 1]
    const c2 = cont(i + 2)
    return c2 < 0 ? [RUNE_ERROR, 1] : [((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | c2, 3]
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const b1 = s.charCodeAt(i + 1)
    if (i + 1 >= n) return [RUNE_ERROR, 1]
    const lo = b0 === 0xf0 ? 0x90 : 0x80
    const hi = b0 === 0xf4 ? 0x8f : 0xbf
    if (b1 < lo || b1 > hi) return [RUNE_ERROR, 1]
    const c2 = cont(i + 2)
    const c3 = cont(i + 3)
    if (c2 < 0 || c3 < 0) return [RUNE_ERROR, 1]
    return [((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | (c2 << 6) | c3, 4]
  }
  return [RUNE_ERROR, 1]
}

/** utf8.ValidString over a byte string. */
export function validUtf8(s: string): boolean {
  if (isAscii(s)) return true
  for (let i = 0; i < s.length; ) {
    const [r, w] = decodeRune(s, i)
    if (r === RUNE_ERROR && w === 1) return false
    i += w
  }
  return true
}

function encodeRune(r: number): string {
  return Buffer.from(String.fromCodePoint(r), 'utf8').toString('latin1')
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u

/** unicode.IsPrint. */
function isPrint(r: number): boolean {
  if (r < 0x80) return r >= 0x20 && r < 0x7f
  return PRINTABLE.test(String.fromCodePoint(r))
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0')
}

function escapeRune(r: number, quote: number): string {
  if (r === quote || r === 0x5c) return '\\' + String.fromCharCode(r)
  if (isPrint(r)) return r < 0x80 ? String.fromCharCode(r) : encodeRune(r)
  switch (r) {
    case 0x07: return '\\a'
    case 0x08: return '\\b'
    case 0x0c: return '\\f'
    case 0x0a: return '\\n'
    case 0x0d: return '\\r'
    case 0x09: return '\\t'
    case 0x0b: return '\\v'
  }
  if (r < 0x20 || r === 0x7f) return '\\x' + hex(r, 2)
  if (r < 0x10000) return '\\u' + hex(r, 4)
  return '\\U' + hex(r, 8)
}

/** strconv.Quote (fmt's %q and %#v for strings) over a byte string; returns a byte string. */
export function goQuote(s: string): string {
  let out = '"'
  for (let i = 0; i < s.length; ) {
    const b = s.charCodeAt(i)
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) {
      out += s[i]
      i++
      continue
    }
    const [r, w] = decodeRune(s, i)
    if (r === RUNE_ERROR && w === 1) out += '\\x' + hex(b, 2)
    else out += escapeRune(r, 0x22)
    i += w
  }
  return out + '"'
}

/** fmt's %q of a byte (a rune literal such as 'x' or '\n'); returns a byte string. */
export function goQuoteByte(b: number): string {
  return "'" + escapeRune(b, 0x27) + "'"
}

// ---- encoding/json (Go 1.19) ----

/** A byte string as encoding/json writes it (HTML-escaped, invalid UTF-8 as \ufffd). */
export function goJsonString(s: string): string {
  let out = '"'
  for (let i = 0; i < s.length; ) {
    const b = s.charCodeAt(i)
    if (b < 0x80) {
      if (b >= 0x20 && b !== 0x22 && b !== 0x5c && b !== 0x3c && b !== 0x3e && b !== 0x26) out += s[i]
      else if (b === 0x22 || b === 0x5c) out += '\\' + s[i]
      else if (b === 0x0a) out += '\\n'
      else if (b === 0x0d) out += '\\r'
      else if (b === 0x09) out += '\\t'
      else out += '\\u00' + hex(b, 2)
      i++
      continue
    }
    const [r, w] = decodeRune(s, i)
    if (r === RUNE_ERROR && w === 1) out += '\\ufffd'
    else if (r === 0x2028 || r === 0x2029) out += '\\u' + hex(r, 4)
    else out += s.slice(i, i + w)
    i += w
  }
  return out + '"'
}

/** time.Time's JSON (RFC 3339 with nanoseconds, trailing zeros trimmed), in UTC. */
export function rfc3339Nano(ms: number): string {
  const whole = Math.floor(ms)
  const d = new Date(whole)
  const base = d.toISOString().slice(0, 19)
  // Milliseconds and the sub-millisecond part we keep (microseconds).
  const nanos = (whole % 1000) * 1e6 + Math.round((ms - whole) * 1e3) * 1e3
  if (nanos === 0) return base + 'Z'
  return base + '.' + String(nanos).padStart(9, '0').replace(/0+$/, '') + 'Z'
}
