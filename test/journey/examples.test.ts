// The example journeys type-check with @types/k6; `vantage journey` runs them as a user would
// (step table, JSON, exit codes); a journey distributed as one bundled file (what the hub sends)
// runs the same as the file; the static step list knows nesting and setup/teardown.
import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseJourneyArgs, UsageError } from '../../agent/cli/journey.ts'
import { bundleJourney, compileJourney } from '../../agent/journey/compile.ts'
import { scanStepNames } from '../../agent/journey/steps-scan.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { runJourneyCheck, startShop, type Shop } from './servers.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'vantage.js')
const exec = promisify(execFile)

let shop: Shop
beforeAll(async () => {
  shop = await startShop()
})
afterAll(() => shop.close())

async function vantage(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { timeout: 30_000, cwd: ROOT })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

it('the example journeys type-check with @types/k6 (journeys/tsconfig.json)', async () => {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const { stdout } = await exec(process.execPath, [tsc, '-p', join(ROOT, 'journeys', 'tsconfig.json')], { cwd: ROOT, timeout: 60_000 }).catch((err: { stdout: string }) => err)
  expect(stdout).toBe('')
}, 60_000)

describe('vantage journey', () => {
  it('prints the step table and exits 0 when the journey succeeds', async () => {
    const { code, stdout, stderr } = await vantage('journey', 'journeys/json-api.ts', '--env', `BASE_URL=${shop.app}`, '--env', 'API_USER=croc', '--env', 'API_PASSWORD=dile')
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const lines = stdout.split('\n')
    expect(lines[0]).toMatch(/^UP {2}journey journeys\/json-api\.ts {2}in \d+\.\dms$/)
    expect(lines[1]).toMatch(/^ {2}step\s+result\s+duration\s+status\s+passed\s+failed$/)
    expect(lines[2]).toMatch(/^ {2}log in\s+up\s+\d+\.\dms\s+200\s+2\s+0$/)
    expect(lines[3]).toMatch(/^ {2}create\s+up\s+\d+\.\dms\s+201\s+2\s+0$/)
    expect(lines[5]).toMatch(/^ {2}delete\s+up\s+\d+\.\dms\s+204\s+1\s+0$/)
    expect(stdout).toMatch(/threshold crocodile_create_ms p\(95\)<2000: ok/)
  })

  it('prints the result JSON with --json and exits 1 when the journey fails', async () => {
    const { code, stdout } = await vantage('journey', 'journeys/login-csrf.ts', '--json', '--env', `BASE_URL=${shop.app}`, '--env', 'LOGIN_PASSWORD=wrong')
    expect(code).toBe(1)
    const result = JSON.parse(stdout) as ProbeResult
    expect(result).toMatchObject({ check: 'login-csrf', type: 'journey', target: 'journeys/login-csrf.ts', success: false, error_code: 'JOURNEY_CHECK_FAILED' })
    expect(result.steps!.map((s) => [s.name, s.success])).toEqual([
      ['open login page', true],
      ['log in', false],
      ['log out', false],
    ])
  })

  it("shows a challenged step, and the script's console on stderr", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vantage-journey-'))
    const file = join(dir, 'blocked.js')
    await writeFile(
      file,
      `import http from 'k6/http'\nimport { check, group } from 'k6'\nexport default function () {\n  console.log('starting')\n  group('shop', () => { check(http.get(__ENV.BASE + '/challenge'), { 'is 200': (r) => r.status === 200 }) })\n}\n`,
    )
    const { code, stdout, stderr } = await vantage('journey', file, '--env', `BASE=${shop.app}`)
    expect(code).toBe(1)
    expect(stdout).toMatch(/^CHALLENGED {2}journey /)
    expect(stdout).toMatch(/^ {2}shop\s+challenged\s+\d+\.\dms\s+403\s+0\s+1$/m)
    expect(stdout).toMatch(/CHALLENGE_CLOUDFLARE/)
    expect(stderr).toBe('INFO starting\n')
  })

  it('exits 2 on bad arguments', async () => {
    const { code, stderr } = await vantage('journey', 'journeys/json-api.ts', '--env', 'NOEQUALS')
    expect(code).toBe(2)
    expect(stderr).toMatch(/--env "NOEQUALS": expected NAME=value/)
  })

  it.each([
    [[], /expected a journey file/],
    [['a.py'], /"a\.py" is not a \.js or \.ts file/],
    [['a.js', 'b.js'], /unexpected argument "b\.js"/],
    [['a.js', '--timeout', 'soon'], /--timeout: /],
    [['a.js', '--ca', '/nonexistent/ca.pem'], /--ca: cannot read/],
    [['a.js', '--frobnicate'], /Unknown option '--frobnicate'/],
  ])('rejects %j', (args, message) => {
    expect(() => parseJourneyArgs(args as string[])).toThrow(UsageError)
    expect(() => parseJourneyArgs(args as string[])).toThrow(message)
  })

  it('parses the options into a journey check', () => {
    expect(parseJourneyArgs(['j/x.ts', '--env', 'A=1', '--env', 'B=x=y', '--timeout', '90s', '--insecure']).check).toEqual({
      name: 'x',
      type: 'journey',
      target: 'j/x.ts',
      interval_ms: 60_000,
      timeout_ms: 90_000,
      journey: { script: 'j/x.ts', env: { A: '1', B: 'x=y' } },
      tls: { insecure: true },
    })
  })
})

