// Socket and DNS failures as result data: Node's error codes mapped to proto/errors.ts codes,
// with messages that name the target. Node-only (used by the tcp, tls, http and smtp probes).
import { lookup } from 'node:dns/promises'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { isErrorCode, type ErrorCode } from '../../proto/errors.ts'
import { TimeoutError } from '../core/run.ts'

/** A classified network failure: `code` is always one of ERROR_CODES. */
export class NetError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'NetError'
  }
}

export interface Classified {
  error: string
  error_code: ErrorCode
}

// Node's codes that mean the same thing to an operator.
const SYSCALL_CODES: Record<string, ErrorCode> = {
  ECONNREFUSED: 'CONNECTION_REFUSED',
  ECONNRESET: 'CONNECTION_RESET',
  EPIPE: 'CONNECTION_RESET',
  ECONNABORTED: 'CONNECTION_RESET',
  ERR_STREAM_PREMATURE_CLOSE: 'CONNECTION_RESET',
  ERR_SOCKET_CLOSED: 'CONNECTION_RESET',
  ERR_STREAM_DESTROYED: 'CONNECTION_RESET',
  ERR_STREAM_WRITE_AFTER_END: 'CONNECTION_RESET',
  EHOSTUNREACH: 'HOST_UNREACHABLE',
  ENETUNREACH: 'HOST_UNREACHABLE',
  EHOSTDOWN: 'HOST_UNREACHABLE',
  ENETDOWN: 'HOST_UNREACHABLE',
  // A local firewall rejecting the connect() is, to the operator, an unreachable host.
  EACCES: 'HOST_UNREACHABLE',
  EPERM: 'HOST_UNREACHABLE',
  ETIMEDOUT: 'TIMEOUT',
  ENOTFOUND: 'DNS_RESOLVE_FAILED',
  EAI_AGAIN: 'DNS_RESOLVE_FAILED',
  EAI_FAIL: 'DNS_RESOLVE_FAILED',
  EAI_NONAME: 'DNS_RESOLVE_FAILED',
  EAI_NODATA: 'DNS_RESOLVE_FAILED',
  ENODATA: 'DNS_RESOLVE_FAILED',
  ESERVFAIL: 'DNS_RESOLVE_FAILED',
  EREFUSED: 'DNS_RESOLVE_FAILED',
  EADDRNOTAVAIL: 'SOURCE_ADDRESS_UNAVAILABLE',
}

// OpenSSL verify results that Node reports as `err.code` (besides those in ERROR_CODES).
const OTHER_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'OUT_OF_MEM',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
])

