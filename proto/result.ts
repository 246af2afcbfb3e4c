// The result contract shared by agents, the edge worker and the hub (DESIGN.md, "The result").
// Portable: no `node:` imports. Field names are the JSON names users' scripts depend on.

export type CheckType = 'http' | 'tls' | 'tcp' | 'smtp' | 'dns' | 'journey'

export const CHECK_TYPES: readonly CheckType[] = ['http', 'tls', 'tcp', 'smtp', 'dns', 'journey']

/** Seconds spent in each phase of an HTTP probe, summed over redirects (as blackbox_exporter does). */
export interface HttpPhases {
  resolve: number
  connect: number
  tls: number
  processing: number
  transfer: number
}

export interface HttpInfo {
  status_code: number
  /** "1.1" | "2"; absent when the runtime does not tell (the edge worker's fetch). */
  http_version?: string
  redirects: number
  final_url: string
  body_bytes: number
  /** Absent when the runtime cannot time the phases (the edge worker's fetch): never invented. */
  phases?: HttpPhases
  /** Response headers of the final response, lower-cased names (challenge evidence, assertions). */
  headers?: Record<string, string>
}

export interface CertInfo {
  subject: string
  issuer: string
  not_before: number // unix seconds
  not_after: number // unix seconds
  dns_names: string[]
  fingerprint_sha256: string
  serial?: string
}

export interface TlsInfo {
  version: string // "TLS 1.2" | "TLS 1.3"
  cipher: string
  alpn?: string | null
  chain_valid: boolean
  hostname_valid: boolean
  verify_error: string | null
  /** Earliest NotAfter among the certificates the server sent (blackbox: probe_ssl_earliest_cert_expiry). */
  earliest_cert_expiry: number | null
  /** Earliest NotAfter over the verified chain, trust anchor included; absent when nothing was verified. */
  last_chain_expiry?: number | null
  leaf: CertInfo | null
  /** The certificates the server presented, leaf first (subjects and expiries, for the operator). */
  chain?: CertInfo[]
}

export interface SmtpInfo {
  banner: string
  banner_code: number
  extensions: string[]
  starttls: boolean
}

export interface DnsInfo {
  rcode: string
  answers: string[]
  server?: string
  transport?: 'udp' | 'tcp'
}

export interface StepResult {
  name: string
  success: boolean
  challenged: boolean
  duration_seconds: number
  status_code?: number | null
  error?: string | null
  error_code?: string | null
  checks?: Record<string, { passes: number; fails: number }>
}

/** What a probe module reports; the runner adds identity, timing and ids (see agent/core/run.ts). */
export interface ProbeOutcome {
  success: boolean
  challenged: boolean
  /** Up, but slower than the check's `degraded_after` threshold. */
  degraded?: boolean
  error?: string | null
  error_code?: string | null
  http?: HttpInfo
  tls?: TlsInfo
  smtp?: SmtpInfo
  dns?: DnsInfo
  steps?: StepResult[]
}

/** The JSON form of a result, exactly as `vantage probe --json` prints it. */
export interface ProbeResult extends ProbeOutcome {
  check: string
  type: CheckType
  target: string
  vantage: string
  region: string
  agent_id: string
  result_id: string
  round: number
  started_at: string
  duration_seconds: number
  /** Set by the agent's self-check: its own network is impaired, so a failure here is not a down vote. */
  vantage_impaired?: boolean
}

/**
 * The fields of a result the hub reads to store, dedupe, attribute and vote: all that its
 * ingest decodes (the others are checked, and decoded when the result is shown: /metrics, the
 * review API). See proto/codec.ts, decodeBatchHeads.
 */
export const RESULT_HEAD = ['check', 'type', 'vantage', 'agent_id', 'result_id', 'round', 'started_at', 'success', 'challenged', 'vantage_impaired'] as const

export type ResultHead = Pick<ProbeResult, (typeof RESULT_HEAD)[number]>
