// The challenge classifier against captured-shape fixtures: each vendor's challenge and block
// pages must be named, and ordinary responses from the same CDNs (errors included) must not.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BODY_LIMIT, CHALLENGE_SIGNATURES, classifyChallenge, type ChallengeResponse } from '../agent/core/challenge.ts'
import { ERROR_CODES } from '../proto/errors.ts'

interface FixtureCase extends ChallengeResponse {
  label: string
}

interface Fixture {
  name: string | null
  cases: FixtureCase[]
}

const DIR = join(import.meta.dirname, 'fixtures', 'challenges')
const load = (file: string): Fixture => JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Fixture

const vendorFiles = readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'negative.json')

describe('challenge signatures', () => {
  it('every signature has a fixture file and an error code', () => {
    for (const sig of CHALLENGE_SIGNATURES) {
      expect(vendorFiles).toContain(`${sig.name.toLowerCase()}.json`)
      expect(ERROR_CODES).toHaveProperty(`CHALLENGE_${sig.name}`)
    }
  })

  describe.each(vendorFiles)('%s', (file) => {
    const fixture = load(file)
    it.each(fixture.cases.map((c) => [c.label, c] as const))('%s', (_label, c) => {
      const match = classifyChallenge(c)
      expect(match?.name).toBe(fixture.name)
      expect(match?.error_code).toBe(`CHALLENGE_${fixture.name}`)
      expect(match?.error).toContain(match?.vendor)
    })
  })
})

describe('not a challenge', () => {
  const fixture = load('negative.json')
  it.each(fixture.cases.map((c) => [c.label, c] as const))('%s', (_label, c) => {
    expect(classifyChallenge(c)).toBeNull()
  })

  it('a challenge marker past the body limit is not read', () => {
    const cloudflare = load('cloudflare.json').cases[1]
    const padded = { ...cloudflare, body: 'x'.repeat(BODY_LIMIT) + cloudflare.body }
    expect(classifyChallenge(padded)).toBeNull()
  })

  it('cf-mitigated alone is enough, whatever the server header says', () => {
    expect(classifyChallenge({ status: 200, headers: { 'cf-mitigated': 'challenge' }, body: '' })?.name).toBe('CLOUDFLARE')
  })

  it('a challenge page without a Cloudflare server header on a 403 is not Cloudflare', () => {
    const c = load('cloudflare.json').cases[1]
    expect(classifyChallenge({ ...c, headers: { server: 'nginx' } })).toBeNull()
  })
})

describe('the table is data', () => {
  it('a caller may pass its own signatures', () => {
    const only = CHALLENGE_SIGNATURES.filter((s) => s.name === 'SUCURI')
    const cloudflare = load('cloudflare.json').cases[0]
    expect(classifyChallenge(cloudflare, only)).toBeNull()
    expect(classifyChallenge(cloudflare)?.name).toBe('CLOUDFLARE')
  })
})
