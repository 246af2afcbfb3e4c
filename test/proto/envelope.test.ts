import * as jose from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import type { ResultBatch } from '../../proto/batch.ts'
import { encodeBatch } from '../../proto/codec.ts'
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
