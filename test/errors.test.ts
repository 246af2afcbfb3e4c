// Every error code a result can carry is documented for users (README's error code table).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../proto/errors.ts'

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8')

describe('error codes', () => {
  it.each(Object.keys(ERROR_CODES))('%s is documented in README.md', (code) => {
    expect(readme).toMatch(new RegExp('`' + code + '`'))
  })

  it('every code is UPPER_SNAKE_CASE with a description', () => {
    for (const [code, text] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/)
      expect(text.length).toBeGreaterThan(10)
    }
  })
})
