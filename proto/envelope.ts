// The signed envelope (DESIGN.md, "Signed results"): agents sign each ResultBatch as a
// flattened JWS (alg EdDSA, kid = agent id, payload = the batch's protobuf bytes); the hub
// signs agent configs as JSON JWS; agents authenticate to the hub with a short JWT.
// Portable: jose + WebCrypto, no `node:` imports (the edge worker signs with the same code).
//
// Verification answers one EnvelopeError reason per kind of rejection, so the hub can count
// them. Vantage ownership and (agent_id, seq) replay are the hub's checks, not this module's.
import * as jose from 'jose'
import type { BatchOfHeads, ResultBatch } from './batch.ts'
import { CodecError, decodeBatch, decodeBatchHeads, encodeBatch } from './codec.ts'
import { importPrivate, importPublic } from './keys.ts'

export const ENVELOPE_REASONS = [
  'oversize',
  'malformed',
  'unknown_kid',
  'wrong_alg',
  'bad_signature',
  'agent_mismatch',
  'clock_skew',
  'expired',
  'bad_claims',
] as const

export type EnvelopeReason = (typeof ENVELOPE_REASONS)[number]

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError'
  readonly reason: EnvelopeReason
  /** The signer's claimed id, once it was read from the header (for logs and counters). */
  readonly kid: string | undefined

  constructor(reason: EnvelopeReason, message: string, options?: { kid?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.reason = reason
    this.kid = options?.kid
  }
}

/** The flattened JWS JSON serialization (RFC 7515 §7.2.2), as sent in POST /v1/results. */
export interface FlattenedJWS {
  protected: string
  payload: string
  signature: string
}

/** A CryptoKey from keys.ts, or an Ed25519 JWK (imported once and cached). */
type CryptoKey = jose.CryptoKey
export type KeyInput = CryptoKey | jose.JWK
export type KeyLookup = (kid: string) => KeyInput | undefined | Promise<KeyInput | undefined>

export interface Signer {
  /** The signer's id: agent id for batches and tokens, the hub's key id for configs. */
  kid: string
  privateKey: KeyInput
}

export const ALG = 'EdDSA'
/** `typ` of signed batches, so no other signed document can pass for one. */
export const BATCH_TYP = 'vantage-batch'
export const HUB_AUDIENCE = 'vantage-hub'
/** Default limits: a batch of a few thousand results fits well under 8 MiB. */
export const DEFAULT_MAX_BATCH_BYTES = 8 * 1024 * 1024
export const DEFAULT_MAX_JSON_BYTES = 1024 * 1024
const MAX_TOKEN_BYTES = 4096

// ---- keys ----

const imported = new WeakMap<object, Promise<CryptoKey>>()

function isCryptoKey(key: KeyInput): key is CryptoKey {
  return !('kty' in key) // every JWK has kty; a CryptoKey never does
}

function keyFor(key: KeyInput, kind: 'private' | 'public', source: string): Promise<CryptoKey> {
  if (isCryptoKey(key)) return Promise.resolve(key)
  let promise = imported.get(key)
  if (!promise) {
    promise = kind === 'private' ? importPrivate(key, source) : importPublic(key, source)
    imported.set(key, promise)
    promise.catch(() => imported.delete(key))
  }
  return promise
}

// ---- signing ----

async function signBytes(payload: Uint8Array, header: jose.JWSHeaderParameters, signer: Signer): Promise<FlattenedJWS> {
  const key = await keyFor(signer.privateKey, 'private', `private key ${signer.kid}`)
  const jws = await new jose.FlattenedSign(payload).setProtectedHeader({ ...header, alg: ALG, kid: signer.kid }).sign(key)
  return { protected: jws.protected!, payload: jws.payload, signature: jws.signature }
}

/** Signs a batch with its agent's key: one signature per batch. */
export async function signBatch(batch: ResultBatch, signer: Signer): Promise<FlattenedJWS> {
  if (batch.agent_id !== signer.kid) {
    throw new Error(`signBatch: batch.agent_id ${JSON.stringify(batch.agent_id)} is not the signer ${JSON.stringify(signer.kid)}`)
  }
  return signBytes(encodeBatch(batch), { typ: BATCH_TYP }, signer)
}

