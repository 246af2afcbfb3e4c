// The agent as one file: `npm run build:agent [-- --out DIR]` (default deploy/agent-bundle/dist).
//
// Writes into DIR:
//   vantage-agent.mjs   the agent command (entry.ts: agent, probe, journey, keygen), every
//                       module of the repo and every pure-JS dependency bundled in, ESM, Node 20
//   package.json        its two native/binary dependencies, pinned to the versions the repo's
//   package-lock.json   lockfile has: better-sqlite3 (the outbox) and esbuild (compiles journeys)
//   vantage-agent.service, README.md   the systemd unit (deploy/systemd) and how to install
//
// so a VM needs Node.js 20+, these files and `npm ci --omit=dev` in DIR; not the repo.
//
// What cannot be bundled, and how it is handled:
// - better-sqlite3 is a native addon: external, loaded from DIR/node_modules.
// - esbuild runs its own binary and refuses to be bundled. The agent needs it only to compile
//   journey scripts, so the bundle loads it (require, from DIR/node_modules) on the first journey:
//   a missing esbuild fails that journey with JOURNEY_SCRIPT_INVALID naming the package, and
//   every other check type runs.
// - The journey worker thread and its k6 runtime are built from agent/journey/*.ts at run time
//   (agent/journey/compile.ts: runtimeCode(), workerCode()), by path. Here they are built now,
//   by those same functions, and inlined as strings: the worker is started with `eval: true`
//   from that string, so the bundle needs no file beside it and no esbuild for the runtime.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import * as esbuild from 'esbuild'
import { runtimeCode, workerCode } from '../../agent/journey/compile.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..', '..')
const COMPILE_TS = join(ROOT, 'agent', 'journey', 'compile.ts')

export const BUNDLE_FILE = 'vantage-agent.mjs'
export const UNIT_FILE = 'vantage-agent.service'
export const DEFAULT_OUT = join(HERE, 'dist')
/** Not bundled: installed beside the bundle by `npm ci --omit=dev`. */
export const EXTERNAL_PACKAGES = ['better-sqlite3', 'esbuild'] as const

export interface BuildOptions {
  outDir?: string
  minify?: boolean
  /** Write DIR/vantage-agent.mjs.map too. */
  sourcemap?: boolean
}

export interface BuiltAgent {
  outDir: string
  bundle: string
  bytes: number
  files: string[]
  /** package.json's dependencies (name → exact version). */
  dependencies: Record<string, string>
  /** The repo modules in the bundle (paths relative to the repo). */
  modules: string[]
  /** Every file of the repo the build reads (modules, journey runtime, package files, the unit). */
  inputs: string[]
}

// `import.meta.url` is the bundle's own URL; CommonJS modules bundled into ESM still call
// require() for Node's built-ins and read __filename / __dirname.
const BANNER = [
  '#!/usr/bin/env node',
  "import { createRequire as __vantage_createRequire } from 'node:module';",
  "import { fileURLToPath as __vantage_fileURLToPath } from 'node:url';",
  "import { dirname as __vantage_dirname } from 'node:path';",
  'const require = __vantage_createRequire(import.meta.url);',
  'const __filename = __vantage_fileURLToPath(import.meta.url);',
  'const __dirname = __vantage_dirname(__filename);',
].join('\n')

/** compile.ts with its run-time builds replaced by their output, made now. */
function prebuiltJourneyRuntime(runtime: string, worker: string): esbuild.Plugin {
  return {
    name: 'vantage-journey-prebuilt',
    setup(build) {
      build.onResolve({ filter: /compile\.ts$/ }, (args) => {
        if (args.namespace === 'vantage-prebuilt') return undefined
        if (resolve(args.resolveDir, args.path) !== COMPILE_TS) return undefined
        return { path: 'journey/compile.ts', namespace: 'vantage-prebuilt' }
      })
      build.onLoad({ filter: /.*/, namespace: 'vantage-prebuilt' }, () => ({
        // Local exports take precedence over the star export.
        contents: [
          `export * from ${JSON.stringify(COMPILE_TS)};`,
          `const RUNTIME = ${JSON.stringify(runtime)};`,
          `const WORKER = ${JSON.stringify(worker)};`,
          'export const runtimeCode = () => Promise.resolve(RUNTIME);',
          'export const workerCode = () => Promise.resolve(WORKER);',
        ].join('\n'),
        loader: 'js',
        resolveDir: ROOT,
      }))
    },
  }
}

/** esbuild's API as the agent uses it (`import * as esbuild from 'esbuild'`). */
const ESBUILD_API = ['build', 'buildSync', 'transform', 'transformSync', 'formatMessages', 'formatMessagesSync', 'analyzeMetafile', 'analyzeMetafileSync', 'context']

