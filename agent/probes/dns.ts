// DNS probe: one query to one server, over UDP (retried over TCP when truncated) or TCP.
// Reports the rcode and the answers of the asked type, formatted as dig users read them.
import dgram from 'node:dgram'
import { getServers } from 'node:dns'
import { randomInt } from 'node:crypto'
import net from 'node:net'
import dnsPacket from 'dns-packet'
import type { DecodedPacket, RecordType } from 'dns-packet'
import type { DnsOptions, DnsRecordType } from '../../proto/check.ts'
import type { DnsInfo, ProbeOutcome } from '../../proto/result.ts'
import type { ErrorCode } from '../../proto/errors.ts'
import type { Probe } from '../core/probe.ts'
import { classifyNetError, NetError } from './net-errors.ts'

const RECORD_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'MX', 'TXT', 'CNAME', 'NS']
/** EDNS(0) buffer size recommended by DNS Flag Day 2020: avoids IP fragmentation. */
const EDNS_UDP_SIZE = 1232

export interface DnsServer {
  host: string
  port: number
  family: 4 | 6
}

export const probeDns: Probe = async (check, ctx) => {
  const opts: DnsOptions = check.dns ?? {}
  const name = check.target.trim().replace(/\.$/, '')
  if (!name || /\s/.test(name)) return failure('INVALID_TARGET', `not a DNS name: "${check.target}"`)
  const type = opts.record_type ?? 'A'
  if (!RECORD_TYPES.includes(type)) return failure('INVALID_TARGET', `unsupported record type "${type}"`)
  const serverText = opts.server ?? getServers()[0]
  if (!serverText) return failure('DNS_RESOLVE_FAILED', 'no DNS server configured on this host (set dns.server)')
  const server = parseServer(serverText)
  if (!server) return failure('INVALID_TARGET', `DNS server must be IP, IP:PORT or [IPv6]:PORT, got "${serverText}"`)

  const source = ctx.source_address
  if (source && net.isIP(source) !== server.family) {
    return failure('SOURCE_ADDRESS_UNAVAILABLE', `source address ${source} cannot reach DNS server ${formatServer(server)} (IPv${server.family})`)
  }

  let transport = opts.transport ?? 'udp'
  let response: DecodedPacket
  try {
    response = await exchange(transport, server, name, type, source, ctx.signal)
    // A truncated UDP answer is incomplete: ask again over TCP, as resolvers do.
    if (transport === 'udp' && response.flag_tc) {
      transport = 'tcp'
      response = await exchange(transport, server, name, type, source, ctx.signal)
    }
  } catch (err) {
    if (err instanceof MalformedResponse) return failure('DNS_MALFORMED_RESPONSE', err.message)
    return { success: false, challenged: false, ...classifyNetError(err, ctx.signal, formatServer(server)) }
  }

  const rcode = rcodeOf(response)
  const answers = (response.answers ?? []).filter((a) => a.type === type).map(formatAnswer)
  const dns: DnsInfo = { rcode, answers, server: formatServer(server), transport }

  const expectedRcodes = (opts.expect_rcode ?? ['NOERROR']).map((r) => r.toUpperCase())
  if (!expectedRcodes.includes(rcode)) {
    const error = `${rcode} for ${name} ${type} from ${dns.server} (expected ${expectedRcodes.join(' or ')})`
    return { ...failure('DNS_RCODE_UNEXPECTED', error), dns }
  }
  const expect = opts.expect ?? []
  if (expect.length > 0) {
    const mode = opts.expect_mode ?? 'all'
    const got = new Set(answers.map((a) => normalize(a, type)))
    const found = expect.filter((e) => got.has(normalize(e, type)))
    const ok = mode === 'all' ? found.length === expect.length : found.length > 0
    if (!ok) {
      const error = `expected ${mode} of [${expect.join(', ')}], got [${answers.join(', ')}]`
      return { ...failure('DNS_ANSWER_MISMATCH', error), dns }
    }
  }
  return { success: true, challenged: false, dns }
}

/** "IP", "IP:PORT", "[IPv6]:PORT" or a bare IPv6 address (as node:dns getServers() prints them). */
export function parseServer(text: string): DnsServer | null {
  let host = text.trim()
  let port = 53
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(host)
  const v4WithPort = /^([^:]+):(\d+)$/.exec(host)
  if (bracketed) {
    host = bracketed[1]
    if (bracketed[2]) port = Number(bracketed[2])
  } else if (v4WithPort) {
    host = v4WithPort[1]
    port = Number(v4WithPort[2])
  }
  const family = net.isIP(host)
  if ((family !== 4 && family !== 6) || port < 1 || port > 65535) return null
  return { host, port, family }
}

