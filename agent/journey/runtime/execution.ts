// k6/execution basics: one VU, one iteration, the script's options; test.abort() stops the
// journey, test.fail() fails it and lets it go on.
import { emit, now } from './host.ts'
import { ScriptStop } from './state.ts'

let startedAt = 0
let options: Record<string, unknown> = {}

export function startExecution(scriptOptions: Record<string, unknown>): void {
  startedAt = now()
  options = scriptOptions
}

export const scenario = {
  name: 'default',
  executor: 'shared-iterations',
  get startTime() {
    return 0
  },
  get progress() {
    return 0
  },
  iterationInInstance: 0,
  iterationInTest: 0,
}

export const instance = {
  iterationsInterrupted: 0,
  iterationsCompleted: 0,
  vusActive: 1,
  vusInitialized: 1,
  get currentTestRunDuration() {
    return startedAt ? now() - startedAt : 0
  },
}

export const vu = {
  iterationInInstance: 0,
  iterationInScenario: 0,
  idInInstance: 1,
  idInTest: 1,
  tags: {} as Record<string, string>,
  metrics: { tags: {} as Record<string, string>, metadata: {} as Record<string, string> },
}

export const test = {
  abort(message?: string): never {
    throw new ScriptStop(message === undefined ? 'test aborted' : `test aborted: ${String(message)}`, 'abort')
  },
  fail(message?: string): void {
    emit({ t: 'test-fail', message: message === undefined ? 'test marked as failed' : String(message) })
  },
  get options() {
    return options
  },
}
