import * as jose from 'jose'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import type { ResultBatch } from '../../proto/batch.ts'
import { decodeBatch, decodeResult, encodeBatch, encodeResult } from '../../proto/codec.ts'
import {
  BATCH_TYP,
  createAgentToken,
  ENVELOPE_REASONS,
  EnvelopeError,
  type EnvelopeReason,
  type FlattenedJWS,
  type KeyLookup,
  signBatch,
  signJson,
  verifyAgentToken,
  verifyBatch,
  verifyBatchHeads,
  verifyJson,
} from '../../proto/envelope.ts'
import { generateKeyPair, importPrivate, importPublic, type KeyPair } from '../../proto/keys.ts'
import { batchOf } from './fixtures.ts'

const NOW = 1_795_000_000_000
const SKEW = 5 * 60_000
let eu1: KeyPair
let intruder: KeyPair
let hub: KeyPair
let registry: KeyLookup

beforeAll(async () => {
  ;[eu1, intruder, hub] = await Promise.all([generateKeyPair('eu-1'), generateKeyPair('eu-1'), generateKeyPair('hub')])
  const keys = new Map([['eu-1', eu1.publicJwk]])
  registry = (kid) => keys.get(kid)
})

const verify = (jws: string | Uint8Array | FlattenedJWS, opts: { maxBytes?: number; now?: number } = {}) =>
  verifyBatch(jws, registry, { now: opts.now ?? NOW, maxSkewMs: SKEW, maxBytes: opts.maxBytes })

async function reason(promise: Promise<unknown>): Promise<EnvelopeReason> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(EnvelopeError)
    return (err as EnvelopeError).reason
  }
  throw new Error('expected an EnvelopeError, the envelope was accepted')
}

/** Signs arbitrary bytes under an arbitrary header: the attacker's (or a buggy agent's) toolkit. */
async function craft(payload: Uint8Array, header: jose.JWSHeaderParameters, key: jose.JWK | Uint8Array): Promise<FlattenedJWS> {
  const signingKey = key instanceof Uint8Array ? key : await importPrivate(key)
  const jws = await new jose.FlattenedSign(payload).setProtectedHeader({ typ: BATCH_TYP, ...header }).sign(signingKey)
  return jws as FlattenedJWS
}

const b64 = (value: unknown) => jose.base64url.encode(JSON.stringify(value))

/** Ed25519 over any protected header, bypassing jose's own refusals (e.g. unknown `crit`). */
async function rawSign(header: object, payload: Uint8Array, jwk: jose.JWK): Promise<FlattenedJWS> {
  const protectedB64 = b64(header)
  const payloadB64 = jose.base64url.encode(payload)
  const input = new TextEncoder().encode(`${protectedB64}.${payloadB64}`)
  const signature = await crypto.subtle.sign('Ed25519', await importPrivate(jwk), input)
  return { protected: protectedB64, payload: payloadB64, signature: jose.base64url.encode(new Uint8Array(signature)) }
}

