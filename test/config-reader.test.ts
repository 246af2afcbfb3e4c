import { describe, expect, it } from 'vitest'
import { ConfigError, readYaml } from '../proto/config-reader.ts'

const text = `listen: { http: 127.0.0.1:8080 }
checks:
  - name: shop-home
    type: http
    interval: 30s
    timout: 10s
  - name: api
    interval: soon
`

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('readYaml', () => {
  it('names file, line and field of an unknown key, with a suggestion', () => {
    const root = readYaml(text, 'hub.yaml')
    const first = root.get('checks').list()[0]
    const err = errorOf(() => first.keys(['name', 'type', 'target', 'interval', 'timeout']))
    expect(err.message).toBe('hub.yaml:6: checks[0].timout: unknown key (did you mean "timeout"?); allowed here: name, type, target, interval, timeout')
    expect([err.file, err.line, err.field]).toEqual(['hub.yaml', 6, 'checks[0].timout'])
  })

  it('reads typed values and reports bad ones where they are', () => {
    const root = readYaml(text, 'hub.yaml')
    const [a, b] = root.get('checks').list()
    expect(a.get('interval').duration()).toBe(30_000)
    expect(a.get('name').string()).toBe('shop-home')
    expect(root.get('listen').get('http').string()).toBe('127.0.0.1:8080')
    expect(errorOf(() => b.get('interval').duration()).message).toMatch(/^hub\.yaml:8: checks\[1\]\.interval: invalid duration "soon"/)
    expect(errorOf(() => b.get('target').string()).message).toBe('hub.yaml:7: checks[1].target: is required')
    expect(errorOf(() => a.get('type').oneOf(['tcp', 'dns'])).message).toBe('hub.yaml:4: checks[0].type: must be one of tcp, dns, got "http"')
  })

  it('reports YAML syntax errors with their line', () => {
    const err = errorOf(() => readYaml('a: 1\nb: [1, 2\nc: 3\n', 'agent.yaml'))
    expect(err.file).toBe('agent.yaml')
    expect(err.line).toBeGreaterThanOrEqual(2)
  })

  it('rejects duplicate keys', () => {
    expect(errorOf(() => readYaml('id: a\nid: b\n', 'agent.yaml')).line).toBe(2)
  })
})
