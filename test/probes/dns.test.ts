import dgram from 'node:dgram'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { probeDns } from '../../agent/probes/dns.ts'
import { runProbe } from '../../agent/core/run.ts'
import { nullLogger, systemClock } from '../../agent/core/probe.ts'
import type { CheckSpec, DnsOptions } from '../../proto/check.ts'
import { startDnsServer, type TestDnsServer, type Zone } from '../helpers/dns-server.ts'

const zone: Zone = {
  'example.test': [
    { type: 'A', data: '192.0.2.1' },
    { type: 'A', data: '192.0.2.2' },
    { type: 'AAAA', data: '2001:db8::1' },
    { type: 'MX', data: { preference: 10, exchange: 'mail.example.test' } },
    { type: 'MX', data: { preference: 20, exchange: 'backup.example.test' } },
    { type: 'TXT', data: ['v=spf1 ', '-all'] },
    { type: 'NS', data: 'ns1.example.test' },
  ],
  'www.example.test': [{ type: 'CNAME', data: 'example.test' }],
  'mail.example.test': [{ type: 'A', data: '192.0.2.25' }],
}

const identity = { agent_id: 't-1', vantage: 'test', region: 'test' }

function run(target: string, dns: DnsOptions, timeout_ms = 5000) {
  const check: CheckSpec = { name: 'dns-test', type: 'dns', target, interval_ms: 60_000, timeout_ms, dns }
  return runProbe(probeDns, check, { identity, logger: nullLogger, clock: systemClock, agent_id: identity.agent_id, secrets: {} })
}

describe('dns probe', () => {
  let server: TestDnsServer
  beforeAll(async () => {
    server = await startDnsServer({ zone })
  })
  afterAll(() => server.close())

  it.each([
    ['A', 'example.test', ['192.0.2.1', '192.0.2.2']],
    ['AAAA', 'example.test', ['2001:db8::1']],
    ['MX', 'example.test', ['10 mail.example.test', '20 backup.example.test']],
    ['TXT', 'example.test', ['v=spf1 -all']],
    ['NS', 'example.test', ['ns1.example.test']],
    ['CNAME', 'www.example.test', ['example.test']],
  ] as const)('answers %s queries', async (record_type, name, answers) => {
    const r = await run(name, { record_type, server: server.address })
    expect(r.success).toBe(true)
    expect(r.error_code ?? null).toBeNull()
    expect(r.dns).toEqual({ rcode: 'NOERROR', answers: [...answers], server: server.address, transport: 'udp' })
  })

  it('counts only answers of the asked type (an A query through a CNAME)', async () => {
    const r = await run('www.example.test', { server: server.address, expect: ['192.0.2.1'] })
    expect(r.success).toBe(true)
    expect(r.dns?.answers).toEqual(['192.0.2.1', '192.0.2.2'])
  })

  it('expect all: passes when every value is present, names compared without case or root dot', async () => {
    const r = await run('example.test', {
      record_type: 'MX',
      server: server.address,
      expect: ['10 MAIL.example.test.', '20 backup.example.test'],
    })
    expect(r.success).toBe(true)
  })

  it('expect all: fails when one value is missing, naming expected and got', async () => {
    const r = await run('example.test', { server: server.address, expect: ['192.0.2.1', '192.0.2.9'] })
    expect(r.success).toBe(false)
    expect(r.error_code).toBe('DNS_ANSWER_MISMATCH')
    expect(r.error).toContain('192.0.2.9')
    expect(r.error).toContain('192.0.2.2')
    expect(r.dns?.answers).toEqual(['192.0.2.1', '192.0.2.2'])
  })

  it('expect any: passes with one match, fails with none', async () => {
    const pass = await run('example.test', { server: server.address, expect: ['192.0.2.9', '192.0.2.2'], expect_mode: 'any' })
    expect(pass.success).toBe(true)
    const fail = await run('example.test', { server: server.address, expect: ['192.0.2.8', '192.0.2.9'], expect_mode: 'any' })
    expect(fail.success).toBe(false)
    expect(fail.error_code).toBe('DNS_ANSWER_MISMATCH')
  })

  it('compares IPv6 answers in canonical form', async () => {
    const r = await run('example.test', { record_type: 'AAAA', server: server.address, expect: ['2001:0DB8:0:0::1'] })
    expect(r.success).toBe(true)
  })

  it('NXDOMAIN fails with DNS_RCODE_UNEXPECTED, naming the rcode and the name', async () => {
    const r = await run('nope.example.test', { server: server.address })
    expect(r.success).toBe(false)
    expect(r.error_code).toBe('DNS_RCODE_UNEXPECTED')
    expect(r.error).toContain('NXDOMAIN')
    expect(r.error).toContain('nope.example.test')
    expect(r.dns).toMatchObject({ rcode: 'NXDOMAIN', answers: [] })
  })

  it('NXDOMAIN succeeds when expect_rcode includes it', async () => {
    const r = await run('nope.example.test', { server: server.address, expect_rcode: ['NXDOMAIN'] })
    expect(r.success).toBe(true)
    expect(r.dns?.rcode).toBe('NXDOMAIN')
  })

  it('queries over TCP when asked', async () => {
    const r = await run('example.test', { record_type: 'MX', server: server.address, transport: 'tcp' })
    expect(r.success).toBe(true)
    expect(r.dns).toMatchObject({ transport: 'tcp', answers: ['10 mail.example.test', '20 backup.example.test'] })
  })

  it('binds the source address: the server sees 127.0.0.2', async () => {
    const before = server.queries.length
    const check: CheckSpec = { name: 'dns-src', type: 'dns', target: 'example.test', interval_ms: 60_000, timeout_ms: 5000, dns: { server: server.address } }
    const opts = { identity, logger: nullLogger, clock: systemClock, agent_id: 't-1', secrets: {}, source_address: '127.0.0.2' }
    const udp = await runProbe(probeDns, check, opts)
    const tcp = await runProbe(probeDns, { ...check, dns: { ...check.dns, transport: 'tcp' } }, opts)
    expect(udp.success && tcp.success).toBe(true)
    expect(server.queries.slice(before).map((q) => [q.transport, q.from])).toEqual([
      ['udp', '127.0.0.2'],
      ['tcp', '127.0.0.2'],
    ])
  })

  it('reports a source address that is not local', async () => {
    const check: CheckSpec = { name: 'dns-src', type: 'dns', target: 'example.test', interval_ms: 60_000, timeout_ms: 5000, dns: { server: server.address } }
    const r = await runProbe(probeDns, check, { identity, logger: nullLogger, clock: systemClock, agent_id: 't-1', secrets: {}, source_address: '192.0.2.55' })
    expect(r.error_code).toBe('SOURCE_ADDRESS_UNAVAILABLE')
  })

  it('rejects a server that is not an IP', async () => {
    const r = await run('example.test', { server: 'ns.example.test:53' })
    expect(r.error_code).toBe('INVALID_TARGET')
  })
})

