// Random well-typed results and batches for the codec's property tests: every optional key
// present or not, every nullable null or not, lists and maps empty or not, strings ASCII or
// not (short, long, a BOM, a lone "__proto__" key), integers at the edges of their ranges.
// Keys come in .proto order, as the decoder returns them, so JSON texts can be compared too.
import type { ResultBatch } from '../../proto/batch.ts'
import type { CertInfo, ProbeResult, StepResult } from '../../proto/result.ts'
import { CHECK_TYPES } from '../../proto/result.ts'

export type Rand = (n: number) => number

/** xorshift32: the same sequence on every run, so a failure can be replayed. */
export function randomSource(seed: number): Rand {
  let s = seed | 0 || 1
  return (n) => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) % n
  }
}

const STRINGS = [
  '',
  'a',
  'eu-west',
  'https://shop.example/fr/?q=é',
  '日本語のテキスト',
  'emoji 😀 and more 🎉',
  '\uFEFFstarts with a BOM',
  'nul \u0000 inside',
  '__proto__', // ("constructor" is left out: toStrictEqual compares objects' .constructor, own or not)
  'x'.repeat(63),
  'y'.repeat(64),
  'long ascii '.repeat(20),
  `${'z'.repeat(40)}é${'z'.repeat(40)}`,
]

export function randomString(rand: Rand): string {
  if (rand(3) > 0) return STRINGS[rand(STRINGS.length)]
  const length = rand(90)
  let s = ''
  for (let i = 0; i < length; i++) {
    const kind = rand(10)
    s += kind < 7 ? String.fromCharCode(32 + rand(95)) : kind < 9 ? String.fromCharCode(0xa0 + rand(0x700)) : '𝄞'
  }
  return s
}

const pick = <T>(rand: Rand, values: readonly T[]): T => values[rand(values.length)]

const DOUBLES = [0, -0, 1.5, -2.25, 1e-9, 1e300, -1e-300, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN, 1_790_000_000.5]
const UINT32 = [0, 1, 127, 128, 200, 503, 2 ** 31, 2 ** 32 - 1]
const INT64 = [0, 1, -1, 127, -128, 2 ** 31, -(2 ** 31) - 1, 2 ** 40, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 29_012_345]
const UINT64 = [0, 1, 5120, 2 ** 32, 6_000_000_000, Number.MAX_SAFE_INTEGER]

const double = (rand: Rand) => (rand(4) === 0 ? rand(1_000_000) / 1000 : pick(rand, DOUBLES))
const uint32 = (rand: Rand) => (rand(3) === 0 ? rand(2 ** 31) : pick(rand, UINT32))
const int64 = (rand: Rand) => (rand(3) === 0 ? rand(2 ** 31) - 2 ** 30 : pick(rand, INT64))
const uint64 = (rand: Rand) => (rand(3) === 0 ? rand(2 ** 31) : pick(rand, UINT64))
const bool = (rand: Rand) => rand(2) === 1

/** Sets `key` on `obj` (in the order called) with probability 1/2. */
function maybe<T extends object>(rand: Rand, obj: T, key: string, value: () => unknown): void {
  if (rand(2) === 0) (obj as Record<string, unknown>)[key] = value()
}

function nullable<T>(rand: Rand, value: () => T): T | null {
  return rand(3) === 0 ? null : value()
}

function list<T>(rand: Rand, item: () => T, max = 4): T[] {
  return Array.from({ length: rand(max + 1) }, item)
}

function map<T>(rand: Rand, value: () => T): Record<string, T> {
  const out: Record<string, T> = {}
  for (let i = rand(4); i > 0; i--) {
    Object.defineProperty(out, randomString(rand), { value: value(), enumerable: true, writable: true, configurable: true })
  }
  return out
}

function cert(rand: Rand): CertInfo {
  const c: CertInfo = {
    subject: randomString(rand),
    issuer: randomString(rand),
    not_before: double(rand),
    not_after: double(rand),
    dns_names: list(rand, () => randomString(rand)),
    fingerprint_sha256: randomString(rand),
  }
  maybe(rand, c, 'serial', () => randomString(rand))
  return c
}

