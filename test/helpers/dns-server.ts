// A tiny authoritative DNS server for tests: UDP and TCP on the same 127.0.0.1 port,
// answering from a zone given as data (dns-packet on the wire, nothing mocked).
import dgram from 'node:dgram'
import net from 'node:net'
import { once } from 'node:events'
import dnsPacket from 'dns-packet'
import type { Answer, DecodedPacket } from 'dns-packet'

/** One record without its owner name, e.g. `{ type: 'A', data: '192.0.2.1' }`. */
export type ZoneRecord =
  | { type: 'A' | 'AAAA' | 'CNAME' | 'NS'; data: string }
  | { type: 'MX'; data: { preference: number; exchange: string } }
  | { type: 'TXT'; data: string | string[] }

/** Records by owner name (no trailing dot). */
export type Zone = Record<string, ZoneRecord[]>

export interface DnsServerOptions {
  zone: Zone
  /** Over UDP, answer every query with the TC bit set and no records, so clients must retry over TCP. */
  truncateUdp?: boolean
  /** Read queries but never answer (UDP and TCP). */
  silent?: boolean
}

export interface SeenQuery {
  transport: 'udp' | 'tcp'
  /** The client's address, e.g. 127.0.0.2 when the probe binds a source address. */
  from: string
  name: string
  type: string
}

export interface TestDnsServer {
  host: string
  port: number
  /** "127.0.0.1:PORT", the form `dns.server` takes. */
  address: string
  queries: SeenQuery[]
  close(): Promise<void>
}

export async function startDnsServer(opts: DnsServerOptions): Promise<TestDnsServer> {
  const host = '127.0.0.1'
  const queries: SeenQuery[] = []
  // UDP takes a free port, then TCP must get the same one; retry in the rare case it is taken.
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket('udp4')
    udp.bind(0, host)
    await once(udp, 'listening')
    const port = udp.address().port
    const tcp = net.createServer()
    try {
      tcp.listen(port, host)
      await once(tcp, 'listening')
    } catch (err) {
      udp.close()
      if (attempt < 5) continue
      throw err
    }
    const sockets = new Set<net.Socket>()
    udp.on('message', (msg, rinfo) => {
      const query = decode(msg)
      if (!query) return
      queries.push(seen('udp', rinfo.address, query))
      if (opts.silent) return
      udp.send(respond(opts.zone, query, opts.truncateUdp === true), rinfo.port, rinfo.address)
    })
    tcp.on('connection', (socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => socket.destroy())
      let buffered = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        // Several length-prefixed queries may arrive on one connection.
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const length = buffered.readUInt16BE(0)
          const query = decode(buffered.subarray(2, 2 + length))
          buffered = buffered.subarray(2 + length)
          if (!query) return socket.destroy()
          queries.push(seen('tcp', socket.remoteAddress ?? '', query))
          if (opts.silent) continue
          const reply = respond(opts.zone, query, false)
          const framed = Buffer.alloc(2 + reply.length)
          framed.writeUInt16BE(reply.length, 0)
          reply.copy(framed, 2)
          socket.write(framed)
        }
      })
    })
    return {
      host,
      port,
      address: `${host}:${port}`,
      queries,
      async close() {
        for (const s of sockets) s.destroy()
        await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))])
      },
    }
  }
}

function decode(msg: Buffer): DecodedPacket | null {
  try {
    return dnsPacket.decode(msg)
  } catch {
    return null
  }
}

function seen(transport: 'udp' | 'tcp', from: string, q: DecodedPacket): SeenQuery {
  const question = q.questions?.[0]
  return { transport, from, name: question?.name ?? '', type: question?.type ?? '' }
}

const RCODE_NXDOMAIN = 3

function respond(zone: Zone, query: DecodedPacket, truncate: boolean): Buffer {
  const question = query.questions?.[0]
  const base = { type: 'response' as const, id: query.id, questions: query.questions }
  if (!question) return dnsPacket.encode({ ...base, flags: 1 /* FORMERR */ })
  if (truncate) return dnsPacket.encode({ ...base, flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.TRUNCATED_RESPONSE })
  const answers: Answer[] = []
  let name = question.name.toLowerCase()
  // Follow CNAMEs inside the zone, the way an authoritative server answers for an alias.
  for (let hops = 0; hops < 8; hops++) {
    const records = lookup(zone, name)
    if (!records) break
    const cname = records.find((r) => r.type === 'CNAME')
    const matching = records.filter((r) => r.type === question.type)
    answers.push(...matching.map((r) => withName(r, name)))
    if (!cname || question.type === 'CNAME' || matching.length > 0) break
    answers.push(withName(cname, name))
    name = String(cname.data).toLowerCase()
  }
  const exists = lookup(zone, question.name.toLowerCase()) !== undefined
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | (exists ? 0 : RCODE_NXDOMAIN)
  return dnsPacket.encode({ ...base, flags, answers })
}

function lookup(zone: Zone, name: string): Zone[string] | undefined {
  const key = Object.keys(zone).find((k) => k.toLowerCase().replace(/\.$/, '') === name.replace(/\.$/, ''))
  return key === undefined ? undefined : zone[key]
}

function withName(record: ZoneRecord, name: string): Answer {
  // dns-packet's TXT encoder rewrites its data array in place: hand it a copy.
  const data = Array.isArray(record.data) ? [...record.data] : record.data
  return { ...record, data, ttl: 60, name } as Answer
}
