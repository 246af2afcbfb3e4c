// `npm start` on a fresh directory: the example configs are copied, keys made, and results show
// up on /metrics within one interval. The example's ports are moved to free ones for the test.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, statSync, writeFileSync, mkdtempSync, mkdirSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..')

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

let child: ChildProcess | undefined
afterAll(() => {
  child?.kill('SIGKILL')
})

describe('vantage start (npm start)', () => {
  it('runs a hub and a local agent from the examples and shows results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vantage-start-'))
    const data = join(dir, 'data')
    mkdirSync(data)
    const [http, grpc] = [await freePort(), await freePort()]
    for (const name of ['hub.yaml', 'agent.yaml']) {
      const text = readFileSync(join(ROOT, 'deploy', 'examples', name), 'utf8').replaceAll(':8080', `:${http}`).replaceAll(':8081', `:${grpc}`)
      writeFileSync(join(data, name), text)
    }

    child = spawn(process.execPath, [join(ROOT, 'bin', 'vantage.js'), 'start', '--data', data], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout!.on('data', (b: Buffer) => (stdout += b))
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)))

    const deadline = Date.now() + 45_000
    let metrics = ''
    while (Date.now() < deadline && !/synthetic_probe_success\{check="hub-health"[^}]*\} 1/.test(metrics)) {
      await new Promise((r) => setTimeout(r, 250))
      metrics = await fetch(`http://127.0.0.1:${http}/pushgateway/metrics`).then((r) => r.text(), () => '')
    }
    expect(metrics).toMatch(/synthetic_probe_success\{check="hub-health",instance="",job="synthetic-probe",region="local",target="http:\/\/127\.0\.0\.1:\d+\/-\/healthy",type="http",vantage="local"\} 1/)
    expect(stdout).toContain(`hub            http://127.0.0.1:${http}`)
    expect(stdout).toMatch(/first run: created .*keys\/hub\.jwk/)
    expect(statSync(join(data, 'keys', 'local-1.jwk')).mode & 0o777).toBe(0o600)

    child.kill('SIGINT')
    expect(await exited).toBe(0)
  }, 60_000)
})
