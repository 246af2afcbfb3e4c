// The text protocols the tcp and smtp checks speak, as pure functions over lines: the Node probes
// (agent/probes/{tcp,smtp}.ts, over node:net) and the edge worker's (agent/edge/probes/, over
// cloudflare:sockets) share them, so both read and report a conversation the same way.
// Portable: no `node:` imports.

// ---------------------------------------------------------------------------------------------
// tcp: blackbox-style query_response

/**
 * A `send` written in single quotes in YAML keeps "\r\n" as text: turn the usual escapes into
 * the characters. Like blackbox, a line without a final newline gets one.
 */
export function lineOf(send: string): string {
  const unescaped = send.replace(/\\([rnt\\])/g, (_, c: string) => ({ r: '\r', n: '\n', t: '\t', '\\': '\\' })[c] ?? c)
  return unescaped.endsWith('\n') ? unescaped : unescaped + '\n'
}

/** Go's Regexp.Expand, reduced: $1 / ${1} / ${name} take a group, $$ is a dollar sign. */
export function expand(template: string, match: RegExpExecArray): string {
  return template.replace(/\$(?:\$|(\d+)|\{(\w+)\})/g, (whole, num?: string, name?: string) => {
    if (whole === '$$') return '$'
    const key = num ?? name ?? ''
    const value = /^\d+$/.test(key) ? match[Number(key)] : match.groups?.[key]
    return value ?? ''
  })
}

/** A peer that never sends a newline must not grow memory without bound. */
export const MAX_LINE_BUFFER = 1 << 20
const SHOWN = 200 // characters of the data read quoted in a mismatch message

/** What a step read, quoted for a mismatch message ("nothing" when empty, clipped when long). */
export function quoteRead(read: string): string {
  if (read === '') return 'nothing'
  if (read.length <= SHOWN) return JSON.stringify(read)
  return `${JSON.stringify(read.slice(0, SHOWN))}… (${read.length} characters)`
}

/** "127.0.0.1:9", "[::1]:9", "example.com:443". */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

// ---------------------------------------------------------------------------------------------
// smtp: banner, EHLO, STARTTLS, QUIT

export const DEFAULT_EHLO = 'vantage.invalid'
/** How long QUIT may wait for its 221: politeness, never a reason to be slow. */
export const QUIT_WAIT_MS = 500
/** A reply line longer than this is not SMTP (RFC 5321 allows 512 octets). */
export const MAX_SMTP_LINE = 4096
export const MAX_REPLY_LINES = 256

export interface SmtpTarget {
  host: string
  port: number
  /** Implicit TLS (smtps://, port 465). */
  tls: boolean
}

/** A parsed SMTP reply: `lines` as received, `text` without the code and separator. */
export interface Reply {
  code: number
  lines: string[]
  text: string[]
}

/** The peer does not speak SMTP (reported as SMTP_PROTOCOL_ERROR). */
export class SmtpProtocolError extends Error {
  override readonly name = 'SmtpProtocolError'
}

/** "host", "host:port", "[v6]:port", "smtp://host:port", "smtps://host:port" (smtps: implicit TLS). */
export function parseSmtpTarget(text: string, implicitTls: boolean): SmtpTarget | null {
  let rest = text.trim()
  let tls = implicitTls
  const scheme = /^(smtps?):\/\//i.exec(rest)
  if (scheme) {
    tls = tls || scheme[1].toLowerCase() === 'smtps'
    rest = rest.slice(scheme[0].length).replace(/\/.*$/, '')
  }
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(rest) ?? /^([^\s:/[\]]+)(?::(\d+))?$/.exec(rest)
  if (!m) return null
  const port = m[2] ? Number(m[2]) : tls ? 465 : 25
  if (port < 1 || port > 65535) return null
  return { host: m[1], port, tls }
}

/**
 * Groups reply lines into replies ("250-..." continued until "250 ..."). Feed it lines without
 * their CRLF; it returns a Reply when one is complete, null while more lines are needed.
 */
export class ReplyAssembler {
  private lines: string[] = []
  private text: string[] = []
  private code = 0

  push(line: string): Reply | null {
    const m = /^(\d{3})(?:([ -])(.*))?$/.exec(line)
    if (!m) throw new SmtpProtocolError(`not an SMTP reply: "${clip(line)}"`)
    const lineCode = Number(m[1])
    if (this.lines.length > 0 && lineCode !== this.code) {
      throw new SmtpProtocolError(`reply code changed from ${this.code} to ${lineCode} within one reply`)
    }
    this.code = lineCode
    this.lines.push(line)
    this.text.push(m[3] ?? '')
    if (m[2] !== '-') {
      const reply = { code: this.code, lines: this.lines, text: this.text }
      this.lines = []
      this.text = []
      this.code = 0
      return reply
    }
    if (this.lines.length >= MAX_REPLY_LINES) throw new SmtpProtocolError(`reply longer than ${MAX_REPLY_LINES} lines`)
    return null
  }
}

/** The EHLO reply's lines after the greeting, keyword upper-cased: "SIZE 35882577", "STARTTLS". */
export function extensionsOf(ehlo: Reply): string[] {
  return ehlo.text
    .slice(1)
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
    .map((t) => {
      const [kw, ...params] = t.split(/\s+/)
      return [kw.toUpperCase(), ...params].join(' ')
    })
}

export function offersStarttls(extensions: readonly string[]): boolean {
  return extensions.some((e) => e.split(' ')[0] === 'STARTTLS')
}

/** A reply as one line for an error message: "554 5.7.1 no service for you". */
export function oneLine(reply: Reply): string {
  return clip(`${reply.code} ${reply.text.join(' ').trim()}`)
}

/** Printable ASCII, at most 200 characters. */
export function clip(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, '?')
  return printable.length > 200 ? `${printable.slice(0, 200)}…` : printable
}
