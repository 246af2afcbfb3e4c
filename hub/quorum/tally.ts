// Counting votes (DESIGN.md, "Dedupe and quorum"). Pure functions over one check's vantages:
// the engine feeds them what the store and the operator say, and persists what they decide.
//
// Eligibility. A vantage votes when it is `up`, or `down` and not impaired. `challenged`,
// `stale` and `muted` vantages cast no vote; an impaired vantage (its own canaries failed too)
// casts no down vote, so while it is down it is not eligible either (it only ever shows
// `impaired` with a down vote: a vantage that succeeded proved its network works).
//
// Failure domains × K. Vantages that name the same `failure_domain` are correlated (one
// provider, one ASN): their down votes count once. To keep K reachable, eligibility is counted
// in the same unit: every failure domain with at least one eligible vantage is one voting unit
// (a vantage without a failure_domain is a unit of its own). So
//   eligible = units with an eligible vantage, down = units with a (counted) down vote,
//   up = units with an up vote (a unit may be both: its vantages disagree),
//   K = min_down.count, or ceil(numerator × eligible / denominator) (at least 1) for a fraction.
// Consequences: two down vantages of one provider never make `min_down: 2` alone; and when the
// only eligible vantages share a domain, eligible (1) < K (2) and the state is `unknown`, not a
// misleading `ok` that could never turn into an outage.
import type { MinDown } from '../config.ts'
import type { VoteState } from '../store/vote.ts'
import type { VantageVote } from './types.ts'

export interface EffectiveVote {
  vote: VantageVote
  /** A down vote from a vantage whose own network is impaired (no down vote cast). */
  impaired: boolean
  /** Unix ms when this vote turns stale (the next thing that changes it without traffic), or null. */
  stale_at: number | null
}

/** When the vote's round started. */
export function roundStart(v: VoteState): number {
  return v.round * v.interval_ms
}

/**
 * A vantage's vote as the quorum sees it: muted by the operator, else stale when its latest vote
 * is from a round older than `stale_after` (the same rule as the store's isLive, so a vote the
 * store accepted is never stale at that moment), else the store's up/down/challenged vote.
 */
export function effectiveVote(stored: VoteState | undefined, staleAfterMs: number, now: number, muted: boolean): EffectiveVote {
  const live = stored !== undefined && now - roundStart(stored) <= staleAfterMs
  const staleAt = live ? roundStart(stored) + staleAfterMs + 1 : null
  if (muted) return { vote: 'muted', impaired: false, stale_at: staleAt }
  if (!live) return { vote: 'stale', impaired: false, stale_at: null }
  return { vote: stored.vote, impaired: stored.vote === 'down' && stored.impaired, stale_at: staleAt }
}

export interface TallyInput {
  vantage: string
  failure_domain?: string
  vote: VantageVote
  impaired: boolean
}

export type Condition =
  /** At least K eligible units are down. */
  | 'down'
  /** Enough eligible units, fewer than K of them down. */
  | 'clear'
  /** Fewer eligible units than K: the quorum cannot decide (`unknown`). */
  | 'insufficient'

export interface Tally {
  eligible: number
  up: number
  down: number
  min_down: number
  condition: Condition
  /** Among eligible vantages, some up and some down. */
  disagreement: boolean
  /** Every vantage with a live vote (not stale, muted or impaired) is challenged, and there is one. */
  all_challenged: boolean
  /** Vantages whose vote counts. */
  eligible_vantages: string[]
  /** Vantages whose down vote counts (the incident's failing vantages). */
  failing: string[]
}

export function isEligible(v: Pick<TallyInput, 'vote' | 'impaired'>): boolean {
  return v.vote === 'up' || (v.vote === 'down' && !v.impaired)
}

/** K for `eligible` voting units. */
export function minDownFor(rule: MinDown, eligible: number): number {
  if ('count' in rule) return rule.count
  return Math.max(1, Math.floor((rule.numerator * eligible + rule.denominator - 1) / rule.denominator))
}

export function tally(vantages: readonly TallyInput[], rule: MinDown): Tally {
  const unit = (v: TallyInput) => (v.failure_domain ? `domain:${v.failure_domain}` : `vantage:${v.vantage}`)
  const eligibleUnits = new Set<string>()
  const upUnits = new Set<string>()
  const downUnits = new Set<string>()
  const eligibleVantages: string[] = []
  const failing: string[] = []
  let anyUp = false
  let live = 0
  let challenged = 0
  for (const v of vantages) {
    if (v.vote !== 'stale' && v.vote !== 'muted' && !v.impaired) {
      live++
      if (v.vote === 'challenged') challenged++
    }
    if (!isEligible(v)) continue
    eligibleVantages.push(v.vantage)
    eligibleUnits.add(unit(v))
    if (v.vote === 'up') {
      anyUp = true
      upUnits.add(unit(v))
    } else {
      failing.push(v.vantage)
      downUnits.add(unit(v))
    }
  }
  const eligible = eligibleUnits.size
  const k = minDownFor(rule, eligible)
  const down = downUnits.size
  return {
    eligible,
    up: upUnits.size,
    down,
    min_down: k,
    condition: eligible < k ? 'insufficient' : down >= k ? 'down' : 'clear',
    disagreement: anyUp && failing.length > 0,
    all_challenged: live > 0 && challenged === live,
    eligible_vantages: eligibleVantages,
    failing,
  }
}

/** Distinct leaf certificate fingerprints among the results: more than one is a mismatch. */
export function leafFingerprints(results: Iterable<{ tls?: { leaf: { fingerprint_sha256: string } | null } | undefined }>): string[] {
  const seen = new Set<string>()
  for (const r of results) {
    const fp = r.tls?.leaf?.fingerprint_sha256
    if (fp) seen.add(fp.toLowerCase())
  }
  return [...seen]
}
