// A journey is someone's code running inside the agent: it must not hang it, exhaust its memory
// or reach Node (modules, files, environment, keys). Each hostile script here is stopped and
// reported, and the agent carries on with the next journey.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runJourneyCheck, startShop, step, type Shop } from './servers.ts'

let shop: Shop
beforeAll(async () => {
  shop = await startShop()
})
afterAll(() => shop.close())

describe('limits', () => {
  it('a script that loops forever is stopped at its time limit, with the step it was in', async () => {
    const source = `
      import { group } from 'k6'
      export default function () {
        group('before', () => {})
        group('spin', () => { for (;;) {} })
        group('after', () => {})
      }`
    const t0 = performance.now()
    const { result } = await runJourneyCheck({ source }, { timeoutMs: 1000 })
    const elapsed = performance.now() - t0
    expect(elapsed).toBeLessThan(4000)
    expect(result).toMatchObject({ success: false, challenged: false, error_code: 'TIMEOUT' })
    expect(result.steps!.map((s) => [s.name, s.success, s.error_code ?? null])).toEqual([
      ['before', true, null],
      ['spin', false, 'TIMEOUT'],
      ['after', false, 'JOURNEY_STEP_NOT_RUN'],
    ])
  })

  it('sleep() counts toward the time limit', async () => {
    const t0 = performance.now()
    const { result } = await runJourneyCheck({ source: `import { sleep } from 'k6'\nexport default function () { sleep(60) }` }, { timeoutMs: 800 })
    expect(performance.now() - t0).toBeLessThan(4000)
    expect(result.error_code).toBe('TIMEOUT')
    expect(step(result, 'default').error_code).toBe('TIMEOUT')
  })

  it('a request that never answers is cut by the time limit too', async () => {
    const { result } = await runJourneyCheck({ source: `import http from 'k6/http'\nexport default function () { http.get(__ENV.BASE + '/never') }` }, { env: { BASE: shop.app }, timeoutMs: 800 })
    expect(result.error_code).toBe('TIMEOUT')
  })

  it('a script that allocates without bound is stopped at its memory cap', async () => {
    const source = `
      import { group } from 'k6'
      export default function () {
        group('hoard', () => { const keep = []; for (;;) keep.push(new Array(100000).fill(1.5)) })
      }`
    const { result } = await runJourneyCheck({ source }, { memoryMb: 32, timeoutMs: 20_000 })
    expect(result).toMatchObject({ success: false, challenged: false, error_code: 'JOURNEY_MEMORY_LIMIT' })
    expect(step(result, 'hoard').error_code).toBe('JOURNEY_MEMORY_LIMIT')
  })

  it('strings grown without bound hit the same cap', async () => {
    const { result } = await runJourneyCheck({ source: `export default function () { const keep = []; for (let i = 0; ; i++) keep.push('x'.repeat(1 << 20) + i) }` }, { memoryMb: 32, timeoutMs: 20_000 })
    expect(result.error_code).toBe('JOURNEY_MEMORY_LIMIT')
  })

  it('a flood of checks or samples is stopped before it grows the agent', async () => {
    const t0 = performance.now()
    const { result } = await runJourneyCheck({ source: `import { check } from 'k6'\nexport default function () { for (;;) check(1, { spam: true }) }` }, { timeoutMs: 20_000 })
    expect(performance.now() - t0).toBeLessThan(15_000)
    expect(result).toMatchObject({ success: false, error_code: 'JOURNEY_MEMORY_LIMIT' })
    expect(result.error).toMatch(/stopped after 100000 events/)
  })

  it('binary buffers (outside the V8 heap) are capped as well', async () => {
    const hoard = await runJourneyCheck({ source: `export default function () { const keep = []; for (;;) keep.push(new Uint8Array(8 * 1024 * 1024)) }` }, { memoryMb: 64 })
    expect(hoard.result.error_code).toBe('JOURNEY_MEMORY_LIMIT')
    expect(step(hoard.result, 'default').error).toMatch(/journey memory cap: binary buffers exceed 64 MB/)
    const big = await runJourneyCheck({ source: `export default function () { new ArrayBuffer(2 ** 31) }` }, { memoryMb: 64 })
    expect(big.result.error_code).toBe('JOURNEY_MEMORY_LIMIT')
    const shared = await runJourneyCheck({ source: `import { check } from 'k6'\nexport default function () { check(globalThis, { 'no SharedArrayBuffer': (g) => g.SharedArrayBuffer === undefined, 'no WebAssembly': (g) => g.WebAssembly === undefined }) }` })
    expect(shared.result.success).toBe(true)
  })
})

