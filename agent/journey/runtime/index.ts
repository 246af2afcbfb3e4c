// The journey runtime, evaluated inside the script's vm context before the script. install()
// receives the host function (kept in a closure, never on a reachable object), sets up the k6
// modules and globals, and returns run(): setup(), default() and teardown() once each.
import { K6_MODULES, type RuntimeInit } from '../protocol.ts'
import * as crypto from './crypto.ts'
import * as encoding from './encoding.ts'
import * as execution from './execution.ts'
import { startExecution } from './execution.ts'
import { guardBinaryAllocations } from './guard.ts'
import { emit, json, now, setHost, type HostFn } from './host.ts'
import * as html from './html.ts'
import * as http from './http.ts'
import * as k6 from './k6.ts'
import * as metrics from './metrics.ts'
import { declared } from './metrics.ts'
import { errorKind, errorMessage, state, wasReported, type Phase } from './state.ts'

const SOURCES: Record<string, Record<string, unknown>> = {
  k6,
  'k6/http': http,
  'k6/html': html,
  'k6/encoding': encoding,
  'k6/crypto': crypto,
  'k6/metrics': metrics,
  'k6/execution': execution,
}

/**
 * A module object holding exactly the exports protocol.ts lists. Reading any other name off a
 * default import (`http.foo`) throws, naming the module and the export: never a silent undefined.
 */
function moduleObject(name: string): Record<string, unknown> {
  const source = SOURCES[name]
  const exports: Record<string, unknown> = {}
  for (const key of K6_MODULES[name]) {
    if (!(key in source)) throw new Error(`journey runtime: ${name} lacks ${key}`)
    exports[key] = source[key]
  }
  Object.freeze(exports)
  const harmless = new Set(['then', 'toJSON', 'constructor', '__esModule', 'default', 'valueOf', 'toString'])
  return new Proxy(exports, {
    get(target, key, receiver) {
      if (typeof key === 'string' && !(key in target) && !harmless.has(key)) {
        throw new TypeError(`"${name}" has no export "${key}" in the Vantage journey runtime (it has: ${K6_MODULES[name].join(', ')})`)
      }
      return Reflect.get(target, key, receiver)
    },
  })
}