describe('signBatch / verifyBatch', () => {
  it('verifies and decodes a batch in each transport form (JSON text, bytes, object)', async () => {
    const batch = batchOf(3, { sentAt: NOW })
    const jws = await signBatch(batch, { kid: 'eu-1', privateKey: eu1.privateJwk })
    expect(jose.decodeProtectedHeader(jws)).toEqual({ alg: 'EdDSA', kid: 'eu-1', typ: BATCH_TYP })
    expect(jose.base64url.decode(jws.payload)).toEqual(encodeBatch(batch))
    expect(await verify(JSON.stringify(jws))).toStrictEqual(batch)
    expect(await verify(new TextEncoder().encode(JSON.stringify(jws)))).toStrictEqual(batch)
    expect(await verify(jws)).toStrictEqual(batch)
  })

  it('accepts CryptoKeys and async lookups as well as JWKs', async () => {
    const batch = batchOf(1, { sentAt: NOW })
    const jws = await signBatch(batch, { kid: 'eu-1', privateKey: await importPrivate(eu1.privateJwk) })
    const publicKey = await importPublic(eu1.publicJwk)
    const found = await verifyBatch(jws, async (kid) => (kid === 'eu-1' ? publicKey : undefined), { now: NOW, maxSkewMs: SKEW })
    expect(found).toStrictEqual(batch)
  })

  it('refuses to sign another agent’s batch', async () => {
    await expect(signBatch(batchOf(1, { agentId: 'us-1' }), { kid: 'eu-1', privateKey: eu1.privateJwk })).rejects.toThrow(/not the signer/)
  })

  describe('each rejection has its own reason', () => {
    it('bad_signature: payload tampered with after signing', async () => {
      const jws = await signBatch(batchOf(2, { sentAt: NOW }), { kid: 'eu-1', privateKey: eu1.privateJwk })
      const forged = jose.base64url.encode(encodeBatch(batchOf(200, { sentAt: NOW })))
      expect(await reason(verify({ ...jws, payload: forged }))).toBe('bad_signature')
    })

    it('bad_signature: signed by another key under the same kid', async () => {
      const jws = await signBatch(batchOf(1, { sentAt: NOW }), { kid: 'eu-1', privateKey: intruder.privateJwk })
      expect(await reason(verify(jws))).toBe('bad_signature')
    })

    it('wrong_alg: alg "none" with an empty signature', async () => {
      const jws = { protected: b64({ alg: 'none', kid: 'eu-1', typ: BATCH_TYP }), payload: jose.base64url.encode(encodeBatch(batchOf(1, { sentAt: NOW }))), signature: '' }
      expect(await reason(verify(jws))).toBe('wrong_alg')
    })

    it('wrong_alg: HS256 keyed with the agent’s public key (the algorithm-confusion attack)', async () => {
      const secret = jose.base64url.decode(eu1.publicJwk.x)
      const jws = await craft(encodeBatch(batchOf(1, { sentAt: NOW })), { alg: 'HS256', kid: 'eu-1' }, secret)
      expect(await reason(verify(jws))).toBe('wrong_alg')
    })

    it('unknown_kid: a key the hub never registered', async () => {
      const stranger = await generateKeyPair('ghost')
      const jws = await signBatch(batchOf(1, { agentId: 'ghost', sentAt: NOW }), { kid: 'ghost', privateKey: stranger.privateJwk })
      const err = await verify(jws).catch((e: EnvelopeError) => e)
      expect(err).toMatchObject({ reason: 'unknown_kid', kid: 'ghost' })
    })

    it('agent_mismatch: eu-1 signs a batch claiming to be us-1', async () => {
      const jws = await craft(encodeBatch(batchOf(1, { agentId: 'us-1', sentAt: NOW })), { alg: 'EdDSA', kid: 'eu-1' }, eu1.privateJwk)
      expect(await reason(verify(jws))).toBe('agent_mismatch')
    })

    it('agent_mismatch: a result inside claims another agent', async () => {
      const batch = batchOf(3, { sentAt: NOW })
      batch.results[1] = { ...batch.results[1], agent_id: 'us-1' }
      const jws = await signBatch(batch, { kid: 'eu-1', privateKey: eu1.privateJwk })
      await expect(verify(jws)).rejects.toThrow(/results\[1\] claims agent "us-1"/)
    })

    it('clock_skew: sent_at 10 minutes old, or 10 minutes ahead', async () => {
      for (const sentAt of [NOW - 10 * 60_000, NOW + 10 * 60_000]) {
        const jws = await signBatch(batchOf(1, { sentAt }), { kid: 'eu-1', privateKey: eu1.privateJwk })
        expect(await reason(verify(jws))).toBe('clock_skew')
      }
      const edge = await signBatch(batchOf(1, { sentAt: NOW - SKEW }), { kid: 'eu-1', privateKey: eu1.privateJwk })
      await expect(verify(edge)).resolves.toBeTruthy()
    })

    it('oversize: over the caller’s byte limit, checked before anything is parsed', async () => {
      const jws = JSON.stringify(await signBatch(batchOf(100, { sentAt: NOW }), { kid: 'eu-1', privateKey: eu1.privateJwk }))
      expect(await reason(verify(jws, { maxBytes: 10_000 }))).toBe('oversize')
      expect(await reason(verify(`${jws.slice(0, 20_000)} not even JSON`, { maxBytes: 10_000 }))).toBe('oversize')
      await expect(verify(jws, { maxBytes: jws.length })).resolves.toBeTruthy()
    })

    it.each([
      ['not JSON', 'hello'],
      ['invalid UTF-8 bytes', Uint8Array.of(0xff, 0xfe)],
      ['a JSON array', '[]'],
      ['no signature', JSON.stringify({ protected: b64({ alg: 'EdDSA', kid: 'eu-1' }), payload: '' })],
      ['a protected header that is not JSON', JSON.stringify({ protected: 'bm90IGpzb24', payload: '', signature: '' })],
      ['no kid', JSON.stringify({ protected: b64({ alg: 'EdDSA', typ: BATCH_TYP }), payload: '', signature: '' })],
      ['a kid only in the unsigned header', JSON.stringify({ protected: b64({ alg: 'EdDSA' }), header: { kid: 'eu-1' }, payload: '', signature: '' })],
      ['another typ', JSON.stringify({ protected: b64({ alg: 'EdDSA', kid: 'eu-1', typ: 'JWT' }), payload: '', signature: '' })],
    ])('malformed: %s', async (_name, input) => {
      expect(await reason(verify(input))).toBe('malformed')
    })

    it('malformed: a validly signed payload that is not a batch', async () => {
      const jws = await craft(new TextEncoder().encode('{"agent_id":"eu-1"}'), { alg: 'EdDSA', kid: 'eu-1' }, eu1.privateJwk)
      await expect(verify(jws)).rejects.toThrow(/signed payload is not a batch: malformed protobuf/)
    })

    it('malformed: an unknown critical header', async () => {
      const header = { alg: 'EdDSA', kid: 'eu-1', typ: BATCH_TYP, crit: ['vantage-future'], 'vantage-future': 1 }
      const jws = await rawSign(header, encodeBatch(batchOf(1, { sentAt: NOW })), eu1.privateJwk)
      await expect(verify(jws)).rejects.toMatchObject({ reason: 'malformed', message: expect.stringMatching(/vantage-future/) })
      // the same signer and bytes without `crit` verify: the rejection is about the header alone
      const { crit: _c, ...plain } = header
      await expect(verify(await rawSign(plain, encodeBatch(batchOf(1, { sentAt: NOW })), eu1.privateJwk))).resolves.toBeTruthy()
    })
  })

  it('checks in order: the first failing check names the reason', async () => {
    const sentAt = NOW - 60 * 60_000 // also clock_skew, which comes last
    const stranger = await generateKeyPair('ghost')
    const payload = encodeBatch(batchOf(1, { agentId: 'us-1', sentAt }))
    // unknown kid beats a wrong alg; a wrong alg beats a bad signature; a bad signature beats the payload's claims
    expect(await reason(verify(await craft(payload, { alg: 'HS256', kid: 'ghost' }, new Uint8Array(32))))).toBe('unknown_kid')
    expect(await reason(verify(await craft(payload, { alg: 'HS256', kid: 'eu-1' }, new Uint8Array(32))))).toBe('wrong_alg')
    expect(await reason(verify(await craft(payload, { alg: 'EdDSA', kid: 'eu-1' }, stranger.privateJwk)))).toBe('bad_signature')
    expect(await reason(verify(await craft(payload, { alg: 'EdDSA', kid: 'eu-1' }, eu1.privateJwk)))).toBe('agent_mismatch')
    const big = JSON.stringify(await craft(payload, { alg: 'EdDSA', kid: 'ghost' }, stranger.privateJwk))
    expect(await reason(verify(big, { maxBytes: 100 }))).toBe('oversize')
  })
})

