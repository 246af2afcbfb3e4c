import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, emptyHubConfig, loadHubConfig, parseHubConfig } from '../../hub/config.ts'
import { makeKeys, tempDir, type TestDir } from './helpers.ts'

let t: TestDir

beforeAll(async () => {
  t = tempDir('vantage-hub-config-')
  await makeKeys(t, ['hub', 'eu-1', 'eu-2', 'edge-1'])
  t.write('secrets/operator.token', 'op-secret\n')
  t.write('secrets/push.token', 'push-secret\n')
  t.write('certs/ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
})
afterAll(() => t.cleanup())

const FULL = `listen: { http: 127.0.0.1:9080, grpc: "[::1]:9081" }
data: ./state
hub_key: ./keys/hub.jwk
operator_token_file: ./secrets/operator.token
pushgateway: { token_file: ./secrets/push.token, forward_url: null, ttl: 10m }
alerting:
  alertmanager: [http://127.0.0.1:9093]
  webhook: { url: null, secret_file: null }
  resend_interval: 2m
ingest: { max_body: 1MiB, max_clock_skew: 2m }
vantages:
  eu-west: { region: eu, failure_domain: hetzner }
  edge:    { region: global, capabilities: [http, tcp] }
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
  - { id: eu-2, vantage: eu-west, region: eu, public_key: ./keys/eu-2.pub.jwk }
  - { id: edge-1, vantage: edge, public_key: ./keys/edge-1.pub.jwk }
checks:
  - name: shop-home
    type: http
    target: https://shop.example/
    interval: 30s
    vantages: [eu-west, edge]
    http:
      expect_status: ["200-299", 301]
      body_contains: Shop
      body_matches: "(?i)welcome"
      headers: { Accept-Language: en }
      header_assertions: [{ name: cf-ray, absent: true }]
      bypass_header: { name: X-Synthetic-Bypass, value_env: BYPASS_TOKEN }
    tls: { servername: shop.example, ca: ./certs/ca.pem }
    quorum: { min_down: 2, for: 2m, resolve_after: 30s }
    stale_after: 90s
  - name: mx
    type: smtp
    target: mx.example:25
    interval: 5s
    smtp: { starttls: true, ehlo: probe.example }
    quorum: { min_down: "2/3" }
  - name: resolver
    type: dns
    target: example.org
    dns: { record_type: mx, server: 127.0.0.1:53, expect: "10 mx.example.org" }
`

describe('hub.yaml', () => {
  it('reads every documented key, resolving paths relative to the file', () => {
    const file = t.write('full.yaml', FULL)
    const cfg = loadHubConfig(file)
    expect(cfg.file).toBe(file)
    expect(cfg.listen).toEqual({ http: { host: '127.0.0.1', port: 9080 }, grpc: { host: '::1', port: 9081 } })
    expect(cfg.data).toBe(`${t.dir}/state`)
    expect(cfg.hub_key?.file).toBe(`${t.dir}/keys/hub.jwk`)
    expect(cfg.hub_key?.jwk.d).toBeTypeOf('string')
    expect(cfg.operator_token).toBe('op-secret')
    expect(cfg.pushgateway).toEqual({ token: 'push-secret', forward_url: null, ttl_ms: 600_000 })
    expect(cfg.alerting).toEqual({ alertmanager: ['http://127.0.0.1:9093'], webhook: { url: null, secret: null }, resend_interval_ms: 120_000 })
    expect(cfg.ingest).toEqual({ max_body_bytes: 1024 * 1024, max_clock_skew_ms: 120_000 })

    expect([...cfg.agents.values()].map((a) => [a.id, a.vantage, a.region])).toEqual([
      ['eu-1', 'eu-west', 'eu'],
      ['eu-2', 'eu-west', 'eu'],
      ['edge-1', 'edge', 'global'],
    ])
    expect(cfg.agents.get('eu-1')!.public_key.d).toBeUndefined()

    const shop = cfg.checks.get('shop-home')!
    expect(shop.spec).toEqual({
      name: 'shop-home',
      type: 'http',
      target: 'https://shop.example/',
      interval_ms: 30_000,
      timeout_ms: 10_000, // default: min(10s, interval)
      http: {
        expect_status: ['200-299', '301'],
        body_contains: 'Shop',
        body_matches: '(?i)welcome',
        headers: { 'accept-language': 'en' },
        header_assertions: [{ name: 'cf-ray', absent: true }],
        bypass_header: { name: 'X-Synthetic-Bypass', value_env: 'BYPASS_TOKEN' },
      },
      tls: { servername: 'shop.example', ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    })
    expect(shop.vantages).toEqual(['eu-west', 'edge'])
    expect(shop.quorum).toEqual({ min_down: { count: 2 }, for_ms: 120_000, resolve_after_ms: 30_000 })
    expect(shop.stale_after_ms).toBe(90_000)

    const mx = cfg.checks.get('mx')!
    expect(mx.spec.timeout_ms).toBe(5_000) // interval shorter than 10s
    expect(mx.spec.smtp).toEqual({ starttls: true, ehlo: 'probe.example' })
    expect(mx.vantages).toEqual(['eu-west']) // edge cannot run smtp
    expect(mx.quorum).toEqual({ min_down: { numerator: 2, denominator: 3 }, for_ms: 10_000, resolve_after_ms: 5_000 })
    expect(mx.stale_after_ms).toBe(15_000)

    const dns = cfg.checks.get('resolver')!
    expect(dns.spec).toMatchObject({ interval_ms: 60_000, timeout_ms: 10_000 })
    expect(dns.spec.dns).toEqual({ record_type: 'MX', server: '127.0.0.1:53', expect: ['10 mx.example.org'] })
    expect(dns.quorum.min_down).toEqual({ count: 1 }) // one able vantage
  })

  it('starts empty from flags alone, with defaults', () => {
    const cfg = emptyHubConfig({ httpListen: '127.0.0.1:0', data: '/tmp/x' })
    expect(cfg.file).toBeNull()
    expect(cfg.listen.http).toEqual({ host: '127.0.0.1', port: 0 })
    expect(cfg.listen.grpc).toEqual({ host: '127.0.0.1', port: 8081 })
    expect(cfg.data).toBe('/tmp/x')
    expect(cfg.agents.size + cfg.checks.size).toBe(0)
    expect(cfg.ingest).toEqual({ max_body_bytes: 4 * 1024 * 1024, max_clock_skew_ms: 300_000 })
  })

  it('names a missing config file', () => {
    expect(() => loadHubConfig(`${t.dir}/nope.yaml`)).toThrow(/nope\.yaml: cannot read the config file: no such file/)
  })

  const AGENTS = `hub_key: ./keys/hub.jwk
agents:
  - { id: eu-1, vantage: eu-west, public_key: ./keys/eu-1.pub.jwk }
`
  const check = (body: string) => `${AGENTS}checks:\n  - name: shop\n    type: http\n    target: https://shop.example/\n${body}`

  // Each case: the YAML, then the exact message (file:line: field: reason).
  const cases: [string, string, string][] = [
    ['unknown top-level key', `${AGENTS}chekcs: []\n`, 'bad.yaml:4: chekcs: unknown key (did you mean "checks"?)'],
    ['typo in a check key', check('    timout: 5s\n'), 'bad.yaml:8: checks[0].timout: unknown key (did you mean "timeout"?)'],
    ['bad duration', check('    interval: soon\n'), 'bad.yaml:8: checks[0].interval: invalid duration "soon"'],
    ['timeout over interval', check('    interval: 10s\n    timeout: 20s\n'), 'bad.yaml:9: checks[0].timeout: must not exceed the interval (10s)'],
    ['unknown vantage', check('    vantages: [eu-west, us-est]\n'), 'bad.yaml:8: checks[0].vantages[1]: unknown vantage "us-est" (known: eu-west)'],
    ['option block of another type', check('    dns: { record_type: A }\n'), 'bad.yaml:8: checks[0].dns: applies only to dns checks'],
    ['bad status range', check('    http: { expect_status: ["200-199"] }\n'), 'bad.yaml:8: checks[0].http.expect_status: "200-199" is not a status code or range'],
    ['bad regex', check('    http: { body_matches: "([" }\n'), 'bad.yaml:8: checks[0].http.body_matches: "([" is not a valid regular expression'],
    ['quorum beyond the vantages', check('    quorum: { min_down: 3 }\n'), 'bad.yaml:8: checks[0].quorum.min_down: 3 down vantages can never be reached'],
    ['unknown check type', `${AGENTS}checks:\n  - { name: x, type: icmp, target: a }\n`, 'bad.yaml:5: checks[0].type: must be one of http, tls, tcp, smtp, dns, journey, got "icmp"'],
    ['http target without scheme', `${AGENTS}checks:\n  - { name: x, type: http, target: shop.example }\n`, 'bad.yaml:5: checks[0].target: "shop.example" is not a URL'],
    ['duplicate check name', `${AGENTS}checks:\n  - { name: x, type: tcp, target: "a:1" }\n  - { name: x, type: tcp, target: "a:2" }\n`, 'bad.yaml:6: checks[1].name: duplicate check name "x"'],
    [
      'duplicate agent id',
      `${AGENTS}  - { id: eu-1, vantage: us-east, public_key: ./keys/eu-2.pub.jwk }\n`,
      'bad.yaml:4: agents[1].id: duplicate agent id "eu-1"',
    ],
    ['missing key file', `hub_key: ./keys/hub.jwk\nagents:\n  - { id: x, vantage: v, public_key: ./keys/x.pub.jwk }\n`, 'bad.yaml:3: agents[0].public_key: cannot read ./keys/x.pub.jwk: no such file'],
    ['private key registered as public', `hub_key: ./keys/hub.jwk\nagents:\n  - { id: x, vantage: v, public_key: ./keys/eu-1.jwk }\n`, 'bad.yaml:3: agents[0].public_key: ./keys/eu-1.jwk is a private key'],
    ['public hub key', `hub_key: ./keys/hub.pub.jwk\n`, 'bad.yaml:1: hub_key: ./keys/hub.pub.jwk is a public key'],
    ['agents without hub key', `agents:\n  - { id: x, vantage: v, public_key: ./keys/eu-1.pub.jwk }\n`, 'bad.yaml:2: hub_key: is required when agents are registered'],
    ['region conflict', `${AGENTS}  - { id: eu-2, vantage: eu-west, region: us, public_key: ./keys/eu-2.pub.jwk }\nvantages:\n  eu-west: { region: eu }\n`, 'bad.yaml:4: agents[1].region: "us" differs from vantage eu-west\'s region "eu"'],
    ['bad listen address', `listen: { http: "localhost" }\n`, 'bad.yaml:1: listen.http: "localhost" is not HOST:PORT'],
    ['starttls with implicit tls', `checks:\n  - { name: m, type: smtp, target: "mx:25", smtp: { starttls: true, tls: true } }\n`, 'bad.yaml:2: checks[0].smtp.tls: implicit TLS (tls) and starttls exclude each other'],
    ['bypass header without value', check('    http: { bypass_header: { name: X-B } }\n'), 'bad.yaml:8: checks[0].http.bypass_header: needs exactly one of value_env'],
  ]

  it.each(cases)('%s: names file, line and field', (_name, yaml, expected) => {
    const file = t.write('bad.yaml', yaml)
    let error: unknown
    try {
      parseHubConfig(yaml, file)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as ConfigError).message.replace(`${t.dir}/`, '')
    expect(message.startsWith(expected), `${message}\n  does not start with\n${expected}`).toBe(true)
  })
})