/** `import * as esbuild from 'esbuild'` in the agent, loaded on first use from beside the bundle. */
const lazyEsbuild: esbuild.Plugin = {
  name: 'vantage-lazy-esbuild',
  setup(build) {
    build.onResolve({ filter: /^esbuild$/ }, () => ({ path: 'esbuild', namespace: 'vantage-lazy' }))
    build.onLoad({ filter: /.*/, namespace: 'vantage-lazy' }, () => ({
      contents: [
        "import { createRequire } from 'node:module'",
        'let api',
        'function load() {',
        '  if (api) return api',
        '  try {',
        "    api = createRequire(import.meta.url)('esbuild')",
        '  } catch (err) {',
        "    throw new Error('journeys need the esbuild package beside the agent bundle (run npm ci --omit=dev in its directory): ' + String(err.message).split('\\n')[0])",
        '  }',
        '  return api',
        '}',
        ...ESBUILD_API.map((name) => `export function ${name}(...args) { return load().${name}(...args) }`),
      ].join('\n'),
      loader: 'js',
      resolveDir: ROOT,
    }))
  },
}

/** The files runtimeCode() and workerCode() build from (agent/journey/runtime/, worker.ts, …). */
async function journeyRuntimeInputs(): Promise<string[]> {
  const result = await esbuild.build({
    entryPoints: [join(ROOT, 'agent', 'journey', 'runtime', 'index.ts'), join(ROOT, 'agent', 'journey', 'worker.ts')],
    bundle: true,
    write: false,
    outdir: join(ROOT, 'out'),
    platform: 'node',
    metafile: true,
    logLevel: 'silent',
  })
  return Object.keys(result.metafile.inputs).filter((p) => !p.includes('node_modules/'))
}

function rootPackage(): { version: string; dependencies: Record<string, string> } {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> }
}

interface LockEntry {
  version: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  optional?: boolean
  dev?: boolean
  devOptional?: boolean
  peer?: boolean
  [key: string]: unknown
}

/**
 * The part of the repo's package-lock.json that `npm ci` needs for `names`: each package at the
 * path the repo's lockfile has it (so the versions are the ones the tests ran with), and
 * everything they depend on, found as Node finds it (nearest node_modules up the path).
 */
