// Turns what a journey iteration did (the worker's events and the agent's requests, in order)
// into steps, metric samples and the verdict. Kept on the agent's side, so a journey stopped at
// its time or memory limit still reports every step it reached. Portable.
import type { ErrorCode } from '../../proto/errors.ts'
import type { ProbeOutcome, StepResult } from '../../proto/result.ts'
import type { ChallengeMatch } from '../core/challenge.ts'
import { BUILTIN_METRICS, type HopReply, type HopRequest, type MetricType, type ScriptError, type Tags, type WorkerEvent } from './protocol.ts'
import { evaluateThresholds, type Sample, type ThresholdResult } from './thresholds.ts'

/** How the iteration ended, as the runner saw it. */
export type Ending =
  | { kind: 'done' }
  | { kind: 'timeout'; ms: number }
  | { kind: 'memory'; mb: number }
  | { kind: 'flood'; events: number }
  | { kind: 'aborted' }
  | { kind: 'crash'; message: string }

interface StepRecord {
  path: string
  seconds: number
  checks: Record<string, { passes: number; fails: number }>
  status: number | null
  challenge: ChallengeMatch | null
  /** The exception that left this step. */
  error: ScriptError | null
  /** The first request that got no response, for the operator. */
  requestFailure: string | null
  /** Still open when the iteration was cut short. */
  open: boolean
}

export interface JourneyReport {
  outcome: ProbeOutcome
  thresholds: ThresholdResult[]
  checks: { passes: number; fails: number }
}

export const stepName = (path: string) => (path === '' ? 'default' : path.replace(/^::/, ''))

export class JourneyRecorder {
  readonly samples: Sample[] = []
  private readonly steps = new Map<string, StepRecord>()
  private readonly metrics: Record<string, MetricType> = { ...BUILTIN_METRICS }
  private thresholds: Record<string, string[]> = {}
  private phases: string[] = []
  private openGroups: string[] = []
  private openPhase: string | null = null
  private loadError: string | null = null
  private rootError: { phase: string; error: ScriptError } | null = null
  private testFailed: string | null = null
  private iterationSeconds = 0

  constructor(
    /** Step names the script declares (steps-scan.ts), to list the ones never reached. */
    private readonly declared: string[],
    private readonly onLog: (level: string, message: string) => void = () => {},
  ) {}

  get metricTypes(): Record<string, MetricType> {
    return this.metrics
  }

  event(e: WorkerEvent): void {
    switch (e.t) {
      case 'init':
        this.thresholds = e.thresholds
        this.phases = e.phases
        Object.assign(this.metrics, e.metrics)
        this.openPhase = e.phases.includes('setup') ? '::setup' : ''
        return
      case 'metric-def':
        this.metrics[e.name] = e.type
        return
      case 'group-start':
        this.step(e.path)
        this.openGroups.push(e.path)
        return
      case 'group-end': {
        const s = this.step(e.path)
        s.seconds += e.seconds
        if (e.error && !s.error) s.error = e.error
        this.openGroups.pop()
        this.samples.push({ metric: 'group_duration', value: e.seconds * 1000, tags: { group: e.path, scenario: 'default' } })
        return
      }
      case 'check': {
        const c = (this.step(e.group).checks[e.name] ??= { passes: 0, fails: 0 })
        if (e.pass) c.passes++
        else c.fails++
        this.samples.push({ metric: 'checks', value: e.pass ? 1 : 0, tags: { ...e.tags, check: e.name, group: e.group, scenario: 'default' } })
        return
      }
      case 'metric':
        this.samples.push({ metric: e.name, value: e.value, tags: { ...e.tags, group: e.group, scenario: 'default' } })
        return
      case 'phase-end': {
        const path = e.phase === 'default' ? '' : `::${e.phase}`
        this.openPhase = e.phase === 'setup' ? '' : e.phase === 'default' && this.phases.includes('teardown') ? '::teardown' : null
        if (e.error) {
          this.rootError ??= { phase: e.phase, error: e.error }
          // An exception thrown outside any group fails the phase's own step ("default" for the
          // ungrouped part of the default function); setup and teardown are steps of their own.
          if (!e.inGroup || e.phase !== 'default') this.step(path).error ??= e.error
        }
        if (e.phase !== 'default') {
          this.step(path).seconds += e.seconds
          return
        }
        this.iterationSeconds = e.seconds
        this.samples.push({ metric: 'iteration_duration', value: e.seconds * 1000, tags: { group: '', scenario: 'default' } })
        this.samples.push({ metric: 'iterations', value: 1, tags: { group: '', scenario: 'default' } })
        const root = this.steps.get('')
        if (root) root.seconds = e.seconds
        return
      }
      case 'test-fail':
        this.testFailed ??= e.message
        return
      case 'load-error':
        this.loadError = e.message
        return
      case 'log':
        this.onLog(e.level, e.message)
        return
    }
  }

