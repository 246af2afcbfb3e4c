import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, DEFAULTS, loadAgentConfig, parseAgentConfig } from '../../agent/daemon/config.ts'
import { writeTestKeys, type TestKeys } from './keys.ts'

let dir: string
let keys: TestKeys

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vantage-agent-config-'))
  mkdirSync(join(dir, 'keys'))
  keys = await writeTestKeys(join(dir, 'keys'))
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

const MINIMAL = `id: eu-1
private_key: ./keys/eu-1.jwk
hub: { url: http://127.0.0.1:8080, public_key: ./keys/hub.pub.jwk }
`

function write(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('agent.yaml', () => {
  it('reads the example from DESIGN.md, with paths relative to the file', () => {
    const file = write(
      'agent.yaml',
      `id: eu-1
private_key: ./keys/eu-1.jwk
hub: { url: http://127.0.0.1:8080, grpc: 127.0.0.1:8081, public_key: ./keys/hub.pub.jwk }
data: ./agent-data
source_address: 127.0.0.2
outbox_max: 100000
canaries: [http://127.0.0.1:8080/-/healthy]
concurrency: 4
batch_size: 200
log_level: debug
config_refresh: 1m
`,
    )
    const config = loadAgentConfig(file)
    expect(config).toMatchObject({
      file,
      id: 'eu-1',
      private_key_file: keys.files.agentPrivate,
      hub: { url: 'http://127.0.0.1:8080', grpc: '127.0.0.1:8081', public_key_file: keys.files.hubPublic },
      data: join(dir, 'agent-data'),
      source_address: '127.0.0.2',
      outbox_max: 100_000,
      canaries: ['http://127.0.0.1:8080/-/healthy'],
      concurrency: 4,
      batch_size: 200,
      log_level: 'debug',
      config_refresh_ms: 60_000,
    })
    expect(config.private_key.d).toBe(keys.agent.privateJwk.d)
    expect(config.hub.public_key.x).toBe(keys.hub.publicJwk.x)
  })

  it('fills in defaults', () => {
    const config = loadAgentConfig(write('minimal.yaml', MINIMAL))
    expect(config).toMatchObject({
      hub: { grpc: null },
      data: join(dir, 'agent-data'),
      outbox_max: DEFAULTS.outbox_max,
      concurrency: 16,
      batch_size: 500,
      canaries: [],
      log_level: 'info',
      config_refresh_ms: 30_000,
    })
  })

  it('names file, line and field of an unknown key', () => {
    const file = join(dir, 'typo.yaml')
    const err = errorOf(() => parseAgentConfig(`${MINIMAL}outbox_mx: 10\n`, file))
    expect(err.message).toMatch(/^.*typo\.yaml:4: outbox_mx: unknown key \(did you mean "outbox_max"\?\)/)
    const nested = errorOf(() => parseAgentConfig(MINIMAL.replace('public_key:', 'pubkey: ./x, public_key:'), file))
    expect(nested.message).toMatch(/typo\.yaml:3: hub\.pubkey: unknown key/)
  })

  it('refuses swapped keys and says which file is wrong', () => {
    const file = join(dir, 'swapped.yaml')
    const publicAsPrivate = errorOf(() => parseAgentConfig(MINIMAL.replace('./keys/eu-1.jwk', './keys/eu-1.pub.jwk'), file))
    expect(publicAsPrivate.message).toContain('swapped.yaml:2: private_key:')
    expect(publicAsPrivate.message).toContain('eu-1.pub.jwk is a public key')
    const privateAsHub = errorOf(() => parseAgentConfig(MINIMAL.replace('./keys/hub.pub.jwk', './keys/hub.jwk'), file))
    expect(privateAsHub.message).toContain('swapped.yaml:3: hub.public_key:')
    expect(privateAsHub.message).toContain('hub.jwk is a private key')
    const missing = errorOf(() => parseAgentConfig(MINIMAL.replace('./keys/eu-1.jwk', './keys/nope.jwk'), file))
    expect(missing.message).toMatch(/swapped\.yaml:2: private_key: cannot read private key .*nope\.jwk \(ENOENT\)/)
    writeFileSync(join(dir, 'keys', 'junk.jwk'), '{"kty":"RSA"}')
    const junk = errorOf(() => parseAgentConfig(MINIMAL.replace('./keys/eu-1.jwk', './keys/junk.jwk'), file))
    expect(junk.message).toMatch(/junk\.jwk: not an Ed25519 key/)
  })

  it('checks values where they are written', () => {
    const file = join(dir, 'bad.yaml')
    expect(errorOf(() => parseAgentConfig(`${MINIMAL}source_address: eth0\n`, file)).message).toMatch(/bad\.yaml:4: source_address: "eth0" is not an IP address/)
    expect(errorOf(() => parseAgentConfig(MINIMAL.replace('public_key:', 'grpc: localhost, public_key:'), file)).message).toMatch(/hub\.grpc: "localhost" is not HOST:PORT/)
    expect(errorOf(() => parseAgentConfig(MINIMAL.replace('http://127.0.0.1:8080', 'ftp://x'), file)).message).toMatch(/hub\.url: "ftp:\/\/x" must be an http/)
    expect(errorOf(() => parseAgentConfig(`${MINIMAL}outbox_max: 10\nbatch_size: 50\n`, file)).message).toMatch(/batch_size: must not exceed outbox_max \(10\)/)
    expect(errorOf(() => parseAgentConfig(`${MINIMAL}canaries: [not a url]\n`, file)).message).toMatch(/canaries\[0\]: "not a url" is not a URL/)
    expect(errorOf(() => parseAgentConfig(`${MINIMAL}id: a b\n`, file)).line).toBe(4) // duplicate key
    expect(errorOf(() => parseAgentConfig(MINIMAL.replace('id: eu-1', 'id: "a b"'), file)).message).toMatch(/bad\.yaml:1: id: "a b" is not a valid agent id/)
    expect(errorOf(() => loadAgentConfig(join(dir, 'absent.yaml'))).message).toMatch(/absent\.yaml: cannot read the file \(ENOENT\)/)
  })
})