describe('verifyBatchHeads', () => {
  const withBodies = (jws: string | Uint8Array | FlattenedJWS, opts: { maxBytes?: number; now?: number } = {}) =>
    verifyBatchHeads(jws, registry, { now: opts.now ?? NOW, maxSkewMs: SKEW, maxBytes: opts.maxBytes })

  it('returns the batch verifyBatch returns down to each result’s head, and each result’s signed bytes', async () => {
    const batch = batchOf(5, { sentAt: NOW })
    const jws = await signBatch(batch, { kid: 'eu-1', privateKey: eu1.privateJwk })
    for (const form of [JSON.stringify(jws), new TextEncoder().encode(JSON.stringify(jws)), jws]) {
      const { batch: verified, bodies } = await withBodies(form)
      const whole = await verify(form)
      expect(whole).toStrictEqual(batch)
      expect(verified).toStrictEqual({ ...whole, results: whole.results.map(({ check, type, vantage, agent_id, result_id, round, started_at, success, challenged }) => ({ check, type, vantage, agent_id, result_id, round, started_at, success, challenged })) })
      expect(bodies).toHaveLength(5)
      bodies.forEach((body, i) => {
        expect(body.buffer).toBe(bodies[0].buffer) // views into the one verified payload
        expect(decodeResult(body)).toStrictEqual(batch.results[i])
        expect(body).toEqual(encodeResult(batch.results[i]))
      })
    }
  })

  it('rejects what verifyBatch rejects, for the same reason and with the same message', async () => {
    const signer = { kid: 'eu-1', privateKey: eu1.privateJwk }
    const good = await signBatch(batchOf(2, { sentAt: NOW }), signer)
    const stranger = await generateKeyPair('ghost')
    const cases: (string | Uint8Array | FlattenedJWS)[] = [
      'hello',
      Uint8Array.of(0xff),
      '[]',
      JSON.stringify(good).slice(0, 50),
      { ...good, payload: jose.base64url.encode(encodeBatch(batchOf(3, { sentAt: NOW }))) },
      { ...good, signature: good.signature.slice(2) },
      await signBatch(batchOf(1, { sentAt: NOW }), { kid: 'eu-1', privateKey: intruder.privateJwk }),
      await signBatch(batchOf(1, { agentId: 'ghost', sentAt: NOW }), { kid: 'ghost', privateKey: stranger.privateJwk }),
      await craft(encodeBatch(batchOf(1, { agentId: 'us-1', sentAt: NOW })), { alg: 'EdDSA', kid: 'eu-1' }, eu1.privateJwk),
      await craft(new TextEncoder().encode('not a batch'), { alg: 'EdDSA', kid: 'eu-1' }, eu1.privateJwk),
      await signBatch(batchOf(1, { sentAt: NOW - 60 * 60_000 }), signer),
      { protected: b64({ alg: 'none', kid: 'eu-1', typ: BATCH_TYP }), payload: good.payload, signature: '' },
    ]
    for (const input of cases) {
      const a = await verify(input).catch((e: EnvelopeError) => e)
      const b = await withBodies(input).catch((e: EnvelopeError) => e)
      expect(a).toBeInstanceOf(EnvelopeError)
      expect(b).toBeInstanceOf(EnvelopeError)
      expect({ reason: (b as EnvelopeError).reason, message: (b as EnvelopeError).message, kid: (b as EnvelopeError).kid }).toEqual({
        reason: (a as EnvelopeError).reason,
        message: (a as EnvelopeError).message,
        kid: (a as EnvelopeError).kid,
      })
    }
    expect(await reason(withBodies(JSON.stringify(good), { maxBytes: 100 }))).toBe('oversize')
  })
})

