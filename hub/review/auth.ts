// Who may use the operator API: with an operator token configured, every request must carry
// `Authorization: Bearer <token>` (compared in constant time over equal-length digests);
// without one, only loopback clients are answered.
import { createHash, timingSafeEqual } from 'node:crypto'
import { ApiError } from './errors.ts'

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

/** Constant-time comparison of two secrets of any length (their SHA-256 digests are compared). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest()
  const b = createHash('sha256').update(expected, 'utf8').digest()
  return timingSafeEqual(a, b)
}

/** Throws ApiError (401/403) unless the request may use the operator API. */
export function authorize(token: string | null, authorization: string | undefined, remoteAddress: string | undefined): void {
  if (token === null) {
    if (isLoopback(remoteAddress)) return
    throw new ApiError(
      'forbidden',
      `the operator API answers loopback clients only (this request came from ${remoteAddress ?? 'an unknown address'}); set operator_token_file in hub.yaml to allow remote operators with a bearer token`,
    )
  }
  if (!authorization) throw new ApiError('unauthorized', 'missing Authorization header: send `Authorization: Bearer <operator token>`')
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
  if (!m) throw new ApiError('unauthorized', 'the Authorization header must be `Bearer <operator token>`')
  if (!sameSecret(m[1], token)) throw new ApiError('unauthorized', 'the bearer token is not the operator token')
}
