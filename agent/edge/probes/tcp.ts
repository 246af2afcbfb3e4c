// The `tcp` check at the edge (blackbox's tcp prober), through cloudflare:sockets: connect,
// optionally in TLS (verified by the runtime against the public roots), then the query_response
// steps in order, read line by line as the Node probe does (agent/core/dialogue.ts). No `tls`
// block: the runtime does not show the certificate.
import type { Probe } from '../../core/probe.ts'
import { expand, hostPort, lineOf, quoteRead } from '../../core/dialogue.ts'
import { classifyEdgeError, EdgeProbeError } from './errors.ts'
import { Conversation } from './socket.ts'

export const probeTcp: Probe = async (check, ctx) => {
  const target = parseHostPort(check.target)
  if (!target) return { success: false, challenged: false, error: `target "${check.target}" is not host:port (or tcp://host:port)`, error_code: 'INVALID_TARGET' }
  const peer = hostPort(target.host, target.port)
  const steps = check.tcp?.query_response ?? []
  const expects: (RegExp | undefined)[] = []
  for (const step of steps) {
    try {
      expects.push(step.expect === undefined ? undefined : new RegExp(step.expect))
    } catch (err) {
      const error = `invalid expect regular expression ${JSON.stringify(step.expect)}: ${(err as Error).message}`
      return { success: false, challenged: false, error, error_code: 'INVALID_CHECK' }
    }
  }
  const tls = check.tcp?.tls === true
  if (check.tls?.ca !== undefined || check.tls?.insecure) {
    ctx.logger.warn({ check: check.name }, 'tls.ca and tls.insecure cannot be honoured at the edge (the runtime trusts the public roots only); ignored')
  }

  let conversation: Conversation | undefined
  try {
    conversation = await Conversation.open(target.host, target.port, tls ? 'on' : 'off', ctx.signal, peer)
    // Within a step, as in blackbox: first wait for `expect`, then `send` (which may use the
    // match's groups: ${1}, ${name}).
    for (const [i, step] of steps.entries()) {
      const expect = expects[i]
      const match = expect ? await expectLine(conversation, expect) : null
      if (step.send) await conversation.write(lineOf(match ? expand(step.send, match) : step.send))
    }
    return { success: true, challenged: false }
  } catch (err) {
    return { success: false, challenged: false, ...classifyEdgeError(err, ctx.signal, peer, conversation ? 'exchange' : 'connect', tls) }
  } finally {
    conversation?.close()
  }
}

/** Consumes lines until one matches; the peer closing first is a TCP_EXPECT_MISMATCH. */
async function expectLine(c: Conversation, re: RegExp): Promise<RegExpExecArray> {
  let read = ''
  for (;;) {
    const line = await c.line()
    if (line === null) {
      throw new EdgeProbeError('TCP_EXPECT_MISMATCH', `no line matched /${re.source}/ before ${c.peer} closed the connection; read ${quoteRead(read)}`)
    }
    read += line.raw
    const match = re.exec(line.text)
    if (match) return match
  }
}

/** "host:port", "[v6]:port", "tcp://host:port". */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const rest = text.trim().replace(/^tcp:\/\//i, '').replace(/\/$/, '')
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(rest) ?? /^([^\s:/[\]@?#]+):(\d{1,5})$/.exec(rest)
  if (!m) return null
  const port = Number(m[2])
  return port >= 1 && port <= 65535 ? { host: m[1], port } : null
}