/** Signs a small JSON document (the hub's agent configs); `typ` says what it is. */
export async function signJson(value: unknown, signer: Signer & { typ?: string }): Promise<FlattenedJWS> {
  const header: jose.JWSHeaderParameters = signer.typ === undefined ? {} : { typ: signer.typ }
  return signBytes(new TextEncoder().encode(JSON.stringify(value)), header, signer)
}

// ---- verifying ----

export interface VerifyBatchOptions {
  /** The verifier's clock, unix milliseconds. */
  now: number
  /** How far `sent_at` may be from `now`, either way. */
  maxSkewMs: number
  /** Largest accepted envelope, in bytes of JWS JSON (default DEFAULT_MAX_BATCH_BYTES). */
  maxBytes?: number
  /** Checks an Ed25519 signature (default: WebCrypto); a runtime may bring a faster one. */
  verifySignature?: SignatureVerifier
}

/** Whether `signature` is the Ed25519 signature of `data` by `key`. */
export type SignatureVerifier = (key: CryptoKey, signature: Uint8Array, data: Uint8Array) => Promise<boolean>

const webCryptoVerify: SignatureVerifier = (key, signature, data) => crypto.subtle.verify('Ed25519', key, signature, data)

/**
 * Verifies a signed batch and returns it decoded. The checks run in this order, cheapest and
 * least trusting first, each failing with its own EnvelopeError reason:
 * oversize (before parsing anything) → malformed (not a flattened JWS, or a header without
 * kid/with the wrong typ) → unknown_kid → wrong_alg → bad_signature → malformed (the signed
 * payload is not a valid ResultBatch) → agent_mismatch (batch or result agent_id ≠ kid) →
 * clock_skew (sent_at further than maxSkewMs from now).
 */
export async function verifyBatch(
  jws: string | Uint8Array | FlattenedJWS,
  lookupKey: KeyLookup,
  opts: VerifyBatchOptions,
): Promise<ResultBatch> {
  return (await verifyBatchAs(jws, lookupKey, opts, (payload) => ({ batch: decodeBatch(payload) }))).batch
}

/**
 * verifyBatch (the same checks, in the same order, with the same errors) for the hub's ingest:
 * each result decoded down to its head only (decodeBatchHeads), and its bytes as signed:
 * `bodies[i]` is the ProbeResult message of `batch.results[i]` inside the verified payload (a
 * view, not a copy), which decodeResult turns into the whole result.
 */
export async function verifyBatchHeads(
  jws: string | Uint8Array | FlattenedJWS,
  lookupKey: KeyLookup,
  opts: VerifyBatchOptions,
): Promise<{ batch: BatchOfHeads; bodies: Uint8Array[] }> {
  return verifyBatchAs(jws, lookupKey, opts, decodeBatchHeads)
}

async function verifyBatchAs<B extends ResultBatch | BatchOfHeads, Out extends { batch: B }>(
  jws: string | Uint8Array | FlattenedJWS,
  lookupKey: KeyLookup,
  opts: VerifyBatchOptions,
  decode: (payload: Uint8Array) => Out,
): Promise<Out> {
  const { kid, payload } = await open(jws, lookupKey, opts.maxBytes ?? DEFAULT_MAX_BATCH_BYTES, BATCH_TYP, opts.verifySignature)
  let decoded: Out
  try {
    decoded = decode(payload)
  } catch (err) {
    if (!(err instanceof CodecError)) throw err
    throw new EnvelopeError('malformed', `signed payload is not a batch: ${err.message}`, { kid, cause: err })
  }
  const { batch } = decoded
  if (batch.agent_id !== kid) {
    throw new EnvelopeError('agent_mismatch', `batch agent_id ${JSON.stringify(batch.agent_id)} was signed by ${JSON.stringify(kid)}`, { kid })
  }
  const foreign = batch.results.findIndex((r) => r.agent_id !== kid)
  if (foreign >= 0) {
    const other = batch.results[foreign].agent_id
    throw new EnvelopeError('agent_mismatch', `results[${foreign}] claims agent ${JSON.stringify(other)} in a batch signed by ${JSON.stringify(kid)}`, { kid })
  }
  const skew = batch.sent_at - opts.now
  if (Math.abs(skew) > opts.maxSkewMs) {
    const side = skew < 0 ? 'behind' : 'ahead of'
    throw new EnvelopeError('clock_skew', `sent_at is ${Math.abs(skew)} ms ${side} the hub's clock (allowed ${opts.maxSkewMs} ms)`, { kid })
  }
  return decoded
}

