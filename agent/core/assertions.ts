// Response assertions shared by the agent's http probe and the edge worker: one implementation.
// Each check returns data ({ ok } or a failure with an error code and a message that says what was
// expected and what was seen). Malformed options (a bad status range, a bad regex) throw an
// AssertionConfigError, so a config loader can reject them before any probe runs.
// Portable: no `node:` imports.
import type { HeaderAssertion, HttpOptions } from '../../proto/check.ts'
import type { ErrorCode } from '../../proto/errors.ts'

export type AssertionResult = { ok: true } | { ok: false; error: string; error_code: ErrorCode }

const OK: AssertionResult = { ok: true }

/** An option that can never be evaluated (the config is wrong, not the target). */
export class AssertionConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`)
    this.name = 'AssertionConfigError'
  }
}

// ---------------------------------------------------------------------------------------------
// Status codes

export interface StatusRange {
  min: number
  max: number
}

export const DEFAULT_EXPECT_STATUS = ['200-299']

/**
 * Parses `["200-299", "301", "3xx"]` (an entry may also hold a comma-separated list, as the CLI's
 * `--expect-status 200-299,301` does). Throws AssertionConfigError naming the bad entry.
 */
export function parseStatusRanges(specs: readonly string[], field = 'expect_status'): StatusRange[] {
  const ranges: StatusRange[] = []
  for (const spec of specs) {
    for (const raw of String(spec).split(',')) {
      const part = raw.trim()
      const range = parseStatusRange(part)
      if (!range) {
        throw new AssertionConfigError(
          field,
          `${JSON.stringify(part)} is not a status code or range (expected e.g. "200", "200-299" or "2xx", codes 100-599)`,
        )
      }
      ranges.push(range)
    }
  }
  if (ranges.length === 0) throw new AssertionConfigError(field, 'no status codes given')
  return ranges
}

function parseStatusRange(part: string): StatusRange | null {
  let m = /^([1-5])xx$/i.exec(part)
  if (m) return { min: Number(m[1]) * 100, max: Number(m[1]) * 100 + 99 }
  m = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(part)
  if (!m) return null
  const min = Number(m[1])
  const max = m[2] === undefined ? min : Number(m[2])
  if (min < 100 || max > 599 || min > max) return null
  return { min, max }
}

export function statusMatches(code: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some((r) => code >= r.min && code <= r.max)
}

/** "200-299 or 301" */
export function formatStatusRanges(ranges: readonly StatusRange[]): string {
  return ranges.map((r) => (r.min === r.max ? String(r.min) : `${r.min}-${r.max}`)).join(' or ')
}

export function checkStatus(code: number, ranges: readonly StatusRange[]): AssertionResult {
  if (statusMatches(code, ranges)) return OK
  return {
    ok: false,
    error: `status ${code}, expected ${formatStatusRanges(ranges)}`,
    error_code: 'HTTP_STATUS_UNEXPECTED',
  }
}

// ---------------------------------------------------------------------------------------------
// Regular expressions

/**
 * Compiles a user's regular expression. A leading Go/PCRE-style flag group such as `(?i)` (as
 * blackbox_exporter configs use) becomes the JavaScript flag.
 */
export function compilePattern(source: string, field: string): RegExp {
  let flags = ''
  let body = source
  const m = /^\(\?([ims]+)\)/.exec(source)
  if (m) {
    flags = [...new Set(m[1])].join('')
    body = source.slice(m[0].length)
  }
  try {
    return new RegExp(body, flags)
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new AssertionConfigError(field, `${JSON.stringify(source)} is not a valid regular expression (${reason})`)
  }
}

// ---------------------------------------------------------------------------------------------
// Body

export interface BodyAssertions {
  contains?: string
  not_contains?: string
  matches?: RegExp
  not_matches?: RegExp
}

export function checkBody(body: string, a: BodyAssertions): AssertionResult {
  const seen = describeBody(body)
  if (a.contains !== undefined && !body.includes(a.contains)) {
    return bodyFailure(`body does not contain ${quote(a.contains)} (${seen})`)
  }
  if (a.not_contains !== undefined && body.includes(a.not_contains)) {
    return bodyFailure(`body contains ${quote(a.not_contains)}, expected it absent (at ${excerptAt(body, body.indexOf(a.not_contains))})`)
  }
  if (a.matches && !a.matches.test(body)) {
    return bodyFailure(`body does not match /${a.matches.source}/${a.matches.flags} (${seen})`)
  }
  if (a.not_matches) {
    const m = a.not_matches.exec(body)
    if (m) return bodyFailure(`body matches /${a.not_matches.source}/${a.not_matches.flags}, expected no match (matched ${quote(clip(m[0]))})`)
  }
  return OK
}

function bodyFailure(error: string): AssertionResult {
  return { ok: false, error, error_code: 'HTTP_BODY_MISMATCH' }
}

function describeBody(body: string): string {
  if (body.length === 0) return 'the body is empty'
  return `${body.length} characters read, starting ${quote(clip(body))}`
}

function excerptAt(body: string, index: number): string {
  return `character ${index}: ${quote(clip(body.slice(Math.max(0, index - 20))))}`
}

// ---------------------------------------------------------------------------------------------
// Headers

export interface CompiledHeaderAssertion {
  name: string // lower-case
  matches?: RegExp
  absent: boolean
}

export function compileHeaderAssertions(list: readonly HeaderAssertion[], field = 'header_assertions'): CompiledHeaderAssertion[] {
  return list.map((h, i) => {
    const name = typeof h.name === 'string' ? h.name.trim().toLowerCase() : ''
    if (!name) throw new AssertionConfigError(`${field}[${i}].name`, 'a header name is required')
    return {
      name,
      matches: h.matches === undefined ? undefined : compilePattern(h.matches, `${field}[${i}].matches`),
      absent: h.absent === true,
    }
  })
}

/**
 * `headers` has lower-case names. Without `absent`: the header must be present (and match
 * `matches`, when given). With `absent`: it must not be present (or not match `matches`).
 */
export function checkHeaders(headers: Readonly<Record<string, string>>, list: readonly CompiledHeaderAssertion[]): AssertionResult {
  for (const h of list) {
    const value = headers[h.name]
    const present = value !== undefined
    const pattern = h.matches ? `/${h.matches.source}/${h.matches.flags}` : ''
    if (h.absent) {
      if (present && (!h.matches || h.matches.test(value))) {
        const expected = h.matches ? `expected no value matching ${pattern}` : 'expected it absent'
        return headerFailure(`header ${h.name} is ${quote(clip(value))}, ${expected}`)
      }
    } else if (!present) {
      return headerFailure(`header ${h.name} is missing, expected it ${h.matches ? `to match ${pattern}` : 'present'}`)
    } else if (h.matches && !h.matches.test(value)) {
      return headerFailure(`header ${h.name} is ${quote(clip(value))}, expected it to match ${pattern}`)
    }
  }
  return OK
}

function headerFailure(error: string): AssertionResult {
  return { ok: false, error, error_code: 'HTTP_HEADER_MISMATCH' }
}

// ---------------------------------------------------------------------------------------------
// All of a check's HTTP assertions, compiled once

export interface HttpAssertions {
  status: StatusRange[]
  body: BodyAssertions
  headers: CompiledHeaderAssertion[]
}

/** Compiles `check.http`'s assertions; throws AssertionConfigError on a malformed one. */
export function compileHttpAssertions(http: HttpOptions = {}): HttpAssertions {
  return {
    status: parseStatusRanges(http.expect_status?.length ? http.expect_status : DEFAULT_EXPECT_STATUS),
    body: {
      contains: http.body_contains,
      not_contains: http.body_not_contains,
      matches: http.body_matches === undefined ? undefined : compilePattern(http.body_matches, 'body_matches'),
      not_matches: http.body_not_matches === undefined ? undefined : compilePattern(http.body_not_matches, 'body_not_matches'),
    },
    headers: compileHeaderAssertions(http.header_assertions ?? []),
  }
}

/** True when any body assertion is set (the body must then be read and decoded). */
export function needsBody(a: BodyAssertions): boolean {
  return a.contains !== undefined || a.not_contains !== undefined || a.matches !== undefined || a.not_matches !== undefined
}

/** Status first, then headers, then body: the first failure is the one reported. */
export function checkResponse(
  resp: { status: number; headers: Readonly<Record<string, string>>; body: string },
  a: HttpAssertions,
): AssertionResult {
  const status = checkStatus(resp.status, a.status)
  if (!status.ok) return status
  const headers = checkHeaders(resp.headers, a.headers)
  if (!headers.ok) return headers
  return checkBody(resp.body, a.body)
}

// ---------------------------------------------------------------------------------------------

const CLIP = 80

function clip(s: string): string {
  const flat = s.replace(/\s+/g, ' ')
  return flat.length > CLIP ? `${flat.slice(0, CLIP)}…` : flat
}

function quote(s: string): string {
  return JSON.stringify(s)
}