export function lockfileSubset(names: readonly string[], lock: { packages: Record<string, LockEntry> }): Record<string, LockEntry> {
  const packages = lock.packages
  const out: Record<string, LockEntry> = {}
  const required = new Set<string>()
  const find = (from: string, name: string): string => {
    // from: '' (the root) or 'node_modules/a/node_modules/b'
    let base = from
    for (;;) {
      const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`
      if (packages[candidate]) return candidate
      if (!base) throw new Error(`package-lock.json: ${name} (needed by ${from || 'the bundle'}) is not in the lockfile`)
      const i = base.lastIndexOf('/node_modules/')
      base = i < 0 ? '' : base.slice(0, i)
    }
  }
  const visit = (path: string, optional: boolean) => {
    const seen = out[path]
    if (seen) {
      if (!optional && seen.optional) {
        delete seen.optional
        required.add(path)
        for (const dep of Object.keys(seen.dependencies ?? {})) visit(find(path, dep), false)
      }
      return
    }
    const { dev: _dev, devOptional: _devOptional, peer: _peer, optional: _optional, ...entry } = packages[path]
    out[path] = optional ? { ...entry, optional: true } : entry
    if (!optional) required.add(path)
    for (const dep of Object.keys(entry.dependencies ?? {})) visit(find(path, dep), optional)
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
      try {
        visit(find(path, dep), true)
      } catch {
        // an optional dependency for another platform that the lockfile does not carry
      }
    }
  }
  for (const name of names) visit(find('', name), false)
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)))
}

export async function buildAgentBundle(opts: BuildOptions = {}): Promise<BuiltAgent> {
  const outDir = resolve(opts.outDir ?? DEFAULT_OUT)
  const pkg = rootPackage()
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const dependencies = Object.fromEntries(EXTERNAL_PACKAGES.map((name) => [name, lock.packages[`node_modules/${name}`].version]))

  const [runtime, worker, runtimeInputs] = await Promise.all([runtimeCode(), workerCode(), journeyRuntimeInputs()])
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  const bundle = join(outDir, BUNDLE_FILE)
  const result = await esbuild.build({
    entryPoints: [join(HERE, 'entry.ts')],
    outfile: bundle,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    mainFields: ['module', 'main'],
    external: [...EXTERNAL_PACKAGES],
    plugins: [prebuiltJourneyRuntime(runtime, worker), lazyEsbuild],
    banner: { js: BANNER },
    define: { VANTAGE_VERSION: JSON.stringify(pkg.version) },
    minify: opts.minify ?? false,
    sourcemap: opts.sourcemap ? 'linked' : false,
    legalComments: 'eof',
    charset: 'utf8',
    metafile: true,
    // An esbuild function the agent starts using and the lazy loader lacks fails the build, not the agent.
    logOverride: { 'import-is-undefined': 'error' },
    logLevel: 'warning',
  })
  chmodSync(bundle, 0o755)

  const packageJson = {
    name: 'vantage-agent',
    version: pkg.version,
    private: true,
    description: 'Vantage agent, bundled: node vantage-agent.mjs agent --config agent.yaml',
    type: 'module',
    license: 'Apache-2.0',
    engines: { node: '>=20' },
    bin: { 'vantage-agent': `./${BUNDLE_FILE}` },
    dependencies,
    // Their install scripts: better-sqlite3 builds or fetches its addon, esbuild checks its binary.
    allowScripts: Object.fromEntries(EXTERNAL_PACKAGES.map((name) => [name, true])),
  }
  writeFileSync(join(outDir, 'package.json'), JSON.stringify(packageJson, null, 2) + '\n')
  const packageLock = {
    name: 'vantage-agent',
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'vantage-agent', version: pkg.version, license: 'Apache-2.0', dependencies, engines: { node: '>=20' } },
      ...lockfileSubset(EXTERNAL_PACKAGES, lock),
    },
  }
  writeFileSync(join(outDir, 'package-lock.json'), JSON.stringify(packageLock, null, 2) + '\n')

  // The systemd unit that runs it from /opt/vantage-agent, and how to install it.
  copyFileSync(join(ROOT, 'deploy', 'systemd', UNIT_FILE), join(outDir, UNIT_FILE))
  writeFileSync(join(outDir, 'README.md'), bundleReadme(pkg.version, dependencies))

  const files = [BUNDLE_FILE, ...(opts.sourcemap ? [`${BUNDLE_FILE}.map`] : []), 'package.json', 'package-lock.json', UNIT_FILE, 'README.md']
  const modules = Object.keys(result.metafile!.inputs)
    .filter((p) => !p.includes('node_modules/') && !p.includes(':'))
    .sort()
  const inputs = [
    ...new Set([
      ...modules,
      ...runtimeInputs,
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      `deploy/systemd/${UNIT_FILE}`,
    ]),
  ].sort()
  return { outDir, bundle, bytes: statSync(bundle).size, files, dependencies, modules, inputs }
}

function bundleReadme(version: string, dependencies: Record<string, string>): string {
  const deps = Object.entries(dependencies)
    .map(([n, v]) => `${n}@${v}`)
    .join(', ')
  return `# Vantage agent ${version}, bundled

\`${BUNDLE_FILE}\` is the whole agent (made by \`npm run build:agent\` in the Vantage repository):
the \`vantage\` command's agent, probe, journey and keygen subcommands. It needs Node.js 20 or
later and, installed beside it by \`npm ci --omit=dev\`, ${deps} (the outbox's SQLite driver,
and the compiler of journey scripts).

\`\`\`sh
sudo cp -r . /opt/vantage-agent && cd /opt/vantage-agent && sudo npm ci --omit=dev
sudo ln -s /opt/vantage-agent/${BUNDLE_FILE} /usr/local/bin/vantage-agent
sudo useradd --system --home-dir /var/lib/vantage-agent --shell /usr/sbin/nologin vantage
sudo mkdir -p /etc/vantage/keys && sudo vantage-agent keygen --out /etc/vantage/keys --id eu-1
sudo chown vantage: /etc/vantage/keys/eu-1.jwk      # then register eu-1.pub.jwk in the hub's hub.yaml
vantage-agent probe http https://example.org/       # one probe, now
sudo cp ${UNIT_FILE} /etc/systemd/system/ && sudo systemctl daemon-reload
sudo systemctl enable --now vantage-agent            # reads /etc/vantage/agent.yaml
\`\`\`

The whole walk-through (hub, three vantages, Alertmanager) is \`deploy/README.md\` in the repository.
`
}

async function main(): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({
      options: { out: { type: 'string' }, minify: { type: 'boolean' }, sourcemap: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }))
  } catch (err) {
    process.stderr.write(`build:agent: ${(err as Error).message}\nusage: npm run build:agent -- [--out DIR] [--minify] [--sourcemap]\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write('usage: npm run build:agent -- [--out DIR] [--minify] [--sourcemap]\n')
    return 0
  }
  const built = await buildAgentBundle({ outDir: values.out, minify: values.minify, sourcemap: values.sourcemap })
  const kib = (built.bytes / 1024).toFixed(0)
  process.stdout.write(
    `${built.bundle}: ${kib} KiB (${built.modules.length} modules of the repo)\n` +
      `beside it: ${built.files.filter((f) => f !== BUNDLE_FILE).join(', ')} (${Object.entries(built.dependencies)
        .map(([n, v]) => `${n}@${v}`)
        .join(', ')})\n` +
      `on the VM: cd ${built.outDir} && npm ci --omit=dev && node ${BUNDLE_FILE} agent --config agent.yaml\n`,
  )
  return 0
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main()
}
