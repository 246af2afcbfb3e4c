// The `tcp` check (blackbox's tcp prober): connect, optionally wrap in TLS, then run the
// query_response steps in order. Node-only.
import type net from 'node:net'
import type { TlsInfo } from '../../proto/result.ts'
import { expand, lineOf, MAX_LINE_BUFFER, quoteRead } from '../core/dialogue.ts'
import type { Probe } from '../core/probe.ts'
import { abortClassified, classifyNetError, connectTcp, hostPort, NetError, parseHostPort } from './net-errors.ts'
import { dialTls, joinCa, verifyFailure } from './tls-inspect.ts'

export const probeTcp: Probe = async (check, ctx) => {
  const target = parseHostPort(check.target, { scheme: 'tcp' })
  if ('error' in target) return { success: false, challenged: false, error: target.error, error_code: 'INVALID_TARGET' }
  const peer = hostPort(target.host, target.port)
  const steps = check.tcp?.query_response ?? []
  const expects: (RegExp | undefined)[] = []
  for (const step of steps) {
    try {
      expects.push(step.expect === undefined ? undefined : new RegExp(step.expect))
    } catch (err) {
      // Config validation should have refused it; say so rather than probe half a dialogue.
      const error = `invalid expect regular expression ${JSON.stringify(step.expect)}: ${(err as Error).message}`
      return { success: false, challenged: false, error, error_code: 'INVALID_CHECK' }
    }
  }

  let socket: net.Socket
  let tls: TlsInfo | undefined
  try {
    if (check.tcp?.tls) {
      const opts = check.tls ?? {}
      const dial = await dialTls({
        host: target.host,
        port: target.port,
        servername: opts.servername,
        ca: joinCa(ctx.ca, opts.ca),
        localAddress: ctx.source_address,
        signal: ctx.signal,
      })
      socket = dial.socket
      tls = dial.info
      // Never talk to a peer whose certificate failed, unless told to.
      if (!dial.verified && !opts.insecure) {
        socket.destroy()
        return { success: false, challenged: false, ...verifyFailure(tls, opts.servername ?? target.host), tls }
      }
    } else {
      const conn = await connectTcp({ host: target.host, port: target.port, localAddress: ctx.source_address, signal: ctx.signal })
      socket = conn.socket
    }
  } catch (err) {
    return { success: false, challenged: false, ...classifyNetError(err, ctx.signal) }
  }

  const reader = new LineReader(socket)
  try {
    // Within a step, as in blackbox: first wait for `expect`, then `send` (which may use the
    // match's groups: ${1}, ${name}).
    for (const [i, step] of steps.entries()) {
      const expect = expects[i]
      const match = expect ? await reader.expect(expect, ctx.signal, peer) : null
      if (step.send) await send(socket, lineOf(match ? expand(step.send, match) : step.send))
    }
    return { success: true, challenged: false, ...(tls ? { tls } : {}) }
  } catch (err) {
    return { success: false, challenged: false, ...classifyNetError(err, ctx.signal, peer), ...(tls ? { tls } : {}) }
  } finally {
    socket.destroy()
  }
}

function send(socket: net.Socket, data: string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())))
}

/**
 * Reads the connection line by line, as blackbox's query_response does: `expect` consumes
 * lines until one matches; a final line without a newline is tried when the peer closes.
 */
class LineReader {
  private buffer = ''
  private ended = false
  private failure: Error | null = null
  private wake: (() => void) | null = null

  constructor(socket: net.Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      this.buffer += chunk
      if (this.buffer.length > MAX_LINE_BUFFER) socket.destroy()
      this.notify()
    })
    socket.on('end', () => this.finish())
    socket.on('close', () => this.finish())
    socket.on('error', (err) => {
      this.failure ??= err
      this.finish()
    })
  }

  async expect(re: RegExp, signal: AbortSignal, peer: string): Promise<RegExpExecArray> {
    let read = '' // what this step consumed, for the mismatch message
    for (;;) {
      if (signal.aborted) {
        const { error, error_code } = abortClassified(signal)
        throw new NetError(error_code, `${error} waiting for /${re.source}/; read ${quoteRead(read)}`)
      }
      const nl = this.buffer.indexOf('\n')
      if (nl >= 0 || (this.ended && this.buffer !== '')) {
        const end = nl >= 0 ? nl + 1 : this.buffer.length
        const raw = this.buffer.slice(0, end)
        this.buffer = this.buffer.slice(end)
        read += raw
        const match = re.exec(raw.replace(/\r?\n$/, ''))
        if (match) return match
        continue
      }
      if (this.failure) throw this.failure
      if (this.ended) {
        const error = `no line matched /${re.source}/ before ${peer} closed the connection; read ${quoteRead(read)}`
        throw new NetError('TCP_EXPECT_MISMATCH', error)
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve
        signal.addEventListener('abort', this.notify, { once: true })
      })
      signal.removeEventListener('abort', this.notify)
    }
  }

  private finish(): void {
    this.ended = true
    this.notify()
  }

  private notify = (): void => {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}
