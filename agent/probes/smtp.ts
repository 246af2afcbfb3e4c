// SMTP probe: banner, EHLO, optional STARTTLS (or implicit TLS), then QUIT. It never sends
// MAIL, RCPT or DATA: a probe must not be able to deliver anything.
import type net from 'node:net'
import type { CheckSpec } from '../../proto/check.ts'
import type { ErrorCode } from '../../proto/errors.ts'
import type { ProbeOutcome, SmtpInfo, TlsInfo } from '../../proto/result.ts'
import type { Probe, ProbeContext } from '../core/probe.ts'
import {
  DEFAULT_EHLO,
  extensionsOf,
  MAX_SMTP_LINE as MAX_LINE,
  clip,
  offersStarttls,
  oneLine,
  parseSmtpTarget,
  QUIT_WAIT_MS,
  ReplyAssembler,
  SmtpProtocolError,
  type Reply,
  type SmtpTarget,
} from '../core/dialogue.ts'
import { classifyNetError, connectTcp, hostPort, NetError } from './net-errors.ts'
import { dialTls, verifyFailure } from './tls-inspect.ts'

export { parseSmtpTarget, type Reply, type SmtpTarget }

export const probeSmtp: Probe = async (check, ctx) => {
  const opts = check.smtp ?? {}
  const target = parseSmtpTarget(check.target, opts.tls === true)
  if (!target) return failure('INVALID_TARGET', `SMTP target must be host[:port], smtp://host[:port] or smtps://host[:port], got "${check.target}"`)
  if (target.tls && opts.starttls) return failure('INVALID_TARGET', 'STARTTLS cannot be combined with implicit TLS (smtp.tls / smtps://)')

  const session = new Session(check, ctx, target)
  try {
    return await session.run()
  } catch (err) {
    const classified =
      err instanceof SmtpProtocolError && !ctx.signal.aborted
        ? { error: err.message, error_code: 'SMTP_PROTOCOL_ERROR' as const }
        : classifyNetError(err, ctx.signal, hostPort(target.host, target.port))
    return { success: false, challenged: false, ...classified, ...session.reached() }
  } finally {
    session.close()
  }
}

/** One SMTP conversation; keeps what it reached so a failure still reports it. */
class Session {
  private socket: net.Socket | null = null
  /** Every socket opened (the plain one under STARTTLS too), destroyed on every path. */
  private readonly sockets: net.Socket[] = []
  private reader: ReplyReader | null = null
  private smtp: SmtpInfo | null = null
  private tls: TlsInfo | null = null

  constructor(
    private readonly check: CheckSpec,
    private readonly ctx: ProbeContext,
    private readonly target: SmtpTarget,
  ) {}

  async run(): Promise<ProbeOutcome> {
    // Registered before connectTcp's own abort listener, so on abort the TLS socket goes first.
    this.ctx.signal.addEventListener('abort', this.destroySockets, { once: true })
    const { host, port } = this.target
    const opts = this.check.smtp ?? {}
    const tlsOpts = this.tlsOptions()
    if (this.target.tls) {
      const dial = await dialTls({ host, port, localAddress: this.ctx.source_address, signal: this.ctx.signal, ...tlsOpts })
      this.attach(dial.socket)
      this.tls = dial.info
      // Nothing more goes to a server whose certificate failed verification.
      if (!dial.verified && !tlsOpts.insecure) return this.fail(verifyFailure(dial.info, tlsOpts.servername ?? host))
    } else {
      const conn = await connectTcp({ host, port, localAddress: this.ctx.source_address, signal: this.ctx.signal })
      this.attach(conn.socket)
    }

    const banner = await this.read()
    this.smtp = { banner: banner.lines.join('\n'), banner_code: banner.code, extensions: [], starttls: false }
    if (banner.code !== 220) {
      if (banner.code >= 400 && banner.code < 600) return this.quitAndFail('SMTP_BANNER_REJECTED', `greeting rejected: ${oneLine(banner)}`)
      throw new SmtpProtocolError(`expected a 220 greeting, got: ${oneLine(banner)}`)
    }

    const ehloName = opts.ehlo ?? DEFAULT_EHLO
    let ehlo = await this.command(`EHLO ${ehloName}`)
    if (ehlo.code !== 250) return this.quitAndFail('SMTP_EHLO_REJECTED', `EHLO ${ehloName} rejected: ${oneLine(ehlo)}`)
    this.smtp.extensions = extensionsOf(ehlo)

    if (opts.starttls) {
      if (!offersStarttls(this.smtp.extensions)) {
        return this.quitAndFail('SMTP_STARTTLS_UNAVAILABLE', 'the server does not offer STARTTLS')
      }
      const reply = await this.command('STARTTLS')
      if (reply.code !== 220) return this.quitAndFail('SMTP_STARTTLS_UNAVAILABLE', `STARTTLS refused: ${oneLine(reply)}`)
      const plain = this.detach()
      const dial = await dialTls({ host, port, localAddress: this.ctx.source_address, signal: this.ctx.signal, socket: plain, ...tlsOpts })
      this.attach(dial.socket)
      this.tls = dial.info
      this.smtp.starttls = true
      if (!dial.verified && !tlsOpts.insecure) return this.fail(verifyFailure(dial.info, tlsOpts.servername ?? host))
      // RFC 3207: the server forgets everything it said before TLS; ask again.
      ehlo = await this.command(`EHLO ${ehloName}`)
      if (ehlo.code !== 250) return this.quitAndFail('SMTP_EHLO_REJECTED', `EHLO ${ehloName} after STARTTLS rejected: ${oneLine(ehlo)}`)
      this.smtp.extensions = extensionsOf(ehlo)
    }

    await this.quit()
    return { success: true, challenged: false, ...this.reached() }
  }

