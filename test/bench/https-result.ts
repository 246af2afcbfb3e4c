// A result as the agent makes it for an https check (http phases and the TLS block): the
// realistic result the ingest and envelope benches push and decode.
import { uuidv7 } from '../../agent/core/ids.ts'
import type { ProbeResult } from '../../proto/result.ts'

export interface ResultOrigin {
  id: string
  vantage: string
  region: string
}

/** The k-th result of `agent`, cycling through `checks` check names, round of `intervalMs`. */
export function httpsResult(agent: ResultOrigin, k: number, opts: { checks: number; intervalMs: number }, now: number): ProbeResult {
  const check = k % opts.checks
  const ok = k % 13 !== 0
  const target = `https://site-${check}.example/`
  return {
    check: `check-${String(check).padStart(3, '0')}`,
    type: 'http',
    target,
    vantage: agent.vantage,
    region: agent.region,
    agent_id: agent.id,
    result_id: uuidv7(now),
    round: Math.floor(now / opts.intervalMs),
    started_at: new Date(now - 120).toISOString(),
    success: ok,
    challenged: false,
    duration_seconds: 0.08 + (k % 50) / 1000,
    error: ok ? null : 'expected status 200-299, got 503',
    error_code: ok ? null : 'STATUS_MISMATCH',
    http: {
      status_code: ok ? 200 : 503,
      http_version: '1.1',
      redirects: 0,
      final_url: target,
      body_bytes: 5120 + (k % 100),
      phases: { resolve: 0.0011, connect: 0.012, tls: 0.031, processing: 0.024, transfer: 0.0007 },
    },
    tls: {
      version: 'TLS 1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      alpn: 'http/1.1',
      chain_valid: true,
      hostname_valid: true,
      verify_error: null,
      earliest_cert_expiry: 1_790_000_000,
      last_chain_expiry: 1_790_000_000,
      leaf: {
        subject: `CN=site-${check}.example`,
        issuer: "CN=R11,O=Let's Encrypt,C=US",
        not_before: 1_782_000_000,
        not_after: 1_790_000_000,
        dns_names: [`site-${check}.example`, `www.site-${check}.example`],
        fingerprint_sha256: 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
      },
    },
  }
}
