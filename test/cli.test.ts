// The `vantage` command as a user runs it: a real process, a real target, exit codes.
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatHuman, parseProbeArgs, UsageError } from '../agent/cli/probe.ts'
import type { ProbeResult } from '../proto/result.ts'

const BIN = join(import.meta.dirname, '..', 'bin', 'vantage.js')
const exec = promisify(execFile)

async function vantage(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { timeout: 20_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

let server: Server
let base: string
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/missing') return res.writeHead(404).end('nope')
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from the shop; probe=${req.headers['x-vantage-probe']}`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

describe('vantage probe', () => {
  it('prints exactly one result object with --json and exits 0 on success', async () => {
    const { code, stdout } = await vantage('probe', 'http', `${base}/`, '--json', '--body-contains', 'shop')
    expect(code).toBe(0)
    const result = JSON.parse(stdout) as ProbeResult
    expect(result).toMatchObject({ check: 'adhoc', type: 'http', target: `${base}/`, vantage: 'local', agent_id: 'local-1', success: true, challenged: false })
    expect(result.http?.status_code).toBe(200)
  })

  it('exits 1 with a readable table when the probe fails', async () => {
    const { code, stdout } = await vantage('probe', 'http', `${base}/missing`)
    expect(code).toBe(1)
    expect(stdout).toMatch(/^DOWN {2}http /)
    expect(stdout).toMatch(/status\s+404/)
    expect(stdout).toMatch(/HTTP_STATUS_UNEXPECTED/)
  })

  it('exits 1 on a closed port', async () => {
    const { code, stdout } = await vantage('probe', 'tcp', '127.0.0.1:1', '--json')
    expect(code).toBe(1)
    expect(JSON.parse(stdout).error_code).toBe('CONNECTION_REFUSED')
  })

  it.each([
    [['probe', 'ftp', 'x'], /unknown check type "ftp"/],
    [['probe', 'http'], /expected a check type and a target/],
    [['probe', 'http', 'example.test'], /invalid URL "example.test"/],
    [['probe', 'tls', 'example.test'], /expected host:port/],
    [['probe', 'http', 'http://x/', '--timeout', 'soon'], /--timeout: invalid duration/],
    [['probe', 'http', 'http://x/', '--expect-status', 'two hundred'], /--expect-status/],
    [['probe', 'dns', 'x.test', '--method', 'GET'], /--method does not apply to dns probes/],
    [['probe', 'http', 'http://x/', '--bogus'], /Unknown option '--bogus'/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ])('bad arguments %j: one-line error, usage, exit 2', async (args, message) => {
    const { code, stderr } = await vantage(...(args as string[]))
    expect(code).toBe(2)
    expect(stderr.split('\n')[0]).toMatch(message)
    expect(stderr).toMatch(/usage: vantage/)
  })
})

describe('parseProbeArgs', () => {
  it('maps the DESIGN.md flags onto a check', () => {
    const { check } = parseProbeArgs(['http', 'https://shop.test/', '--method', 'post', '--header', 'X-A: 1', '--header', 'X-B: two: parts', '--expect-status', '200-299, 301', '--no-follow', '--timeout', '2s', '--servername', 'shop.test', '--insecure'])
    expect(check).toMatchObject({
      type: 'http', timeout_ms: 2000,
      tls: { servername: 'shop.test', insecure: true },
      http: { method: 'POST', headers: { 'x-a': '1', 'x-b': 'two: parts' }, expect_status: ['200-299', '301'], follow_redirects: false },
    })
  })
  it('dns flags', () => {
    const { check } = parseProbeArgs(['dns', 'shop.test', '--type', 'mx', '--server', '127.0.0.1:5353', '--expect', '10 mx.shop.test', '--expect', '20 mx2.shop.test'])
    expect(check.dns).toMatchObject({ record_type: 'MX', server: '127.0.0.1:5353', expect: ['10 mx.shop.test', '20 mx2.shop.test'] })
  })
  it('refuses --tls with --starttls', () => {
    expect(() => parseProbeArgs(['smtp', 'mx.test:25', '--tls', '--starttls'])).toThrow(UsageError)
  })
})

describe('human output', () => {
  it('shows certificate days left and the error', () => {
    const now = Date.parse('2026-11-22T00:00:00Z')
    const text = formatHuman({
      check: 'adhoc', type: 'tls', target: 'shop.test:443', vantage: 'local', region: 'local', agent_id: 'local-1',
      result_id: 'x', round: 1, started_at: '2026-11-22T00:00:00.000Z', success: false, challenged: false, duration_seconds: 0.0123,
      error: 'certificate has expired', error_code: 'CERT_HAS_EXPIRED',
      tls: { version: 'TLS 1.3', cipher: 'TLS_AES_256_GCM_SHA384', chain_valid: false, hostname_valid: true, verify_error: 'CERT_HAS_EXPIRED',
        earliest_cert_expiry: now / 1000 - 3 * 86400, leaf: null },
    }, now)
    expect(text).toContain('DOWN  tls shop.test:443  in 12.3ms')
    expect(text).toMatch(/expires\s+3 days ago \(2026-11-19\)/)
    expect(text).toMatch(/error\s+certificate has expired {2}\[CERT_HAS_EXPIRED\]/)
  })
})
