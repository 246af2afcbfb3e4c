// The TLS layer the http, tls, tcp and smtp probes share (as blackbox_exporter's tls.go): dial,
// handshake, and describe what the server presented. The handshake always completes
// (rejectUnauthorized: false) and verification is judged here, so a certificate that fails
// still yields a full TlsInfo. Callers without `insecure` must not send application data on an
// unverified socket: destroy it and fail with verifyFailure(). Node-only.
import { X509Certificate } from 'node:crypto'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import tls from 'node:tls'
import type { ErrorCode } from '../../proto/errors.ts'
import { isErrorCode } from '../../proto/errors.ts'
import type { CertInfo, TlsInfo } from '../../proto/result.ts'
import { connectTcp, destroyOnAbort, hostPort, markWrappedByTls, NetError, toNetError, unbracket } from './net-errors.ts'

export interface TlsDialOptions {
  host: string
  port: number
  /** SNI and the name verified; default `host`. An IP literal is verified but not sent as SNI. */
  servername?: string
  /** Extra trusted CA certificates (PEM), on top of the system roots. */
  ca?: string
  /** Not used by dialTls itself (it never rejects a certificate); carried for callers. */
  insecure?: boolean
  localAddress?: string
  signal: AbortSignal
  alpn?: string[]
  /** Upgrade this plain connection (SMTP STARTTLS) instead of dialling. It is destroyed on failure. */
  socket?: net.Socket
}

export interface TlsDial {
  socket: tls.TLSSocket
  info: TlsInfo
  /** chain_valid && hostname_valid */
  verified: boolean
  resolveSeconds: number
  connectSeconds: number
  tlsSeconds: number
}

/**
 * Connects (unless `opts.socket` is given) and completes a TLS handshake. Rejects with a
 * NetError only when the connection or the handshake fails; a certificate that fails
 * verification resolves with `verified: false`. The signal destroys the socket on abort for
 * its whole life.
 */
export async function dialTls(opts: TlsDialOptions): Promise<TlsDial> {
  const host = unbracket(opts.host)
  const name = unbracket(opts.servername ?? host)
  const target = hostPort(host, opts.port)
  const { signal } = opts

  let raw: net.Socket
  let resolveSeconds = 0
  let connectSeconds = 0
  if (opts.socket) {
    raw = opts.socket
  } else {
    ;({ socket: raw, resolveSeconds, connectSeconds } = await connectTcp({
      host,
      port: opts.port,
      localAddress: opts.localAddress,
      signal,
    }))
  }
  // Once wrapped, the TLS socket reports the connection's errors; the plain one goes with it.
  raw.on('error', () => {})

  const t0 = performance.now()
  const socket = tls.connect({
    socket: raw,
    // RFC 6066: SNI carries host names only.
    servername: net.isIP(name) ? undefined : name,
    secureContext: secureContextFor(opts.ca),
    rejectUnauthorized: false,
    // Verification (chain and name) is judged in describeTls, never by refusing the handshake.
    checkServerIdentity: () => undefined,
    ALPNProtocols: opts.alpn,
  })
  destroyOnAbort(socket, signal)
  markWrappedByTls(raw)
  socket.once('close', () => raw.destroy())

  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      socket.destroy()
      raw.destroy()
      reject(handshakeError(err, signal, target))
    }
    const onError = (err: Error) => fail(err)
    const onClose = () => fail(Object.assign(new Error('closed'), { code: 'ECONNRESET' }))
    socket.once('error', onError)
    socket.once('close', onClose)
    socket.once('secureConnect', () => {
      socket.off('error', onError)
      socket.off('close', onClose)
      resolve()
    })
  })
  const tlsSeconds = (performance.now() - t0) / 1000

  const info = describeTls(socket, name, opts.ca)
  return { socket, info, verified: info.chain_valid && info.hostname_valid, resolveSeconds, connectSeconds, tlsSeconds }
}

function handshakeError(err: unknown, signal: AbortSignal, target: string): NetError {
  const classified = toNetError(err, signal, target)
  if (classified.code === 'CONNECTION_RESET') {
    return new NetError(classified.code, `connection closed by ${target} during the TLS handshake`, { cause: err })
  }
  return classified
}

/** Several CA bundles (the agent's ctx.ca, a check's tls.ca), all trusted. */
export function joinCa(...bundles: (string | undefined)[]): string | undefined {
  const present = bundles.filter((b): b is string => !!b && b.trim() !== '')
  return present.length ? present.join('\n') : undefined
}

// A secure context per extra CA bundle: loading ~150 system roots costs milliseconds, so reuse.
const contexts = new Map<string, tls.SecureContext>()