describe('dns probe against a truncating server', () => {
  let server: TestDnsServer
  beforeAll(async () => {
    server = await startDnsServer({ zone, truncateUdp: true })
  })
  afterAll(() => server.close())

  it('retries over TCP and reports the full answer with transport tcp', async () => {
    const r = await run('example.test', { server: server.address, expect: ['192.0.2.1', '192.0.2.2'] })
    expect(r.success).toBe(true)
    expect(r.dns).toMatchObject({ rcode: 'NOERROR', answers: ['192.0.2.1', '192.0.2.2'], transport: 'tcp' })
    expect(server.queries.map((q) => q.transport)).toEqual(['udp', 'tcp'])
  })
})

describe('dns probe against a silent server', () => {
  let server: TestDnsServer
  beforeAll(async () => {
    server = await startDnsServer({ zone, silent: true })
  })
  afterAll(() => server.close())

  it.each(['udp', 'tcp'] as const)('times out over %s', async (transport) => {
    const r = await run('example.test', { server: server.address, transport }, 300)
    expect(r.success).toBe(false)
    expect(r.error_code).toBe('TIMEOUT')
    expect(r.duration_seconds).toBeLessThan(2)
  })
})

describe('dns probe against a broken server', () => {
  // A raw UDP socket that answers every query with `reply(query)`.
  async function rawServer(reply: (query: Buffer) => Buffer) {
    const socket = dgram.createSocket('udp4')
    socket.on('message', (msg, rinfo) => socket.send(reply(msg), rinfo.port, rinfo.address))
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    return { address: `127.0.0.1:${socket.address().port}`, close: () => new Promise<void>((r) => socket.close(() => r())) }
  }

  it('garbage → DNS_MALFORMED_RESPONSE', async () => {
    const server = await rawServer(() => Buffer.from('not dns'))
    try {
      const r = await run('example.test', { server: server.address })
      expect(r.error_code).toBe('DNS_MALFORMED_RESPONSE')
    } finally {
      await server.close()
    }
  })

  it('a response with another id → DNS_MALFORMED_RESPONSE', async () => {
    const server = await rawServer((q) => {
      const r = Buffer.from(q)
      r.writeUInt16BE((q.readUInt16BE(0) + 1) & 0xffff, 0)
      r[2] |= 0x80 // QR: a response
      return r
    })
    try {
      const r = await run('example.test', { server: server.address })
      expect(r.error_code).toBe('DNS_MALFORMED_RESPONSE')
      expect(r.error).toContain('does not match query id')
    } finally {
      await server.close()
    }
  })
})
