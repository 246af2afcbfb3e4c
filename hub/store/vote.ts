// One vote per vantage per check (DESIGN.md, "Dedupe and quorum"): the vote comes from the
// latest round a vantage has reported; within a round the vantage is `up` if any of its agents
// succeeded, `challenged` if none succeeded and any was challenged, else `down`.
// Pure functions: the store persists what they return. A vote reads only the head of each result
// (ingest decodes no more); the whole result that stands for it is decoded when shown.
import { decodeResult } from '../../proto/codec.ts'
import type { ProbeResult, ResultHead } from '../../proto/result.ts'

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
  /** The head of the result that stands for the vote (a success for `up`, …); see representative(). */
  result: ResultHead
  /** That result's bytes as its agent signed them. */
  body: Uint8Array
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
export function isLive(result: ResultHead, rule: VoteRule, nowMs: number): boolean {
  return nowMs - result.round * rule.interval_ms <= rule.stale_after_ms
}

/**
 * The vote after `result` (whose bytes are `body`) arrives, or undefined when it does not change
 * the vote. A `current` that is `owned` (made by an earlier call for the same commit, not yet
 * shared) is updated in place rather than copied.
 */
export function mergeVote(
  current: VoteState | undefined,
  result: ResultHead,
  body: Uint8Array,
  rule: VoteRule,
  nowMs: number,
  owned = false,
): VoteState | undefined {
  if (!isLive(result, rule, nowMs)) return undefined
  const sameEpoch = current !== undefined && current.interval_ms === rule.interval_ms
  if (current && sameEpoch && result.round < current.round) return undefined // never override a newer round
  if (current && !sameEpoch && Date.parse(result.started_at) < Date.parse(current.result.started_at)) return undefined

  if (!current || !sameEpoch || result.round > current.round) {
    return tally(fresh(result, body, rule, nowMs), result, body)
  }
  if (owned) {
    current.updated_at = nowMs
    return tally(current, result, body)
  }
  return tally(copyOf(current, nowMs), result, body)
}

/** A vote's copy to update (written out: a spread of this many keys takes V8's slow path). */
function copyOf(v: VoteState, nowMs: number): VoteState {
  return {
    check: v.check,
    vantage: v.vantage,
    round: v.round,
    interval_ms: v.interval_ms,
    vote: v.vote,
    impaired: v.impaired,
    agents: v.agents.slice(),
    n_results: v.n_results,
    n_success: v.n_success,
    n_challenged: v.n_challenged,
    n_down: v.n_down,
    n_down_impaired: v.n_down_impaired,
    result: v.result,
    body: v.body,
    updated_at: nowMs,
  }
}

function fresh(result: ResultHead, body: Uint8Array, rule: VoteRule, nowMs: number): VoteState {
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
    body,
    updated_at: nowMs,
  }
}

function tally(state: VoteState, result: ResultHead, body: Uint8Array): VoteState {
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
    state.body = body
  }
  return state
}

/** success > challenged > down > down from an impaired vantage. */
function rank(r: ResultHead): number {
  if (r.success) return 3
  if (r.challenged) return 2
  return r.vantage_impaired ? 0 : 1
}

/** Whole results by their bytes, decoded once (or known from the start: see knownResult). */
const decoded = new WeakMap<Uint8Array, ProbeResult>()

/** The whole result that stands for the vote (/metrics, evidence), decoded from its bytes on first use. */
export function representative(vote: Pick<VoteState, 'body'>): ProbeResult {
  let result = decoded.get(vote.body)
  if (!result) decoded.set(vote.body, (result = decodeResult(vote.body)))
  return result
}

/** Tells representative() the result `body` encodes, when it is at hand already (in-process writes, old JSON rows). */
export function knownResult(body: Uint8Array, result: ProbeResult): void {
  decoded.set(body, result)
}

/** Copies `vote.body` into an ArrayBuffer of its own: a view into its batch's payload would keep the whole batch alive. */
export function detachBody(vote: VoteState): void {
  const { body } = vote
  if (body.byteLength === body.buffer.byteLength) return
  vote.body = body.slice()
  const result = decoded.get(body)
  if (result) decoded.set(vote.body, result)
}
