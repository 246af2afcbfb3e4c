import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import { probeSmtp, parseSmtpTarget } from '../../agent/probes/smtp.ts'
import { runProbe } from '../../agent/core/run.ts'
import { nullLogger, systemClock } from '../../agent/core/probe.ts'
import type { CheckSpec, SmtpOptions, TlsOptions } from '../../proto/check.ts'
import { testPki, type TestPki } from '../helpers/certs.ts'

const identity = { agent_id: 't-1', vantage: 'test', region: 'test' }

let pki: TestPki
beforeAll(async () => {
  pki = await testPki()
})

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

function run(target: string, smtp: SmtpOptions = {}, o: { timeout_ms?: number; ca?: string; tls?: TlsOptions } = {}) {
  const check: CheckSpec = { name: 'smtp-test', type: 'smtp', target, interval_ms: 60_000, timeout_ms: o.timeout_ms ?? 5000, smtp, tls: o.tls }
  return runProbe(probeSmtp, check, { identity, logger: nullLogger, clock: systemClock, agent_id: 't-1', secrets: {}, ca: o.ca })
}

/** A real smtp-server on 127.0.0.1:0 that records every command it receives, and each session's end. */
async function startSmtp(options: SMTPServerOptions) {
  const commands: string[] = []
  let mailFrom = 0
  let sessionsEnded = 0
  let onSessionEnded: () => void = () => {}
  const ended = () => {
    sessionsEnded++
    onSessionEnded()
  }
  const record = (...params: unknown[]) => {
    const meta = params[0] as { tnx?: string; command?: string } | undefined
    if (meta?.tnx === 'command' && meta.command) commands.push(meta.command)
  }
  const server = new SMTPServer({
    name: 'mx.example.test',
    banner: 'Vantage test MX',
    size: 35882577,
    authOptional: true,
    disableReverseLookup: true,
    logger: { level() {}, trace() {}, debug: record, info: record, warn() {}, error() {}, fatal() {} },
    onMailFrom(_address, _session, callback) {
      mailFrom++
      callback()
    },
    onClose: ended,
    ...options,
  })
  // A connection that ends during the implicit TLS handshake is reported here, not by onClose.
  server.on('error', ended)
  server.listen(0, '127.0.0.1')
  await once(server.server, 'listening')
  const { port } = server.server.address() as net.AddressInfo
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
  return {
    target: `127.0.0.1:${port}`,
    commands,
    mailFrom: () => mailFrom,
    /** Resolves once the server has seen `n` sessions end (the probe's connection closed). */
    closed(n = 1) {
      return new Promise<void>((resolve) => {
        onSessionEnded = () => sessionsEnded >= n && resolve()
        onSessionEnded()
      })
    },
  }
}

/**
 * A raw SMTP-ish server: sends `greeting`, then answers each line with `answer(line)`
 * (undefined: stay silent). Records the lines it received; `closed` resolves when the client hangs up.
 */
async function startRaw(greeting: string, answer: (line: string) => string | undefined = () => undefined) {
  const received: string[] = []
  let closedResolve: () => void = () => {}
  const closed = new Promise<void>((r) => (closedResolve = r))
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => {
      sockets.delete(socket)
      closedResolve()
    })
    if (greeting) socket.write(greeting)
    let buffered = ''
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1')
      let nl: number
      while ((nl = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 2)
        received.push(line)
        const reply = answer(line)
        if (reply !== undefined) socket.write(reply)
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => {
    for (const s of sockets) s.destroy()
    return new Promise<void>((r) => server.close(() => r()))
  })
  return { target: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, received, closed }
}

/** A minimal well-behaved conversation for raw servers. */
function politeAnswers(line: string): string | undefined {
  const verb = line.split(' ')[0].toUpperCase()
  if (verb === 'EHLO') return '250-raw.example.test hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n'
  if (verb === 'QUIT') return '221 2.0.0 bye\r\n'
  return '502 5.5.1 not implemented\r\n'
}