const TLS_VERIFY_CODES = new Set<ErrorCode>([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

interface NodeErrorLike {
  code?: unknown
  message?: unknown
  address?: unknown
  port?: unknown
  hostname?: unknown
  reason?: unknown
}

/**
 * Maps any error a socket, DNS lookup or TLS handshake can raise to an ERROR_CODES entry.
 * An aborted `signal` wins: the failure is then the deadline (TIMEOUT) or a cancellation
 * (ABORTED), whatever socket error the abort caused. `target` ("host:port") names the peer
 * when the error itself does not.
 */
export function classifyNetError(err: unknown, signal?: AbortSignal, target?: string): Classified {
  if (signal?.aborted) return abortClassified(signal)
  if (err instanceof NetError) return { error: err.message, error_code: err.code }
  if (err instanceof TimeoutError) return { error: err.message, error_code: 'TIMEOUT' }
  if (err instanceof Error && err.name === 'AbortError') return { error: 'probe aborted', error_code: 'ABORTED' }

  const e: NodeErrorLike = typeof err === 'object' && err !== null ? (err as NodeErrorLike) : {}
  const code = typeof e.code === 'string' ? e.code : ''
  const raw = typeof e.message === 'string' ? e.message : String(err)
  const peer = peerOf(e) ?? target
  const to = peer ? ` ${peer}` : ''

  const mapped = SYSCALL_CODES[code]
  switch (mapped) {
    case 'CONNECTION_REFUSED':
      return { error: `connection refused by${to}`, error_code: mapped }
    case 'CONNECTION_RESET':
      const how = code === 'ECONNRESET' ? 'reset' : 'closed'
      return { error: `connection ${how} by${to || ' the peer'} (${code})`, error_code: mapped }
    case 'HOST_UNREACHABLE':
      return { error: `${peer ?? 'target'} is unreachable (${code})`, error_code: mapped }
    case 'TIMEOUT':
      return { error: `connection to${to} timed out (${code})`, error_code: mapped }
    case 'DNS_RESOLVE_FAILED': {
      const host = typeof e.hostname === 'string' ? e.hostname : (target ?? 'the host')
      return { error: `cannot resolve ${host} (${code})`, error_code: mapped }
    }
    case 'SOURCE_ADDRESS_UNAVAILABLE': {
      // Node reports the address it failed to bind.
      const source = typeof e.address === 'string' ? ` ${e.address}` : ''
      return { error: `source address${source} is not available on this host (${code})`, error_code: mapped }
    }
  }

  if (isErrorCode(code) && TLS_VERIFY_CODES.has(code)) {
    return { error: `${raw}${peer ? ` (${peer})` : ''}`, error_code: code }
  }
  if (OTHER_VERIFY_CODES.has(code)) {
    return { error: `certificate verification failed: ${raw} (${code})`, error_code: 'CERT_VERIFY_FAILED' }
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /\bSSL\b|\bTLS\b/i.test(raw)) {
    // OpenSSL errors carry a short `reason` ("wrong version number"); the message is a dump.
    const why = typeof e.reason === 'string' ? `${e.reason}${code ? ` (${code})` : ''}` : raw
    return { error: `TLS handshake with${to || ' the peer'} failed: ${why}`, error_code: 'TLS_HANDSHAKE_FAILED' }
  }
  return { error: peer && !raw.includes(peer) ? `${raw} (${peer})` : raw, error_code: 'INTERNAL' }
}

/** The failure an aborted signal stands for (the same rule as agent/core/run.ts). */
export function abortClassified(signal: AbortSignal): Classified {
  const reason: unknown = signal.reason
  if (reason instanceof TimeoutError) return { error: reason.message, error_code: 'TIMEOUT' }
  return { error: 'probe aborted', error_code: 'ABORTED' }
}

/** `classifyNetError` as a throwable NetError. */
export function toNetError(err: unknown, signal?: AbortSignal, target?: string): NetError {
  if (err instanceof NetError && !signal?.aborted) return err
  const c = classifyNetError(err, signal, target)
  return new NetError(c.error_code, c.error, { cause: err })
}

function peerOf(e: NodeErrorLike): string | undefined {
  if (typeof e.address !== 'string') return undefined
  if (typeof e.port !== 'number') return e.address
  return hostPort(e.address, e.port)
}

/** "127.0.0.1:9", "[::1]:9", "example.com:443". */
export function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`
}

export interface ConnectTcpOptions {
  host: string
  port: number
  /** Bind the connection to this local address (ctx.source_address). */
  localAddress?: string
  signal: AbortSignal
}

export interface TcpConnection {
  socket: net.Socket
  /** Seconds spent resolving the host name (0 for an IP literal). */
  resolveSeconds: number
  /** Seconds from connect() to the established connection. */
  connectSeconds: number
}

/**
 * Resolves `host` (timed), then connects (timed). Rejects with a NetError. The signal is
 * honoured for the socket's whole life: an abort destroys it (without an 'error' event), so
 * the caller must treat 'close' as the end. Attach an 'error' listener as soon as this resolves.
 */
export async function connectTcp(opts: ConnectTcpOptions): Promise<TcpConnection> {
  const { port, localAddress, signal } = opts
  const host = unbracket(opts.host)
  const target = hostPort(host, port)
  if (signal.aborted) throw toNetError(signal.reason, signal, target)

  // Resolve in the source address's family, so the bind cannot fail on a family mismatch.
  const family = localAddress ? net.isIP(localAddress) : 0
  let address = host
  let resolveSeconds = 0
  if (!net.isIP(host)) {
    const t0 = performance.now()
    try {
      const found = await untilAborted(lookup(host, { family: family === 4 || family === 6 ? family : 0 }), signal)
      address = found.address
    } catch (err) {
      const classified = toNetError(err, signal, target)
      if (family && classified.code === 'DNS_RESOLVE_FAILED') {
        const why = `no IPv${family} address to match source address ${localAddress}`
        throw new NetError(classified.code, `${classified.message}: ${why}`, { cause: err })
      }
      throw classified
    }
    resolveSeconds = (performance.now() - t0) / 1000
  }

  const t0 = performance.now()
  const socket = net.connect({ host: address, port, localAddress })
  destroyOnAbort(socket, signal)
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      cleanup()
      socket.destroy()
      reject(toNetError(err, signal, hostPort(address, port)))
    }
    const onClose = () => {
      cleanup()
      reject(toNetError(new Error(`connection to ${target} closed before it was established`), signal, target))
    }
    const onConnect = () => {
      cleanup()
      resolve()
    }
    const cleanup = () => {
      socket.off('error', onError)
      socket.off('close', onClose)
      socket.off('connect', onConnect)
    }
    socket.once('error', onError)
    socket.once('close', onClose)
    socket.once('connect', onConnect)
  })
  socket.setNoDelay(true)
  return { socket, resolveSeconds, connectSeconds: (performance.now() - t0) / 1000 }
}

// Plain sockets now carried by a TLS socket: on abort the TLS socket is destroyed first and
// takes its plain socket with it. Destroying the plain one first under a live TLS socket can
// crash Node 20 (seen with STARTTLS), so the abort leaves it alone.
const wrappedByTls = new WeakSet<net.Socket>()

/** Marks `socket` as carried by a TLS socket that owns its teardown from now on. */
export function markWrappedByTls(socket: net.Socket): void {
  wrappedByTls.add(socket)
}

/** Destroys `socket` when `signal` aborts; the listener goes away with the socket. */
export function destroyOnAbort(socket: net.Socket, signal: AbortSignal): void {
  if (signal.aborted) {
    socket.destroy()
    return
  }
  const onAbort = () => {
    if (!wrappedByTls.has(socket)) socket.destroy()
  }
  signal.addEventListener('abort', onAbort, { once: true })
  socket.once('close', () => signal.removeEventListener('abort', onAbort))
}

export interface HostPortTarget {
  host: string
  port: number
}

/**
 * Parses "host:port", "[::1]:443", "::1" or "scheme://host:port" (with `scheme` given).
 * Without a port, `defaultPort` applies, or the target is invalid.
 */
export function parseHostPort(
  target: string,
  opts: { scheme?: string; defaultPort?: number } = {},
): HostPortTarget | { error: string } {
  let rest = target.trim()
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest)
  if (schemeMatch) {
    if (schemeMatch[1].toLowerCase() !== opts.scheme) {
      const hint = opts.scheme ? ` (use host:port or ${opts.scheme}://host:port)` : ''
      return { error: `unsupported scheme in target "${target}"${hint}` }
    }
    rest = rest.slice(schemeMatch[0].length).replace(/\/$/, '')
  }
  let host: string
  let portText: string | undefined
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest)
  if (bracketed) {
    host = bracketed[1]
    portText = bracketed[2]
    if (!net.isIPv6(host)) return { error: `invalid IPv6 address in target "${target}"` }
  } else if (net.isIPv6(rest)) {
    host = rest // a bare IPv6 literal: no port
  } else {
    const i = rest.lastIndexOf(':')
    host = i < 0 ? rest : rest.slice(0, i)
    portText = i < 0 ? undefined : rest.slice(i + 1)
  }
  if (!host || /[\s/?#@]/.test(host)) return { error: `invalid host in target "${target}" (expected host:port)` }
  if (portText === undefined) {
    if (opts.defaultPort === undefined) return { error: `target "${target}" has no port (expected host:port)` }
    return { host, port: opts.defaultPort }
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN
  if (!(port >= 1 && port <= 65535)) return { error: `invalid port in target "${target}" (expected 1-65535)` }
  return { host, port }
}

/** "[::1]" → "::1" (targets spell IPv6 literals with brackets). */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

// dns.lookup cannot be cancelled: stop waiting for it instead.
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}
