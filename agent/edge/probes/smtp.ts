// The `smtp` check at the edge, through cloudflare:sockets: banner, EHLO, optional STARTTLS
// (startTls(), verified by the runtime for the target's host) or implicit TLS, EHLO again, QUIT.
// Never MAIL, RCPT or DATA. The conversation is read with the Node probe's parser
// (agent/core/dialogue.ts); no `tls` block (the runtime does not show the certificate).
//
// Cloudflare does not let Workers connect to port 25: probe submission (587, STARTTLS) or
// smtps (465) from the edge. A failure on port 25 says so.
import type { ErrorCode } from '../../../proto/errors.ts'
import type { ProbeOutcome, SmtpInfo } from '../../../proto/result.ts'
import {
  clip,
  DEFAULT_EHLO,
  extensionsOf,
  hostPort,
  MAX_SMTP_LINE,
  offersStarttls,
  oneLine,
  parseSmtpTarget,
  QUIT_WAIT_MS,
  ReplyAssembler,
  SmtpProtocolError,
  type Reply,
} from '../../core/dialogue.ts'
import type { Probe } from '../../core/probe.ts'
import { classifyEdgeError, EdgeProbeError } from './errors.ts'
import { Conversation } from './socket.ts'

export const probeSmtp: Probe = async (check, ctx) => {
  const opts = check.smtp ?? {}
  const target = parseSmtpTarget(check.target, opts.tls === true)
  if (!target) return failure('INVALID_TARGET', `SMTP target must be host[:port], smtp://host[:port] or smtps://host[:port], got "${check.target}"`)
  if (target.tls && opts.starttls) return failure('INVALID_TARGET', 'STARTTLS cannot be combined with implicit TLS (smtp.tls / smtps://)')
  if (check.tls?.ca !== undefined || check.tls?.insecure) {
    ctx.logger.warn({ check: check.name }, 'tls.ca and tls.insecure cannot be honoured at the edge (the runtime trusts the public roots only); ignored')
  }
  const peer = hostPort(target.host, target.port)
  const servername = check.tls?.servername ?? target.host
  let smtp: SmtpInfo | undefined
  let c: Conversation | undefined
  const reached = (): Pick<ProbeOutcome, 'smtp'> => (smtp ? { smtp } : {})
  const quitAndFail = async (code: ErrorCode, error: string): Promise<ProbeOutcome> => {
    await quit(c!)
    return { ...failure(code, error), ...reached() }
  }

  try {
    c = await Conversation.open(target.host, target.port, target.tls ? 'on' : opts.starttls ? 'starttls' : 'off', ctx.signal, peer)
    const banner = await read(c)
    smtp = { banner: banner.lines.join('\n'), banner_code: banner.code, extensions: [], starttls: false }
    if (banner.code !== 220) {
      if (banner.code >= 400 && banner.code < 600) return await quitAndFail('SMTP_BANNER_REJECTED', `greeting rejected: ${oneLine(banner)}`)
      throw new SmtpProtocolError(`expected a 220 greeting, got: ${oneLine(banner)}`)
    }
    const ehloName = opts.ehlo ?? DEFAULT_EHLO
    let ehlo = await command(c, `EHLO ${ehloName}`)
    if (ehlo.code !== 250) return await quitAndFail('SMTP_EHLO_REJECTED', `EHLO ${ehloName} rejected: ${oneLine(ehlo)}`)
    smtp.extensions = extensionsOf(ehlo)

    if (opts.starttls) {
      if (!offersStarttls(smtp.extensions)) return await quitAndFail('SMTP_STARTTLS_UNAVAILABLE', 'the server does not offer STARTTLS')
      const reply = await command(c, 'STARTTLS')
      if (reply.code !== 220) return await quitAndFail('SMTP_STARTTLS_UNAVAILABLE', `STARTTLS refused: ${oneLine(reply)}`)
      await c.startTls(servername)
      smtp.starttls = true
      // RFC 3207: the server forgets everything it said before TLS; ask again.
      ehlo = await command(c, `EHLO ${ehloName}`)
      if (ehlo.code !== 250) return await quitAndFail('SMTP_EHLO_REJECTED', `EHLO ${ehloName} after STARTTLS rejected: ${oneLine(ehlo)}`)
      smtp.extensions = extensionsOf(ehlo)
    }
    await quit(c)
    return { success: true, challenged: false, ...reached() }
  } catch (err) {
    let classified =
      err instanceof SmtpProtocolError && !ctx.signal.aborted
        ? { error: err.message, error_code: 'SMTP_PROTOCOL_ERROR' as const }
        : classifyEdgeError(err, ctx.signal, peer, c ? 'exchange' : 'connect', target.tls)
    if (!c && target.port === 25 && classified.error_code !== 'TIMEOUT' && classified.error_code !== 'ABORTED') {
      classified = { ...classified, error: `${classified.error}; note: Cloudflare Workers may not connect to port 25 — probe port 587 (starttls) or 465 (smtps) from the edge` }
    }
    return { success: false, challenged: false, ...classified, ...reached() }
  } finally {
    c?.close()
  }
}

async function read(c: Conversation): Promise<Reply> {
  const assembler = new ReplyAssembler()
  for (;;) {
    const line = await c.line()
    if (line === null) throw new EdgeProbeError('CONNECTION_RESET', 'the server closed the connection in the middle of the SMTP conversation')
    if (line.text.length > MAX_SMTP_LINE) throw new SmtpProtocolError(`no line end within ${MAX_SMTP_LINE} bytes: "${clip(line.text)}"`)
    const reply = assembler.push(line.text)
    if (reply) return reply
  }
}

async function command(c: Conversation, line: string): Promise<Reply> {
  await c.write(`${line}\r\n`)
  return read(c)
}

/** QUIT and wait briefly for 221; a silent or vanished server is not a failure here. */
async function quit(c: Conversation): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const patience = new Promise<void>((resolve) => (timer = setTimeout(resolve, QUIT_WAIT_MS)))
  try {
    await Promise.race([command(c, 'QUIT').catch(() => undefined), patience])
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

function failure(error_code: ErrorCode, error: string): ProbeOutcome {
  return { success: false, challenged: false, error, error_code }
}