  /** A request the agent made for the script (each redirect hop is one). */
  hop(req: HopRequest, reply: HopReply, challenge: ChallengeMatch | null, failure: string | null, sent: number, received: number): void {
    const s = this.step(req.group)
    s.status = reply.status || null
    if (challenge && !s.challenge) s.challenge = challenge
    if (failure && !s.requestFailure) s.requestFailure = `${req.method} ${req.tags.name}: ${failure}`
    const tags: Tags = { ...req.tags, url: req.tags.name, method: req.method, status: String(reply.status), group: req.group, scenario: 'default' }
    if (reply.proto) tags.proto = reply.proto
    if (reply.error_code) tags.error_code = String(reply.error_code)
    if (reply.tls_version) tags.tls_version = reply.tls_version
    let expected: boolean | null = null
    if (req.expected) {
      expected = req.expected.some((x) => (typeof x === 'number' ? x === reply.status : reply.status >= x.min && reply.status <= x.max))
      tags.expected_response = String(expected)
    }
    const t = reply.timings
    const add = (metric: string, value: number) => this.samples.push({ metric, value, tags })
    add('http_reqs', 1)
    add('http_req_duration', t.duration)
    add('http_req_blocked', t.blocked)
    add('http_req_connecting', t.connecting)
    add('http_req_tls_handshaking', t.tls_handshaking)
    add('http_req_sending', t.sending)
    add('http_req_waiting', t.waiting)
    add('http_req_receiving', t.receiving)
    add('data_sent', sent)
    add('data_received', received)
    if (expected !== null) add('http_req_failed', expected ? 0 : 1)
  }

  /** Fails the load (invalid thresholds found by the runner). */
  failLoad(message: string): void {
    this.loadError ??= message
  }

  private step(path: string): StepRecord {
    let s = this.steps.get(path)
    if (!s) {
      s = { path, seconds: 0, checks: {}, status: null, challenge: null, error: null, requestFailure: null, open: false }
      this.steps.set(path, s)
    }
    return s
  }

  report(ending: Ending, totalSeconds: number): JourneyReport {
    if (this.loadError) {
      return { outcome: { success: false, challenged: false, error: this.loadError, error_code: 'JOURNEY_SCRIPT_INVALID', steps: [] }, thresholds: [], checks: { passes: 0, fails: 0 } }
    }
    const cut = cutShort(ending)
    if (cut) {
      // Whatever was running when the iteration was stopped is where it stopped.
      const where = this.openGroups.length ? this.openGroups : this.openPhase !== null ? [this.openPhase] : []
      for (const path of where) {
        const s = this.step(path)
        s.open = true
        s.error ??= { message: cut.error, kind: 'error' }
      }
    }
    const stopped = cut !== null || this.rootError !== null
    const { steps, ownFailures } = this.stepResults(cut)
    if (stopped) {
      const expected = [...(this.phases.includes('setup') ? ['setup'] : []), ...this.declared, ...(this.phases.includes('teardown') ? ['teardown'] : [])]
      for (const name of expected) {
        if (!steps.some((s) => s.name === name)) {
          steps.push({ name, success: false, challenged: false, duration_seconds: 0, status_code: null, error: 'not run: the journey stopped before this step', error_code: 'JOURNEY_STEP_NOT_RUN' })
        }
      }
    }

    const checks = { passes: 0, fails: 0 }
    const failedChecks: string[] = []
    for (const s of this.steps.values()) {
      for (const [name, c] of Object.entries(s.checks)) {
        checks.passes += c.passes
        checks.fails += c.fails
        if (c.fails) failedChecks.push(`"${name}" (${stepName(s.path)})`)
      }
    }
    const thresholds = ending.kind === 'done' ? evaluateThresholds(this.thresholds, this.metrics, this.samples, this.iterationSeconds || totalSeconds) : []
    const failedThresholds = thresholds.filter((t) => !t.ok)

    const ran = steps.filter((s) => s.error_code !== 'JOURNEY_STEP_NOT_RUN')
    const failedSteps = ran.filter((s) => !s.success)
    const success = !stopped && !this.testFailed && checks.fails === 0 && failedThresholds.length === 0 && failedSteps.length === 0
    if (success) return { outcome: { success: true, challenged: false, steps }, thresholds, checks }

    // Blocked, not broken: every step that failed was answered with a challenge.
    const challenged = cut === null && !this.testFailed && failedSteps.length > 0 && failedSteps.every((s) => s.challenged)
    let error: string
    let code: ErrorCode
    // The first step that failed on its own account explains the journey best; what failed after
    // it is usually a consequence.
    const own = failedSteps.filter((s) => ownFailures.has(s.name))
    const first = challenged ? own[0] : (own.find((s) => !s.challenged) ?? own[0] ?? failedSteps[0])
    if (challenged) {
      ;[error, code] = [first.error ?? 'challenged', first.error_code as ErrorCode]
    } else if (cut) {
      ;[error, code] = [cut.error, cut.code]
    } else if (first) {
      const more = own.filter((s) => s !== first).length
      error = `step "${first.name}": ${first.error}${more ? ` (and ${more} more failed step${more > 1 ? 's' : ''})` : ''}`
      code = first.error_code as ErrorCode
    } else if (this.rootError) {
      const { phase, error: e } = this.rootError
      error = `${phase === 'default' ? 'the default function' : `${phase}()`} stopped: ${e.message}`
      code = errorCodeOf(e)
    } else if (checks.fails > 0) {
      error = `${checks.fails} of ${checks.passes + checks.fails} checks failed: ${failedChecks.join(', ')}`
      code = 'JOURNEY_CHECK_FAILED'
    } else if (this.testFailed) {
      error = this.testFailed
      code = 'JOURNEY_FAILED_BY_SCRIPT'
    } else {
      error = `thresholds not met: ${failedThresholds.map((t) => `${t.metric} ${t.expression} (was ${round(t.value)})`).join(', ')}`
      code = 'JOURNEY_THRESHOLD_FAILED'
    }
    return { outcome: { success: false, challenged, error, error_code: code, steps }, thresholds, checks }
  }

