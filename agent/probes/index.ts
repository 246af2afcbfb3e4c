// Lookup-table dispatch from check type to probe module (as blackbox_exporter's `Probers`).
// Journeys run k6 scripts on their own runtime (agent/journey/); the probe module wraps it.
import type { CheckType } from '../../proto/result.ts'
import type { Probe } from '../core/probe.ts'
import { probeDns } from './dns.ts'
import { probeHttp } from './http.ts'
import { probeJourney } from './journey.ts'
import { probeSmtp } from './smtp.ts'
import { probeTcp } from './tcp.ts'
import { probeTls } from './tls.ts'

export const probes: Partial<Record<CheckType, Probe>> = {
  http: probeHttp,
  tls: probeTls,
  tcp: probeTcp,
  smtp: probeSmtp,
  dns: probeDns,
  journey: probeJourney,
}
