// The quorum view on GET /metrics (DESIGN.md, "What Prometheus sees"): every series of every
// configured check is present at every scrape (0/1 per state, a count per vote), so alert
// rules and dashboards never see a series vanish when a value changes.
import { Gauge, type Registry } from 'prom-client'
import type { QuorumEngine } from './engine.ts'
import { CHECK_STATES, VANTAGE_VOTES, type QuorumSnapshot } from './types.ts'

export function registerQuorumMetrics(registry: Registry, engine: Pick<QuorumEngine, 'snapshot' | 'current'>): void {
  const registers = [registry]
  // The first family of a scrape evaluates (registration order is collect order); the others
  // read that same view, so one scrape never mixes two evaluations.
  let first = true
  const snapshot = (): QuorumSnapshot => {
    const s = first ? engine.snapshot() : engine.current()
    first = false
    return s
  }
  const perCheck = (name: string, help: string, value: (c: QuorumSnapshot['checks'][number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['check'],
      registers,
      collect() {
        this.reset()
        for (const c of snapshot().checks) this.set({ check: c.name }, value(c))
      },
    })

  new Gauge({
    name: 'synthetic_check_outage',
    help: 'Whether the quorum declared an outage of the check (1) or not (0).',
    labelNames: ['check'],
    registers,
    collect() {
      first = true
      this.reset()
      for (const c of snapshot().checks) this.set({ check: c.name }, c.state === 'outage' ? 1 : 0)
    },
  })
  new Gauge({
    name: 'synthetic_check_state',
    help: 'The check’s quorum state: 1 for the current state (ok, pending, outage, unknown), 0 for the others.',
    labelNames: ['check', 'state'],
    registers,
    collect() {
      this.reset()
      for (const c of snapshot().checks) for (const state of CHECK_STATES) this.set({ check: c.name, state }, c.state === state ? 1 : 0)
    },
  })
  new Gauge({
    name: 'synthetic_check_vantages',
    help: 'How many of the check’s vantages vote up, down, challenged, stale or muted (an impaired vantage shows down but casts no vote).',
    labelNames: ['check', 'vote'],
    registers,
    collect() {
      this.reset()
      for (const c of snapshot().checks) {
        for (const vote of VANTAGE_VOTES) this.set({ check: c.name, vote }, c.vantages.filter((v) => v.vote === vote).length)
      }
    },
  })
  perCheck('synthetic_check_disagreement', 'Whether, among eligible vantages, some see the check up and some down.', (c) => (c.disagreement ? 1 : 0))
  perCheck('synthetic_check_all_challenged', 'Whether every vantage with a live vote is answered with a bot/WAF challenge (QuorumChallenged).', (c) =>
    c.all_challenged ? 1 : 0,
  )
  perCheck('synthetic_check_cert_mismatch', 'Whether vantages saw different leaf certificates for the check’s target.', (c) => (c.cert_mismatch ? 1 : 0))
  perCheck('synthetic_check_eligible_votes', 'Eligible voting units (failure domains count once).', (c) => c.eligible)
  perCheck('synthetic_check_down_votes', 'Eligible voting units that are down (failure domains count once).', (c) => c.down)
  perCheck('synthetic_check_min_down', 'K: how many down voting units make a quorum now.', (c) => c.min_down)
  perCheck('synthetic_check_impaired_vantages', 'Vantages whose own network is impaired (their failures cast no down vote).', (c) =>
    c.vantages.filter((v) => v.impaired).length,
  )
}