describe('smtp probe against smtp-server', () => {
  it('reads the banner and the EHLO extensions, then QUITs without ever sending MAIL', async () => {
    const server = await startSmtp({ key: pki.leaves.valid.keyPem, cert: pki.leaves.valid.chainPem })
    const r = await run(server.target, { ehlo: 'probe.example.test' })
    expect(r.success).toBe(true)
    expect(r.error_code ?? null).toBeNull()
    expect(r.smtp).toMatchObject({ banner: '220 mx.example.test ESMTP Vantage test MX', banner_code: 220, starttls: false })
    expect(r.smtp?.extensions).toEqual(expect.arrayContaining(['PIPELINING', 'STARTTLS', 'SIZE 35882577']))
    expect(r.tls).toBeUndefined()
    await server.closed()
    expect(server.commands).toEqual(['EHLO', 'QUIT'])
    expect(server.mailFrom()).toBe(0)
  })

  it('STARTTLS: upgrades, verifies the chain with ctx.ca and reports the post-TLS extensions', async () => {
    const server = await startSmtp({ key: pki.leaves.valid.keyPem, cert: pki.leaves.valid.chainPem })
    const r = await run(server.target, { starttls: true }, { ca: pki.caPem })
    expect(r.success).toBe(true)
    expect(r.smtp?.starttls).toBe(true)
    expect(r.tls).toMatchObject({ chain_valid: true, hostname_valid: true, verify_error: null })
    expect(r.tls?.leaf?.subject).toBe(pki.leaves.valid.subject)
    expect(r.tls?.version).toMatch(/^TLS 1\.[23]$/)
    // After TLS the server no longer offers STARTTLS: these are the second EHLO's extensions.
    expect(r.smtp?.extensions).toContain('PIPELINING')
    expect(r.smtp?.extensions).not.toContain('STARTTLS')
    await server.closed()
    expect(server.commands).toEqual(['EHLO', 'STARTTLS', 'EHLO', 'QUIT'])
    expect(server.mailFrom()).toBe(0)
  })

  it('STARTTLS with an expired certificate: CERT_HAS_EXPIRED, tls block filled, nothing sent after the handshake', async () => {
    const server = await startSmtp({ key: pki.leaves.expired.keyPem, cert: pki.leaves.expired.chainPem })
    const r = await run(server.target, { starttls: true }, { ca: pki.caPem })
    expect(r.success).toBe(false)
    expect(r.error_code).toBe('CERT_HAS_EXPIRED')
    expect(r.tls).toMatchObject({ chain_valid: false, verify_error: 'CERT_HAS_EXPIRED' })
    expect(r.tls?.leaf?.not_after).toBe(pki.leaves.expired.notAfter)
    expect(r.smtp).toMatchObject({ banner_code: 220, starttls: true })
    await server.closed()
    expect(server.commands).toEqual(['EHLO', 'STARTTLS'])
  })

  it('STARTTLS with an expired certificate and insecure: reports it but succeeds', async () => {
    const server = await startSmtp({ key: pki.leaves.expired.keyPem, cert: pki.leaves.expired.chainPem })
    const r = await run(server.target, { starttls: true }, { ca: pki.caPem, tls: { insecure: true } })
    expect(r.success).toBe(true)
    expect(r.tls).toMatchObject({ chain_valid: false, verify_error: 'CERT_HAS_EXPIRED' })
    await server.closed()
    expect(server.commands).toEqual(['EHLO', 'STARTTLS', 'EHLO', 'QUIT'])
  })

  it('STARTTLS requested on a server that does not offer it → SMTP_STARTTLS_UNAVAILABLE', async () => {
    const server = await startSmtp({ hideSTARTTLS: true })
    const r = await run(server.target, { starttls: true })
    expect(r.success).toBe(false)
    expect(r.error_code).toBe('SMTP_STARTTLS_UNAVAILABLE')
    expect(r.smtp?.extensions).not.toContain('STARTTLS')
    await server.closed()
    expect(server.commands).toEqual(['EHLO', 'QUIT'])
  })

  it('implicit TLS (smtp.tls, as on port 465) from the first byte', async () => {
    const server = await startSmtp({ secure: true, key: pki.leaves.valid.keyPem, cert: pki.leaves.valid.chainPem })
    const r = await run(server.target, { tls: true }, { ca: pki.caPem })
    expect(r.success).toBe(true)
    expect(r.smtp).toMatchObject({ banner_code: 220, starttls: false })
    expect(r.tls).toMatchObject({ chain_valid: true, hostname_valid: true })
    await server.closed()
    expect(server.commands).toEqual(['EHLO', 'QUIT'])
  })

  it('implicit TLS via smtps:// with an untrusted certificate fails before reading the banner', async () => {
    const server = await startSmtp({ secure: true, key: pki.leaves.selfSigned.keyPem, cert: pki.leaves.selfSigned.certPem })
    const r = await run(`smtps://${server.target}`, {}, { ca: pki.caPem })
    expect(r.success).toBe(false)
    expect(r.error_code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT')
    expect(r.tls?.leaf?.subject).toBe(pki.leaves.selfSigned.subject)
    expect(r.smtp).toBeUndefined()
    await server.closed()
    expect(server.commands).toEqual([])
  })
})

describe('smtp probe against raw servers', () => {
  it('joins a multi-line banner with \\n', async () => {
    const server = await startRaw('220-raw.example.test ESMTP\r\n220-no UCE\r\n220 ready\r\n', politeAnswers)
    const r = await run(server.target)
    expect(r.success).toBe(true)
    expect(r.smtp).toEqual({ banner: '220-raw.example.test ESMTP\n220-no UCE\n220 ready', banner_code: 220, extensions: ['PIPELINING', '8BITMIME'], starttls: false })
    await server.closed
    expect(server.received).toEqual(['EHLO vantage.invalid', 'QUIT'])
  })

  it.each([
    ['421 4.3.2 try again later\r\n', 421, '421 4.3.2 try again later'],
    ['554 5.7.1 no service for you\r\n', 554, '554 5.7.1 no service for you'],
  ])('a %s banner → SMTP_BANNER_REJECTED, then QUIT', async (greeting, code, text) => {
    const server = await startRaw(greeting, politeAnswers)
    const r = await run(server.target)
    expect(r.success).toBe(false)
    expect(r.error_code).toBe('SMTP_BANNER_REJECTED')
    expect(r.error).toContain(text)
    expect(r.smtp).toMatchObject({ banner: text, banner_code: code, extensions: [] })
    await server.closed
    expect(server.received).toEqual(['QUIT'])
  })

  it('EHLO rejected → SMTP_EHLO_REJECTED', async () => {
    const server = await startRaw('220 raw.example.test\r\n', (l) => (l.startsWith('EHLO') ? '550 5.7.1 go away\r\n' : politeAnswers(l)))
    const r = await run(server.target)
    expect(r.error_code).toBe('SMTP_EHLO_REJECTED')
    expect(r.error).toContain('550 5.7.1 go away')
  })

  it('STARTTLS offered but refused → SMTP_STARTTLS_UNAVAILABLE', async () => {
    const server = await startRaw('220 raw.example.test\r\n', (l) => {
      if (l.startsWith('EHLO')) return '250-raw.example.test\r\n250 STARTTLS\r\n'
      if (l === 'STARTTLS') return '454 4.7.0 TLS not available\r\n'
      return politeAnswers(l)
    })
    const r = await run(server.target, { starttls: true })
    expect(r.error_code).toBe('SMTP_STARTTLS_UNAVAILABLE')
    expect(r.error).toContain('454 4.7.0 TLS not available')
    await server.closed
    expect(server.received).toEqual(['EHLO vantage.invalid', 'STARTTLS', 'QUIT'])
  })

  it('garbage → SMTP_PROTOCOL_ERROR, and nothing is sent', async () => {
    const server = await startRaw('HTTP/1.1 400 Bad Request\r\n\r\n')
    const r = await run(server.target)
    expect(r.error_code).toBe('SMTP_PROTOCOL_ERROR')
    expect(r.error).toContain('HTTP/1.1 400 Bad Request')
    await server.closed
    expect(server.received).toEqual([])
  })

  it('a server that hangs up before its banner → CONNECTION_RESET', async () => {
    const server = net.createServer((s) => s.end())
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
    const r = await run(`127.0.0.1:${(server.address() as net.AddressInfo).port}`)
    expect(r.error_code).toBe('CONNECTION_RESET')
  })

  it('a silent server → TIMEOUT', async () => {
    const server = await startRaw('')
    const r = await run(server.target, {}, { timeout_ms: 300 })
    expect(r.error_code).toBe('TIMEOUT')
    expect(r.duration_seconds).toBeLessThan(2)
  })

  it('a server that never answers QUIT: still a success, well within the deadline', async () => {
    const server = await startRaw('220 raw.example.test\r\n', (l) => (l === 'QUIT' ? undefined : politeAnswers(l)))
    const r = await run(server.target, {}, { timeout_ms: 5000 })
    expect(r.success).toBe(true)
    expect(r.duration_seconds).toBeLessThan(2)
    expect(server.received).toEqual(['EHLO vantage.invalid', 'QUIT'])
  })

  it('QUIT never waits past the deadline', async () => {
    const server = await startRaw('220-raw.example.test\r\n220 ready\r\n', (l) => (l === 'QUIT' ? undefined : politeAnswers(l)))
    const r = await run(server.target, {}, { timeout_ms: 200 })
    // Everything the probe needed arrived before the deadline: the unanswered QUIT is no failure.
    expect(r.success).toBe(true)
    expect(r.duration_seconds).toBeLessThan(0.5)
  })
})

describe('smtp probe against a server that stalls after STARTTLS', () => {
  it('times out cleanly (the deadline tears down the TLS socket and the plain one under it)', async () => {
    let tlsEstablished!: () => void
    const established = new Promise<void>((r) => (tlsEstablished = r))
    const sockets: net.Socket[] = []
    const server = net.createServer((socket) => {
      sockets.push(socket)
      socket.on('error', () => {})
      socket.write('220 raw.example.test\r\n')
      const onData = (chunk: Buffer) => {
        const line = chunk.toString('latin1')
        if (line.startsWith('EHLO')) socket.write('250-raw.example.test\r\n250 STARTTLS\r\n')
        if (line.startsWith('STARTTLS')) {
          socket.off('data', onData)
          socket.write('220 go ahead\r\n')
          const secure = new tls.TLSSocket(socket, { isServer: true, key: pki.leaves.valid.keyPem, cert: pki.leaves.valid.chainPem })
          sockets.push(secure)
          secure.on('error', () => {})
          secure.on('secure', tlsEstablished) // then never answer the second EHLO
        }
      }
      socket.on('data', onData)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => {
      for (const s of sockets.reverse()) s.destroy()
      return new Promise<void>((r) => server.close(() => r()))
    })
    const r = await run(`127.0.0.1:${(server.address() as net.AddressInfo).port}`, { starttls: true }, { ca: pki.caPem, timeout_ms: 500 })
    await established
    expect(r.error_code).toBe('TIMEOUT')
    expect(r.smtp?.starttls).toBe(true)
    expect(r.tls?.chain_valid).toBe(true)
  })
})

describe('parseSmtpTarget', () => {
  it.each([
    ['mx.example.test', false, { host: 'mx.example.test', port: 25, tls: false }],
    ['mx.example.test:2525', false, { host: 'mx.example.test', port: 2525, tls: false }],
    ['smtp://127.0.0.1:587', false, { host: '127.0.0.1', port: 587, tls: false }],
    ['smtps://mx.example.test', false, { host: 'mx.example.test', port: 465, tls: true }],
    ['mx.example.test', true, { host: 'mx.example.test', port: 465, tls: true }],
    ['[::1]:25', false, { host: '::1', port: 25, tls: false }],
  ] as const)('%s (tls %s)', (text, tls, expected) => {
    expect(parseSmtpTarget(text, tls)).toEqual(expected)
  })

  it('rejects nonsense', () => {
    expect(parseSmtpTarget('http://x y', false)).toBeNull()
    expect(parseSmtpTarget('host:99999', false)).toBeNull()
  })
})
