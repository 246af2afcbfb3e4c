import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import { describe, expect, it } from 'vitest'
import type { ResultBatch } from '../../proto/batch.ts'
import {
  CodecError,
  decodeBatch,
  decodePushAck,
  decodeResult,
  decodeSignedBatch,
  encodeBatch,
  encodePushAck,
  encodeResult,
  encodeSignedBatch,
  root,
} from '../../proto/codec.ts'
import { descriptorModule, descriptorOf } from '../../proto/gen-descriptor.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { VANTAGE_DESCRIPTOR } from '../../proto/vantage.descriptor.ts'
import { batchOf, fullResult, minimalResult } from './fixtures.ts'

const PROTO_FILE = fileURLToPath(new URL('../../proto/vantage.proto', import.meta.url))
const DESCRIPTOR_FILE = fileURLToPath(new URL('../../proto/vantage.descriptor.ts', import.meta.url))

const batchWith = (...results: ProbeResult[]): ResultBatch => ({
  agent_id: 'eu-1',
  vantage: 'eu-west',
  seq: 42,
  sent_at: 1_795_000_000_123,
  results,
  dropped: 7,
})

const roundTrip = (result: ProbeResult): ProbeResult => decodeBatch(encodeBatch(batchWith(result))).results[0]

function rejected(fn: () => unknown): CodecError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError)
    return err as CodecError
  }
  throw new Error('expected a CodecError, nothing was thrown')
}

describe('round trip', () => {
  it('keeps every field of a fully populated result', () => {
    const batch = batchWith(fullResult)
    const decoded = decodeBatch(encodeBatch(batch))
    expect(decoded).toStrictEqual(batch)
    expect(Object.keys(decoded.results[0].http!.headers!)).toContain('__proto__')
    expect(Object.getPrototypeOf(decoded.results[0].http!.headers)).toBe(Object.prototype)
  })

  it('adds nothing to a minimal result: absent stays absent, zeros stay zeros', () => {
    const decoded = roundTrip(minimalResult)
    expect(decoded).toStrictEqual(minimalResult)
    expect(Object.keys(decoded).sort()).toEqual(Object.keys(minimalResult).sort())
  })

  // null, absent, false/0/"" and []/{} are four different things in the JSON, and stay so.
  it.each([
    ['error', null],
    ['error', ''],
    ['error_code', null],
    ['degraded', false],
    ['vantage_impaired', false],
    ['steps', []],
    ['steps', [{ name: '', success: false, challenged: false, duration_seconds: 0 }]],
    ['steps', [{ name: 's', success: false, challenged: false, duration_seconds: 0, status_code: null, error: null, checks: {} }]],
    ['steps', [{ name: 's', success: false, challenged: false, duration_seconds: 0, status_code: 0, error: '', error_code: '' }]],
    ['http', { status_code: 0, http_version: '', redirects: 0, final_url: '', body_bytes: 0, phases: { resolve: 0, connect: 0, tls: 0, processing: 0, transfer: 0 } }],
    ['http', { status_code: 200, http_version: '1.1', redirects: 0, final_url: 'x', body_bytes: 0, phases: { resolve: -0, connect: 0, tls: 0, processing: 0, transfer: 0 }, headers: {} }],
    ['tls', { version: '', cipher: '', chain_valid: false, hostname_valid: false, verify_error: null, earliest_cert_expiry: null, leaf: null }],
    ['tls', { version: 'TLS 1.2', cipher: 'c', alpn: null, chain_valid: false, hostname_valid: false, verify_error: '', earliest_cert_expiry: 0, last_chain_expiry: null, leaf: null, chain: [] }],
    ['tls', { version: 'TLS 1.2', cipher: 'c', alpn: '', chain_valid: true, hostname_valid: true, verify_error: null, earliest_cert_expiry: null, last_chain_expiry: 0, leaf: { subject: '', issuer: '', not_before: 0, not_after: 0, dns_names: [], fingerprint_sha256: '' } }],
    ['smtp', { banner: '', banner_code: 0, extensions: [], starttls: false }],
    ['dns', { rcode: 'NXDOMAIN', answers: [] }],
    ['dns', { rcode: 'NOERROR', answers: [''], server: '', transport: 'udp' }],
  ] as const)('%s = %j', (key, value) => {
    const result = { ...minimalResult, [key]: value } as ProbeResult
    expect(roundTrip(result)).toStrictEqual(result)
  })

  it('carries 64-bit integers as exact JavaScript numbers', () => {
    const batch = { ...batchWith({ ...minimalResult, round: Number.MAX_SAFE_INTEGER }), seq: Number.MAX_SAFE_INTEGER - 1, dropped: 2 ** 40 }
    expect(decodeBatch(encodeBatch(batch))).toStrictEqual(batch)
  })

  it('round-trips results, acks and signed batches on their own', () => {
    expect(decodeResult(encodeResult(fullResult))).toStrictEqual(fullResult)
    const ack = { seq: 9, accepted: 0, duplicates: 3 }
    expect(decodePushAck(encodePushAck(ack))).toStrictEqual(ack)
    const rejectedAck = { seq: 0, accepted: 0, duplicates: 0, reason: 'replay', error: '' }
    expect(decodePushAck(encodePushAck(rejectedAck))).toStrictEqual(rejectedAck)
    expect(decodeSignedBatch(encodeSignedBatch({ jws: '{"a":1}' }))).toStrictEqual({ jws: '{"a":1}' })
  })

  it('returns bytes of its own, not a view into a shared buffer', () => {
    const bytes = encodeBatch(batchWith(minimalResult))
    expect(bytes.constructor).toBe(Uint8Array)
    expect(bytes.byteOffset).toBe(0)
    expect(bytes.buffer.byteLength).toBe(bytes.byteLength)
  })
})

