// One vote per vantage per check (DESIGN.md, "Dedupe and quorum"): the vote comes from the
// latest round a vantage has reported; within a round the vantage is `up` if any of its agents
// succeeded, `challenged` if none succeeded and any was challenged, else `down`.
// Pure functions: the store persists what they return.
import type { ProbeResult } from '../../proto/result.ts'

export type Vote = 'up' | 'down' | 'challenged'

export interface VoteState {
  check: string
  vantage: string
  round: number
  /** The check's interval when the round was counted: rounds of another interval do not compare. */
  interval_ms: number
  vote: Vote
  /** A down vote whose every failing agent reported its own network impaired (casts no down vote). */
  impaired: boolean
  /** Agents that reported this round. */
  agents: string[]
  n_results: number
  n_success: number
  n_challenged: number
  n_down: number
  n_down_impaired: number
  /** The result that stands for the vote (a success for `up`, …): what /metrics shows. */
  result: ProbeResult
  updated_at: number
}

export interface VoteRule {
  interval_ms: number
  stale_after_ms: number
}

/**
 * Only live results vote: a result whose round began more than `stale_after` ago (an outbox
 * replaying after an outage) goes into history only.
 */
export function isLive(result: ProbeResult, rule: VoteRule, nowMs: number): boolean {
  return nowMs - result.round * rule.interval_ms <= rule.stale_after_ms
}

/** The vote after `result` arrives, or undefined when it does not change the vote. */
export function mergeVote(current: VoteState | undefined, result: ProbeResult, rule: VoteRule, nowMs: number): VoteState | undefined {
  if (!isLive(result, rule, nowMs)) return undefined
  const sameEpoch = current !== undefined && current.interval_ms === rule.interval_ms
  if (current && sameEpoch && result.round < current.round) return undefined // never override a newer round
  if (current && !sameEpoch && Date.parse(result.started_at) < Date.parse(current.result.started_at)) return undefined

  if (!current || !sameEpoch || result.round > current.round) {
    return tally(fresh(result, rule, nowMs), result)
  }
  return tally({ ...current, agents: [...current.agents], updated_at: nowMs }, result)
}

function fresh(result: ProbeResult, rule: VoteRule, nowMs: number): VoteState {
  return {
    check: result.check,
    vantage: result.vantage,
    round: result.round,
    interval_ms: rule.interval_ms,
    vote: 'down',
    impaired: false,
    agents: [],
    n_results: 0,
    n_success: 0,
    n_challenged: 0,
    n_down: 0,
    n_down_impaired: 0,
    result,
    updated_at: nowMs,
  }
}

function tally(state: VoteState, result: ProbeResult): VoteState {
  state.n_results++
  if (result.success) state.n_success++
  else if (result.challenged) state.n_challenged++
  else {
    state.n_down++
    if (result.vantage_impaired) state.n_down_impaired++
  }
  if (!state.agents.includes(result.agent_id)) state.agents.push(result.agent_id)
  state.vote = state.n_success > 0 ? 'up' : state.n_challenged > 0 ? 'challenged' : 'down'
  state.impaired = state.vote === 'down' && state.n_down_impaired === state.n_down
  // The representative is the newest result of the strongest kind present.
  const [newRank, curRank] = [rank(result), rank(state.result)]
  if (state.result === result || newRank > curRank || (newRank === curRank && result.started_at >= state.result.started_at)) {
    state.result = result
  }
  return state
}

/** success > challenged > down > down from an impaired vantage. */
function rank(r: ProbeResult): number {
  if (r.success) return 3
  if (r.challenged) return 2
  return r.vantage_impaired ? 0 : 1
}
