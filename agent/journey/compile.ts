// Loading a journey: esbuild turns the script (JS, or TS compiled on load) into one bundle for
// the vm context. Relative imports are bundled in; each k6 module becomes a stub that
// re-exports exactly what the runtime provides, so `import { foo } from 'k6/http'` fails the load
// naming the module and the export, and any other import ('fs', 'node:fs', remote modules) fails
// naming the module. Also builds (once per process) the runtime and the worker's own code.
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'
import { K6_MODULES } from './protocol.ts'
import { scanStepNames } from './steps-scan.ts'

/** The script cannot be used: syntax error, unknown import or export, missing file. */
export class JourneyLoadError extends Error {
  readonly code = 'JOURNEY_SCRIPT_INVALID'
  constructor(message: string) {
    super(message)
    this.name = 'JourneyLoadError'
  }
}

export interface CompiledJourney {
  /** For messages: the file name or the check's script name. */
  name: string
  /** Evaluated in the vm context; sets `globalThis.__vantage_exports`. */
  code: string
  /** Step names found in the source (groups with literal names), to report the ones never run. */
  stepNames: string[]
}

/**
 * `path`: a file on disk (its relative imports are bundled). `source`: the script's text as the
 * hub distributes it (one self-contained file, see bundleJourney); `name` names it in messages
 * and picks the loader (.ts → TypeScript).
 */
export type JourneyInput = { path: string } | { source: string; name: string }

const AVAILABLE = Object.keys(K6_MODULES).join(', ')

const k6Modules: esbuild.Plugin = {
  name: 'vantage-k6',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined
      if (Object.prototype.hasOwnProperty.call(K6_MODULES, args.path)) return { path: args.path, namespace: 'k6' }
      if (/^\.{0,2}\//.test(args.path)) return undefined // relative: bundled from disk
      return { errors: [{ text: `module "${args.path}" is not available in the Vantage journey runtime (it provides ${AVAILABLE})` }] }
    })
    build.onLoad({ filter: /.*/, namespace: 'k6' }, (args) => {
      const names = K6_MODULES[args.path]
      const lines = [`const m = globalThis.__vantage_k6(${JSON.stringify(args.path)});`, 'export default m;']
      for (const n of names) lines.push(`export const ${n} = m.${n};`)
      return { contents: lines.join('\n'), loader: 'js' }
    })
  },
}

function buildOptions(input: JourneyInput): esbuild.BuildOptions {
  const common: esbuild.BuildOptions = {
    bundle: true,
    write: false,
    format: 'iife',
    globalName: '__journey',
    platform: 'neutral',
    target: 'es2022',
    logLevel: 'silent',
    charset: 'utf8',
    plugins: [k6Modules],
    // import(x) with a computed name would reach Node's module loader from the vm context (and
    // its errors come from the agent's realm): refused at load, like require(x).
    logOverride: { 'unsupported-dynamic-import': 'error', 'unsupported-require-call': 'error' },
  }
  if ('path' in input) return { ...common, entryPoints: [input.path] }
  // No resolveDir: a distributed script has no files beside it, so relative imports fail clearly.
  return { ...common, stdin: { contents: input.source, loader: /\.ts$/.test(input.name) ? 'ts' : 'js', sourcefile: input.name } }
}