export interface VerifyJsonOptions {
  /** Required `typ` header, when the caller expects one kind of document. */
  typ?: string
  maxBytes?: number
}

/** Verifies a signed JSON document; `key` is the pinned key or a lookup by kid. */
export async function verifyJson<T = unknown>(
  jws: string | Uint8Array | FlattenedJWS,
  key: KeyInput | KeyLookup,
  opts: VerifyJsonOptions = {},
): Promise<{ payload: T; kid: string }> {
  const lookup: KeyLookup = typeof key === 'function' ? key : () => key
  const { kid, payload } = await open(jws, lookup, opts.maxBytes ?? DEFAULT_MAX_JSON_BYTES, opts.typ)
  try {
    return { payload: JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(payload)) as T, kid }
  } catch (err) {
    throw new EnvelopeError('malformed', 'signed payload is not JSON', { kid, cause: err })
  }
}

/** The shared front half of verification: size, shape, kid, alg, signature. */
async function open(
  input: string | Uint8Array | FlattenedJWS,
  lookupKey: KeyLookup,
  maxBytes: number,
  typ: string | undefined,
  verifySignature: SignatureVerifier = webCryptoVerify,
): Promise<{ kid: string; payload: Uint8Array }> {
  const size = sizeOf(input)
  if (size > maxBytes) throw new EnvelopeError('oversize', `envelope is ${size} bytes, over the ${maxBytes}-byte limit`)
  // JWS JSON as bytes (the hub's transports) is read in place when it is plainly one; anything
  // else is parsed as JSON, which says what is wrong with it.
  const jws: FlattenedJWS | JwsBytes = (input instanceof Uint8Array ? readFlattenedBytes(input) : undefined) ?? parseFlattened(input)
  const header = readHeader(jws)
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new EnvelopeError('malformed', 'protected header has no kid')
  }
  const kid = header.kid
  if (typ !== undefined && header.typ !== typ) {
    throw new EnvelopeError('malformed', `typ is ${JSON.stringify(header.typ)}, expected ${JSON.stringify(typ)}`, { kid })
  }
  const known = await lookupKey(kid)
  if (known === undefined) throw new EnvelopeError('unknown_kid', `no key is registered for kid ${JSON.stringify(kid)}`, { kid })
  if (header.alg !== ALG) {
    throw new EnvelopeError('wrong_alg', `alg is ${JSON.stringify(header.alg)}, only ${ALG} is accepted`, { kid })
  }
  const key = await keyFor(known, 'public', `public key of ${kid}`)
  const verified = await verifyEd25519(jws, header, key, verifySignature)
  if (verified === false) {
    throw new EnvelopeError('bad_signature', `signature does not verify with the key of ${JSON.stringify(kid)}`, {
      kid,
      cause: new jose.errors.JWSSignatureVerificationFailed(),
    })
  }
  if (verified !== undefined) return { kid, payload: verified }
  try {
    // jose takes the JWS as JSON.parse gives it (read from bytes here only when it is plain).
    const { payload } = await jose.flattenedVerify('payloadText' in jws ? parseFlattened(input) : jws, key, { algorithms: [ALG] })
    return { kid, payload }
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') {
      throw new EnvelopeError('bad_signature', `signature does not verify with the key of ${JSON.stringify(kid)}`, { kid, cause: err })
    }
    // JWSInvalid, an unsupported `crit` or `b64` header, a payload that is not base64url, …
    throw new EnvelopeError('malformed', `invalid JWS: ${(err as Error).message}`, { kid, cause: err })
  }
}

