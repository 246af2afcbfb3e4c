// A check as agents receive it: the hub's config normalised (durations in milliseconds).
// Portable: no `node:` imports.
import type { CheckType } from './result.ts'

export interface BypassHeader {
  name: string
  /** Name of the secret (agent environment variable / worker secret) that holds the value. */
  value_env?: string
  /** A literal value; prefer value_env so the token never sits in a config file. */
  value?: string
}

export interface HeaderAssertion {
  name: string
  /** Regular expression the header value must match. */
  matches?: string
  /** Fail when the header is present (and matches `matches`, when given). */
  absent?: boolean
}

export interface HttpOptions {
  method?: string
  headers?: Record<string, string>
  body?: string
  follow_redirects?: boolean // default true
  max_redirects?: number // default 10
  expect_status?: string[] // ["200-299", "301"], default ["200-299"]
  body_contains?: string
  body_not_contains?: string
  body_matches?: string // regex
  body_not_matches?: string // regex
  header_assertions?: HeaderAssertion[]
  /** Latency (ms) above which a successful probe is reported `degraded`. */
  degraded_after_ms?: number
  /** "1.1" forces HTTP/1.1; "2" offers h2 over ALPN (falls back to 1.1 when the server declines). */
  http_version?: '1.1' | '2'
  bypass_header?: BypassHeader
}

export interface TlsOptions {
  /** SNI and the name to verify; default: the target's host. */
  servername?: string
  /** Extra trusted CA certificates, PEM. */
  ca?: string
  /** Report, but do not fail on, an invalid certificate. */
  insecure?: boolean
}

export interface TcpExchange {
  send?: string
  expect?: string // regex
}

export interface TcpOptions {
  /** Like blackbox's query_response: steps run in order after connecting. */
  query_response?: TcpExchange[]
  /** Wrap the connection in TLS right away. */
  tls?: boolean
}

export interface SmtpOptions {
  starttls?: boolean
  /** Implicit TLS (port 465). */
  tls?: boolean
  ehlo?: string
}

export type DnsRecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'CNAME' | 'NS'

export interface DnsOptions {
  record_type?: DnsRecordType // default A
  /** IP or IP:PORT; default: the system's first resolver. */
  server?: string
  transport?: 'udp' | 'tcp' // default udp, with TCP fallback on truncation
  expect?: string[]
  expect_mode?: 'all' | 'any' // default all
  expect_rcode?: string[] // default ["NOERROR"]
}

export interface JourneyOptions {
  /** The script's path as configured (names it in results and messages; .ts is TypeScript). */
  script: string
  /**
   * The script itself, one self-contained file (relative imports bundled: see bundleJourney in
   * agent/journey/compile.ts), as the hub distributes it. Without it the agent reads `script`
   * from disk (relative to its working directory), relative imports included.
   */
  source?: string
  /** __ENV values. */
  env?: Record<string, string>
  /** __ENV names filled from secrets (agent environment variables / worker secrets) by name. */
  secret_env?: Record<string, string>
}

export interface CheckSpec {
  name: string
  type: CheckType
  target: string
  interval_ms: number
  timeout_ms: number
  http?: HttpOptions
  tls?: TlsOptions
  tcp?: TcpOptions
  smtp?: SmtpOptions
  dns?: DnsOptions
  journey?: JourneyOptions
}
