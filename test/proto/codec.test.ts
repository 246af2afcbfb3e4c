import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import { describe, expect, it } from 'vitest'
import type { ResultBatch } from '../../proto/batch.ts'
import {
  CodecError,
  decodeBatch,
  decodeBatchHeads,
  decodePushAck,
  decodeResult,
  decodeSignedBatch,
  decodeSignedBatchBytes,
  encodeBatch,
  encodePushAck,
  encodeResult,
  encodeSignedBatch,
  root,
} from '../../proto/codec.ts'
import { descriptorModule, descriptorOf } from '../../proto/gen-descriptor.ts'
import { RESULT_HEAD, type ProbeResult, type ResultHead } from '../../proto/result.ts'
import { VANTAGE_DESCRIPTOR } from '../../proto/vantage.descriptor.ts'
import { batchOf, fullResult, minimalResult } from './fixtures.ts'
import { randomBatch, randomResult, randomSource, type Rand } from './random-results.ts'
import { oracleDecode, oracleDecodeBatch, oracleDecodeResult } from './reflective-decoder.ts'

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

/** A result's head: what decodeBatchHeads makes of it (in the result's own key order). */
const headOf = (result: ProbeResult): ResultHead =>
  Object.fromEntries(Object.entries(result).filter(([key]) => (RESULT_HEAD as readonly string[]).includes(key))) as ResultHead

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

describe('decodeBatchHeads', () => {
  const batch = batchWith(fullResult, minimalResult, { ...fullResult, result_id: 'other' })
  const bytes = encodeBatch(batch)

  it('returns the batch decodeBatch returns with each result down to its head, and each result’s bytes as views into the input', () => {
    const { batch: decoded, bodies } = decodeBatchHeads(bytes)
    const full = decodeBatch(bytes)
    expect(decoded).toStrictEqual({ ...full, results: full.results.map(headOf) })
    expect(jsonOf(decoded.results[0])).toBe(jsonOf(headOf(full.results[0]))) // in .proto key order
    expect(Object.keys(decoded.results[0]).sort()).toEqual([...RESULT_HEAD].filter((k) => k in full.results[0]).sort())
    expect(bodies).toHaveLength(batch.results.length)
    bodies.forEach((body, i) => {
      expect(body.buffer).toBe(bytes.buffer) // a view, not a copy
      expect(body.byteOffset).toBeGreaterThan(0)
      expect(body.byteOffset + body.byteLength).toBeLessThanOrEqual(bytes.byteLength)
      expect(decodeResult(body)).toStrictEqual(full.results[i])
      expect(body).toEqual(encodeResult(batch.results[i])) // exactly the message as signed
    })
  })

  it('works on a view into a larger buffer, and on a Buffer', () => {
    const padded = new Uint8Array(bytes.length + 10)
    padded.set(bytes, 5)
    const view = padded.subarray(5, 5 + bytes.length)
    const { bodies } = decodeBatchHeads(view)
    bodies.forEach((body, i) => expect(decodeResult(body)).toStrictEqual(batch.results[i]))
    const fromBuffer = decodeBatchHeads(Buffer.from(bytes))
    expect(fromBuffer.batch).toStrictEqual({ ...batch, results: batch.results.map(headOf) })
    fromBuffer.bodies.forEach((body, i) => expect(decodeResult(body)).toStrictEqual(batch.results[i]))
  })

  it('keeps bodies in step with results around unknown and out-of-order fields', () => {
    const w = protobuf.Writer.create()
    const results = [minimalResult, fullResult, { ...minimalResult, check: 'third' }]
    w.uint32((5 << 3) | 2).bytes(encodeResult(results[0]))
    w.uint32((99 << 3) | 2).string('from a newer contract')
    w.uint32(0x0a).string('eu-1').uint32(0x12).string('eu-west')
    w.uint32((5 << 3) | 2).bytes(encodeResult(results[1]))
    w.uint32((98 << 3) | 0).uint64(7)
    w.uint32((5 << 3) | 2).bytes(encodeResult(results[2]))
    const { batch: decoded, bodies } = decodeBatchHeads(w.finish())
    expect(decoded.results).toStrictEqual(results.map(headOf))
    expect(bodies.map((b) => decodeResult(b))).toStrictEqual(results)
  })

  it('has no bodies for a batch without results', () => {
    expect(decodeBatchHeads(encodeBatch(batchWith()))).toMatchObject({ bodies: [] })
  })

  it('rejects what decodeBatch rejects, with the same CodecError, details included', () => {
    for (const bad of [new Uint8Array(0), bytes.subarray(0, bytes.length - 3), Uint8Array.of(0x2a, 0x7f, 0x0a, 0x01), 'x' as unknown as Uint8Array]) {
      expect(rejected(() => decodeBatchHeads(bad)).message).toBe(rejected(() => decodeBatch(bad)).message)
    }
    const inner = protobuf.Writer.create().uint32(0x0a).string('c').uint32(0x12).string('tcp').uint32(0x22).string('v')
    inner.uint32(0x32).string('a').uint32(0x3a).string('r').uint32(0x4a).string('soon')
    const soon = protobuf.Writer.create().uint32(0x0a).string('a').uint32(0x12).string('v').uint32(0x2a).bytes(inner.finish()).finish()
    expect(rejected(() => decodeBatchHeads(soon)).message).toBe(
      'malformed batch: ResultBatch.results[0].started_at: "soon" is not an ISO 8601 time',
    )
    // What the head leaves out is still checked: a status code sent as a string, a target as a number.
    const http = protobuf.Writer.create().uint32(0x0a).string('200').finish()
    const detailed = protobuf.Writer.create().uint32(0x0a).string('a').uint32(0x12).string('v')
      .uint32(0x2a).bytes(concat(encodeResult(minimalResult), protobuf.Writer.create().uint32((17 << 3) | 2).bytes(http).finish())).finish()
    expect(rejected(() => decodeBatchHeads(detailed)).message).toBe(rejected(() => decodeBatch(detailed)).message)
    expect(rejected(() => decodeBatchHeads(detailed)).message).toMatch(/ResultBatch\.results\[0\]\.http\.status_code: wire type 2, expected 0/)
    const target = protobuf.Writer.create().uint32(0x0a).string('a').uint32(0x12).string('v')
      .uint32(0x2a).bytes(concat(encodeResult(minimalResult), protobuf.Writer.create().uint32((3 << 3) | 0).uint32(7).finish())).finish()
    expect(rejected(() => decodeBatchHeads(target)).message).toBe(rejected(() => decodeBatch(target)).message)
    expect(rejected(() => decodeBatchHeads(target)).message).toMatch(/ResultBatch\.results\[0\]\.target: wire type 0, expected 2/)
  })
})