// The common case of jose.flattenedVerify, without its slow steps for a large payload (a
// base64url decode through atob and a char-by-char copy, an ASCII re-encode, a concat): an
// Ed25519 public CryptoKey, a protected header with no `crit` (so no `b64` either) and canonical
// base64url. Then jose would check exactly what this checks, and verify the same signature over
// the same bytes, so the answer is the same; anything else (padding, whitespace, other keys,
// a verify that throws) returns undefined and goes to jose, for its own errors.

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** Byte → 6-bit value, -1 outside the base64url alphabet. */
const SEXTET = new Int32Array(256).fill(-1)
for (let i = 0; i < 64; i++) SEXTET[BASE64URL.charCodeAt(i)] = i

const ascii = new TextEncoder()

/** The payload if the signature verifies, false if it does not, undefined to ask jose instead. */
async function verifyEd25519(
  jws: FlattenedJWS | JwsBytes,
  header: jose.ProtectedHeaderParameters,
  key: CryptoKey,
  verifySignature: SignatureVerifier,
): Promise<Uint8Array | false | undefined> {
  if (header.crit !== undefined || !isEd25519PublicKey(key)) return undefined
  const head = jws.protected
  let input: Uint8Array
  let decoded: Uint8Array | undefined
  if ('payloadText' in jws) {
    // Read from bytes: the payload is decoded already, its text copied into the signing input.
    input = new Uint8Array(head.length + 1 + jws.payloadText.length)
    input.set(jws.payloadText, head.length + 1)
    decoded = jws.decoded
  } else {
    // The signing input is `${protected}.${payload}` as ASCII bytes.
    input = new Uint8Array(head.length + 1 + jws.payload.length)
    if (!asciiInto(jws.payload, input, head.length + 1)) return undefined
    decoded = decodePayload(jws.payload, input, head.length + 1)
  }
  if (!asciiInto(head, input, 0)) return undefined
  input[head.length] = 0x2e // '.'
  const signatureText = new Uint8Array(jws.signature.length)
  if (!asciiInto(jws.signature, signatureText, 0)) return undefined
  const signature = decodeBase64url(signatureText, 0, signatureText.length)
  if (decoded === undefined || signature === undefined) return undefined
  try {
    return (await verifySignature(key, signature, input)) ? decoded : false
  } catch {
    return undefined
  }
}

function isEd25519PublicKey(key: CryptoKey): boolean {
  return (
    (key as unknown as Record<symbol, unknown>)[Symbol.toStringTag] === 'CryptoKey' &&
    key.type === 'public' &&
    key.algorithm?.name === 'Ed25519' &&
    Array.isArray(key.usages) &&
    key.usages.includes('verify')
  )
}

/** Writes `text` at `offset` if it is all ASCII (then one byte per character). */
function asciiInto(text: string, into: Uint8Array, offset: number): boolean {
  const { read, written } = ascii.encodeInto(text, into.subarray(offset, offset + text.length))
  return read === text.length && written === text.length
}

/** Node's Buffer, where there is one (the hub): its base64url decoder is native, several times faster. */
const NativeBuffer = (
  globalThis as {
    Buffer?: {
      from(text: string, encoding: 'base64url'): Uint8Array
      from(buffer: ArrayBufferLike, byteOffset: number, length: number): { toString(encoding: 'latin1'): string }
    }
  }
).Buffer

