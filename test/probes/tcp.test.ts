// The tcp probe against real line servers on loopback: connect, query_response, TLS wrapping.
import net from 'node:net'
import tls from 'node:tls'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { CheckSpec, TcpOptions, TlsOptions } from '../../proto/check.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { nullLogger, systemClock } from '../../agent/core/probe.ts'
import { runProbe } from '../../agent/core/run.ts'
import { probeTcp } from '../../agent/probes/tcp.ts'
import { testPki, type TestPki } from '../helpers/certs.ts'
import { closedPort, listen, type Listening } from '../helpers/net-servers.ts'

let pki: TestPki
beforeAll(async () => {
  pki = await testPki()
})

const open: Listening[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()))
})

interface LineServer extends Listening {
  /** Everything each connection sent, as received. */
  received: string[]
}

/**
 * A small line protocol: greets "220 vantage test", answers "PING" with "+PONG",
 * "QUIT" with "221 bye" and a close; ignores anything else.
 */
function lineHandler(received: string[]) {
  return (socket: net.Socket) => {
    const i = received.push('') - 1
    socket.on('error', () => {})
    socket.write('220 vantage test\r\n')
    let pending = ''
    socket.on('data', (chunk: Buffer) => {
      received[i] += String(chunk)
      pending += String(chunk)
      let nl
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).replace(/\r$/, '')
        pending = pending.slice(nl + 1)
        if (line === 'PING') socket.write('+PONG\r\n')
        if (line === 'QUIT') socket.end('221 bye\r\n')
      }
    })
  }
}

async function lineServer(): Promise<LineServer> {
  const received: string[] = []
  const l = await listen(net.createServer(lineHandler(received)))
  open.push(l)
  return Object.assign(l, { received })
}

async function tlsLineServer(leaf: { chainPem: string; keyPem: string }): Promise<LineServer> {
  const received: string[] = []
  const server = tls.createServer({ cert: leaf.chainPem, key: leaf.keyPem }, lineHandler(received))
  server.on('tlsClientError', () => {})
  const l = await listen(server)
  open.push(l)
  return Object.assign(l, { received })
}

function run(target: string, opts: { tcp?: TcpOptions; tls?: TlsOptions; ca?: string; timeout_ms?: number } = {}): Promise<ProbeResult> {
  const check: CheckSpec = { name: 'tcp-test', type: 'tcp', target, interval_ms: 60_000, timeout_ms: opts.timeout_ms ?? 5_000, tcp: opts.tcp, tls: opts.tls }
  return runProbe(probeTcp, check, {
    identity: { agent_id: 't-1', vantage: 'test', region: 'test' },
    clock: systemClock,
    logger: nullLogger,
    agent_id: 't-1',
    secrets: {},
    ca: opts.ca,
  })
}

// Written as a single-quoted YAML string would arrive: backslash escapes, not characters.
const DIALOGUE: TcpOptions = {
  query_response: [{ expect: '^220 ' }, { send: 'PING\\r\\n' }, { expect: '^\\+PONG$' }, { send: 'QUIT' }, { expect: '^221' }],
}

