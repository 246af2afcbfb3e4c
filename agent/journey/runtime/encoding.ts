// k6/encoding and the byte helpers the other modules need. The vm context has no TextEncoder,
// atob or Buffer, so UTF-8 and base64 are done by hand.

export type Base64Variant = 'std' | 'rawstd' | 'url' | 'rawurl'

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

export function utf8Encode(text: string): Uint8Array {
  const out: number[] = []
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i)
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1)
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      }
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd // lone surrogate
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
  }
  return new Uint8Array(out)
}

export function utf8Decode(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]
    let c: number
    let n: number
    if (b < 0x80) [c, n] = [b, 1]
    else if (b >= 0xc2 && b < 0xe0) [c, n] = [b & 31, 2]
    else if (b >= 0xe0 && b < 0xf0) [c, n] = [b & 15, 3]
    else if (b >= 0xf0 && b < 0xf5) [c, n] = [b & 7, 4]
    else [c, n] = [0xfffd, 0]
    if (n === 0) {
      out += '\ufffd'
      i++
      continue
    }
    let ok = i + n <= bytes.length
    for (let k = 1; ok && k < n; k++) {
      const cont = bytes[i + k]
      if ((cont & 0xc0) !== 0x80) ok = false
      else c = (c << 6) | (cont & 63)
    }
    if (!ok) {
      out += '\ufffd'
      i++
      continue
    }
    out += String.fromCodePoint(c)
    i += n
  }
  return out
}

export function base64Encode(bytes: Uint8Array, variant: Base64Variant = 'std'): string {
  const alphabet = variant === 'url' || variant === 'rawurl' ? URL_SAFE : STD
  const pad = variant === 'std' || variant === 'url'
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    const left = bytes.length - i
    out += alphabet[(n >> 18) & 63] + alphabet[(n >> 12) & 63]
    out += left > 1 ? alphabet[(n >> 6) & 63] : pad ? '=' : ''
    out += left > 2 ? alphabet[n & 63] : pad ? '=' : ''
  }
  return out
}

export function base64Decode(text: string, variant: Base64Variant = 'std'): Uint8Array {
  const urlSafe = variant === 'url' || variant === 'rawurl'
  const clean = text.replace(/=+$/, '')
  const out: number[] = []
  let bits = 0
  let value = 0
  for (const ch of clean) {
    const i = (urlSafe ? URL_SAFE : STD).indexOf(ch)
    if (i < 0) throw new Error(`b64decode: illegal base64 data at input byte ${out.length}`)
    value = (value << 6) | i
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out.push((value >> bits) & 255)
    }
  }
  return new Uint8Array(out)
}

/** Bytes of a k6 input: strings as UTF-8, ArrayBuffers and views as they are. */
export function toBytes(input: unknown): Uint8Array {
  if (typeof input === 'string') return utf8Encode(input)
  if (input instanceof ArrayBuffer) return new Uint8Array(input)
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  if (input === null || input === undefined) return new Uint8Array(0)
  return utf8Encode(String(input))
}

export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

export function hex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += (b < 16 ? '0' : '') + b.toString(16)
  return out
}

// k6/encoding
export function b64encode(input: string | ArrayBuffer, variant: Base64Variant = 'std'): string {
  return base64Encode(toBytes(input), variant)
}

export function b64decode(input: string, variant: Base64Variant = 'std', format?: 's'): ArrayBuffer | string {
  const bytes = base64Decode(input, variant)
  return format === 's' ? utf8Decode(bytes) : toArrayBuffer(bytes)
}
