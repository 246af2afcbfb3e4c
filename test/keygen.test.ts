import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { run } from '../agent/cli/keygen.ts'
import { signBatch, verifyBatch } from '../proto/envelope.ts'
import { checkJwk, importPrivate, importPublic, parseJwk } from '../proto/keys.ts'
import { batchOf } from './proto/fixtures.ts'

let tmp: string
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'vantage-keygen-'))
})
afterEach(() => rmSync(tmp, { recursive: true, force: true }))

async function keygen(...args: string[]) {
  let stdout = ''
  let stderr = ''
  const code = await run(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } })
  return { code, stdout, stderr }
}

const mode = (path: string) => statSync(path).mode & 0o777

describe('vantage keygen', () => {
  it('writes a private key (0600) and a public key into a new directory (0700)', async () => {
    const dir = join(tmp, 'keys', 'agents')
    const { code, stdout, stderr } = await keygen('--out', dir, '--id', 'eu-1')
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    const privatePath = join(dir, 'eu-1.jwk')
    const publicPath = join(dir, 'eu-1.pub.jwk')
    expect(stdout).toBe(`${privatePath}\n${publicPath}\n`)
    expect(mode(privatePath)).toBe(0o600)
    expect(mode(publicPath) & 0o077 & ~0o044).toBe(0) // readable by others at most, never writable
    expect(mode(dir)).toBe(0o700)
    expect(mode(join(tmp, 'keys'))).toBe(0o700)
    expect(readdirSync(dir).sort()).toEqual(['eu-1.jwk', 'eu-1.pub.jwk']) // no temporary files left

    const privateJwk = parseJwk(readFileSync(privatePath, 'utf8'), privatePath)
    const publicJwk = parseJwk(readFileSync(publicPath, 'utf8'), publicPath)
    expect(publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: privateJwk.x, kid: 'eu-1', alg: 'EdDSA', use: 'sig' })
    expect(checkJwk(privateJwk, privatePath).d).toMatch(/^[A-Za-z0-9_-]{43}$/)
    await importPrivate(privateJwk, privatePath)
    await importPublic(publicJwk, publicPath)

    const now = Date.now()
    const batch = batchOf(5, { agentId: 'eu-1', sentAt: now })
    const jws = await signBatch(batch, { kid: 'eu-1', privateKey: privateJwk })
    const verified = await verifyBatch(JSON.stringify(jws), (kid) => (kid === 'eu-1' ? publicJwk : undefined), { now, maxSkewMs: 60_000 })
    expect(verified).toStrictEqual(batch)
  })

  it('creates the private key 0600 whatever the umask', async (ctx) => {
    let previous = 0
    try {
      previous = process.umask(0)
    } catch {
      ctx.skip() // umask cannot be changed in a worker thread; the forks pool (default) can
    }
    try {
      expect((await keygen('--out', tmp, '--id', 'loose')).code).toBe(0)
    } finally {
      process.umask(previous)
    }
    expect(mode(join(tmp, 'loose.jwk'))).toBe(0o600)
    expect(mode(join(tmp, 'loose.pub.jwk'))).toBe(0o644)
  })

  it('never overwrites a key without --force', async () => {
    expect((await keygen('--out', tmp, '--id', 'hub')).code).toBe(0)
    const before = readFileSync(join(tmp, 'hub.jwk'), 'utf8')
    const again = await keygen('--out', tmp, '--id', 'hub')
    expect(again.code).toBe(1)
    expect(again.stderr).toContain(`${join(tmp, 'hub.jwk')} already exists; use --force`)
    expect(readFileSync(join(tmp, 'hub.jwk'), 'utf8')).toBe(before)

    rmSync(join(tmp, 'hub.jwk')) // a lone public key is protected too
    expect((await keygen('--out', tmp, '--id', 'hub')).code).toBe(1)
  })

  it('replaces the pair with --force, still 0600', async () => {
    writeFileSync(join(tmp, 'eu-2.jwk'), 'old', { mode: 0o644 })
    writeFileSync(join(tmp, 'eu-2.pub.jwk'), 'old')
    const { code } = await keygen('--force', '--out=' + tmp, '--id=eu-2')
    expect(code).toBe(0)
    expect(parseJwk(readFileSync(join(tmp, 'eu-2.jwk'), 'utf8'), 'eu-2.jwk').d).toBeDefined()
    expect(mode(join(tmp, 'eu-2.jwk'))).toBe(0o600)
    expect(readdirSync(tmp).sort()).toEqual(['eu-2.jwk', 'eu-2.pub.jwk'])
  })

  it.each([
    [[], '--out DIR is required'],
    [['--id', 'eu-1'], '--out DIR is required'],
    [['--out', 'x'], '--id AGENT_ID is required'],
    [['--out'], '--out needs a value'],
    [['--out', '--id', 'eu-1'], '--out needs a value'],
    [['--out', 'x', '--id', '../escape'], 'is not a safe name'],
    [['--out', 'x', '--id', 'a/b'], 'is not a safe name'],
    [['--out', 'x', '--id', 'x'.repeat(65)], 'is not a safe name'],
    [['--out', 'x', '--id', 'eu-1', '--bogus'], 'unknown argument "--bogus"'],
    [['--out', 'x', '--id', 'eu-1', 'extra'], 'unknown argument "extra"'],
  ])('%j exits 2 with one error line and the usage', async (args, message) => {
    const { code, stdout, stderr } = await keygen(...args.map((a) => (a === 'x' ? join(tmp, 'x') : a)))
    expect(code).toBe(2)
    expect(stdout).toBe('')
    const lines = stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^vantage keygen: /)
    expect(lines[0]).toContain(message)
    expect(lines[1]).toBe('usage: vantage keygen --out DIR --id AGENT_ID [--force]')
    expect(readdirSync(tmp)).toEqual([]) // nothing written
  })

  it('--help prints the usage and exits 0', async () => {
    const { code, stdout } = await keygen('--help')
    expect(code).toBe(0)
    expect(stdout).toMatch(/^usage: vantage keygen/)
  })
})