function install(host: HostFn, initJson: string): { run: () => void } {
  setHost(host)
  const init = json.parse(initJson) as RuntimeInit
  const g = globalThis as Record<string, unknown>
  delete g.__vantage_install

  guardBinaryAllocations(init.binaryBudgetBytes)
  const modules = new Map<string, Record<string, unknown>>()
  for (const name of Object.keys(K6_MODULES)) modules.set(name, moduleObject(name))
  const define = (key: string, value: unknown, writable = false) => Object.defineProperty(g, key, { value, writable, configurable: false, enumerable: false })
  // What compiled journeys import through (see compile.ts): only the k6 modules.
  define('__vantage_k6', (name: string) => {
    const m = modules.get(name)
    if (!m) throw new Error(`module "${name}" is not available in the Vantage journey runtime`)
    return m
  })
  define('__ENV', Object.assign({}, init.env), true)
  define('__VU', 1, true)
  define('__ITER', 0, true)
  define('open', () => {
    throw new Error('open() is not available: journeys cannot read files (inline the data or pass it through __ENV)')
  })
  const log =
    (level: string) =>
    (...args: unknown[]) =>
      emit({ t: 'log', level, message: args.map(show).join(' ') })
  define('console', { log: log('info'), info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') }, true)

  return { run: () => void lifecycle(init.scriptName) }
}

function show(v: unknown): string {
  if (typeof v === 'string') return v
  if (v instanceof Error) return errorMessage(v)
  try {
    return json.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

async function lifecycle(scriptName: string): Promise<void> {
  const g = globalThis as Record<string, unknown>
  const exp = (g.__vantage_exports ?? {}) as Record<string, unknown>
  delete g.__vantage_exports
  const options = (typeof exp.options === 'object' && exp.options !== null ? exp.options : {}) as Record<string, unknown>

  // Load-test options (vus, stages, duration, scenarios, ext) are accepted and ignored: one
  // iteration. Without a default function, the first scenario's `exec` function runs.
  let main = exp.default
  if (typeof main !== 'function') {
    const scenarios = (options.scenarios ?? {}) as Record<string, { exec?: string }>
    const exec = Object.values(scenarios).find((s) => s && typeof s.exec === 'string')?.exec
    main = exec ? exp[exec] : undefined
    if (typeof main !== 'function') {
      emit({ t: 'load-error', message: `${scriptName} has no default function (export default function () { ... })` })
      return
    }
  }
  try {
    applyOptions(options)
  } catch (err) {
    emit({ t: 'load-error', message: `${scriptName}: invalid options: ${errorMessage(err)}` })
    return
  }
  const phases: string[] = []
  if (typeof exp.setup === 'function') phases.push('setup')
  if (typeof exp.teardown === 'function') phases.push('teardown')
  emit({ t: 'init', thresholds: thresholdsOf(options), tags: state.tags, metrics: { ...declared }, phases })
  startExecution(options)

  let data: unknown
  let ok = true
  if (typeof exp.setup === 'function') {
    const r = await phase('setup', exp.setup as () => unknown, undefined)
    ok = r.ok
    // As k6: setup's data reaches default and teardown as a JSON copy.
    data = r.ok && r.value !== undefined ? json.parse(json.stringify(r.value) ?? 'null') : undefined
  }
  if (ok) {
    await phase('default', main as (d: unknown) => unknown, data)
    if (typeof exp.teardown === 'function') await phase('teardown', exp.teardown as (d: unknown) => unknown, data)
  }
  emit({ t: 'done' })
}

async function phase(name: Exclude<Phase, 'init'>, fn: (data: unknown) => unknown, data: unknown): Promise<{ ok: boolean; value?: unknown }> {
  state.phase = name
  // k6 runs setup and teardown in the groups ::setup and ::teardown.
  state.group = name === 'default' ? '' : `::${name}`
  if (name === 'default') http.resetCookieJar()
  const started = now()
  try {
    const value = await fn(data)
    emit({ t: 'phase-end', phase: name, seconds: (now() - started) / 1000 })
    return { ok: true, value }
  } catch (err) {
    emit({ t: 'phase-end', phase: name, seconds: (now() - started) / 1000, error: { message: errorMessage(err), kind: errorKind(err) }, inGroup: wasReported(err) })
    return { ok: false }
  } finally {
    state.group = ''
  }
}

function applyOptions(options: Record<string, unknown>): void {
  if (options.tags !== undefined) state.tags = metrics.stringTags(options.tags)
  if (options.maxRedirects !== undefined) state.maxRedirects = Number(options.maxRedirects)
  if (options.discardResponseBodies !== undefined) state.discardResponseBodies = !!options.discardResponseBodies
  if (typeof options.userAgent === 'string') state.userAgent = options.userAgent
}

/** options.thresholds as { metric: [expression, ...] } (k6 also accepts { threshold: "..." }). */
function thresholdsOf(options: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  const t = options.thresholds
  if (!t || typeof t !== 'object') return out
  for (const [metric, list] of Object.entries(t as Record<string, unknown>)) {
    out[metric] = (Array.isArray(list) ? list : [list]).map((x) => {
      if (typeof x === 'string') return x
      if (x && typeof x === 'object' && typeof (x as { threshold?: unknown }).threshold === 'string') return (x as { threshold: string }).threshold
      throw new Error(`threshold for "${metric}" must be a string or { threshold: "..." }`)
    })
  }
  return out
}

// The worker fetches this once, before the script exists; install() deletes it.
;(globalThis as Record<string, unknown>).__vantage_install = install
