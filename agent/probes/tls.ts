// The `tls` check: connect, complete the handshake, report the certificate (blackbox's
// tcp prober with tls: true, reduced to the handshake). Node-only.
import type { Probe } from '../core/probe.ts'
import { classifyNetError, parseHostPort } from './net-errors.ts'
import { dialTls, joinCa, verifyFailure } from './tls-inspect.ts'

export const probeTls: Probe = async (check, ctx) => {
  const target = parseHostPort(check.target, { scheme: 'tls', defaultPort: 443 })
  if ('error' in target) return { success: false, challenged: false, error: target.error, error_code: 'INVALID_TARGET' }
  const opts = check.tls ?? {}

  let dial
  try {
    dial = await dialTls({
      host: target.host,
      port: target.port,
      servername: opts.servername,
      ca: joinCa(ctx.ca, opts.ca),
      localAddress: ctx.source_address,
      signal: ctx.signal,
    })
  } catch (err) {
    return { success: false, challenged: false, ...classifyNetError(err, ctx.signal) }
  }
  // Nothing is sent: the handshake is the whole probe.
  dial.socket.destroy()
  const { info } = dial
  ctx.logger.debug(
    {
      check: check.name,
      target: check.target,
      resolve: dial.resolveSeconds,
      connect: dial.connectSeconds,
      tls: dial.tlsSeconds,
      verify_error: info.verify_error,
    },
    'tls handshake done',
  )
  if (!dial.verified && !opts.insecure) {
    return { success: false, challenged: false, ...verifyFailure(info, opts.servername ?? target.host), tls: info }
  }
  return { success: true, challenged: false, tls: info }
}
