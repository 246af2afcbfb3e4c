// The check types the edge runtime can run, by lookup table (as agent/probes/index.ts for Node).
// Anything else (tls inspection, dns, journeys) needs Node: the hub must not assign it to an
// edge vantage (declare `capabilities: [http, tcp, smtp]` on it in hub.yaml), and the worker
// skips it, with an error in its logs, if it is assigned anyway.
import type { CheckType } from '../../../proto/result.ts'
import type { Probe } from '../../core/probe.ts'
import { probeHttp } from './http.ts'
import { probeSmtp } from './smtp.ts'
import { probeTcp } from './tcp.ts'

export const EDGE_PROBES: Partial<Record<CheckType, Probe>> = {
  http: probeHttp,
  tcp: probeTcp,
  smtp: probeSmtp,
}

export const EDGE_CAPABILITIES = Object.keys(EDGE_PROBES) as CheckType[]
