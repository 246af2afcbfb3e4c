// k6/crypto: the hashing itself runs in the worker (node:crypto) through the host; inputs and
// digests cross as base64.
import { call } from './host.ts'
import { base64Decode, base64Encode, hex, toArrayBuffer, toBytes } from './encoding.ts'

type Input = string | ArrayBuffer
type OutputEncoding = 'hex' | 'base64' | 'base64url' | 'base64rawurl' | 'binary'

const ALGORITHMS = ['md4', 'md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha512_224', 'sha512_256', 'ripemd160']

function digest(algorithm: string, data: Uint8Array, key: Uint8Array | null): Uint8Array {
  if (!ALGORITHMS.includes(algorithm)) throw new Error(`k6/crypto: invalid algorithm "${algorithm}" (use ${ALGORITHMS.join(', ')})`)
  const arg = `${algorithm} ${key ? base64Encode(key) : '-'} ${base64Encode(data)}`
  return base64Decode(call('hash', arg))
}

function encode(bytes: Uint8Array, encoding: OutputEncoding): string | ArrayBuffer {
  switch (encoding) {
    case 'hex':
      return hex(bytes)
    case 'base64':
      return base64Encode(bytes, 'std')
    case 'base64url':
      return base64Encode(bytes, 'url')
    case 'base64rawurl':
      return base64Encode(bytes, 'rawurl')
    case 'binary':
      return toArrayBuffer(bytes)
    default:
      throw new Error(`k6/crypto: invalid output encoding "${String(encoding)}" (use hex, base64, base64url, base64rawurl, binary)`)
  }
}

const hashFn = (algorithm: string) => (input: Input, encoding: OutputEncoding) => encode(digest(algorithm, toBytes(input), null), encoding)

export const md4 = hashFn('md4')
export const md5 = hashFn('md5')
export const sha1 = hashFn('sha1')
export const sha256 = hashFn('sha256')
export const sha384 = hashFn('sha384')
export const sha512 = hashFn('sha512')
export const sha512_224 = hashFn('sha512_224')
export const sha512_256 = hashFn('sha512_256')
export const ripemd160 = hashFn('ripemd160')

export function hmac(algorithm: string, secret: Input, input: Input, encoding: OutputEncoding): string | ArrayBuffer {
  return encode(digest(algorithm, toBytes(input), toBytes(secret)), encoding)
}

/** createHash / createHMAC: update() collects, digest() hashes once. */
class Hasher {
  #parts: Uint8Array[] = []
  constructor(
    private readonly algorithm: string,
    private readonly key: Uint8Array | null,
  ) {}

  update(input: Input): void {
    this.#parts.push(toBytes(input))
  }

  digest(encoding: OutputEncoding): string | ArrayBuffer {
    const size = this.#parts.reduce((n, p) => n + p.length, 0)
    const all = new Uint8Array(size)
    let at = 0
    for (const p of this.#parts) {
      all.set(p, at)
      at += p.length
    }
    return encode(digest(this.algorithm, all, this.key), encoding)
  }
}

export function createHash(algorithm: string): Hasher {
  return new Hasher(algorithm, null)
}

export function createHMAC(algorithm: string, secret: Input): Hasher {
  return new Hasher(algorithm, toBytes(secret))
}

export function randomBytes(size: number): ArrayBuffer {
  return toArrayBuffer(base64Decode(call('random', String(size))))
}
