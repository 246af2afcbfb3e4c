// The `k6` module: check, group (a group is a step), sleep, fail, randomSeed.
import type { ScriptError, Tags } from '../protocol.ts'
import { call, emit, now } from './host.ts'
import { stringTags } from './metrics.ts'
import { errorKind, errorMessage, markReported, ScriptStop, state } from './state.ts'

/**
 * As k6: every condition is evaluated (no short-circuit on false); a condition that throws counts
 * as failed, and its exception propagates at once.
 */
export function check<T>(value: T, sets: Record<string, ((v: T) => unknown) | unknown>, tags?: Tags): boolean {
  if (state.phase === 'init') throw new Error('using check() in the init context is not supported')
  if (typeof sets !== 'object' || sets === null) throw new Error('check() needs an object of named conditions')
  const sampleTags = { ...state.tags, ...stringTags(tags) }
  let all = true
  for (const name of Object.keys(sets)) {
    const condition = sets[name]
    let pass = false
    let thrown: { err: unknown } | null = null
    if (typeof condition === 'function') {
      try {
        pass = !!condition(value)
      } catch (err) {
        thrown = { err }
      }
    } else {
      pass = !!condition
    }
    emit({ t: 'check', name, group: state.group, pass, tags: sampleTags })
    if (thrown) throw thrown.err
    if (!pass) all = false
  }
  return all
}

export function group<T>(name: string, fn: () => T): T {
  if (state.phase === 'init') throw new Error('using group() in the init context is not supported')
  if (typeof name !== 'string' || name === '') throw new Error('group() needs a non-empty name')
  if (name.includes('::')) throw new Error(`group name "${name}" may not contain "::" (k6 uses it to join nested groups)`)
  if (typeof fn !== 'function') throw new Error(`group("${name}") needs a function`)
  const parent = state.group
  const path = `${parent}::${name}`
  state.group = path
  emit({ t: 'group-start', path })
  const started = now()
  let error: ScriptError | undefined
  try {
    return fn()
  } catch (err) {
    // Only the innermost group names the exception; the ones it leaves after are failed by it too.
    error = { message: errorMessage(err), kind: errorKind(err) }
    markReported(err)
    throw err
  } finally {
    state.group = parent
    emit({ t: 'group-end', path, seconds: (now() - started) / 1000, error })
  }
}

/** Blocks the iteration (counted in the journey's time limit), as k6's sleep does. */
export function sleep(seconds: number): void {
  const ms = Number(seconds) * 1000
  if (ms > 0) call('sleep', String(ms))
}

export function fail(message?: string): never {
  throw new ScriptStop(message === undefined ? 'fail() called' : String(message), 'fail')
}

/** A seeded Math.random, as k6's randomSeed. */
export function randomSeed(seed: number): void {
  let s = Number(seed) >>> 0
  Math.random = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