  /** The smtp and tls blocks reached so far. */
  reached(): Pick<ProbeOutcome, 'smtp' | 'tls'> {
    return { ...(this.smtp && { smtp: this.smtp }), ...(this.tls && { tls: this.tls }) }
  }

  close(): void {
    this.ctx.signal.removeEventListener('abort', this.destroySockets)
    this.reader?.detach()
    this.destroySockets()
  }

  /**
   * Outermost first: destroying the plain socket under a TLS socket that has just finished
   * its handshake crashes Node 20 (segfault), so the STARTTLS socket must go before it.
   */
  private readonly destroySockets = (): void => {
    for (const s of [...this.sockets].reverse()) s.destroy()
  }

  private tlsOptions(): { servername?: string; ca?: string; insecure: boolean } {
    const tlsCheck = this.check.tls ?? {}
    const ca = [this.ctx.ca, tlsCheck.ca].filter((c): c is string => Boolean(c)).join('\n')
    return { servername: tlsCheck.servername, ca: ca || undefined, insecure: tlsCheck.insecure === true }
  }

  private attach(socket: net.Socket): void {
    this.socket = socket
    this.sockets.push(socket)
    this.reader = new ReplyReader(socket, this.ctx.signal)
  }

  /** Hands the plain socket over to TLS: stop reading it, but keep it open. */
  private detach(): net.Socket {
    const socket = this.socket
    if (!socket || !this.reader) throw new Error('no connection')
    this.reader.detach()
    this.reader = null
    return socket
  }

  private read(): Promise<Reply> {
    if (!this.reader) throw new Error('no connection')
    return this.reader.read()
  }

  private command(line: string): Promise<Reply> {
    this.socket?.write(`${line}\r\n`)
    return this.read()
  }

  /** QUIT and wait briefly for 221; a silent or vanished server is not a failure here. */
  private async quit(): Promise<void> {
    if (!this.socket || this.socket.destroyed || this.ctx.signal.aborted) return
    let timer: NodeJS.Timeout | undefined
    const patience = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, QUIT_WAIT_MS)
    })
    try {
      await Promise.race([this.command('QUIT').catch(() => undefined), patience])
    } finally {
      clearTimeout(timer)
    }
  }

  private async quitAndFail(error_code: ErrorCode, error: string): Promise<ProbeOutcome> {
    await this.quit()
    return this.fail({ error_code, error })
  }

  private fail(f: { error: string; error_code: ErrorCode }): ProbeOutcome {
    return { success: false, challenged: false, ...f, ...this.reached() }
  }
}

/**
 * Reads SMTP replies from a socket: buffers bytes, splits lines on CRLF and groups
 * multi-line replies ("250-..." continued until "250 ...").
 */
export class ReplyReader {
  private buffer = Buffer.alloc(0)
  private readonly lines: string[] = []
  private failure: unknown = null
  private wake: (() => void) | null = null

  constructor(
    private readonly socket: net.Socket,
    private readonly signal: AbortSignal,
  ) {
    socket.on('data', this.onData)
    socket.on('error', this.onError)
    socket.on('close', this.onClose)
    signal.addEventListener('abort', this.onAbort, { once: true })
  }

  async read(): Promise<Reply> {
    const assembler = new ReplyAssembler()
    for (;;) {
      const reply = assembler.push(await this.nextLine())
      if (reply) return reply
    }
  }

  detach(): void {
    this.socket.off('data', this.onData)
    this.socket.off('error', this.onError)
    this.socket.off('close', this.onClose)
    this.signal.removeEventListener('abort', this.onAbort)
    // Keep an error listener: a late socket error must not crash the process.
    this.socket.on('error', () => {})
  }

  private async nextLine(): Promise<string> {
    for (;;) {
      const line = this.lines.shift()
      if (line !== undefined) return line
      if (this.failure) throw this.failure
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
    }
  }

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }

  private readonly onData = (chunk: Buffer) => {
    this.buffer = Buffer.concat([this.buffer, chunk])
    for (let nl = this.buffer.indexOf(0x0a); nl !== -1; nl = this.buffer.indexOf(0x0a)) {
      this.lines.push(this.buffer.subarray(0, nl).toString('utf8').replace(/\r$/, ''))
      this.buffer = this.buffer.subarray(nl + 1)
    }
    if (this.buffer.length > MAX_LINE) {
      this.failure ??= new SmtpProtocolError(`no line end within ${MAX_LINE} bytes: "${clip(this.buffer.toString('latin1'))}"`)
    }
    this.notify()
  }

  private readonly onError = (err: Error) => {
    this.failure ??= err
    this.notify()
  }

  private readonly onClose = () => {
    // A last line without its CRLF is still worth parsing (garbage, then hang-up).
    if (this.buffer.length > 0) this.lines.push(this.buffer.toString('utf8'))
    this.buffer = Buffer.alloc(0)
    this.failure ??= new NetError('CONNECTION_RESET', 'the server closed the connection in the middle of the SMTP conversation')
    this.notify()
  }

  private readonly onAbort = () => {
    this.failure ??= this.signal.reason
    this.socket.destroy()
    this.notify()
  }
}

function failure(error_code: ErrorCode, error: string): ProbeOutcome {
  return { success: false, challenged: false, error, error_code }
}