/** JSON with byte arrays spelled out: equal texts mean equal values and equal key order. */
const jsonOf = (value: unknown) => JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v))

/** What a decoder makes of some bytes: the value or the error, for comparing two decoders. */
function outcome(decode: () => unknown): { value: unknown; json: string } | { error: string } {
  try {
    const value = decode()
    return { value, json: jsonOf(value) }
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** One unknown field of each wire type (varint, fixed64, bytes, group, fixed32). */
function unknownFields(rand: Rand): Uint8Array {
  const w = protobuf.Writer.create()
  const id = () => 50 + rand(1000)
  w.uint32((id() << 3) | 0).uint64(rand(2 ** 31) * 4096)
  w.uint32((id() << 3) | 1).fixed64(rand(1000))
  w.uint32((id() << 3) | 2).string('future ✓')
  const group = id()
  w.uint32((group << 3) | 3).uint32((id() << 3) | 0).uint32(1).uint32((group << 3) | 4)
  w.uint32((id() << 3) | 5).fixed32(rand(1000))
  return w.finish()
}

describe('property: decode(encode(x)) is x for any well-typed x', () => {
  it('results: every presence, null, empty list and map, unicode string and integer edge', () => {
    const rand = randomSource(0x5eed)
    for (let i = 0; i < 1500; i++) {
      const result = randomResult(rand)
      const bytes = encodeResult(result)
      const decoded = decodeResult(bytes)
      expect(decoded).toStrictEqual(result)
      expect(jsonOf(decoded)).toBe(jsonOf(result)) // and .proto key order
      // fields from a newer contract change nothing, wherever they are
      expect(decodeResult(concat(bytes, unknownFields(rand)))).toStrictEqual(result)
      expect(decodeResult(concat(unknownFields(rand), bytes))).toStrictEqual(result)
    }
  })

  it('batches, with their bodies', () => {
    const rand = randomSource(0xba7c4)
    for (let i = 0; i < 200; i++) {
      const batch = randomBatch(rand)
      const { batch: decoded, bodies } = decodeBatchHeads(concat(encodeBatch(batch), unknownFields(rand)))
      expect(decoded).toStrictEqual({ ...batch, results: batch.results.map(headOf) })
      expect(bodies.map((b) => decodeResult(b))).toStrictEqual(batch.results)
    }
  })
})

describe('the specialized decoder agrees with the reflective one it replaced', () => {
  // test/proto/reflective-decoder.ts is the decoder as it was: same values, same key order,
  // same error messages, on valid, hand-made and mutated bytes alike.
  const decoders = [
    ['ResultBatch', decodeBatch, oracleDecodeBatch],
    ['ProbeResult', decodeResult, oracleDecodeResult],
    ['SignedBatch', decodeSignedBatch, (b: Uint8Array) => oracleDecode('SignedBatch', b)],
    ['PushAck', decodePushAck, (b: Uint8Array) => oracleDecode('PushAck', b)],
  ] as const

  function agree(bytes: Uint8Array): void {
    // The head decoder checks what it leaves out exactly as decodeBatch decodes it.
    const full = outcome(() => decodeBatch(bytes))
    const heads = outcome(() => decodeBatchHeads(bytes).batch)
    if ('error' in full) expect(heads, `heads of ${Buffer.from(bytes).toString('hex')}`).toEqual(full)
    else {
      const batch = (full as { value: ResultBatch }).value
      expect((heads as { value: unknown }).value).toStrictEqual({ ...batch, results: batch.results.map(headOf) })
    }
    // The hub's gRPC reads a SignedBatch with its JWS left as bytes: it fails where decoding
    // fails, with the same message, and otherwise holds the bytes of the same text.
    const signed = outcome(() => decodeSignedBatch(bytes))
    const signedBytes = outcome(() => {
      const { jws } = decodeSignedBatchBytes(bytes)
      return { jws: typeof jws === 'string' ? jws : new TextDecoder('utf-8', { ignoreBOM: true }).decode(jws) }
    })
    expect(signedBytes, `SignedBatch as bytes of ${Buffer.from(bytes).toString('hex')}`).toEqual(signed)
    for (const [name, decode, oracle] of decoders) {
      const want = outcome(() => oracle(bytes))
      const got = outcome(() => decode(bytes))
      if ('error' in want) expect(got, `${name} of ${Buffer.from(bytes).toString('hex')}`).toEqual(want)
      else {
        expect('value' in got && got.json, `${name} of ${Buffer.from(bytes).toString('hex')}`).toBe(want.json)
        expect((got as { value: unknown }).value).toStrictEqual(want.value)
      }
    }
  }

  const w = () => protobuf.Writer.create()
  const identity = () => w().uint32(0x0a).string('eu-1').uint32(0x12).string('eu-west')
  const result = (build: (w: protobuf.Writer) => protobuf.Writer) => {
    const inner = build(w().uint32(0x0a).string('c').uint32(0x12).string('http').uint32(0x22).string('v'))
      .uint32(0x32).string('a').uint32(0x3a).string('r').uint32(0x4a).string('2026-01-01T00:00:00Z')
    return identity().uint32(0x2a).bytes(inner.finish()).finish()
  }
  const entry = (build: (w: protobuf.Writer) => protobuf.Writer) =>
    result((r) => r.uint32((17 << 3) | 2).bytes(w().uint32((7 << 3) | 2).bytes(w().uint32(0x0a).bytes(build(w()).finish()).finish()).finish()))

  it.each([
    ['nothing', new Uint8Array(0)],
    ['a tag cut short', Uint8Array.of(0x80)],
    ['a tag of 11 bytes', Uint8Array.of(0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)],
    ['a tag of 6 bytes', Uint8Array.of(0x8a, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x41)],
    ['field number 0', Uint8Array.of(0x00, 0x00)],
    ['wire types 6 and 7', Uint8Array.of(0xfe, 0x07, 0x00)],
    ['a stray end-group', Uint8Array.of(0xfc, 0x07)],
    ['a group with a wrong end', Uint8Array.of(0xfb, 0x07, 0x83, 0x08, 0x84, 0x08, 0x8c, 0x08)],
    ['a group never closed', Uint8Array.of(0xfb, 0x07, 0x08, 0x01)],
    ['nested groups', identity().uint32((90 << 3) | 3).uint32((91 << 3) | 3).uint32((91 << 3) | 4).uint32((90 << 3) | 4).finish()],
    ['groups too deep', new Uint8Array(260).map((_, i) => (i % 2 ? 0x07 : 0xfb))],
    ['a fixed64 cut short', Uint8Array.of(0xf9, 0x07, 1, 2, 3)],
    ['a fixed32 cut short', Uint8Array.of(0xfd, 0x07, 1, 2)],
    ['a length of 5 invalid bytes', Uint8Array.of(0xfa, 0x07, 0xff, 0xff, 0xff, 0xff, 0x7f)],
    ['a string past the end', Uint8Array.of(0x0a, 0x05, 0x41)],
    ['a string of invalid UTF-8', identity().uint32(0x22).bytes(Uint8Array.of(0x41, 0xff, 0xc3, 0x28, 0xe2, 0x82)).finish()],
    ['a seq of 2^53', identity().uint32(0x18).uint64('9007199254740992').finish()],
    ['a seq of 2^64 - 1', identity().uint32(0x18).uint64('18446744073709551615').finish()],
    ['a seq of 2^53 - 1', identity().uint32(0x18).uint64('9007199254740991').finish()],
    ['sent_at negative', identity().uint32(0x20).int64(-1_700_000_000_000).finish()],
    ['sent_at below -2^53', identity().uint32(0x20).int64('-9007199254740993').finish()],
    ['a 64-bit varint cut short', Uint8Array.of(0x18, 0xff, 0xff)],
    ['a 64-bit varint of 11 bytes', Uint8Array.of(0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)],
    ['the same field twice', identity().uint32(0x0a).string('eu-2').uint32(0x18).uint64(1).uint32(0x18).uint64(2).finish()],
    ['fields in reverse order', w().uint32(0x30).uint64(3).uint32(0x18).uint64(2).uint32(0x12).string('v').uint32(0x0a).string('a').finish()],
    ['a result as a varint', identity().uint32(0x28).uint32(1).finish()],
    ['a result past the end', identity().uint32(0x2a).uint32(100).finish()],
    ['a result with a field past its end', identity().uint32(0x2a).uint32(2).uint32(0x0a).uint32(5).string('abcd').finish()],
    ['a result with every field out of order', result((r) => r.uint32(0x50).bool(true).uint32(0x40).int64(-5).uint32(0x61).double(-0))],
    ['a result with nested messages twice', result((r) => r.uint32(0x8a).uint32(1).bytes(w().uint32(0x08).uint32(200).finish()).uint32(0x8a).uint32(1).bytes(w().uint32(0x18).uint32(1).finish()))],
    ['a bool as 2 and as a long varint', result((r) => r.uint32(0x50).uint32(2).uint32(0x58).uint32(0x80).uint32(0x01))],
    ['a bool cut short', Uint8Array.of(0x2a, 0x02, 0x50, 0x80)],
    ['a double cut short', Uint8Array.of(0x2a, 0x04, 0x61, 0, 0, 0)],
    ['a double as a varint', result((r) => r.uint32(0x60).uint32(1))],
    ['a nullable with no value', result((r) => r.uint32((15 << 3) | 2).uint32(0))],
    ['a nullable twice', result((r) => r.uint32((15 << 3) | 2).bytes(w().uint32(0x0a).string('x').finish()).uint32((15 << 3) | 2).uint32(0))],
    ['a list whose items are interleaved', result((r) => r.uint32((21 << 3) | 2).bytes(w().uint32(0x0a).bytes(w().uint32(0x0a).string('s1').finish()).uint32(0x30).uint32(1).uint32(0x0a).bytes(w().uint32(0x0a).string('s2').finish()).finish()))],
    ['repeated strings interleaved', result((r) => r.uint32((20 << 3) | 2).bytes(w().uint32(0x12).string('a').uint32(0x0a).string('NOERROR').uint32(0x12).string('b').finish()))],
    ['a repeated string as a varint', result((r) => r.uint32((20 << 3) | 2).bytes(w().uint32(0x10).uint32(1).finish()))],
    ['a map entry', entry((e) => e.uint32(0x0a).string('server').uint32(0x12).string('x'))],
    ['a map entry with its value first', entry((e) => e.uint32(0x12).string('x').uint32(0x0a).string('k'))],
    ['a map entry without a value', entry((e) => e.uint32(0x0a).string('k'))],
    ['a map entry without a key', entry((e) => e.uint32(0x12).string('v'))],
    ['an empty map entry', entry((e) => e)],
    ['a map entry with unknown fields', entry((e) => e.uint32(0x0a).string('k').uint32(0x18).uint32(9).uint32(0x12).string('v'))],
    ['a map entry with field number 0', entry((e) => e.uint32(0x0a).string('k').uint32(0x00).uint32(0))],
    ['a map key as a varint', entry((e) => e.uint32(0x08).uint32(1))],
    ['a map value as a varint', entry((e) => e.uint32(0x0a).string('k').uint32(0x10).uint32(1))],
    ['a map key "__proto__"', entry((e) => e.uint32(0x0a).string('__proto__').uint32(0x12).string('v'))],
    ['the same map key twice', entry((e) => e.uint32(0x0a).string('k').uint32(0x12).string('1')).slice()],
    ['a message map value missing', result((r) => r.uint32((21 << 3) | 2).bytes(w().uint32(0x0a).bytes(w().uint32(0x42).bytes(w().uint32(0x0a).bytes(w().uint32(0x0a).string('c').finish()).finish()).finish()).finish()))],
    ['a message map value past its end', result((r) => r.uint32((21 << 3) | 2).bytes(w().uint32(0x0a).bytes(w().uint32(0x42).bytes(w().uint32(0x0a).bytes(w().uint32(0x0a).string('c').uint32(0x12).uint32(9).finish()).finish()).finish()).finish()))],
    ['a check count beyond 32 bits', result((r) => r.uint32((21 << 3) | 2).bytes(w().uint32(0x0a).bytes(w().uint32(0x42).bytes(w().uint32(0x0a).bytes(w().uint32(0x0a).string('c').uint32(0x12).bytes(w().uint32(0x08).uint64('5000000000').finish()).finish()).finish()).finish()).finish()))],
  ])('%s', (_name, bytes) => {
    agree(bytes)
    agree(Buffer.from(bytes)) // what better-sqlite3 hands back
  })

  it('on random results and batches, shuffled, with fields repeated or left out', () => {
    const rand = randomSource(0xd1ff)
    const fieldsOf = (bytes: Uint8Array) => {
      const r = protobuf.Reader.create(bytes)
      const fields: Uint8Array[] = []
      while (r.pos < r.len) {
        const start = r.pos
        r.skipType(r.uint32() & 7)
        fields.push(bytes.subarray(start, r.pos))
      }
      return fields
    }
    for (let i = 0; i < 300; i++) {
      const bytes = i % 2 ? encodeResult(randomResult(rand)) : encodeBatch(randomBatch(rand, 3))
      agree(bytes)
      const fields = fieldsOf(bytes)
      const picked: Uint8Array[] = []
      for (const f of fields) {
        if (rand(6) > 0) picked.push(f)
        if (rand(8) === 0) picked.push(fields[rand(fields.length)])
      }
      for (let j = picked.length - 1; j > 0; j--) {
        const k = rand(j + 1)
        if (rand(2)) [picked[j], picked[k]] = [picked[k], picked[j]]
      }
      agree(concat(...picked))
    }
  })

  it('on truncated and mutated bytes', () => {
    const rand = randomSource(0x3a7a)
    const samples = [encodeBatch(batchWith(fullResult, minimalResult)), encodeResult(fullResult), encodeBatch(randomBatch(rand, 2))]
    for (const good of samples) {
      for (let n = 0; n < good.length; n += 1 + rand(4)) agree(good.subarray(0, n))
      for (let i = 0; i < 600; i++) {
        const mutated = good.slice()
        for (let k = 1 + rand(3); k > 0; k--) mutated[rand(mutated.length)] = rand(2) ? rand(256) : mutated[rand(mutated.length)] ^ (1 << rand(8))
        agree(mutated)
      }
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