  /** The steps, and the names of those that failed on their own account (not only through a nested step). */
  private stepResults(cut: { error: string; code: ErrorCode } | null): { steps: StepResult[]; ownFailures: Set<string> } {
    const records = [...this.steps.values()]
    const results = new Map<string, StepResult>()
    const ownFailures = new Set<string>()
    // Innermost first, so a step knows how its nested steps went.
    for (const s of [...records].sort((a, b) => depth(b.path) - depth(a.path))) {
      const children = records.filter((c) => c.path !== '' && s.path !== '' && c.path.startsWith(`${s.path}::`) && depth(c.path) === depth(s.path) + 1)
      const failedChild = children.map((c) => results.get(c.path)!).find((r) => !r.success)
      const challengedBelow = children.some((c) => results.get(c.path)!.challenged)
      const fails = Object.entries(s.checks).filter(([, c]) => c.fails > 0)
      const challenged = s.challenge !== null || challengedBelow
      const failed = challenged || s.error !== null || fails.length > 0 || failedChild !== undefined
      // An exception that only passed through (thrown in a nested step) is not this step's own.
      const passedThrough = s.error !== null && children.some((c) => c.error?.message === s.error!.message && c.error?.kind === s.error!.kind)
      if (s.challenge || fails.length || (s.error && !passedThrough)) ownFailures.add(stepName(s.path))
      const r: StepResult = { name: stepName(s.path), success: !failed, challenged: failed && challenged, duration_seconds: s.seconds, status_code: s.status, checks: s.checks }
      if (failed) {
        if (s.challenge) [r.error, r.error_code] = [s.challenge.error, s.challenge.error_code]
        else if (s.open && cut) [r.error, r.error_code] = [cut.error, cut.code]
        else if (s.error) [r.error, r.error_code] = [s.error.message, errorCodeOf(s.error)]
        else if (fails.length) {
          const [name, c] = fails[0]
          r.error = `check "${name}" failed${c.passes + c.fails > 1 ? ` ${c.fails} of ${c.passes + c.fails} times` : ''}${s.requestFailure ? ` (${s.requestFailure})` : ''}`
          r.error_code = 'JOURNEY_CHECK_FAILED'
        } else if (failedChild) [r.error, r.error_code] = [`step "${failedChild.name}" failed: ${failedChild.error}`, failedChild.error_code]
      }
      results.set(s.path, r)
    }
    return { steps: records.map((s) => results.get(s.path)!), ownFailures }
  }
}

function errorCodeOf(e: ScriptError): ErrorCode {
  return e.kind === 'error' ? 'JOURNEY_SCRIPT_ERROR' : e.kind === 'memory' ? 'JOURNEY_MEMORY_LIMIT' : 'JOURNEY_FAILED_BY_SCRIPT'
}

function depth(path: string): number {
  return path === '' ? 0 : path.split('::').length - 1
}

function cutShort(ending: Ending): { error: string; code: ErrorCode } | null {
  switch (ending.kind) {
    case 'done':
      return null
    case 'timeout':
      return { error: `the journey was stopped at its time limit (${ending.ms} ms)`, code: 'TIMEOUT' }
    case 'memory':
      return { error: `the journey was stopped at its memory cap (${ending.mb} MB)`, code: 'JOURNEY_MEMORY_LIMIT' }
    case 'flood':
      return { error: `the journey was stopped after ${ending.events} events (checks, metric samples, console lines): one iteration is not a load test`, code: 'JOURNEY_MEMORY_LIMIT' }
    case 'aborted':
      return { error: 'the journey was cancelled', code: 'ABORTED' }
    case 'crash':
      return { error: `the journey runtime failed: ${ending.message}`, code: 'INTERNAL' }
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000
}