/** The payload `text`, also at `ascii[start..]` as ASCII bytes: decodeBase64url, natively where it can. */
function decodePayload(text: string | undefined, ascii: Uint8Array, start: number): Uint8Array | undefined {
  if (NativeBuffer === undefined) return decodeBase64url(ascii, start, ascii.length)
  // Native decoding takes a string: made from the bytes at memcpy speed (one byte, one character).
  text ??= NativeBuffer.from(ascii.buffer, ascii.byteOffset + start, ascii.length - start).toString('latin1')
  const rest = text.length & 3
  if (rest === 1) return undefined
  // Buffer skips what is outside the alphabet (the length tells) but also takes '+' and '/'.
  if (text.includes('+') || text.includes('/')) return undefined
  const out = NativeBuffer.from(text, 'base64url')
  if (out.length !== (text.length >> 2) * 3 + (rest === 0 ? 0 : rest - 1)) return undefined
  return new Uint8Array(out.buffer, out.byteOffset, out.length) // a plain Uint8Array, as everywhere else
}

/** Canonical base64url (no padding, no whitespace) of `src[start..end)`, or undefined. */
function decodeBase64url(src: Uint8Array, start: number, end: number): Uint8Array | undefined {
  const length = end - start
  const rest = length & 3
  if (rest === 1) return undefined
  const out = new Uint8Array((length >> 2) * 3 + (rest === 0 ? 0 : rest - 1))
  const whole = end - rest
  let o = 0
  let i = start
  for (; i < whole; i += 4) {
    const v = (SEXTET[src[i]] << 18) | (SEXTET[src[i + 1]] << 12) | (SEXTET[src[i + 2]] << 6) | SEXTET[src[i + 3]]
    if (v < 0) return undefined
    out[o++] = v >> 16
    out[o++] = v >> 8
    out[o++] = v
  }
  if (rest !== 0) {
    // 2 or 3 characters: 1 or 2 bytes; the bits left over are ignored, as atob does.
    const v = (SEXTET[src[i]] << 18) | (SEXTET[src[i + 1]] << 12) | (rest === 3 ? SEXTET[src[i + 2]] << 6 : 0)
    if (v < 0) return undefined
    out[o++] = v >> 16
    if (rest === 3) out[o++] = v >> 8
  }
  return out
}

function sizeOf(input: unknown): number {
  if (typeof input === 'string') return input.length // a well-formed JWS is ASCII: chars = bytes
  if (input instanceof Uint8Array) return input.byteLength
  if (typeof input === 'object' && input !== null) {
    const { protected: p, payload, signature } = input as Record<string, unknown>
    return [p, payload, signature].reduce<number>((n, part) => n + (typeof part === 'string' ? part.length : 0), 0)
  }
  return 0
}

/**
 * A flattened JWS read from its JSON bytes in place: the payload's text is a view into them, and
 * is decoded already. `protected` and `signature` are as JSON.parse would give them.
 */
interface JwsBytes {
  protected: string
  signature: string
  payloadText: Uint8Array
  decoded: Uint8Array
}

const QUOTE = 0x22
const MEMBERS = ['protected', 'payload', 'signature'] as const

/**
 * The JWS in `bytes` when it is plainly one: an object of exactly the three members, each a
 * string without escapes, its payload canonical base64url, its other members printable ASCII.
 * Then JSON.parse would read the same strings out of it (and the checks after it would find the
 * same), so this only skips making them: undefined for anything else, which parseFlattened
 * reads and names the fault of.
 */
function readFlattenedBytes(bytes: Uint8Array): JwsBytes | undefined {
  const ranges: Partial<Record<(typeof MEMBERS)[number], [number, number]>> = {}
  let i = skipSpace(bytes, 0)
  if (bytes[i++] !== 0x7b) return undefined // '{'
  for (;;) {
    i = skipSpace(bytes, i)
    if (bytes[i] !== QUOTE) return undefined
    const nameEnd = bytes.indexOf(QUOTE, i + 1)
    const name = MEMBERS.find((m) => spells(bytes, i + 1, nameEnd, m))
    if (name === undefined || ranges[name] !== undefined) return undefined
    i = skipSpace(bytes, nameEnd + 1)
    if (bytes[i] !== 0x3a) return undefined // ':'
    i = skipSpace(bytes, i + 1)
    if (bytes[i] !== QUOTE) return undefined
    const end = bytes.indexOf(QUOTE, i + 1)
    if (end < 0) return undefined
    ranges[name] = [i + 1, end]
    i = skipSpace(bytes, end + 1)
    if (bytes[i] === 0x2c) {
      i++ // ','
      continue
    }
    if (bytes[i] !== 0x7d || skipSpace(bytes, i + 1) !== bytes.length) return undefined // '}' and the end
    break
  }
  const { protected: head, payload, signature } = ranges
  if (!head || !payload || !signature) return undefined
  const headText = printable(bytes, head[0], head[1])
  const signatureText = printable(bytes, signature[0], signature[1])
  if (headText === undefined || signatureText === undefined) return undefined
  // Canonical base64url has no backslash, quote or control character: a plain JSON string.
  const payloadText = bytes.subarray(payload[0], payload[1])
  const decoded = decodePayload(undefined, payloadText, 0)
  if (decoded === undefined) return undefined
  return { protected: headText, signature: signatureText, payloadText, decoded }
}

