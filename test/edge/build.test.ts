// The edge worker builds as it ships: it type-checks against the Workers runtime types alone (no
// Node types: the portable core it imports needs nothing from Node), `wrangler deploy --dry-run`
// bundles deploy/edge/wrangler.toml offline, and the bundle stays small and Node-free.
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/processes.ts'
import { buildWorker, removeBundle, WRANGLER_TOML } from './helpers.ts'

const EDGE = join(ROOT, 'agent', 'edge')
/** What the worker may import: itself, the portable core, jose/protobufjs and the runtime. */
const ALLOWED_DIRS = ['agent/edge', 'agent/core', 'proto']

afterAll(async () => removeBundle(await buildWorker()))

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith('.ts') ? [path] : []
  })
}

describe('edge worker build', () => {
  it('type-checks with agent/edge/tsconfig.json (Workers types, no Node types)', async () => {
    const config = JSON.parse(readFileSync(join(EDGE, 'tsconfig.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { compilerOptions: { types: string[] } }
    expect(config.compilerOptions.types).toEqual(['@cloudflare/workers-types'])
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(EDGE, 'tsconfig.json')], { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, text: `${stdout}${stderr}` }),
      )
    })
    expect(out.text).toBe('')
    expect(out.code).toBe(0)
  }, 120_000)

  it('imports only the portable core, its libraries and the runtime: nothing Node-only', () => {
    for (const file of sourceFiles(EDGE)) {
      const source = readFileSync(file, 'utf8')
      for (const m of source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1]
        if (spec.startsWith('.')) {
          const target = relative(ROOT, join(file, '..', spec))
          expect(ALLOWED_DIRS.some((d) => target.startsWith(`${d}/`)), `${relative(ROOT, file)} imports ${spec}`).toBe(true)
        } else {
          expect(['cloudflare:sockets', 'cloudflare:workers'], `${relative(ROOT, file)} imports ${spec}`).toContain(spec)
        }
      }
    }
  })

  it('wrangler deploy --dry-run bundles deploy/edge/wrangler.toml offline; no Node compatibility flag', async () => {
    const toml = readFileSync(WRANGLER_TOML, 'utf8')
    expect(toml).toMatch(/^main = "\.\.\/\.\.\/agent\/edge\/worker\.ts"$/m)
    expect(toml).toMatch(/^crons = \["\* \* \* \* \*"\]$/m)
    expect(toml).not.toMatch(/^\s*compatibility_flags/m)
    for (const name of ['HUB_URL', 'AGENT_ID', 'HUB_PUBLIC_KEY', 'MANUAL_RUN_TOKEN']) expect(toml).toMatch(new RegExp(`^${name} = `, 'm'))
    // Secrets by name only.
    expect(toml).not.toMatch(/^\s*(AGENT_PRIVATE_KEY|BYPASS_TOKEN)\s*=/m)

    const bundle = await buildWorker()
    const code = readFileSync(bundle.file, 'utf8')
    console.log(`edge worker bundle: ${bundle.bytes} bytes (${(bundle.bytes / 1024).toFixed(1)} KiB), gzip ${bundle.gzipBytes} bytes (${(bundle.gzipBytes / 1024).toFixed(1)} KiB)`)
    expect(code).not.toMatch(/from\s*["']node:/)
    expect(code).not.toMatch(/require\(["']node:/)
    expect(code).toMatch(/VantageQueue = class extends DurableObject/)
    // Small: well under the Workers free plan's 3 MiB (gzip) limit.
    expect(bundle.gzipBytes).toBeLessThan(256 * 1024)
  }, 120_000)
})
