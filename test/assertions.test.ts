import { describe, expect, it } from 'vitest'
import {
  AssertionConfigError,
  checkBody,
  checkHeaders,
  checkResponse,
  checkStatus,
  compileHeaderAssertions,
  compileHttpAssertions,
  compilePattern,
  parseStatusRanges,
  statusMatches,
} from '../agent/core/assertions.ts'

describe('parseStatusRanges', () => {
  it('parses codes, ranges, classes and comma lists', () => {
    expect(parseStatusRanges(['200-299', '301'])).toEqual([
      { min: 200, max: 299 },
      { min: 301, max: 301 },
    ])
    expect(parseStatusRanges(['2xx', ' 404 '])).toEqual([
      { min: 200, max: 299 },
      { min: 404, max: 404 },
    ])
    expect(parseStatusRanges(['200-299,301'])).toEqual([
      { min: 200, max: 299 },
      { min: 301, max: 301 },
    ])
  })

  it.each(['abc', '20', '2000', '299-200', '600', '099', '200-', '', '6xx', '200-299-300'])('rejects %j with a clear error', (bad) => {
    expect(() => parseStatusRanges([bad])).toThrow(AssertionConfigError)
    expect(() => parseStatusRanges([bad])).toThrow(/expect_status: .* is not a status code or range/)
  })

  it('rejects an empty list', () => {
    expect(() => parseStatusRanges([])).toThrow(/no status codes/)
  })

  it('names the field it was given', () => {
    expect(() => parseStatusRanges(['x'], '--expect-status')).toThrow(/^--expect-status: "x"/)
  })
})

describe('status', () => {
  const ranges = parseStatusRanges(['200-299', '301'])
  it('matches inside the ranges only', () => {
    expect(statusMatches(200, ranges)).toBe(true)
    expect(statusMatches(299, ranges)).toBe(true)
    expect(statusMatches(301, ranges)).toBe(true)
    expect(statusMatches(302, ranges)).toBe(false)
    expect(statusMatches(199, ranges)).toBe(false)
  })

  it('says what was expected and what was seen', () => {
    expect(checkStatus(200, ranges)).toEqual({ ok: true })
    expect(checkStatus(503, ranges)).toEqual({
      ok: false,
      error: 'status 503, expected 200-299 or 301',
      error_code: 'HTTP_STATUS_UNEXPECTED',
    })
  })
})

describe('compilePattern', () => {
  it('turns a leading (?i) into the i flag', () => {
    const re = compilePattern('(?i)welcome', 'body_matches')
    expect(re.flags).toBe('i')
    expect(re.test('WELCOME home')).toBe(true)
  })

  it('rejects an invalid regular expression, naming the field', () => {
    expect(() => compilePattern('a(b', 'body_matches')).toThrow(/^body_matches: "a\(b" is not a valid regular expression/)
  })
})