describe('signature check: the same answers as jose.flattenedVerify', () => {
  // verifyBatch checks canonical Ed25519 envelopes itself (the fast path) and leaves every
  // other one to jose: for any envelope, the outcome must be what jose alone would decide.
  const enc = new TextEncoder()

  /** Signs `${protected}.${payloadText}` as given: the payload text need not be canonical base64url. */
  async function signText(header: object, payloadText: string, jwk: jose.JWK): Promise<FlattenedJWS> {
    const protectedB64 = b64(header)
    const signature = await crypto.subtle.sign('Ed25519', await importPrivate(jwk), enc.encode(`${protectedB64}.${payloadText}`))
    return { protected: protectedB64, payload: payloadText, signature: jose.base64url.encode(new Uint8Array(signature)) }
  }

  /** What verifyBatch answers, as a comparable string. */
  async function ours(jws: FlattenedJWS, key: KeyLookup = registry): Promise<string> {
    try {
      return `ok ${JSON.stringify(await verifyBatch(jws, key, { now: NOW, maxSkewMs: SKEW }))}`
    } catch (err) {
      const e = err as EnvelopeError
      return e.reason === 'bad_signature' ? 'bad_signature' : `${e.reason}: ${e.message}`
    }
  }

  /** What verifyBatch answered before it had a path of its own: jose, then decodeBatch. */
  async function joseAlone(jws: FlattenedJWS, key: jose.CryptoKey | jose.JWK): Promise<string> {
    let payload: Uint8Array
    try {
      ;({ payload } = await jose.flattenedVerify(jws, key, { algorithms: ['EdDSA'] }))
    } catch (err) {
      const e = err as { code?: string; message: string }
      return e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'bad_signature' : `malformed: invalid JWS: ${e.message}`
    }
    try {
      return `ok ${JSON.stringify(decodeBatch(payload))}`
    } catch (err) {
      return `malformed: signed payload is not a batch: ${(err as Error).message}`
    }
  }

  const header = { alg: 'EdDSA', kid: 'eu-1', typ: BATCH_TYP }

  it('on canonical, padded, spaced, standard-alphabet and odd-length payloads', async () => {
    const payload = encodeBatch(batchOf(3, { sentAt: NOW }))
    const text = jose.base64url.encode(payload)
    // the last character with the low bits a decoder ignores set: still the same bytes
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const ignored = [0, 0, 15, 3][text.length % 4]
    const lastBits = text.slice(0, -1) + ALPHABET[ALPHABET.indexOf(text[text.length - 1]) | ignored]
    const variants = [
      text,
      `${text}${'='.repeat((4 - (text.length % 4)) % 4)}`,
      `${text.slice(0, 8)} ${text.slice(8)}`,
      `${text.slice(0, 8)}\n${text.slice(8)}`,
      Buffer.from(payload).toString('base64'),
      `${text}A`.slice(0, text.length + ((text.length + 1) % 4 === 1 ? 1 : 0)),
      lastBits,
      `${text.slice(0, 4)}é${text.slice(5)}`,
      '',
      'A',
    ]
    for (const variant of variants) {
      const jws = await signText(header, variant, eu1.privateJwk)
      expect(await ours(jws), JSON.stringify(variant.slice(-12))).toBe(await joseAlone(jws, eu1.publicJwk))
    }
  })

  it('on bad, short, long and non-base64url signatures', async () => {
    const jws = await signText(header, jose.base64url.encode(encodeBatch(batchOf(1, { sentAt: NOW }))), eu1.privateJwk)
    const other = await signText(header, jose.base64url.encode(encodeBatch(batchOf(2, { sentAt: NOW }))), eu1.privateJwk)
    for (const signature of [other.signature, jws.signature.slice(0, -4), `${jws.signature}AAAA`, `${jws.signature}=`, jws.signature.replace(/[-_]/g, '+'), '', 'A', `${jws.signature.slice(0, -1)}~`]) {
      const tampered = { ...jws, signature }
      expect(await ours(tampered), signature.slice(-6)).toBe(await joseAlone(tampered, eu1.publicJwk))
    }
  })

  it('on headers with crit and b64, and on keys jose refuses', async () => {
    const payload = jose.base64url.encode(encodeBatch(batchOf(1, { sentAt: NOW })))
    for (const h of [
      { ...header, b64: true },
      { ...header, b64: false },
      { ...header, crit: ['b64'], b64: true },
      { ...header, crit: ['b64'], b64: false },
      { ...header, crit: [] },
      { ...header, extra: { nested: ['x'] } },
    ]) {
      const jws = await signText(h, payload, eu1.privateJwk)
      expect(await ours(jws), JSON.stringify(h)).toBe(await joseAlone(jws, eu1.publicJwk))
    }
    const jws = await signText(header, payload, eu1.privateJwk)
    const privateKey = await importPrivate(eu1.privateJwk)
    const noUsage = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: eu1.publicJwk.x }, 'Ed25519', true, [])
    const ecdsa = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])).publicKey
    for (const key of [privateKey, noUsage, ecdsa]) {
      expect(await ours(jws, () => key)).toBe(await joseAlone(jws, key))
      expect(await ours(jws, () => key)).toMatch(/^malformed: invalid JWS: /)
    }
  })
})