describe('tcp probe', () => {
  it('succeeds on connect and closes the connection', async () => {
    const server = await lineServer()
    const r = await run(`127.0.0.1:${server.port}`)
    expect(r).toMatchObject({ success: true, challenged: false, type: 'tcp', check: 'tcp-test' })
    expect(r.error_code ?? null).toBeNull()
    expect(r.tls).toBeUndefined()
    await server.closed(0)
  })

  it('accepts tcp://host:port and [::1]:port targets, rejects one without a port', async () => {
    const v4 = await lineServer()
    expect((await run(`tcp://127.0.0.1:${v4.port}`)).success).toBe(true)
    const l = await listen(net.createServer((s) => s.end()), '::1')
    open.push(l)
    expect((await run(`[::1]:${l.port}`)).success).toBe(true)
    const r = await run('127.0.0.1')
    expect(r).toMatchObject({ success: false, error_code: 'INVALID_TARGET', error: 'target "127.0.0.1" has no port (expected host:port)' })
  })

  it('fails with CONNECTION_REFUSED on a closed port', async () => {
    const port = await closedPort(net.createServer())
    const r = await run(`127.0.0.1:${port}`)
    expect(r).toMatchObject({ success: false, error_code: 'CONNECTION_REFUSED', error: `connection refused by 127.0.0.1:${port}` })
  })

  it('runs query_response steps in order, sending real CR LF', async () => {
    const server = await lineServer()
    const r = await run(`localhost:${server.port}`, { tcp: DIALOGUE })
    expect(r.success).toBe(true)
    expect(r.error_code ?? null).toBeNull()
    // "PING\r\n" as written; "QUIT" gets a newline, like blackbox.
    expect(server.received).toEqual(['PING\r\nQUIT\n'])
  })

  it('sends after the expect of the same step, with the match groups expanded (blackbox order)', async () => {
    const server = await lineServer()
    const r = await run(`127.0.0.1:${server.port}`, {
      tcp: { query_response: [{ expect: '^220 (\\w+) (?<what>\\w+)', send: 'HELLO ${1} ${what} $$5' }, { send: 'QUIT' }, { expect: '^221' }] },
    })
    expect(r.success).toBe(true)
    expect(server.received).toEqual(['HELLO vantage test $5\nQUIT\n'])
  })

  it('reports TCP_EXPECT_MISMATCH, with what was read, when the peer closes first', async () => {
    const server = await lineServer()
    const r = await run(`127.0.0.1:${server.port}`, {
      tcp: { query_response: [{ expect: '^220 ' }, { send: 'QUIT\r\n' }, { expect: '^250 ' }] },
    })
    expect(r).toMatchObject({
      success: false,
      error_code: 'TCP_EXPECT_MISMATCH',
      error: `no line matched /^250 / before 127.0.0.1:${server.port} closed the connection; read "221 bye\\r\\n"`,
    })
  })

  it('truncates a long read in the mismatch message', async () => {
    const l = await listen(net.createServer((s) => s.end(`${'x'.repeat(500)}\n`)))
    open.push(l)
    const r = await run(`127.0.0.1:${l.port}`, { tcp: { query_response: [{ expect: 'y' }] } })
    expect(r.error_code).toBe('TCP_EXPECT_MISMATCH')
    expect(r.error).toContain(`"${'x'.repeat(200)}"… (501 characters)`)
  })

  it('matches a last line that has no newline when the peer closes', async () => {
    const l = await listen(net.createServer((s) => s.end('+OK ready')))
    open.push(l)
    const r = await run(`127.0.0.1:${l.port}`, { tcp: { query_response: [{ expect: '^\\+OK' }] } })
    expect(r.success).toBe(true)
  })

  it('wraps the connection in TLS (tcp.tls) and reports the certificate', async () => {
    const server = await tlsLineServer(pki.leaves.valid)
    const r = await run(`localhost:${server.port}`, { tcp: { ...DIALOGUE, tls: true }, ca: pki.caPem })
    expect(r.success).toBe(true)
    expect(r.tls).toMatchObject({ version: 'TLS 1.3', chain_valid: true, hostname_valid: true, verify_error: null })
    expect(r.tls?.earliest_cert_expiry).toBe(pki.leaves.valid.notAfter)
    expect(server.received).toEqual(['PING\r\nQUIT\n'])
  })

  it('sends nothing over TLS when the certificate fails, unless insecure', async () => {
    const server = await tlsLineServer(pki.leaves.expired)
    const r = await run(`localhost:${server.port}`, { tcp: { ...DIALOGUE, tls: true }, ca: pki.caPem })
    expect(r).toMatchObject({ success: false, error_code: 'CERT_HAS_EXPIRED' })
    expect(r.tls?.verify_error).toBe('CERT_HAS_EXPIRED')
    await server.closed(0)
    expect(server.received.join('')).toBe('')

    const insecure = await run(`localhost:${server.port}`, { tcp: { ...DIALOGUE, tls: true }, tls: { insecure: true }, ca: pki.caPem })
    expect(insecure.success).toBe(true)
    expect(insecure.tls?.verify_error).toBe('CERT_HAS_EXPIRED')
  })

  it('times out waiting for an expected line, and closes the connection', async () => {
    const server = await lineServer()
    const r = await run(`127.0.0.1:${server.port}`, { tcp: { query_response: [{ expect: '^999' }] }, timeout_ms: 200 })
    expect(r).toMatchObject({ success: false, error_code: 'TIMEOUT', error: 'timed out after 200ms' })
    await server.closed(0)
  })

  it('fails with CONNECTION_RESET when the peer resets mid-dialogue', async () => {
    const l = await listen(net.createServer((s) => s.resetAndDestroy()))
    open.push(l)
    const r = await run(`127.0.0.1:${l.port}`, { tcp: { query_response: [{ expect: '^220' }] } })
    expect(r.error_code).toBe('CONNECTION_RESET')
    expect(r.error).toContain(`127.0.0.1:${l.port}`)
  })
})
