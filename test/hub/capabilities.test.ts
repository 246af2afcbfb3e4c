// Vantage capabilities (hub.yaml `vantages.<name>.capabilities`): an edge worker runs http, tcp
// and smtp only. A config that explicitly assigns another type to such a vantage is refused with
// file, line and field; without an explicit list, a check goes to the vantages able to run it,
// and an edge agent is never handed a check it cannot run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configFor } from '../../hub/agent-config/plugin.ts'
import { ConfigError, parseHubConfig } from '../../hub/config.ts'
import { makeKeys, tempDir, type TestDir } from './helpers.ts'

let t: TestDir
beforeAll(async () => {
  t = tempDir('vantage-hub-capabilities-')
  await makeKeys(t, ['hub', 'eu-1', 'edge-1'])
})
afterAll(() => t.cleanup())

const HEAD = `hub_key: ./keys/hub.jwk
vantages:
  eu-west: { region: eu }
  edge: { region: global, capabilities: [http, tcp, smtp] }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
  - { id: edge-1, vantage: edge, public_key: ./keys/edge-1.pub.jwk }
checks:
`

function parse(checks: string) {
  return parseHubConfig(HEAD + checks, t.write('hub.yaml', HEAD + checks))
}

function refusal(checks: string): ConfigError {
  try {
    parse(checks)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('the config was accepted')
}

describe('vantage capabilities', () => {
  it('refuses a check type explicitly assigned to a vantage that cannot run it, naming file, line and field', () => {
    const err = refusal(`  - name: resolver
    type: dns
    target: example.org
    vantages: [eu-west, edge]
`)
    expect(err.file).toBe(t.write('hub.yaml', HEAD))
    expect(err.line).toBe(12)
    expect(err.field).toBe('checks[0].vantages[1]')
    expect(err.reason).toBe('vantage "edge" cannot run dns checks (its capabilities: http, tcp, smtp)')
    expect(err.message).toMatch(/hub\.yaml:12: checks\[0\]\.vantages\[1\]: vantage "edge" cannot run dns checks/)
  })

  it('refuses tls inspection on the edge too, also when the list is a single name', () => {
    const err = refusal(`  - { name: cert, type: tls, target: "shop.example:443", vantages: edge }
`)
    expect(err.line).toBe(9)
    expect(err.field).toBe('checks[0].vantages')
    expect(err.reason).toContain('vantage "edge" cannot run tls checks')
  })

  it('without an explicit list, a check goes to every vantage able to run it; the edge agent is handed only those', () => {
    const cfg = parse(`  - { name: home, type: http, target: "https://shop.example/" }
  - { name: mx, type: smtp, target: "mx.example:587", smtp: { starttls: true } }
  - { name: port, type: tcp, target: "shop.example:443" }
  - { name: cert, type: tls, target: "shop.example:443" }
  - { name: resolver, type: dns, target: example.org }
`)
    expect(cfg.checks.get('home')!.vantages).toEqual(['eu-west', 'edge'])
    expect(cfg.checks.get('mx')!.vantages).toEqual(['eu-west', 'edge'])
    expect(cfg.checks.get('cert')!.vantages).toEqual(['eu-west'])
    expect(cfg.checks.get('resolver')!.vantages).toEqual(['eu-west'])
    expect(configFor(cfg, cfg.agents.get('edge-1')!).checks.map((c) => c.name)).toEqual(['home', 'mx', 'port'])
    expect(configFor(cfg, cfg.agents.get('eu-1')!).checks.map((c) => c.name)).toEqual(['home', 'mx', 'port', 'cert', 'resolver'])
  })

  it('refuses an unknown capability', () => {
    const text = HEAD.replace('capabilities: [http, tcp, smtp]', 'capabilities: [http, icmp]')
    expect(() => parseHubConfig(text, t.write('hub.yaml', text))).toThrow(ConfigError)
  })
})
