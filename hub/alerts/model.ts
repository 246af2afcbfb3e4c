// The hub's alerts: names, shape, identity. What fires is decided in rules.ts (pure, from the
// quorum snapshot); when it is sent is decided in notifier.ts; how, in receivers.ts.

export const ALERT_NAMES = ['QuorumOutage', 'QuorumUnknown', 'QuorumChallenged', 'VantageStale', 'CertificateExpiringSoon'] as const
export type AlertName = (typeof ALERT_NAMES)[number]

/** Severity of the alerts that are not about a check's own severity. */
export const WARNING = 'warning'
export const CRITICAL = 'critical'

/** One alert condition as the rules see it at one evaluation. */
export interface AlertCondition {
  name: AlertName
  /** alertname first, then the identifying labels (check, vantage, …) and severity. */
  labels: Record<string, string>
  /** summary, description, runbook_url, and per-alert extras (failing_vantages, expires_at, …). */
  annotations: Record<string, string>
  /** The check the alert is about: its maintenance windows apply. Absent for vantage alerts. */
  check?: string
  /** Where the operator looks: a path on the hub, e.g. `/review?check=shop-home`. */
  review_path: string
  /**
   * When the condition began, when the snapshot knows it (a check's `since`). Otherwise the
   * notifier takes the first evaluation that saw it.
   */
  active_since?: number
  /** How long the condition must hold before the alert fires (0: at once). */
  for_ms: number
}

/** An alert as delivered: firing (ends_at null) or resolved. */
export interface AlertMessage {
  fingerprint: string
  name: AlertName
  labels: Record<string, string>
  annotations: Record<string, string>
  status: 'firing' | 'resolved'
  /** Unix ms. */
  starts_at: number
  /** Unix ms: the resolution time, or null while firing. */
  ends_at: number | null
  review_path: string
}

/** Stable identity of an alert: its label set (as Alertmanager identifies alerts). */
export function fingerprint(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]))
}
