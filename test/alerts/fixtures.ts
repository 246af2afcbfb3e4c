// Hand-built quorum snapshots and hub configs for the alerting suites.
import pino from 'pino'
import { Registry } from 'prom-client'
import { parseHubConfig, type HubConfig } from '../../hub/config.ts'
import type { CheckView, QuorumSnapshot, StaleAgent, VantageView, VantageVote } from '../../hub/quorum/types.ts'
import type { ProbeResult, TlsInfo } from '../../proto/result.ts'

export const T0 = Date.parse('2026-11-22T10:00:00.000Z')
export const DAY = 86_400_000

export const silent = () => pino({ level: 'silent' })

/** A hub config with three vantages and the checks given as YAML list items (indented 2). */
export function hubConfig(checksYaml: string, alerting = ''): HubConfig {
  const text = `
vantages:
  eu: { region: eu }
  us: { region: us }
  edge: { region: global }
${alerting}
checks:
${checksYaml}`
  return parseHubConfig(text, '/tmp/vantage-alerts-test/hub.yaml')
}

export const SHOP = `
  - name: shop
    type: http
    target: https://shop.example/
    interval: 30s
    quorum: { min_down: 2, for: 2m }
    severity: page
    runbook_url: https://wiki.example/shop
`
export const API = `
  - name: api
    type: http
    target: https://api.example/health
    interval: 30s
`
export const MX = `
  - name: mx
    type: smtp
    target: mx.example:25
    interval: 1m
    smtp: { starttls: true }
`

export function result(check: string, vantage: string, fields: Partial<ProbeResult> = {}, at = T0): ProbeResult {
  return {
    check,
    type: 'http',
    target: 'https://shop.example/',
    vantage,
    region: vantage,
    agent_id: `${vantage}-1`,
    result_id: `r-${check}-${vantage}-${at}`,
    round: Math.floor(at / 30_000),
    started_at: new Date(at).toISOString(),
    success: true,
    challenged: false,
    duration_seconds: 0.05,
    error: null,
    error_code: null,
    ...fields,
  }
}

/** A TLS block whose leaf is valid from `notBefore` to `notAfter` (unix ms). */
export function tls(notBefore: number, notAfter: number, fingerprint = 'aa'): TlsInfo {
  return {
    version: 'TLS 1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    chain_valid: true,
    hostname_valid: true,
    verify_error: null,
    earliest_cert_expiry: Math.floor(notAfter / 1000),
    leaf: {
      subject: 'CN=shop.example',
      issuer: 'CN=Test CA',
      not_before: Math.floor(notBefore / 1000),
      not_after: Math.floor(notAfter / 1000),
      dns_names: ['shop.example'],
      fingerprint_sha256: fingerprint,
    },
  }
}

export function vantage(name: string, vote: VantageVote, latest: Partial<ProbeResult> | null = {}, check = 'shop'): VantageView {
  return {
    vantage: name,
    region: name,
    vote,
    impaired: false,
    agents: [`${name}-1`],
    latest: latest === null ? null : result(check, name, { success: vote === 'up', challenged: vote === 'challenged', ...latest }),
    since: T0,
  }
}

export function view(name: string, fields: Partial<CheckView> = {}): CheckView {
  const vantages = fields.vantages ?? [vantage('eu', 'up', {}, name), vantage('us', 'up', {}, name), vantage('edge', 'up', {}, name)]
  return {
    name,
    type: 'http',
    target: name === 'shop' ? 'https://shop.example/' : `https://${name}.example/`,
    state: 'ok',
    since: T0,
    vantages,
    eligible: vantages.filter((v) => v.vote === 'up' || v.vote === 'down').length,
    down: vantages.filter((v) => v.vote === 'down').length,
    min_down: 2,
    disagreement: false,
    disagreement_since: null,
    all_challenged: false,
    cert_mismatch: false,
    incident_id: null,
    severity: 'critical',
    in_maintenance: false,
    ...fields,
  }
}

/** Two of three vantages down with errors: the state given (default outage). */
export function outageView(since = T0, fields: Partial<CheckView> = {}): CheckView {
  return view('shop', {
    state: 'outage',
    since,
    severity: 'page',
    runbook_url: 'https://wiki.example/shop',
    vantages: [
      vantage('eu', 'down', { error: 'connect ECONNREFUSED 192.0.2.1:443', error_code: 'ECONNREFUSED' }),
      vantage('us', 'down', { error: 'HTTP 503', error_code: 'STATUS_MISMATCH' }),
      vantage('edge', 'up'),
    ],
    down: 2,
    eligible: 3,
    incident_id: 1,
    ...fields,
  })
}

export function snapshot(checks: CheckView[], stale_agents: StaleAgent[] = [], at = T0): QuorumSnapshot {
  return { at, checks, stale_agents }
}

/** A mutable snapshot source, as hub.quorum.snapshot() would be. */
export function snapshotSource(initial: QuorumSnapshot) {
  let current = initial
  return {
    get: () => current,
    set(next: QuorumSnapshot) {
      current = next
    },
  }
}

export const registry = () => new Registry()