describe('checkBody', () => {
  const body = '<html><title>Shop</title><p>All systems go</p></html>'

  it('passes when every assertion holds', () => {
    expect(checkBody(body, { contains: 'Shop', not_contains: 'Error', matches: /systems\s+go/, not_matches: /fatal/i })).toEqual({ ok: true })
    expect(checkBody(body, {})).toEqual({ ok: true })
  })

  it('contains: says what was missing and what the body starts with', () => {
    const r = checkBody(body, { contains: 'Checkout' })
    expect(r).toMatchObject({ ok: false, error_code: 'HTTP_BODY_MISMATCH' })
    if (!r.ok) expect(r.error).toBe(`body does not contain "Checkout" (${body.length} characters read, starting "<html><title>Shop</title><p>All systems go</p></html>")`)
  })

  it('contains on an empty body says it was empty', () => {
    const r = checkBody('', { contains: 'Shop' })
    if (r.ok) throw new Error('expected a failure')
    expect(r.error).toBe('body does not contain "Shop" (the body is empty)')
  })

  it('not contains: says where it was found', () => {
    const r = checkBody(body, { not_contains: 'systems' })
    if (r.ok) throw new Error('expected a failure')
    expect(r.error).toMatch(/^body contains "systems", expected it absent \(at character 32: /)
    expect(r.error_code).toBe('HTTP_BODY_MISMATCH')
  })

  it('matches / not matches: show the pattern and the match', () => {
    const miss = checkBody(body, { matches: /version \d+/ })
    if (miss.ok) throw new Error('expected a failure')
    expect(miss.error).toMatch(/^body does not match \/version \\d\+\/ \(/)
    const hit = checkBody(body, { not_matches: /all systems \w+/i })
    if (hit.ok) throw new Error('expected a failure')
    expect(hit.error).toBe('body matches /all systems \\w+/i, expected no match (matched "All systems go")')
  })

  it('clips long excerpts', () => {
    const r = checkBody('x'.repeat(10_000), { contains: 'y' })
    if (r.ok) throw new Error('expected a failure')
    expect(r.error.length).toBeLessThan(200)
    expect(r.error).toContain('…')
  })
})

describe('checkHeaders', () => {
  const headers = { 'content-type': 'application/json; charset=utf-8', 'x-powered-by': 'PHP/8.2' }

  it('presence and match', () => {
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'Content-Type', matches: '^application/json' }]))).toEqual({ ok: true })
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'x-powered-by' }]))).toEqual({ ok: true })
  })

  it('missing header', () => {
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'Strict-Transport-Security', matches: 'max-age=\\d+' }]))).toEqual({
      ok: false,
      error: 'header strict-transport-security is missing, expected it to match /max-age=\\d+/',
      error_code: 'HTTP_HEADER_MISMATCH',
    })
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'etag' }]))).toMatchObject({
      error: 'header etag is missing, expected it present',
    })
  })

  it('wrong value', () => {
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'content-type', matches: '^text/html' }]))).toEqual({
      ok: false,
      error: 'header content-type is "application/json; charset=utf-8", expected it to match /^text\\/html/',
      error_code: 'HTTP_HEADER_MISMATCH',
    })
  })

  it('absent', () => {
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'server', absent: true }]))).toEqual({ ok: true })
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'x-powered-by', absent: true }]))).toEqual({
      ok: false,
      error: 'header x-powered-by is "PHP/8.2", expected it absent',
      error_code: 'HTTP_HEADER_MISMATCH',
    })
    // absent + matches: only a matching value fails
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'x-powered-by', absent: true, matches: '^PHP/5' }]))).toEqual({ ok: true })
    expect(checkHeaders(headers, compileHeaderAssertions([{ name: 'x-powered-by', absent: true, matches: '^PHP' }]))).toMatchObject({
      error: 'header x-powered-by is "PHP/8.2", expected no value matching /^PHP/',
    })
  })

  it('rejects a nameless assertion or a bad pattern at compile time', () => {
    expect(() => compileHeaderAssertions([{ name: ' ' }])).toThrow(/header_assertions\[0\]\.name/)
    expect(() => compileHeaderAssertions([{ name: 'a', matches: '[' }])).toThrow(/header_assertions\[0\]\.matches/)
  })
})

describe('compileHttpAssertions / checkResponse', () => {
  it('defaults to 200-299', () => {
    const a = compileHttpAssertions({})
    expect(a.status).toEqual([{ min: 200, max: 299 }])
    expect(checkResponse({ status: 204, headers: {}, body: '' }, a)).toEqual({ ok: true })
    expect(checkResponse({ status: 302, headers: {}, body: '' }, a)).toMatchObject({ error_code: 'HTTP_STATUS_UNEXPECTED' })
  })

  it('reports status before headers before body', () => {
    const a = compileHttpAssertions({ expect_status: ['200'], body_contains: 'ok', header_assertions: [{ name: 'etag' }] })
    expect(checkResponse({ status: 500, headers: {}, body: '' }, a)).toMatchObject({ error_code: 'HTTP_STATUS_UNEXPECTED' })
    expect(checkResponse({ status: 200, headers: {}, body: '' }, a)).toMatchObject({ error_code: 'HTTP_HEADER_MISMATCH' })
    expect(checkResponse({ status: 200, headers: { etag: '"1"' }, body: '' }, a)).toMatchObject({ error_code: 'HTTP_BODY_MISMATCH' })
    expect(checkResponse({ status: 200, headers: { etag: '"1"' }, body: 'ok' }, a)).toEqual({ ok: true })
  })

  it('throws on malformed options', () => {
    expect(() => compileHttpAssertions({ expect_status: ['2OO'] })).toThrow(AssertionConfigError)
    expect(() => compileHttpAssertions({ body_not_matches: '(' })).toThrow(/^body_not_matches:/)
  })
})