function formatServer(s: DnsServer): string {
  return s.family === 6 ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`
}

/** Sends one query and returns the decoded response, after checking that it answers that query. */
async function exchange(
  transport: 'udp' | 'tcp',
  server: DnsServer,
  name: string,
  type: RecordType,
  localAddress: string | undefined,
  signal: AbortSignal,
): Promise<DecodedPacket> {
  const id = randomInt(0, 0x10000)
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  })
  const raw = await (transport === 'udp' ? udpExchange : tcpExchange)(server, query, localAddress, signal)
  let response: DecodedPacket
  try {
    response = dnsPacket.decode(raw)
  } catch (err) {
    throw new MalformedResponse(`undecodable DNS response (${raw.length} bytes): ${(err as Error).message}`)
  }
  if (!response.flag_qr) throw new MalformedResponse('the server sent a query, not a response')
  if (response.id !== id) throw new MalformedResponse(`response id ${response.id} does not match query id ${id}`)
  const q = response.questions?.[0]
  // The question section may be empty on some error responses (FORMERR); when present it must match.
  if (q && (q.name.replace(/\.$/, '').toLowerCase() !== name.toLowerCase() || q.type !== type)) {
    throw new MalformedResponse(`response is for ${q.name} ${q.type}, not ${name} ${type}`)
  }
  return response
}

function udpExchange(server: DnsServer, query: Buffer, localAddress: string | undefined, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(server.family === 6 ? 'udp6' : 'udp4')
    const close = () => {
      try {
        socket.close()
      } catch {
        // already closed
      }
    }
    const { settle } = settler(signal, close, resolve, reject)
    socket.on('error', (err) => settle(err))
    // A connected socket only accepts datagrams from the server and surfaces ICMP
    // port-unreachable as ECONNREFUSED instead of waiting for the deadline.
    socket.on('message', (msg) => settle(null, msg))
    socket.bind({ address: localAddress, port: 0 }, () => {
      socket.connect(server.port, server.host, () => socket.send(query, (err) => err && settle(err)))
    })
  })
}

function tcpExchange(server: DnsServer, query: Buffer, localAddress: string | undefined, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port, localAddress })
    const { settle } = settler(signal, () => socket.destroy(), resolve, reject)
    let buffered = Buffer.alloc(0)
    socket.on('connect', () => {
      const framed = Buffer.alloc(2 + query.length)
      framed.writeUInt16BE(query.length, 0)
      query.copy(framed, 2)
      socket.write(framed)
    })
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length < 2) return
      const length = buffered.readUInt16BE(0)
      if (buffered.length >= 2 + length) settle(null, buffered.subarray(2, 2 + length))
    })
    socket.on('error', (err) => settle(err))
    socket.on('close', () => {
      settle(new NetError('CONNECTION_RESET', `DNS server ${formatServer(server)} closed the TCP connection before answering`))
    })
  })
}

/** Settles a socket exchange once: always closes the socket, and aborts with the signal. */
function settler(
  signal: AbortSignal,
  close: () => void,
  resolve: (b: Buffer) => void,
  reject: (e: unknown) => void,
): { settle: (err: unknown, value?: Buffer) => void } {
  let done = false
  const settle = (err: unknown, value?: Buffer) => {
    if (done) return
    done = true
    signal.removeEventListener('abort', onAbort)
    close()
    if (err || !value) reject(err)
    else resolve(value)
  }
  const onAbort = () => settle(signal.reason)
  if (signal.aborted) queueMicrotask(onAbort)
  else signal.addEventListener('abort', onAbort, { once: true })
  return { settle }
}

function rcodeOf(p: DecodedPacket): string {
  // dns-packet decodes the rcode (as text) but its types do not declare it.
  return String((p as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR').toUpperCase()
}

type AnswerOf = NonNullable<DecodedPacket['answers']>[number]

function formatAnswer(a: AnswerOf): string {
  switch (a.type) {
    case 'A':
    case 'AAAA':
      return a.data
    case 'CNAME':
    case 'NS':
      return stripDot(a.data)
    case 'MX':
      return `${a.data.preference ?? 0} ${stripDot(a.data.exchange)}`
    case 'TXT': {
      // One TXT record may hold several character-strings; SPF and DKIM read them concatenated.
      const parts = Array.isArray(a.data) ? a.data : [a.data]
      return parts.map((p) => (typeof p === 'string' ? p : p.toString('utf8'))).join('')
    }
    default:
      return ''
  }
}

/** Compares as DNS does: names case-insensitively without the root dot, IPv6 in canonical form. */
function normalize(value: string, type: DnsRecordType): string {
  const v = value.trim()
  switch (type) {
    case 'TXT':
      return v
    case 'AAAA':
      return canonicalIpv6(v)
    case 'MX':
      return v.split(/\s+/).map(stripDot).join(' ').toLowerCase()
    default:
      return stripDot(v).toLowerCase()
  }
}

function canonicalIpv6(v: string): string {
  try {
    // The WHATWG URL parser prints IPv6 hosts in RFC 5952 canonical form.
    return new URL(`http://[${v}]/`).hostname.slice(1, -1)
  } catch {
    return v.toLowerCase()
  }
}

function stripDot(s: string): string {
  return s.length > 1 ? s.replace(/\.$/, '') : s
}

function failure(error_code: ErrorCode, error: string): ProbeOutcome {
  return { success: false, challenged: false, error, error_code }
}

class MalformedResponse extends Error {}
