// The per-check state machine (DESIGN.md, "Dedupe and quorum"): ok → pending → outage → ok,
// and unknown when too few vantages are eligible. Pure: the engine supplies the time and the
// tally's condition, and persists the result.
//
//   ok       --down-->          pending (since now; `for: 0` goes on to outage at once)
//   pending  --down held `for`--> outage (opens an incident)
//   pending  --clear-->         ok      (a dip shorter than `for` never pages)
//   outage   --clear held `resolve_after`--> ok (closes the incident); a down vote restarts the wait
//   any      --insufficient-->  unknown (an open incident stays open: an outage nobody can see
//                                        is not a recovery)
//   unknown  --down-->          pending, or straight back to outage when its incident is open
//   unknown  --clear-->         ok      (closes an open incident)
//
// `hold`: right after a restart the engine keeps the restored state instead of turning it
// unknown, until the check's stale_after has passed (agents need a round to report again).
import type { CheckState } from './types.ts'
import type { Condition } from './tally.ts'

export interface MachineState {
  state: CheckState
  /** Unix ms when `state` was entered. */
  since: number
  /** In outage: since when fewer than K are down (the resolve_after wait), else null. */
  clear_since: number | null
}

export interface StepInput {
  condition: Condition
  for_ms: number
  resolve_after_ms: number
  now: number
  /** An incident is open (the check was in outage and has not recovered to ok since). */
  incident_open: boolean
  /** Keep the current state when the condition is `insufficient` (start-up grace). */
  hold: boolean
}

export interface Transition {
  from: CheckState
  to: CheckState
  /** When `from` had been entered (for pending → outage: when the down quorum began). */
  from_since: number
}

export function step(current: MachineState, input: StepInput): { next: MachineState; transitions: Transition[] } {
  const transitions: Transition[] = []
  let s = current
  let incidentOpen = input.incident_open
  // At most ok → pending → outage in one evaluation; the bound only guards against a bug.
  for (let i = 0; i < 4; i++) {
    const n = once(s, input, incidentOpen)
    if (n.state !== s.state) {
      transitions.push({ from: s.state, to: n.state, from_since: s.since })
      if (n.state === 'outage') incidentOpen = true
      if (n.state === 'ok') incidentOpen = false
      s = n
      continue
    }
    s = n
    break
  }
  return { next: s, transitions }
}

function once(s: MachineState, input: StepInput, incidentOpen: boolean): MachineState {
  const { condition, now } = input
  const enter = (state: CheckState): MachineState => ({ state, since: now, clear_since: null })
  if (condition === 'insufficient') {
    if (s.state === 'unknown' || input.hold) return s
    return enter('unknown')
  }
  switch (s.state) {
    case 'ok':
      return condition === 'down' ? enter('pending') : s
    case 'pending':
      if (condition === 'clear') return enter('ok')
      return now - s.since >= input.for_ms ? enter('outage') : s
    case 'outage': {
      if (condition === 'down') return s.clear_since === null ? s : { ...s, clear_since: null }
      const clearSince = s.clear_since ?? now
      if (now - clearSince >= input.resolve_after_ms) return enter('ok')
      return s.clear_since === clearSince ? s : { ...s, clear_since: clearSince }
    }
    case 'unknown':
      if (condition === 'clear') return enter('ok')
      return enter(incidentOpen ? 'outage' : 'pending')
  }
}

/** When the state changes next without any new vote (a `for` or `resolve_after` wait ending), or null. */
export function deadline(s: MachineState, input: Pick<StepInput, 'condition' | 'for_ms' | 'resolve_after_ms'>): number | null {
  if (s.state === 'pending' && input.condition === 'down') return s.since + input.for_ms
  if (s.state === 'outage' && input.condition === 'clear' && s.clear_since !== null) return s.clear_since + input.resolve_after_ms
  return null
}
