// Results and batches for the wire-contract tests and benchmark.
import type { ResultBatch } from '../../proto/batch.ts'
import type { ProbeResult } from '../../proto/result.ts'

/** Every optional key required and every nullable one non-null, all the way down. */
type Full<T> = T extends (infer U)[] ? Full<U>[] : T extends object ? { [K in keyof T]-?: Full<NonNullable<T[K]>> } : T

const cert = (cn: string, notAfter: number): Full<ProbeResult>['tls']['leaf'] => ({
  subject: `CN=${cn}`,
  issuer: 'CN=Test CA',
  not_before: 1_700_000_000,
  not_after: notAfter,
  dns_names: [cn, `www.${cn}`],
  fingerprint_sha256: 'AB:CD:EF:01',
  serial: '0A1B2C',
})

/**
 * A result with every field of proto/result.ts set. Typed `Full<ProbeResult>`, so a field added
 * to result.ts breaks the type-check here until it is added, and then the round trip fails
 * until vantage.proto carries it too.
 */
export const fullResult: Full<ProbeResult> = {
  check: 'shop-home',
  type: 'journey',
  target: 'https://shop.example/',
  vantage: 'eu-west',
  region: 'eu',
  agent_id: 'eu-1',
  result_id: '0193a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b',
  round: 29_012_345,
  started_at: '2026-11-22T10:00:00.000Z',
  success: true,
  challenged: true, // contradicts success on purpose: the codec carries, it does not judge
  degraded: true,
  duration_seconds: 0.0123,
  vantage_impaired: true,
  error: 'certificate has expired',
  error_code: 'CERT_HAS_EXPIRED',
  http: {
    status_code: 503,
    http_version: '2',
    redirects: 3,
    final_url: 'https://shop.example/fr/?q=é',
    body_bytes: 6_000_000_000, // over 32 bits
    phases: { resolve: 0.0001, connect: 0.0003, tls: 0.004, processing: 0.002, transfer: 1e-9 },
    headers: { server: 'cloudflare', 'cf-mitigated': 'challenge', ['__proto__']: 'not a prototype' },
  },
  tls: {
    version: 'TLS 1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    alpn: 'h2',
    chain_valid: true,
    hostname_valid: true,
    verify_error: 'CERT_HAS_EXPIRED',
    earliest_cert_expiry: 1_763_800_000,
    last_chain_expiry: 1_763_800_000.5,
    leaf: cert('shop.example', 1_763_800_000),
    chain: [cert('shop.example', 1_763_800_000), cert('Intermediate', 1_900_000_000)],
  },
  smtp: { banner: '220 mx.example ESMTP', banner_code: 220, extensions: ['PIPELINING', 'STARTTLS', '8BITMIME'], starttls: true },
  dns: { rcode: 'NOERROR', answers: ['192.0.2.1', '2001:db8::1'], server: '127.0.0.1:5353', transport: 'tcp' },
  steps: [
    {
      name: 'login',
      success: true,
      challenged: true,
      duration_seconds: 0.1,
      status_code: 200,
      error: 'x',
      error_code: 'HTTP_STATUS_UNEXPECTED',
      checks: { 'status is 200': { passes: 1, fails: 0 }, 'has cart': { passes: 0, fails: 4_000_000_000 } },
    },
  ],
}

/** Only the keys result.ts requires, and every value its zero: nothing optional, nothing set. */
export const minimalResult: ProbeResult = {
  check: 'c',
  type: 'tcp',
  target: '127.0.0.1:1',
  vantage: 'v',
  region: '',
  agent_id: 'a',
  result_id: 'r',
  round: 0,
  started_at: '1970-01-01T00:00:00.000Z',
  success: false,
  challenged: false,
  duration_seconds: 0,
}

let seq = 0

/** A batch of `n` results, like an agent's, for agent `agentId` (eu-1 by default). */
export function batchOf(n: number, opts: { agentId?: string; sentAt?: number } = {}): ResultBatch {
  const agentId = opts.agentId ?? 'eu-1'
  const results: ProbeResult[] = []
  for (let i = 0; i < n; i++) {
    results.push({
      ...minimalResult,
      check: `check-${i % 50}`,
      type: 'http',
      target: `https://site-${i % 50}.example/`,
      vantage: 'eu-west',
      region: 'eu',
      agent_id: agentId,
      result_id: `0193a3b4-c5d6-7e8f-9a0b-${String(i).padStart(12, '0')}`,
      round: 29_012_345,
      started_at: '2026-11-22T10:00:00.000Z',
      success: i % 7 !== 0,
      duration_seconds: 0.01 + i / 1e5,
      error: i % 7 === 0 ? 'connection refused' : null,
      error_code: i % 7 === 0 ? 'CONNECTION_REFUSED' : null,
      http: {
        status_code: 200,
        http_version: '1.1',
        redirects: 0,
        final_url: `https://site-${i % 50}.example/`,
        body_bytes: 5120,
        phases: { resolve: 0.0001, connect: 0.0003, tls: 0.004, processing: 0.002, transfer: 0.0001 },
      },
    })
  }
  return { agent_id: agentId, vantage: 'eu-west', seq: ++seq, sent_at: opts.sentAt ?? Date.now(), results, dropped: 0 }
}