describe('JWS JSON as bytes: the same answers as the same text', () => {
  // The hub hands its transports' bytes to the envelope, which reads a plain JWS in place and
  // leaves anything else to JSON.parse: for any bytes, the outcome must be the text's.
  async function answer(jws: string | Uint8Array): Promise<string> {
    try {
      return `ok ${JSON.stringify(await verify(jws))}`
    } catch (err) {
      return `${(err as EnvelopeError).reason}: ${(err as Error).message}`
    }
  }

  it('on plain, spaced, reordered, escaped, repeated, extra and broken members', async () => {
    const jws = await signBatch(batchOf(3, { sentAt: NOW }), { kid: 'eu-1', privateKey: eu1.privateJwk })
    const other = await signBatch(batchOf(2, { sentAt: NOW }), { kid: 'eu-1', privateKey: eu1.privateJwk })
    const forged = await signBatch(batchOf(3, { sentAt: NOW }), { kid: 'eu-1', privateKey: intruder.privateJwk })
    const { protected: p, payload, signature: sig } = jws
    const escaped = (text: string, at: number) => `${text.slice(0, at)}\\u00${text.charCodeAt(at).toString(16)}${text.slice(at + 1)}`
    const texts = [
      JSON.stringify(jws),
      JSON.stringify(jws, null, 2),
      ` \r\n\t${JSON.stringify(jws)}\n `,
      JSON.stringify({ signature: sig, payload, protected: p }),
      `{"protected":"${p}","payload":"${escaped(payload, 10)}","signature":"${sig}"}`,
      `{"protected":"${escaped(p, 3)}","payload":"${payload}","signature":"${sig}"}`,
      `{"protected":"${p}","payload":"${payload}","signature":"${escaped(sig, 0)}"}`,
      `{"protected":"${p}","payload":"${other.payload}","payload":"${payload}","signature":"${sig}"}`,
      `{"protected":"${p}","payload":"${payload}","signature":"${sig}","extra":[1,{"a":null}]}`,
      `{"protected":"${p}","payload":"${payload}","signature":"${sig}","header":{"kid":"eu-1"}}`,
      JSON.stringify(forged),
      JSON.stringify({ ...jws, payload: other.payload }),
      JSON.stringify({ ...jws, payload: `${payload}=` }),
      JSON.stringify({ ...jws, payload: payload.replace(/-/g, '+') }),
      JSON.stringify({ ...jws, payload: `${payload.slice(0, 20)}\n${payload.slice(20)}` }),
      `{"protected":"${p}","payload":"${payload.slice(0, 20)}\n${payload.slice(20)}","signature":"${sig}"}`,
      `{"protected":"${p}","payload":"${payload.slice(0, 20)}é${payload.slice(21)}","signature":"${sig}"}`,
      JSON.stringify({ ...jws, payload: 7 }),
      `{"protected":"${p}","payload":"${payload}","signature":"${sig}",}`,
      `{"protected":"${p}","payload":"${payload}","signature":"${sig}"}x`,
      `{"protected":"${p}","payload":"${payload}"}`,
      `{"protected":"${p}","payload":"${payload}","signature":"${sig}`,
      '[]',
      'null',
      '',
    ]
    for (const text of texts) {
      expect(await answer(new TextEncoder().encode(text)), text.slice(0, 60)).toBe(await answer(text))
    }
    expect(await answer(new TextEncoder().encode(texts[1]))).toMatch(/^ok /)
    // A plain one is read in place: JSON.parse reads its protected header only.
    const parse = vi.spyOn(JSON, 'parse')
    try {
      await verify(new TextEncoder().encode(texts[1]))
      expect(parse).toHaveBeenCalledTimes(1)
      parse.mockClear()
      await verify(texts[1])
      expect(parse).toHaveBeenCalledTimes(2)
    } finally {
      parse.mockRestore()
    }
    // Bytes that are not UTF-8 at all; a byte order mark, which JSON readers may skip.
    expect(await answer(new TextEncoder().encode(`\ufeff${texts[0]}`))).toBe(await answer(texts[0]))
    const broken = new TextEncoder().encode(JSON.stringify(jws))
    broken[40] = 0xff
    expect(await answer(broken)).toBe('malformed: envelope is not JSON (expected a flattened JWS)')
  })
})