describe('wire compatibility with a standard protobuf implementation', () => {
  // protobufjs' own (code-generating) encoder/decoder stands in for any other language's.
  const reference = protobuf.Root.fromJSON(VANTAGE_DESCRIPTOR).lookupType('vantage.v1.ResultBatch')

  it('is read field by field by protobufjs', () => {
    const wire = reference.toObject(reference.decode(encodeBatch(batchWith(fullResult))), { longs: Number }) as {
      results: Array<Record<string, any>>
    }
    const r = wire.results[0]
    expect(r.result_id).toBe(fullResult.result_id)
    expect(r.http.body_bytes).toBe(6_000_000_000)
    expect(r.error).toEqual({ value: 'certificate has expired' })
    expect(r.tls.leaf.value.dns_names).toEqual(['shop.example', 'www.shop.example'])
    expect(r.tls.chain.items).toHaveLength(2)
    expect(r.steps.items[0].checks.entries['has cart']).toEqual({ fails: 4_000_000_000 }) // proto3: a zero is not sent
  })

  it('decodes what protobufjs re-encodes, to the same JSON', () => {
    for (const batch of [batchWith(fullResult), batchWith(minimalResult), batchOf(20)]) {
      const reencoded = reference.encode(reference.decode(encodeBatch(batch))).finish()
      expect(decodeBatch(reencoded)).toStrictEqual(batch)
    }
  })
})

describe('descriptor', () => {
  it('embedded copy equals a fresh parse of vantage.proto', () => {
    expect(VANTAGE_DESCRIPTOR).toEqual(descriptorOf(readFileSync(PROTO_FILE, 'utf8')))
  })

  it('generated module is byte-identical to what gen-descriptor.ts writes', () => {
    const wanted = descriptorModule(descriptorOf(readFileSync(PROTO_FILE, 'utf8')))
    expect(readFileSync(DESCRIPTOR_FILE, 'utf8')).toBe(wanted)
  })

  it('declares the Ingest service', () => {
    const ingest = root.lookupService('vantage.v1.Ingest')
    expect(ingest.methods.Push.requestType).toBe('SignedBatch')
    expect(ingest.methods.PushStream.requestStream && ingest.methods.PushStream.responseStream).toBe(true)
  })
})

