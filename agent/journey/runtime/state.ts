// Iteration state shared by the k6 modules: where the script is (phase, group) and what its
// options asked for.
import type { ErrorKind, ExpectedStatuses, Tags } from '../protocol.ts'

export type Phase = 'init' | 'setup' | 'default' | 'teardown'

export const state = {
  phase: 'init' as Phase,
  /** k6's group path: "" at the root, "::login", "::login::form". */
  group: '',
  /** options.tags: added to every sample. */
  tags: {} as Tags,
  /** The response callback set by http.setResponseCallback (default: 200-399 expected). */
  expected: [{ min: 200, max: 399 }] as ExpectedStatuses | null,
  maxRedirects: 10,
  discardResponseBodies: false,
  userAgent: undefined as string | undefined,
  /** Errors already reported by the group they left (so a phase does not report them twice). */
  reported: new WeakSet<object>(),
  lastReportedPrimitive: undefined as unknown,
}

/** An error as `group-end` and `phase-end` report it. */
export function errorKind(err: unknown): ErrorKind {
  if (err instanceof ScriptStop) return err.kind
  if (err instanceof RangeError && err.message.startsWith(MEMORY_CAP)) return 'memory'
  return 'error'
}

/** How guard.ts starts its RangeError's message. */
export const MEMORY_CAP = 'journey memory cap'

export function errorMessage(err: unknown): string {
  try {
    if (err instanceof Error) return err.name && err.name !== 'Error' && !(err instanceof ScriptStop) ? `${err.name}: ${err.message}` : err.message
    return String(err)
  } catch {
    return 'unprintable exception'
  }
}

export function markReported(err: unknown): void {
  if ((typeof err === 'object' && err !== null) || typeof err === 'function') state.reported.add(err as object)
  else state.lastReportedPrimitive = err
}

export function wasReported(err: unknown): boolean {
  if ((typeof err === 'object' && err !== null) || typeof err === 'function') return state.reported.has(err as object)
  return state.lastReportedPrimitive === err
}

/** fail() and exec.test.abort(): a deliberate stop, told apart from a crash in the result. */
export class ScriptStop extends Error {
  constructor(
    message: string,
    readonly kind: 'fail' | 'abort',
  ) {
    super(message)
    this.name = 'Error'
  }
}
