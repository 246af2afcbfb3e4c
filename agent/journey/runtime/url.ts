// URL parsing for the runtime: the vm context has no URL class, so the worker's WHATWG parser
// does it through the host (strings in, strings out).
import { callJson } from './host.ts'

export interface ParsedUrl {
  href: string
  protocol: string
  username: string
  password: string
  hostname: string
  host: string
  port: string
  pathname: string
  search: string
  hash: string
}

const cache = new Map<string, ParsedUrl | string>()

/** Parses `input` (relative to `base` when given); throws a k6-style error for an invalid URL. */
export function parseUrl(input: string, base?: string): ParsedUrl {
  const key = `${base ?? ''}\n${input}`
  let hit = cache.get(key)
  if (hit === undefined) {
    const reply = callJson<{ ok: ParsedUrl } | { error: string }>('url', { input, base })
    hit = 'ok' in reply ? reply.ok : reply.error
    if (cache.size > 1000) cache.clear()
    cache.set(key, hit)
  }
  if (typeof hit === 'string') throw new Error(hit)
  return hit
}

export function isHttpUrl(u: ParsedUrl): boolean {
  return u.protocol === 'http:' || u.protocol === 'https:'
}

/** The URL without user info or fragment (what k6 reports as `url` and sends as Referer). */
export function cleanHref(u: ParsedUrl): string {
  const port = u.port ? `:${u.port}` : ''
  return `${u.protocol}//${u.hostname.includes(':') && !u.hostname.startsWith('[') ? `[${u.hostname}]` : u.hostname}${port}${u.pathname}${u.search}`
}
