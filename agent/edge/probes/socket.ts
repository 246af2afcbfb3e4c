// A line-oriented conversation over a `cloudflare:sockets` connection, for the tcp and smtp
// checks: connect (plain, TLS, or plain-then-STARTTLS), read lines, write text, upgrade to TLS,
// close. The probe's signal ends everything at once.
import { connect } from 'cloudflare:sockets'
import { MAX_LINE_BUFFER } from '../../core/dialogue.ts'
import { abortClassified, classifyEdgeError, EdgeProbeError } from './errors.ts'

export type Transport = 'off' | 'on' | 'starttls'

export interface Line {
  /** Without its line end. */
  text: string
  /** As read, line end included (for "what was read" in messages). */
  raw: string
}

export class Conversation {
  private reader: ReadableStreamDefaultReader<Uint8Array>
  private writer: WritableStreamDefaultWriter<Uint8Array>
  private decoder = new TextDecoder()
  private buffer = ''
  private ended = false
  private readonly encoder = new TextEncoder()
  private readonly aborted: Promise<never>
  private readonly onAbort: () => void

  private constructor(
    private socket: Socket,
    private readonly signal: AbortSignal,
    readonly peer: string,
    private secure: boolean,
  ) {
    this.reader = socket.readable.getReader()
    this.writer = socket.writable.getWriter()
    let rejectAbort!: (err: unknown) => void
    this.aborted = new Promise<never>((_, reject) => (rejectAbort = reject))
    this.aborted.catch(() => {})
    this.onAbort = () => {
      const { error, error_code } = abortClassified(signal)
      rejectAbort(new EdgeProbeError(error_code, error))
      this.close()
    }
    if (signal.aborted) this.onAbort()
    else signal.addEventListener('abort', this.onAbort, { once: true })
  }

  /** Connects; a failure is thrown as an EdgeProbeError with its code. */
  static async open(host: string, port: number, transport: Transport, signal: AbortSignal, peer: string): Promise<Conversation> {
    let socket: Socket
    try {
      socket = connect({ hostname: host, port }, { secureTransport: transport, allowHalfOpen: false })
    } catch (err) {
      throw toProbeError(err, signal, peer, 'connect', transport === 'on')
    }
    const conversation = new Conversation(socket, signal, peer, transport === 'on')
    try {
      await Promise.race([socket.opened, conversation.aborted])
    } catch (err) {
      conversation.close()
      throw toProbeError(err, signal, peer, 'connect', transport === 'on')
    }
    return conversation
  }

  /** The next line, or null once the peer has closed (a last line without its end comes first). */
  async line(): Promise<Line | null> {
    for (;;) {
      const nl = this.buffer.indexOf('\n')
      if (nl >= 0 || (this.ended && this.buffer !== '')) {
        const end = nl >= 0 ? nl + 1 : this.buffer.length
        const raw = this.buffer.slice(0, end)
        this.buffer = this.buffer.slice(end)
        return { raw, text: raw.replace(/\r?\n$/, '') }
      }
      if (this.ended) return null
      await this.fill()
    }
  }

  async write(text: string): Promise<void> {
    try {
      await Promise.race([this.writer.write(this.encoder.encode(text)), this.aborted])
    } catch (err) {
      throw toProbeError(err, this.signal, this.peer, 'exchange', this.secure)
    }
  }

  /** Upgrades the connection to TLS (STARTTLS), verifying the certificate for `servername`. */
  async startTls(servername: string): Promise<void> {
    this.reader.releaseLock()
    this.writer.releaseLock()
    try {
      this.socket = this.socket.startTls({ expectedServerHostname: servername })
      this.secure = true
      this.reader = this.socket.readable.getReader()
      this.writer = this.socket.writable.getWriter()
      this.decoder = new TextDecoder()
      this.buffer = ''
      await Promise.race([this.socket.opened, this.aborted])
    } catch (err) {
      throw toProbeError(err, this.signal, this.peer, 'exchange', true)
    }
  }

  close(): void {
    this.signal.removeEventListener('abort', this.onAbort)
    this.socket.close().catch(() => {})
  }

  private async fill(): Promise<void> {
    let chunk: ReadableStreamReadResult<Uint8Array>
    try {
      chunk = await Promise.race([this.reader.read(), this.aborted])
    } catch (err) {
      throw toProbeError(err, this.signal, this.peer, 'exchange', this.secure)
    }
    if (chunk.done) {
      this.buffer += this.decoder.decode()
      this.ended = true
      return
    }
    this.buffer += this.decoder.decode(chunk.value, { stream: true })
    if (this.buffer.length > MAX_LINE_BUFFER) {
      this.close()
      throw new EdgeProbeError('CONNECTION_RESET', `${this.peer} sent over ${MAX_LINE_BUFFER} bytes without a line end; closed`)
    }
  }
}

function toProbeError(err: unknown, signal: AbortSignal, peer: string, phase: 'connect' | 'exchange', tls: boolean): EdgeProbeError {
  if (err instanceof EdgeProbeError) return err
  const c = classifyEdgeError(err, signal, peer, phase, tls)
  return new EdgeProbeError(c.error_code, c.error)
}