/** JSON's whitespace skipped from `i`. */
function skipSpace(bytes: Uint8Array, i: number): number {
  while (i < bytes.length) {
    const c = bytes[i]
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break
    i++
  }
  return i
}

/** Whether `bytes[start..end)` are the ASCII characters of `text`. */
function spells(bytes: Uint8Array, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false
  for (let k = 0; k < text.length; k++) if (bytes[start + k] !== text.charCodeAt(k)) return false
  return true
}

/** `bytes[start..end)` as a string if every byte is printable ASCII other than a backslash (a JSON string read as it is). */
function printable(bytes: Uint8Array, start: number, end: number): string | undefined {
  let text = ''
  for (let k = start; k < end; k++) {
    const c = bytes[k]
    if (c < 0x20 || c > 0x7e || c === 0x5c) return undefined
    text += String.fromCharCode(c)
  }
  return text
}

function parseFlattened(input: unknown): FlattenedJWS {
  let value = input
  try {
    if (input instanceof Uint8Array) value = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(input)
    if (typeof value === 'string') value = JSON.parse(value)
  } catch {
    throw new EnvelopeError('malformed', 'envelope is not JSON (expected a flattened JWS)')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EnvelopeError('malformed', 'envelope is not a flattened JWS object')
  }
  const jws = value as Record<string, unknown>
  for (const part of ['protected', 'payload', 'signature']) {
    if (typeof jws[part] !== 'string') throw new EnvelopeError('malformed', `flattened JWS has no "${part}" string`)
  }
  // Unprotected header parameters are not signed: refuse them rather than trust or merge them.
  if (jws.header !== undefined) throw new EnvelopeError('malformed', 'unprotected "header" parameters are not accepted')
  return { protected: jws.protected as string, payload: jws.payload as string, signature: jws.signature as string }
}

function readHeader(jws: Pick<FlattenedJWS, 'protected'>): jose.ProtectedHeaderParameters {
  try {
    return jose.decodeProtectedHeader(jws)
  } catch (err) {
    throw new EnvelopeError('malformed', `protected header is not base64url JSON: ${(err as Error).message}`, { cause: err })
  }
}

// ---- agent tokens ----

export interface AgentTokenOptions {
  /** Lifetime in seconds (default 60): the token authenticates one request, so keep it short. */
  ttlSeconds?: number
}

/** A JWT for the agent's requests to the hub (GET /v1/agents/{id}/config). */
export async function createAgentToken(
  agentId: string,
  privateKey: KeyInput,
  now: number,
  opts: AgentTokenOptions = {},
): Promise<string> {
  const key = await keyFor(privateKey, 'private', `private key ${agentId}`)
  const iat = Math.floor(now / 1000)
  return new jose.SignJWT({})
    .setProtectedHeader({ alg: ALG, kid: agentId, typ: 'JWT' })
    .setSubject(agentId)
    .setAudience(HUB_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (opts.ttlSeconds ?? 60))
    .setJti(crypto.randomUUID())
    .sign(key)
}

export interface VerifyAgentTokenOptions {
  now: number
  /** Clock difference tolerated on iat/exp (default 30 s). */
  maxSkewMs?: number
  /** Longest lifetime (exp − iat) accepted, in seconds (default 300). */
  maxLifetimeSeconds?: number
}