function step(rand: Rand): StepResult {
  const s: StepResult = { name: randomString(rand), success: bool(rand), challenged: bool(rand), duration_seconds: double(rand) }
  maybe(rand, s, 'status_code', () => nullable(rand, () => uint32(rand)))
  maybe(rand, s, 'error', () => nullable(rand, () => randomString(rand)))
  maybe(rand, s, 'error_code', () => nullable(rand, () => randomString(rand)))
  maybe(rand, s, 'checks', () => map(rand, () => ({ passes: uint32(rand), fails: uint32(rand) })))
  return s
}

/** A result of random shape; `agentId`, when given, is its agent_id (for batches). */
export function randomResult(rand: Rand, agentId?: string): ProbeResult {
  const nonEmpty = () => randomString(rand) || 'x'
  const r: ProbeResult = {
    check: nonEmpty(),
    type: pick(rand, CHECK_TYPES),
    target: randomString(rand),
    vantage: nonEmpty(),
    region: randomString(rand),
    agent_id: agentId ?? nonEmpty(),
    result_id: nonEmpty(),
    round: int64(rand),
    started_at: new Date(1_700_000_000_000 + rand(2 ** 31) * 1000).toISOString(),
    success: bool(rand),
    challenged: bool(rand),
    duration_seconds: double(rand),
  }
  maybe(rand, r, 'degraded', () => bool(rand))
  maybe(rand, r, 'vantage_impaired', () => bool(rand))
  maybe(rand, r, 'error', () => nullable(rand, () => randomString(rand)))
  maybe(rand, r, 'error_code', () => nullable(rand, () => randomString(rand)))
  maybe(rand, r, 'http', () => {
    const http: Record<string, unknown> = { status_code: uint32(rand) }
    maybe(rand, http, 'http_version', () => randomString(rand))
    http.redirects = uint32(rand)
    http.final_url = randomString(rand)
    http.body_bytes = uint64(rand)
    maybe(rand, http, 'phases', () => ({
      resolve: double(rand),
      connect: double(rand),
      tls: double(rand),
      processing: double(rand),
      transfer: double(rand),
    }))
    maybe(rand, http, 'headers', () => map(rand, () => randomString(rand)))
    return http
  })
  maybe(rand, r, 'tls', () => {
    const tls: Record<string, unknown> = { version: randomString(rand), cipher: randomString(rand) }
    maybe(rand, tls, 'alpn', () => nullable(rand, () => randomString(rand)))
    tls.chain_valid = bool(rand)
    tls.hostname_valid = bool(rand)
    tls.verify_error = nullable(rand, () => randomString(rand))
    tls.earliest_cert_expiry = nullable(rand, () => double(rand))
    maybe(rand, tls, 'last_chain_expiry', () => nullable(rand, () => double(rand)))
    tls.leaf = nullable(rand, () => cert(rand))
    maybe(rand, tls, 'chain', () => list(rand, () => cert(rand), 3))
    return tls
  })
  maybe(rand, r, 'smtp', () => ({
    banner: randomString(rand),
    banner_code: uint32(rand),
    extensions: list(rand, () => randomString(rand)),
    starttls: bool(rand),
  }))
  maybe(rand, r, 'dns', () => {
    const dns: Record<string, unknown> = { rcode: randomString(rand), answers: list(rand, () => randomString(rand)) }
    maybe(rand, dns, 'server', () => randomString(rand))
    maybe(rand, dns, 'transport', () => pick(rand, ['udp', 'tcp']))
    return dns
  })
  maybe(rand, r, 'steps', () => list(rand, () => step(rand), 3))
  return r
}

export function randomBatch(rand: Rand, maxResults = 5): ResultBatch {
  const agentId = randomString(rand) || 'agent'
  return {
    agent_id: agentId,
    vantage: randomString(rand) || 'vantage',
    seq: uint64(rand),
    sent_at: int64(rand),
    results: Array.from({ length: rand(maxResults + 1) }, () => randomResult(rand, agentId)),
    dropped: uint64(rand),
  }
}
