import * as jose from 'jose'
import { describe, expect, it } from 'vitest'
import { checkJwk, generateKeyPair, importPrivate, importPublic, isSafeId, KeyError, parseJwk, publicJwkOf } from '../../proto/keys.ts'

describe('generateKeyPair', () => {
  it('makes an Ed25519 pair whose JWKs carry the id', async () => {
    const { privateJwk, publicJwk } = await generateKeyPair('eu-1')
    expect(publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: 'eu-1', alg: 'EdDSA', use: 'sig' })
    expect(privateJwk).toEqual({ ...publicJwk, d: expect.any(String) })
    expect(publicJwkOf(privateJwk)).toEqual(publicJwk)
    const signed = await new jose.CompactSign(new Uint8Array([1])).setProtectedHeader({ alg: 'EdDSA' }).sign(await importPrivate(privateJwk))
    await expect(jose.compactVerify(signed, await importPublic(publicJwk))).resolves.toBeTruthy()
  })

  it('refuses an id that is not a safe name', async () => {
    await expect(generateKeyPair('../etc')).rejects.toThrow(KeyError)
  })

  it.each([
    ['eu-1', true], ['hub', true], ['a.b_c-9', true], ['x'.repeat(64), true],
    ['', false], ['x'.repeat(65), false], ['../x', false], ['a/b', false], ['.hidden', false], ['-flag', false], ['é', false],
  ])('isSafeId(%j) = %s', (id, safe) => {
    expect(isSafeId(id)).toBe(safe)
  })
})

describe('import errors name the key and the field', () => {
  it.each([
    [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }, 'agents[0].public_key (keys/eu-1.pub.jwk): not an Ed25519 key (EC/P-256)'],
    [{ kty: 'RSA', n: 'a', e: 'AQAB' }, 'not an Ed25519 key (RSA)'],
    [{ kty: 'OKP', crv: 'X25519', x: 'A'.repeat(43) }, 'not an Ed25519 key (OKP/X25519)'],
    [{ kty: 'OKP', crv: 'Ed25519', x: 'short' }, 'field "x" must be the 32-byte public key'],
    [{ kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43), alg: 'ES256' }, 'field "alg" is "ES256"'],
    [{ kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43), use: 'enc' }, 'field "use" is "enc"'],
    ['a string', 'expected an Ed25519 JWK object'],
  ])('%j', async (jwk, message) => {
    await expect(importPublic(jwk, 'agents[0].public_key (keys/eu-1.pub.jwk)')).rejects.toThrow(message)
  })

  it('refuses the wrong half of a pair', async () => {
    const { privateJwk, publicJwk } = await generateKeyPair('eu-1')
    await expect(importPublic(privateJwk, 'HUB_PUBLIC_KEY')).rejects.toThrow('HUB_PUBLIC_KEY: this is a private key (it has field "d")')
    await expect(importPrivate(publicJwk, 'keys/eu-1.jwk')).rejects.toThrow('keys/eu-1.jwk: this is a public key (no field "d")')
    await expect(importPrivate({ ...privateJwk, d: 'nope' }, 'AGENT_PRIVATE_KEY')).rejects.toThrow('AGENT_PRIVATE_KEY: field "d"')
  })

  it('parses JWK text, naming the source when it is not JSON', () => {
    expect(() => parseJwk('{"kty":', 'keys/eu-1.jwk')).toThrow(/^keys\/eu-1\.jwk: not JSON/)
    expect(checkJwk(parseJwk(JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) }), 'f'), 'f').x).toBe('A'.repeat(43))
  })
})