describe('distribution', () => {
  it('bundleJourney makes one file (TS compiled, relative imports in, k6 imports kept) that runs the same', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vantage-bundle-'))
    await writeFile(join(dir, 'lib.ts'), `export function base(): string { return __ENV.BASE }\n`)
    await writeFile(
      join(dir, 'main.ts'),
      `import http from 'k6/http'\nimport { check, group } from 'k6'\nimport { base } from './lib.ts'\nexport default function (): void { group('home', () => { check(http.get(base() + '/echo'), { ok: (r) => r.status === 200 }) }) }\n`,
    )
    const source = await bundleJourney(join(dir, 'main.ts'))
    expect(source).toMatch(/from "k6\/http"/)
    expect(source).not.toMatch(/\.\/lib/)
    const fromFile = await runJourneyCheck({ path: join(dir, 'main.ts') }, { env: { BASE: shop.app } })
    const distributed = await runJourneyCheck({ source, name: 'journeys/main.ts' }, { env: { BASE: shop.app } })
    expect(fromFile.result.success).toBe(true)
    expect(distributed.result.success).toBe(true)
    expect(distributed.result.steps).toEqual([expect.objectContaining({ name: 'home', success: true, checks: { ok: { passes: 1, fails: 0 } } })])
    // A distributed file has nothing beside it: its relative imports must be bundled first.
    const unbundled = await runJourneyCheck({ source: `import { base } from './lib.ts'\nexport default function () { base() }`, name: 'main.ts' })
    expect(unbundled.result.error_code).toBe('JOURNEY_SCRIPT_INVALID')
    expect(unbundled.result.error).toMatch(/Could not resolve "\.\/lib\.ts": a distributed journey is one file/)
  })

  it('the step list found in the source knows nesting, setup and teardown', async () => {
    const compiled = await compileJourney({
      name: 'steps.ts',
      source: `
        import { group } from 'k6'
        import * as k6 from 'k6'
        export function setup() { group('seed', () => {}) }
        export default function () {
          const re = /[)(}{]/g
          group('home', () => { group(\`dynamic \${re}\`, () => {}); group("cart", () => {}) })
          k6.group('checkout', () => { const t = \`\${'}'}\`; group('pay', () => {}) })
        }
        export function teardown() { group('cleanup', () => {}) }`,
    })
    expect(compiled.stepNames).toEqual(['setup::seed', 'home', 'home::cart', 'checkout', 'checkout::pay', 'teardown::cleanup'])
    expect(scanStepNames(`group("a", () => { group("b", () => 1) }); group("c", x)`)).toEqual(['a', 'a::b', 'c'])
  })
})