describe('no way out of the script', () => {
  it.each([
    ['require("fs")', `const fs = require('fs')\nexport default function () {}`, /module "fs" is not available in the Vantage journey runtime/],
    ['import "node:fs"', `import fs from 'node:fs'\nexport default function () {}`, /module "node:fs" is not available/],
    ['import { readFileSync } from "fs"', `import { readFileSync } from 'fs'\nexport default function () { readFileSync('/etc/passwd') }`, /module "fs" is not available/],
    ['import("node:child_process")', `export default async function () { await import('node:child_process') }`, /module "node:child_process" is not available/],
    ['import(computed)', `export default async function () { const m = 'node:' + 'fs'; await import(m) }`, /import\(\) needs a string literal/],
    ['require(computed)', `export default function () { const m = 'f' + 's'; require(m) }`, /require needs a string literal/],
    ['a remote module', `import { randomItem } from 'https://jslib.k6.io/k6-utils/1.2.0/index.js'\nexport default function () {}`, /module "https:\/\/jslib\.k6\.io\/k6-utils\/1\.2\.0\/index\.js" is not available/],
  ])('%s fails the load', async (_name, source, message) => {
    const { result } = await runJourneyCheck({ source, name: 'hostile.js' })
    expect(result).toMatchObject({ success: false, error_code: 'JOURNEY_SCRIPT_INVALID' })
    expect(result.error).toMatch(message)
  })

  it('process, require, Buffer, eval and the agent realm are not reachable at run time', async () => {
    const source = `
      import { check } from 'k6'
      const leaked = (p) => typeof p === 'object' && p !== null && typeof p.pid === 'number'
      const attempt = (fn) => { try { return leaked(fn()) } catch (e) { try { return leaked(e.constructor.constructor('return process')()) } catch { return false } } }
      export default function () {
        check(null, {
          'no process': () => typeof process === 'undefined' && typeof globalThis.process === 'undefined',
          'process.env throws': () => { try { process.env; return false } catch (e) { return e instanceof ReferenceError } },
          // esbuild's bundle has a require() stub of its own that only throws.
          'no Node require': () => { try { const r = require; r('fs'); return false } catch (e) { return /Dynamic require of "fs" is not supported/.test(e.message) } },
          'no Buffer, setTimeout, fetch': () => typeof Buffer === 'undefined' && typeof setTimeout === 'undefined' && typeof fetch === 'undefined',
          'no eval / new Function': () => { try { Function('return 1'); return false } catch (e) { return e instanceof EvalError } },
          'this.constructor.constructor': () => !attempt(() => this.constructor.constructor('return process')()),
          'globalThis.constructor.constructor': () => !attempt(() => globalThis.constructor.constructor('return process')()),
          'k6 functions are of this realm': () => !attempt(() => check.constructor('return process')()),
          'console is of this realm': () => !attempt(() => console.log.constructor('return process')()),
          'stack frames hold no agent function': () => {
            const prepare = Error.prepareStackTrace
            Error.prepareStackTrace = (_e, frames) => frames
            const frames = new Error().stack
            Error.prepareStackTrace = prepare
            return frames.every((f) => { const fn = f.getFunction(); return fn === undefined || !attempt(() => fn.constructor('return process')()) })
          },
          'no agent keys or files': () => typeof open === 'function' && (() => { try { open('/etc/passwd'); return false } catch (e) { return /cannot read files/.test(e.message) } })(),
        })
      }`
    const { result } = await runJourneyCheck({ source })
    const checks = step(result, 'default').checks!
    const failed = Object.entries(checks).filter(([, c]) => c.fails > 0).map(([name]) => name)
    expect(failed).toEqual([])
    expect(Object.keys(checks)).toHaveLength(11)
    expect(result.success).toBe(true)
  })

  it('an unknown export of a k6 module fails the load naming the module and the export', async () => {
    const named = await runJourneyCheck({ source: `import { getJSON } from 'k6/http'\nexport default function () { getJSON('x') }`, name: 'typo.js' })
    expect(named.result.error_code).toBe('JOURNEY_SCRIPT_INVALID')
    expect(named.result.error).toMatch(/^typo\.js:1:10: "k6\/http" has no export "getJSON" in the Vantage journey runtime \(it has: get, post/)
    // Through a default import the name is only known at run time: it throws, never undefined.
    const viaDefault = await runJourneyCheck({ source: `import http from 'k6/http'\nexport default function () { http.getJSON('x') }` })
    expect(viaDefault.result.error_code).toBe('JOURNEY_SCRIPT_ERROR')
    expect(viaDefault.result.error).toMatch(/"k6\/http" has no export "getJSON"/)
  })

  it('a script error at load names the file and line', async () => {
    const { result } = await runJourneyCheck({ source: `export default function () {\n  const x = ;\n}`, name: 'broken.js' })
    expect(result.error_code).toBe('JOURNEY_SCRIPT_INVALID')
    expect(result.error).toMatch(/^broken\.js:2:13: /)
  })

  it('an exception in the init context fails the load', async () => {
    const { result } = await runJourneyCheck({ source: `const data = open('./users.json')\nexport default function () {}`, name: 'init.js' })
    expect(result.error_code).toBe('JOURNEY_SCRIPT_INVALID')
    expect(result.error).toMatch(/init\.js: error in the init context: open\(\) is not available/)
  })

  it('requests in the init context are refused, as in k6', async () => {
    const { result } = await runJourneyCheck({ source: `import http from 'k6/http'\nhttp.get(__ENV.BASE)\nexport default function () {}` }, { env: { BASE: shop.app } })
    expect(result.error_code).toBe('JOURNEY_SCRIPT_INVALID')
    expect(result.error).toMatch(/making HTTP requests in the init context is not supported/)
  })
})

describe('the agent survives', () => {
  it('runs a normal journey after all of the above, and its memory is where it was', async () => {
    const rssBefore = process.memoryUsage().rss
    for (let i = 0; i < 3; i++) {
      const { result } = await runJourneyCheck({ source: `export default function () { const keep = []; for (;;) keep.push(new Array(100000).fill(i)) }`.replace('(i)', `(${i})`) }, { memoryMb: 32, timeoutMs: 20_000 })
      expect(result.error_code).toBe('JOURNEY_MEMORY_LIMIT')
    }
    const source = `
      import http from 'k6/http'
      import { check, group } from 'k6'
      export default function () { group('home', () => { check(http.get(__ENV.BASE + '/echo'), { 'still 200': (r) => r.status === 200 }) }) }`
    const { result } = await runJourneyCheck({ source }, { env: { BASE: shop.app } })
    expect(result.success).toBe(true)
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024)
  })
})
