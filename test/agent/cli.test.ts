// `vantage agent` as a process: argument and config errors, SIGHUP reload, SIGTERM stop.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTestKeys } from './keys.ts'
import { waitFor } from './wait.ts'

const ROOT = join(import.meta.dirname, '../..')
const SCRIPT = join(ROOT, 'test/agent/run-agent.ts')
let dir: string

// A hub that is not there: the agent keeps running and retrying, which is all these tests need.
const AGENT_YAML = `id: eu-1
private_key: ./keys/eu-1.jwk
hub: { url: http://127.0.0.1:9, public_key: ./keys/hub.pub.jwk }
data: ./agent-data
`

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vantage-agent-cli-'))
  mkdirSync(join(dir, 'keys'))
  await writeTestKeys(join(dir, 'keys'))
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

function runSync(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8' })
}

describe('vantage agent', () => {
  it('needs --config, and names file, line and field of a bad config', () => {
    const none = runSync([])
    expect(none.status).toBe(2)
    expect(none.stderr).toMatch(/--config agent\.yaml is required/)
    const file = join(dir, 'typo.yaml')
    writeFileSync(file, `${AGENT_YAML}concurency: 4\n`)
    const typo = runSync(['--config', file])
    expect(typo.status).toBe(2)
    expect(typo.stderr).toContain(`${file}:5: concurency: unknown key (did you mean "concurrency"?)`)
  })

  it('reloads agent.yaml on SIGHUP (keeping the running one when the new file is bad) and stops on SIGTERM', { timeout: 30_000 }, async () => {
    const file = join(dir, 'agent.yaml')
    writeFileSync(file, AGENT_YAML)
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--config', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const count = (msg: string) => out.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length
    await waitFor(() => count('agent started') === 1, 15_000)

    writeFileSync(file, `${AGENT_YAML}outbox_max: lots\n`)
    child.kill('SIGHUP')
    await waitFor(() => out.includes('SIGHUP: agent.yaml is invalid; keeping the running configuration'), 10_000)
    expect(out).toContain('outbox_max: expected a number')

    writeFileSync(file, `${AGENT_YAML}concurrency: 2\n`)
    child.kill('SIGHUP')
    await waitFor(() => count('agent started') === 2, 15_000)

    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(count('agent stopped')).toBe(2)
  })
})