export interface AgentTokenClaims {
  agentId: string
  /** Unix milliseconds. */
  expiresAt: number
  jti?: string
}

/**
 * Verifies an agent's bearer token: the same order as verifyBatch (oversize, malformed,
 * unknown_kid, wrong_alg, bad_signature), then the claims: expired, clock_skew (issued in
 * the future), bad_claims (audience, missing claims, too long a lifetime), agent_mismatch
 * (sub ≠ kid).
 */
export async function verifyAgentToken(
  token: string,
  lookupKey: KeyLookup,
  opts: VerifyAgentTokenOptions,
): Promise<AgentTokenClaims> {
  if (typeof token !== 'string') throw new EnvelopeError('malformed', 'token is not a string')
  if (token.length > MAX_TOKEN_BYTES) throw new EnvelopeError('oversize', `token is over ${MAX_TOKEN_BYTES} bytes`)
  let header: jose.ProtectedHeaderParameters
  try {
    header = jose.decodeProtectedHeader(token)
  } catch (err) {
    throw new EnvelopeError('malformed', `not a JWT: ${(err as Error).message}`, { cause: err })
  }
  if (typeof header.kid !== 'string' || header.kid === '') throw new EnvelopeError('malformed', 'JWT header has no kid')
  const kid = header.kid
  const known = await lookupKey(kid)
  if (known === undefined) throw new EnvelopeError('unknown_kid', `no key is registered for kid ${JSON.stringify(kid)}`, { kid })
  if (header.alg !== ALG) throw new EnvelopeError('wrong_alg', `alg is ${JSON.stringify(header.alg)}, only ${ALG} is accepted`, { kid })
  const key = await keyFor(known, 'public', `public key of ${kid}`)
  const skewSeconds = (opts.maxSkewMs ?? 30_000) / 1000
  let claims: jose.JWTPayload
  try {
    ;({ payload: claims } = await jose.jwtVerify(token, key, {
      algorithms: [ALG],
      audience: HUB_AUDIENCE,
      typ: 'JWT',
      currentDate: new Date(opts.now),
      clockTolerance: skewSeconds,
      requiredClaims: ['sub', 'iat', 'exp'],
    }))
  } catch (err) {
    throw tokenError(err, kid)
  }
  if (claims.iat! > opts.now / 1000 + skewSeconds) {
    throw new EnvelopeError('clock_skew', `token issued ${claims.iat! - Math.floor(opts.now / 1000)} s in the future`, { kid })
  }
  const lifetime = claims.exp! - claims.iat!
  const maxLifetime = opts.maxLifetimeSeconds ?? 300
  if (lifetime > maxLifetime) {
    throw new EnvelopeError('bad_claims', `token lifetime ${lifetime} s is over the ${maxLifetime} s limit`, { kid })
  }
  if (claims.sub !== kid) {
    throw new EnvelopeError('agent_mismatch', `token subject ${JSON.stringify(claims.sub)} was signed by ${JSON.stringify(kid)}`, { kid })
  }
  return { agentId: kid, expiresAt: claims.exp! * 1000, jti: typeof claims.jti === 'string' ? claims.jti : undefined }
}

function tokenError(err: unknown, kid: string): EnvelopeError {
  const e = err as { code?: string; claim?: string; reason?: string; message?: string }
  const opts = { kid, cause: err }
  switch (e.code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new EnvelopeError('bad_signature', `token signature does not verify with the key of ${JSON.stringify(kid)}`, opts)
    case 'ERR_JWT_EXPIRED':
      return new EnvelopeError('expired', `token expired: ${e.message}`, opts)
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'iat' || e.claim === 'nbf') return new EnvelopeError('clock_skew', `token ${e.claim}: ${e.message}`, opts)
      return new EnvelopeError('bad_claims', `token ${e.claim ?? 'claims'}: ${e.message}`, opts)
    default:
      return new EnvelopeError('malformed', `invalid token: ${e.message ?? String(err)}`, opts)
  }
}
