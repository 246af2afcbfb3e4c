// When a certificate's expiry deserves an alert (CertificateExpiringSoon).
//
// The rule, from the certificate that expires first (`tls.earliest_cert_expiry`, the earliest
// NotAfter among the certificates the server sent), taking the earliest over the vantages:
//
//   - a certificate whose lifetime (NotAfter − NotBefore) is at least 63 days: `warning` when
//     it expires in under 21 days, `critical` under 7 days;
//   - a short-lived certificate (lifetime under 63 days, e.g. 6-day or 45-day ACME
//     certificates): `warning` under a third of its lifetime, `critical` under a ninth;
//   - an expired certificate is `critical`.
//
// 63 days is where the two rules meet (63 / 3 = 21, 63 / 9 = 7), so the thresholds never jump.
// When the lifetime is unknown (no NotBefore for the certificate that expires first), the fixed
// 21/7-day thresholds apply.

export const DAY_MS = 86_400_000
export const WARNING_MS = 21 * DAY_MS
export const CRITICAL_MS = 7 * DAY_MS
/** Below this lifetime a certificate is short-lived: thresholds scale with its lifetime. */
export const SHORT_LIVED_MS = 63 * DAY_MS

export type CertSeverity = 'warning' | 'critical'

export interface CertThresholds {
  warning_ms: number
  critical_ms: number
  short_lived: boolean
}

/** The thresholds for a certificate of this lifetime (ms; null when unknown). */
export function certThresholds(lifetimeMs: number | null): CertThresholds {
  if (lifetimeMs !== null && lifetimeMs > 0 && lifetimeMs < SHORT_LIVED_MS) {
    return { warning_ms: lifetimeMs / 3, critical_ms: lifetimeMs / 9, short_lived: true }
  }
  return { warning_ms: WARNING_MS, critical_ms: CRITICAL_MS, short_lived: false }
}

/** The severity for a certificate expiring at `expiresAtMs`, or null when it is not yet due. */
export function certSeverity(expiresAtMs: number, lifetimeMs: number | null, nowMs: number): CertSeverity | null {
  const left = expiresAtMs - nowMs
  const t = certThresholds(lifetimeMs)
  if (left < t.critical_ms) return 'critical'
  if (left < t.warning_ms) return 'warning'
  return null
}

/** "3d 4h", "5h 12m", "40m", or "expired 2d ago". */
export function formatLeft(ms: number): string {
  const abs = Math.abs(ms)
  const d = Math.floor(abs / DAY_MS)
  const h = Math.floor((abs % DAY_MS) / 3_600_000)
  const m = Math.floor((abs % 3_600_000) / 60_000)
  const text = d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`
  return ms < 0 ? `expired ${text} ago` : text
}
