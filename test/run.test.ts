import { describe, expect, it } from 'vitest'
import type { CheckSpec } from '../proto/check.ts'
import { parseDuration, formatDuration } from '../proto/duration.ts'
import { roundOf, uuidv7 } from '../agent/core/ids.ts'
import { nullLogger, type Probe } from '../agent/core/probe.ts'
import { runProbe } from '../agent/core/run.ts'

const check: CheckSpec = { name: 'c', type: 'tcp', target: '127.0.0.1:1', interval_ms: 30_000, timeout_ms: 50 }
const fixedClock = { now: () => Date.parse('2026-11-22T10:00:00.000Z') }
const opts = { identity: { agent_id: 'a-1', vantage: 'v', region: 'r' }, agent_id: 'a-1', logger: nullLogger, clock: fixedClock, secrets: {} }

describe('runProbe', () => {
  it('fills identity, round, start time and a UUIDv7 result id', async () => {
    const probe: Probe = async () => ({ success: true, challenged: false })
    const r = await runProbe(probe, check, opts)
    expect(r).toMatchObject({ check: 'c', type: 'tcp', target: '127.0.0.1:1', vantage: 'v', region: 'r', agent_id: 'a-1', success: true, challenged: false })
    expect(r.started_at).toBe('2026-11-22T10:00:00.000Z')
    expect(r.round).toBe(Math.floor(fixedClock.now() / 30_000))
    expect(r.result_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  it('turns a probe that overruns its deadline into TIMEOUT, keeping what it reported', async () => {
    const probe: Probe = (_c, ctx) =>
      new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ success: false, challenged: false, error: 'socket closed', error_code: 'CONNECTION_RESET' })))
    const r = await runProbe(probe, check, { ...opts, clock: { now: Date.now } })
    expect(r.error_code).toBe('TIMEOUT')
    expect(r.error).toBe('timed out after 50ms')
    expect(r.duration_seconds).toBeGreaterThanOrEqual(0.045)
  })

  it('reports a thrown exception as INTERNAL instead of crashing', async () => {
    const probe: Probe = async () => {
      throw new Error('boom')
    }
    const r = await runProbe(probe, check, opts)
    expect(r).toMatchObject({ success: false, error: 'boom', error_code: 'INTERNAL' })
  })

  it('never reports challenged together with success', async () => {
    const probe: Probe = async () => ({ success: true, challenged: true })
    expect((await runProbe(probe, check, opts)).challenged).toBe(false)
  })
})

describe('ids', () => {
  it('UUIDv7 sorts by time', () => {
    const a = uuidv7(1_700_000_000_000)
    const b = uuidv7(1_700_000_000_001)
    expect(a < b).toBe(true)
    expect(a.slice(0, 13)).toBe('018bcfe5-6800')
  })
  it('rounds are floor(now / interval)', () => {
    expect(roundOf(59_999, 30_000)).toBe(1)
    expect(roundOf(60_000, 30_000)).toBe(2)
  })
})

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms))
  it.each(['', '5', '5x', 's', '1m 2s'])('rejects %j with a clear message', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/)
  })
  it('formats round values', () => {
    expect([formatDuration(90_000), formatDuration(120_000), formatDuration(250)]).toEqual(['90s', '2m', '250ms'])
  })
})