describe('signJson / verifyJson (hub-signed agent configs)', () => {
  const config = { version: 3, checks: [{ name: 'shop-home', interval_ms: 30_000 }] }

  it('verifies with the pinned hub key and returns the document', async () => {
    const jws = await signJson(config, { kid: 'hub', privateKey: hub.privateJwk, typ: 'vantage-config' })
    expect(await verifyJson(JSON.stringify(jws), hub.publicJwk, { typ: 'vantage-config' })).toEqual({ payload: config, kid: 'hub' })
  })

  it('rejects a document signed by anyone else, tampered with, or of another type', async () => {
    const forged = await signJson(config, { kid: 'hub', privateKey: eu1.privateJwk, typ: 'vantage-config' })
    expect(await reason(verifyJson(forged, hub.publicJwk))).toBe('bad_signature')
    const jws = await signJson(config, { kid: 'hub', privateKey: hub.privateJwk, typ: 'vantage-config' })
    const tampered = { ...jws, payload: jose.base64url.encode(JSON.stringify({ ...config, checks: [] })) }
    expect(await reason(verifyJson(tampered, hub.publicJwk))).toBe('bad_signature')
    expect(await reason(verifyJson(jws, hub.publicJwk, { typ: 'vantage-other' }))).toBe('malformed')
    expect(await reason(verifyJson(jws, () => undefined))).toBe('unknown_kid')
    expect(await reason(verifyJson(jws, hub.publicJwk, { maxBytes: 50 }))).toBe('oversize')
  })
})

