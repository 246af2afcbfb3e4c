// The quorum view on GET /metrics, named as DESIGN.md names it, read back from the scrape text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { metricValue, scrape } from '../hub/helpers.ts'
import { INTERVAL, TestHub } from './helpers.ts'

let th: TestHub
beforeAll(async () => {
  th = await TestHub.start()
})
afterAll(async () => th?.close())

const STATES = ['ok', 'pending', 'outage', 'unknown']
const VOTES = ['up', 'down', 'challenged', 'stale', 'muted']

function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
}

describe('quorum metrics', () => {
  it('has every state and every vote of every check, before any result', async () => {
    const text = await scrape(th.hub)
    for (const check of ['shop', 'api']) {
      for (const state of STATES) expect(metricValue(text, 'synthetic_check_state', { check, state })).toBe(state === 'unknown' ? 1 : 0)
      for (const vote of VOTES) expect(metricValue(text, 'synthetic_check_vantages', { check, vote }), vote).toBeDefined()
      expect(metricValue(text, 'synthetic_check_outage', { check })).toBe(0)
      expect(metricValue(text, 'synthetic_check_disagreement', { check })).toBe(0)
    }
    expect(series(text, 'synthetic_check_state')).toHaveLength(8)
    expect(series(text, 'synthetic_check_vantages')).toHaveLength(10)
    expect(metricValue(text, 'synthetic_check_vantages', { check: 'shop', vote: 'stale' })).toBe(3)
    expect(text).toContain('# TYPE synthetic_check_outage gauge')
  })

  it('follows votes, disagreement and an outage', async () => {
    await th.votes({ 'eu-1': 'down', 'us-1': 'down', 'ap-1': 'challenged' })
    let text = await scrape(th.hub)
    expect(metricValue(text, 'synthetic_check_state', { check: 'shop', state: 'pending' })).toBe(1)
    expect(metricValue(text, 'synthetic_check_state', { check: 'shop', state: 'unknown' })).toBe(0)
    expect(VOTES.map((vote) => metricValue(text, 'synthetic_check_vantages', { check: 'shop', vote }))).toEqual([0, 2, 1, 0, 0])
    expect(metricValue(text, 'synthetic_check_down_votes', { check: 'shop' })).toBe(2)
    expect(metricValue(text, 'synthetic_check_eligible_votes', { check: 'shop' })).toBe(2)
    expect(metricValue(text, 'synthetic_check_min_down', { check: 'shop' })).toBe(2)

    await th.time.advance(INTERVAL)
    await th.votes({ 'eu-1': 'down', 'us-1': 'down', 'ap-1': 'up' })
    await th.time.advance(INTERVAL)
    text = await scrape(th.hub)
    expect(metricValue(text, 'synthetic_check_outage', { check: 'shop' })).toBe(1)
    expect(metricValue(text, 'synthetic_check_state', { check: 'shop', state: 'outage' })).toBe(1)
    expect(metricValue(text, 'synthetic_check_disagreement', { check: 'shop' })).toBe(1)
    expect(metricValue(text, 'synthetic_check_outage', { check: 'api' })).toBe(0)
    // The hub's own families are still there.
    expect(metricValue(text, 'synthetic_vantage_last_seen_timestamp_seconds', { vantage: 'ap', agent: 'ap-1' })).toBe(th.time.now() / 1000 - INTERVAL / 1000)
  })

  it('counts impaired vantages and flags all-challenged checks', async () => {
    await th.time.advance(INTERVAL)
    await th.push('us-1', 'challenged', { check: 'api', type: 'tls', target: 'api.example:443' })
    await th.push('ap-1', 'challenged', { check: 'api', type: 'tls', target: 'api.example:443' })
    await th.push('eu-1', 'impaired')
    const text = await scrape(th.hub)
    expect(metricValue(text, 'synthetic_check_all_challenged', { check: 'api' })).toBe(1)
    expect(metricValue(text, 'synthetic_check_state', { check: 'api', state: 'unknown' })).toBe(1)
    expect(metricValue(text, 'synthetic_check_impaired_vantages', { check: 'shop' })).toBe(1)
  })
})