function loadError(err: unknown, name: string, distributed = false): JourneyLoadError {
  const failure = err as { errors?: esbuild.Message[] }
  if (!failure.errors?.length) return new JourneyLoadError(`${name}: ${err instanceof Error ? err.message : String(err)}`)
  const lines = failure.errors.map((m) => {
    const where = m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ` : ''
    const missing = /^No matching export in "k6:(.+?)" for import "(.+?)"$/.exec(m.text)
    const text = missing
      ? `"${missing[1]}" has no export "${missing[2]}" in the Vantage journey runtime (it has: ${K6_MODULES[missing[1]].join(', ')})`
      : m.id === 'unsupported-dynamic-import' || m.id === 'unsupported-require-call'
        ? `${m.id === 'unsupported-require-call' ? 'require' : 'import()'} needs a string literal naming a k6 module (journeys load nothing else)`
        : distributed && /^Could not resolve "\.{0,2}\//.test(m.text)
        ? `${m.text}: a distributed journey is one file; bundle its relative imports (bundleJourney)`
        : m.text
    return `${where}${text}`
  })
  return new JourneyLoadError(lines.join('\n'))
}

export async function compileJourney(input: JourneyInput): Promise<CompiledJourney> {
  const name = 'path' in input ? input.path : input.name
  let result: esbuild.BuildResult
  try {
    result = await esbuild.build(buildOptions(input))
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') throw new JourneyLoadError(`cannot read ${name}`)
    throw loadError(err, name, !('path' in input))
  }
  const bundled = result.outputFiles![0].text
  // The IIFE's `var __journey` stays local to this function; only the exports come out.
  const code = `globalThis.__vantage_exports = (function () {\n${bundled}\nreturn __journey;\n})();\n`
  return { name: 'path' in input ? basename(input.path) : input.name, code, stepNames: scanStepNames(bundled) }
}

/**
 * One self-contained ES module for distribution (what the hub puts in `journey.source`):
 * TypeScript compiled, relative imports bundled in, the k6 imports kept as they are, so the same
 * text still runs under k6.
 */
export async function bundleJourney(path: string): Promise<string> {
  try {
    return bundled(await esbuild.build(bundleOptions(path)), path)
  } catch (err) {
    throw bundleError(err, path)
  }
}

/** bundleJourney for synchronous callers (the hub's config loader, which names file:line:field). */
export function bundleJourneySync(path: string): string {
  try {
    return bundled(esbuild.buildSync(bundleOptions(path)), path)
  } catch (err) {
    throw bundleError(err, path)
  }
}

// Relative imports are bundled in; every bare import stays external and must be a k6 module
// the runtime provides (checked from the metafile: the synchronous API takes no plugins).
function bundleOptions(path: string) {
  return {
    entryPoints: [path],
    bundle: true,
    write: false,
    metafile: true,
    packages: 'external',
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    logLevel: 'silent',
    charset: 'utf8',
  } satisfies esbuild.BuildOptions
}

function bundled(result: esbuild.BuildResult<{ write: false; metafile: true }>, path: string): string {
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imported of output.imports) {
      if (!Object.prototype.hasOwnProperty.call(K6_MODULES, imported.path)) {
        throw new JourneyLoadError(`${path}: module "${imported.path}" is not available in the Vantage journey runtime (it provides ${AVAILABLE})`)
      }
    }
  }
  return result.outputFiles[0].text
}

function bundleError(err: unknown, path: string): Error {
  if (err instanceof JourneyLoadError) return err
  if ((err as { code?: string }).code === 'ENOENT') return new JourneyLoadError(`cannot read ${path}`)
  return loadError(err, path)
}

// The runtime (for the vm context) and the worker (for `new Worker(code, { eval: true })`) are
// built from their TypeScript once per process.
let runtimeBuild: Promise<string> | undefined
let workerBuild: Promise<string> | undefined

const here = (rel: string) => fileURLToPath(new URL(rel, import.meta.url))

export function runtimeCode(): Promise<string> {
  // Strict mode everywhere on our side: no sloppy frame whose `caller` or CallSite would hand a
  // script a function of ours.
  runtimeBuild ??= esbuild
    .build({ entryPoints: [here('./runtime/index.ts')], bundle: true, write: false, format: 'iife', platform: 'neutral', target: 'es2022', logLevel: 'silent', charset: 'utf8', banner: { js: '"use strict";' } })
    .then((r) => r.outputFiles[0].text)
  runtimeBuild.catch(() => (runtimeBuild = undefined))
  return runtimeBuild
}

export function workerCode(): Promise<string> {
  workerBuild ??= esbuild
    .build({ entryPoints: [here('./worker.ts')], bundle: true, write: false, format: 'cjs', platform: 'node', target: 'node20', logLevel: 'silent', charset: 'utf8', banner: { js: '"use strict";' } })
    .then((r) => r.outputFiles[0].text)
  workerBuild.catch(() => (workerBuild = undefined))
  return workerBuild
}