describe('agent tokens', () => {
  const lookup: KeyLookup = (kid) => (kid === 'eu-1' ? eu1.publicJwk : undefined)

  it('authenticates the agent for a short while', async () => {
    const token = await createAgentToken('eu-1', eu1.privateJwk, NOW)
    const claims = await verifyAgentToken(token, lookup, { now: NOW + 30_000 })
    expect(claims).toMatchObject({ agentId: 'eu-1', expiresAt: Math.floor(NOW / 1000) * 1000 + 60_000 })
    expect(jose.decodeJwt(token)).toMatchObject({ sub: 'eu-1', aud: 'vantage-hub' })
  })

  it('rejects expired, future, long-lived, foreign and forged tokens', async () => {
    const token = await createAgentToken('eu-1', eu1.privateJwk, NOW)
    expect(await reason(verifyAgentToken(token, lookup, { now: NOW + 10 * 60_000 }))).toBe('expired')
    expect(await reason(verifyAgentToken(token, lookup, { now: NOW - 10 * 60_000 }))).toBe('clock_skew')
    const longLived = await createAgentToken('eu-1', eu1.privateJwk, NOW, { ttlSeconds: 3600 })
    expect(await reason(verifyAgentToken(longLived, lookup, { now: NOW }))).toBe('bad_claims')
    const signer = await importPrivate(eu1.privateJwk)
    const claims = (sub: string, aud: string) =>
      new jose.SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: 'eu-1', typ: 'JWT' }).setSubject(sub).setAudience(aud)
        .setIssuedAt(NOW / 1000).setExpirationTime(NOW / 1000 + 60).sign(signer)
    expect(await reason(verifyAgentToken(await claims('eu-1', 'someone-else'), lookup, { now: NOW }))).toBe('bad_claims')
    expect(await reason(verifyAgentToken(await claims('us-1', 'vantage-hub'), lookup, { now: NOW }))).toBe('agent_mismatch')
    const forged = await createAgentToken('eu-1', intruder.privateJwk, NOW)
    expect(await reason(verifyAgentToken(forged, lookup, { now: NOW }))).toBe('bad_signature')
    expect(await reason(verifyAgentToken(await createAgentToken('ghost', intruder.privateJwk, NOW), lookup, { now: NOW }))).toBe('unknown_kid')
    const hs = await new jose.SignJWT({ sub: 'eu-1' }).setProtectedHeader({ alg: 'HS256', kid: 'eu-1' }).sign(new Uint8Array(32))
    expect(await reason(verifyAgentToken(hs, lookup, { now: NOW }))).toBe('wrong_alg')
    expect(await reason(verifyAgentToken('not.a.jwt', lookup, { now: NOW }))).toBe('malformed')
    expect(await reason(verifyAgentToken('x'.repeat(5000), lookup, { now: NOW }))).toBe('oversize')
  })
})

it('every reason is a distinct, stable code', () => {
  expect(new Set(ENVELOPE_REASONS).size).toBe(ENVELOPE_REASONS.length)
  for (const r of ENVELOPE_REASONS) expect(r).toMatch(/^[a-z_]+$/)
})

// Types only: ResultBatch is what verifyBatch returns.
export type _Check = Awaited<ReturnType<typeof verifyBatch>> extends ResultBatch ? true : never
