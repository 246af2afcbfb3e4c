// What the Node and the edge HTTP probes share about a request and its report: the headers sent
// (identity, bypass token), what a redirect to another host must not carry, how a Location is
// resolved, and how response headers are reported. Portable: no `node:` imports.
import type { HttpOptions } from '../../proto/check.ts'
import type { ProbeContext } from './probe.ts'

// Sent only to the host the check names: a redirect elsewhere must not carry credentials.
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization']

/** The check's headers, the probe's identity and the bypass header; lower-case names. */
export function requestHeaders(
  opts: HttpOptions,
  ctx: ProbeContext,
  check: { name: string; userAgent: string; missingSecretHint?: string },
): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': check.userAgent }
  for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name.toLowerCase()] = value
  // Always ours: site owners match it in WAF skip rules.
  headers['x-vantage-probe'] = ctx.agent_id
  const bypass = opts.bypass_header
  if (bypass) {
    const value = bypass.value_env !== undefined ? ctx.secrets[bypass.value_env] : bypass.value
    if (value) headers[bypass.name.toLowerCase()] = value
    // Name the missing secret, never a value.
    else ctx.logger.warn({ check: check.name, header: bypass.name, secret: bypass.value_env }, `bypass header secret is not set${check.missingSecretHint ?? ''}; probing without it`)
  }
  return headers
}

/** The headers for a hop to another host: no credentials, no bypass token. */
export function withoutCredentials(headers: Record<string, string>, opts: HttpOptions): Record<string, string> {
  const drop = new Set(CREDENTIAL_HEADERS)
  if (opts.bypass_header) drop.add(opts.bypass_header.name.toLowerCase())
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !drop.has(name)))
}

/** An http(s) URL, or null: the target itself, or a Location relative to the hop's URL. */
export function httpUrl(text: string, base?: URL): URL | null {
  try {
    const url = new URL(text, base)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null
  } catch {
    return null
  }
}

/** Headers as reported in the result: set-cookie keeps only the cookie names (no session values). */
export function reportedHeaders(headers: Record<string, string>): Record<string, string> {
  const out = { ...headers }
  if (out['set-cookie'] !== undefined) out['set-cookie'] = cookieNames(out['set-cookie'])
  return out
}

// Cookies joined with ", " (Expires dates contain ", " too): a name is what follows the start
// or a ", " and precedes "=", without spaces or ";".
function cookieNames(joined: string): string {
  return [...joined.matchAll(/(?:^|, )([^=;,\s]+)=/g)].map((m) => m[1]).join(', ')
}

/** The first `maxBytes` of a body as text, for assertions and challenge markers. */
export function decodeBody(body: Uint8Array, maxBytes: number): string {
  return new TextDecoder().decode(body.length > maxBytes ? body.subarray(0, maxBytes) : body)
}
