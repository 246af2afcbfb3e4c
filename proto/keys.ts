// Ed25519 keys as JWK: agents sign result batches, the hub signs agent configs.
// Portable (jose + WebCrypto, no `node:` imports): the edge worker gets its keys as JSON text
// from wrangler vars/secrets, the Node agent and hub from files.
import * as jose from 'jose'

/** Agent and key ids: safe in file names, metric labels and JWS headers. */
export const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function isSafeId(id: unknown): id is string {
  return typeof id === 'string' && SAFE_ID.test(id)
}

/** A key is missing, unreadable or not an Ed25519 key; the message names where it came from. */
export class KeyError extends Error {
  override readonly name = 'KeyError'
}

export interface Ed25519Jwk extends jose.JWK {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  /** Present only in the private key. */
  d?: string
  kid?: string
  alg?: string
  use?: string
}

export interface KeyPair {
  privateJwk: Ed25519Jwk
  publicJwk: Ed25519Jwk
}

export async function generateKeyPair(id: string): Promise<KeyPair> {
  if (!isSafeId(id)) throw new KeyError(`key id ${JSON.stringify(id)} must match ${SAFE_ID}`)
  const { privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const { x, d } = await jose.exportJWK(privateKey)
  const publicJwk: Ed25519Jwk = { kty: 'OKP', crv: 'Ed25519', x: x!, kid: id, alg: 'EdDSA', use: 'sig' }
  return { privateJwk: { ...publicJwk, d: d! }, publicJwk }
}

/** JSON text (a key file, a wrangler secret) → a JWK object; `source` names it in errors. */
export function parseJwk(text: string, source: string): Ed25519Jwk {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new KeyError(`${source}: not JSON (${(err as Error).message}); expected an Ed25519 JWK`)
  }
  return checkJwk(value, source)
}

// 32 bytes in unpadded base64url.
const KEY_BYTES = /^[A-Za-z0-9_-]{43}$/

/** Checks the shape of an Ed25519 JWK (public or private) and returns it typed. */
export function checkJwk(value: unknown, source: string): Ed25519Jwk {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeyError(`${source}: expected an Ed25519 JWK object`)
  }
  const jwk = value as Record<string, unknown>
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') {
    const got = [jwk.kty, jwk.crv].filter((v) => v !== undefined).join('/') || 'no kty'
    throw new KeyError(`${source}: not an Ed25519 key (${got}); expected kty "OKP" and crv "Ed25519"`)
  }
  if (typeof jwk.x !== 'string' || !KEY_BYTES.test(jwk.x)) {
    throw new KeyError(`${source}: field "x" must be the 32-byte public key in base64url`)
  }
  if (jwk.d !== undefined && (typeof jwk.d !== 'string' || !KEY_BYTES.test(jwk.d))) {
    throw new KeyError(`${source}: field "d" must be the 32-byte private key in base64url`)
  }
  if (jwk.alg !== undefined && jwk.alg !== 'EdDSA' && jwk.alg !== 'Ed25519') {
    throw new KeyError(`${source}: field "alg" is ${JSON.stringify(jwk.alg)}; expected "EdDSA"`)
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') {
    throw new KeyError(`${source}: field "use" is ${JSON.stringify(jwk.use)}; expected "sig"`)
  }
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') throw new KeyError(`${source}: field "kid" must be a string`)
  return jwk as unknown as Ed25519Jwk
}

/** The signing key; refuses a public key, so a swapped file is caught at start-up. */
export async function importPrivate(value: unknown, source = 'private key'): Promise<jose.CryptoKey> {
  const jwk = checkJwk(value, source)
  if (jwk.d === undefined) throw new KeyError(`${source}: this is a public key (no field "d"); expected the private key`)
  // Only the key material: jose would otherwise also enforce key_ops/ext from the file.
  return (await jose.importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, 'EdDSA', { extractable: false })) as jose.CryptoKey
}

/** A verification key; refuses a private key, which does not belong in a config or a var. */
export async function importPublic(value: unknown, source = 'public key'): Promise<jose.CryptoKey> {
  const jwk = checkJwk(value, source)
  if (jwk.d !== undefined) {
    throw new KeyError(`${source}: this is a private key (it has field "d"); give the public key (.pub.jwk) instead`)
  }
  return (await jose.importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'EdDSA')) as jose.CryptoKey
}

/** The public half of a private JWK (e.g. for a worker that only has its secret). */
export function publicJwkOf(privateJwk: Ed25519Jwk): Ed25519Jwk {
  const { d: _d, ...publicJwk } = privateJwk
  return publicJwk
}