function secureContextFor(ca: string | undefined): tls.SecureContext | undefined {
  if (!ca) return undefined // Node's default store (system roots plus NODE_EXTRA_CA_CERTS)
  let ctx = contexts.get(ca)
  if (!ctx) {
    if (contexts.size >= 32) contexts.clear()
    ctx = tls.createSecureContext({ ca: [...tls.rootCertificates, ca] })
    contexts.set(ca, ctx)
  }
  return ctx
}

// describeTls consumes the peer chain (see below), so remember each socket's answer.
const described = new WeakMap<tls.TLSSocket, TlsInfo>()

/**
 * What the server presented and whether it verifies, on a socket whose handshake is complete.
 * Chain validity is OpenSSL's verdict against the socket's trust store (system roots plus the
 * extra CA given to dialTls); the host name is checked here, even when the chain is invalid.
 * Call it once per socket and before any other getPeerCertificate(): Node 20's
 * getPeerX509Certificate() empties the session's peer chain.
 */
export function describeTls(socket: tls.TLSSocket, servername: string, trustedCa?: string): TlsInfo {
  const known = described.get(socket)
  if (known) return known

  const name = unbracket(servername)
  // First the non-destructive view: the server's certificates linked by issuer, followed by the
  // local issuers Node found in the trust store (the trust anchor).
  const peer = socket.getPeerCertificate(true)
  const hasPeer = Object.keys(peer).length > 0
  const linked = hasPeer ? issuerChain(peer) : []
  // Then exactly the certificates the server sent, in its order: getPeerX509Certificate() walks
  // the peer chain and nothing else.
  let sent = sentChain(socket.getPeerX509Certificate())
  if (sent.length === 0 && linked.length > 0) sent = guessSent(linked, trustedCa)

  const chainError = socket.authorized ? null : authorizationCode(socket.authorizationError)
  const hostnameValid = hasPeer && tls.checkServerIdentity(name, peer) === undefined
  const chainValid = hasPeer && chainError === null
  const verified = chainValid && hostnameValid
  const chain = sent.map(certInfo)
  const cipher = socket.getCipher()

  const info: TlsInfo = {
    version: tlsVersion(socket.getProtocol()),
    cipher: cipher.standardName ?? cipher.name,
    alpn: socket.alpnProtocol || null,
    chain_valid: chainValid,
    hostname_valid: hostnameValid,
    verify_error: chainError ?? (hostnameValid ? null : 'ERR_TLS_CERT_ALTNAME_INVALID'),
    // blackbox's probe_ssl_earliest_cert_expiry: the sent certificates only.
    earliest_cert_expiry: minOf(chain.map((c) => c.not_after)),
    // probe_ssl_last_chain_expiry_timestamp_seconds: the chain up to the local anchor, and only
    // when it verified (Go has no verified chain on a name mismatch either).
    last_chain_expiry: verified ? minOf(linked.map((c) => parseTime(c.valid_to))) : null,
    leaf: chain[0] ?? null,
    chain,
  }
  described.set(socket, info)
  return info
}

function issuerChain(leaf: tls.DetailedPeerCertificate): tls.DetailedPeerCertificate[] {
  const out: tls.DetailedPeerCertificate[] = []
  // A self-issued certificate is its own issuerCertificate: stop there.
  for (let c: tls.DetailedPeerCertificate | undefined = leaf; c && c.raw && !out.includes(c); c = c.issuerCertificate) {
    out.push(c)
  }
  return out
}

function sentChain(leaf: X509Certificate | undefined): X509Certificate[] {
  const out: X509Certificate[] = []
  for (let c = leaf; c && out.length < 32; c = c.issuerCertificate) out.push(c)
  return out
}

// Fallback for a Node whose getPeerX509Certificate() has no chain: Node appends only issuers
// found locally, and those end in a self-issued trust anchor. So a trailing self-issued
// certificate (not the leaf) that is in our trust store is taken as the local anchor, not as
// sent. A server that also sends that trusted root is then under-reported, a rare case.
function guessSent(linked: tls.DetailedPeerCertificate[], trustedCa?: string): X509Certificate[] {
  const certs = linked.map((c) => new X509Certificate(c.raw))
  const last = certs[certs.length - 1]
  if (certs.length > 1 && last.checkIssued(last) && isTrusted(last, trustedCa)) certs.pop()
  return certs
}

function isTrusted(cert: X509Certificate, trustedCa?: string): boolean {
  const pems = [...tls.rootCertificates, ...(trustedCa ? splitPem(trustedCa) : [])]
  return pems.some((pem) => {
    try {
      return new X509Certificate(pem).fingerprint256 === cert.fingerprint256
    } catch {
      return false
    }
  })
}

function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}

