// Result ids and rounds. Portable: uses the WebCrypto global, no `node:` imports.

/** A UUIDv7 (RFC 9562): time-ordered, so results sort by creation and index well. */
export function uuidv7(nowMs: number): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  let ms = Math.floor(nowMs)
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70 // version 7
  bytes[8] = (bytes[8] & 0x3f) | 0x80 // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** The round a check is in at `nowMs`: every vantage probes the same round (DESIGN.md, "Words"). */
export function roundOf(nowMs: number, intervalMs: number): number {
  return Math.floor(nowMs / intervalMs)
}