describe('encode refuses values that do not fit', () => {
  const bad = (patch: Partial<ProbeResult>) => () => encodeBatch(batchWith({ ...minimalResult, ...patch }))

  it.each([
    [{ round: 1.5 }, 'ResultBatch.results[0].round: expected an integer'],
    [{ round: 2 ** 53 }, 'ResultBatch.results[0].round: expected an integer'],
    [{ success: 'yes' as unknown as boolean }, 'results[0].success: expected a boolean, got "yes"'],
    [{ error: 42 as unknown as string }, 'results[0].error.value: expected a string, got 42'],
    [{ type: 'ftp' as ProbeResult['type'] }, 'results[0].type: "ftp" is not one of'],
    [{ result_id: '' }, 'results[0].result_id: must be a non-empty string'],
    [{ started_at: 'yesterday' }, 'results[0].started_at: "yesterday" is not an ISO 8601 time'],
    [{ http: { ...fullResult.http, status_code: -1 } }, 'results[0].http.status_code: expected an integer in 0..4294967295, got -1'],
    [{ steps: {} as unknown as [] }, 'results[0].steps.items: expected an array, got an object'],
  ])('%j', (patch, message) => {
    expect(rejected(bad(patch)).message).toContain(message)
  })

  it('names a missing required field', () => {
    const { check: _, ...noCheck } = minimalResult
    expect(rejected(() => encodeBatch(batchWith(noCheck as ProbeResult))).message).toBe('ResultBatch.results[0].check: missing')
    expect(rejected(() => encodeBatch({ ...batchWith(), seq: -1 })).message).toContain('ResultBatch.seq: expected an integer in 0..')
  })
})

describe('decode rejects garbage with a CodecError', () => {
  const good = encodeBatch(batchWith(fullResult, minimalResult))

  it.each([
    ['empty bytes (a batch with no agent)', new Uint8Array(0), 'ResultBatch.agent_id: must be a non-empty string'],
    ['JSON text', new TextEncoder().encode('{"agent_id":"eu-1"}'), 'malformed protobuf'],
    ['a truncated message', good.subarray(0, good.length - 3), 'malformed protobuf'],
    ['agent_id sent as a varint', Uint8Array.of(0x08, 0x01), 'ResultBatch.agent_id: wire type 0, expected 2'],
    ['a length past the end', Uint8Array.of(0x2a, 0x7f, 0x0a, 0x01), 'ResultBatch.results[0]: length 127 runs past the end'],
    ['field number 0', Uint8Array.of(0x00, 0x00), 'invalid field number 0'],
  ])('%s', (_name, bytes, message) => {
    expect(rejected(() => decodeBatch(bytes)).message).toContain(message)
  })

  it('rejects a 64-bit integer beyond the safe range instead of rounding it', () => {
    const w = protobuf.Writer.create()
    w.uint32(0x0a).string('eu-1').uint32(0x12).string('eu-west')
    w.uint32(0x18).uint64('1152921504606846976') // seq = 2^60
    expect(rejected(() => decodeBatch(w.finish())).message).toContain('ResultBatch.seq: 1152921504606846976 is outside')
  })

  it('rejects what is not bytes', () => {
    expect(rejected(() => decodeBatch('hello' as unknown as Uint8Array)).message).toContain('expected bytes')
  })

  it('skips fields from a newer contract', () => {
    const extra = protobuf.Writer.create().uint32((99 << 3) | 2).string('future').finish()
    const withUnknown = new Uint8Array([...good, ...extra])
    expect(decodeBatch(withUnknown)).toStrictEqual(decodeBatch(good))
  })

  it('never throws anything but CodecError on random, truncated or mutated bytes', () => {
    let seed = 0x2545f491
    const rand = (n: number) => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) % n
    }
    const attempt = (bytes: Uint8Array) => {
      try {
        decodeBatch(bytes)
        return 'ok'
      } catch (err) {
        if (!(err instanceof CodecError)) throw err
        return 'rejected'
      }
    }
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from({ length: rand(300) }, () => rand(256))
      expect(attempt(bytes)).toBe('rejected') // random bytes never form a batch with an identity
    }
    for (let n = 0; n < good.length; n++) attempt(good.subarray(0, n))
    for (let i = 0; i < 3000; i++) {
      const mutated = good.slice()
      mutated[rand(mutated.length)] = rand(256)
      attempt(mutated)
    }
  })
})

describe('portability (the edge worker runs this code)', () => {
  const portable = readdirSync(fileURLToPath(new URL('../../proto/', import.meta.url))).filter(
    (f) => f.endsWith('.ts'),
  )

  it.each(portable)('proto/%s imports no node: module', (file) => {
    const source = readFileSync(fileURLToPath(new URL(`../../proto/${file}`, import.meta.url)), 'utf8')
    expect(source).not.toMatch(/from\s+['"]node:|import\(\s*['"]node:|require\(/)
  })

  it('encodes, signs and verifies with code generation from strings disabled (as in Workers)', () => {
    const child = fileURLToPath(new URL('./portable.child.ts', import.meta.url))
    const out = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', child], {
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(out).toBe('ok\n')
  })
})