// Node types authorizationError as Error but sets the OpenSSL code string (e.g. CERT_HAS_EXPIRED).
function authorizationCode(err: unknown): string {
  if (typeof err === 'string' && err) return err
  if (err instanceof Error) return (err as Error & { code?: string }).code ?? err.message
  return 'CERT_VERIFY_FAILED'
}

function certInfo(c: X509Certificate): CertInfo {
  return {
    subject: formatDn(c.subject),
    issuer: formatDn(c.issuer),
    not_before: parseTime(c.validFrom),
    not_after: parseTime(c.validTo),
    dns_names: sanNames(c.subjectAltName),
    fingerprint_sha256: c.fingerprint256.replaceAll(':', '').toLowerCase(),
    serial: c.serialNumber.toLowerCase(),
  }
}

// Node prints a name one RDN per line, in certificate order (RFC 2253-escaped values); the
// usual string form ("CN=...,O=...", as Go's pkix.Name.String) lists them most specific first.
function formatDn(multiline: string): string {
  return multiline.split('\n').filter(Boolean).reverse().join(',')
}

// "DNS:a, IP Address:127.0.0.1, DNS:\"odd,name\"": Node quotes values with special characters.
function sanNames(san: string | undefined): string[] {
  const names: string[] = []
  for (const m of (san ?? '').matchAll(/([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g)) {
    const value = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2]
    if (m[1] === 'DNS') names.push(value)
    else if (m[1] === 'IP Address') names.push(canonicalIp(value))
  }
  return names
}

// OpenSSL prints IPv6 uncompressed (0:0:0:0:0:0:0:1); report the usual form (::1).
function canonicalIp(ip: string): string {
  if (!net.isIPv6(ip)) return ip
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1)
  } catch {
    return ip
  }
}

function parseTime(opensslTime: string): number {
  return Math.floor(Date.parse(opensslTime) / 1000)
}

function minOf(values: number[]): number | null {
  const finite = values.filter(Number.isFinite)
  return finite.length ? Math.min(...finite) : null
}

function tlsVersion(protocol: string | null): string {
  if (!protocol) return ''
  const m = /^TLSv(\d)(?:\.(\d))?$/.exec(protocol)
  return m ? `TLS ${m[1]}.${m[2] ?? '0'}` : protocol
}

/**
 * The failure to report for a handshake that completed but did not verify. `servername` is
 * the name that was checked, for the hostname-mismatch message.
 */
export function verifyFailure(
  info: TlsInfo,
  servername?: string,
  nowSeconds = Date.now() / 1000,
): { error: string; error_code: ErrorCode } {
  const code = info.verify_error ?? (info.hostname_valid ? 'CERT_VERIFY_FAILED' : 'ERR_TLS_CERT_ALTNAME_INVALID')
  const error_code: ErrorCode = isErrorCode(code) ? code : 'CERT_VERIFY_FAILED'
  const chain = info.chain ?? (info.leaf ? [info.leaf] : [])
  const leaf = info.leaf
  const who = (c: CertInfo | null | undefined) => c?.subject || 'no subject'
  const iso = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z')
  const last = chain[chain.length - 1]

  switch (code) {
    case 'CERT_HAS_EXPIRED': {
      const c = chain.find((x) => x.not_after < nowSeconds)
      if (!c) return { error_code, error: 'a certificate in the chain has expired (the trust anchor)' }
      return { error_code, error: `certificate has expired (${who(c)}, not after ${iso(c.not_after)})` }
    }
    case 'CERT_NOT_YET_VALID': {
      const c = chain.find((x) => x.not_before > nowSeconds)
      if (!c) return { error_code, error: 'a certificate in the chain is not yet valid (the trust anchor)' }
      return { error_code, error: `certificate is not yet valid (${who(c)}, not before ${iso(c.not_before)})` }
    }
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return { error_code, error: `self-signed certificate (${who(leaf)})` }
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return { error_code, error: `self-signed certificate in the chain is not trusted (${who(last)})` }
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return { error_code, error: `certificate issuer is not trusted (unknown issuer ${last?.issuer || '?'} of ${who(leaf)})` }
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return { error_code, error: `incomplete chain: the server did not send the issuer ${leaf?.issuer || '?'} of ${who(leaf)}` }
    case 'ERR_TLS_CERT_ALTNAME_INVALID': {
      const names = leaf?.dns_names.length ? leaf.dns_names.join(', ') : 'none'
      const host = servername ? `"${unbracket(servername)}"` : 'the host name'
      return { error_code, error: `certificate does not match ${host} (certificate names: ${names}; ${who(leaf)})` }
    }
    default:
      return { error_code, error: `certificate verification failed: ${code} (${who(leaf)})` }
  }
}
