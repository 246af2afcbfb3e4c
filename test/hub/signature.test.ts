// The hub's Ed25519 verifier (node:crypto) gives WebCrypto's answer.
import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { verifyNow } from '../../hub/ingest/signature.ts'
import { importPublic } from '../../proto/keys.ts'

describe('verifyNow', () => {
  it('accepts the signature of the data and refuses any other data, signature or key', async () => {
    const a = generateKeyPairSync('ed25519')
    const b = generateKeyPairSync('ed25519')
    const keyA = await importPublic(a.publicKey.export({ format: 'jwk' }))
    const keyB = await importPublic(b.publicKey.export({ format: 'jwk' }))
    const data = new TextEncoder().encode('eyJhbGciOiJFZERTQSJ9.' + 'x'.repeat(60_000))
    const signature = new Uint8Array(sign(null, data, a.privateKey))
    const tampered = data.slice()
    tampered[100] ^= 1
    const cases: [typeof keyA, Uint8Array, Uint8Array][] = [
      [keyA, signature, data],
      [keyA, signature, tampered],
      [keyB, signature, data],
      [keyA, signature.map((x, i) => (i === 0 ? x ^ 1 : x)), data],
    ]
    const ours = await Promise.all(cases.map(([k, s, d]) => verifyNow(k, s, d)))
    const webcrypto = await Promise.all(cases.map(([k, s, d]) => crypto.subtle.verify('Ed25519', k, s, d)))
    expect(ours).toEqual([true, false, false, false])
    expect(ours).toEqual(webcrypto)
  })
})
