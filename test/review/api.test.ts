// The operator API against a real hub on loopback (no operator token: loopback clients only),
// with signed results through the real ingest and a fake clock: every endpoint, its 404s and
// its parameter errors, and the quorum view end to end (late results never vote).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { QuorumChange } from '../../hub/quorum/types.ts'
import { INTERVAL, TestHub } from './helpers.ts'

let th: TestHub
const changes: QuorumChange[] = []

beforeAll(async () => {
  th = await TestHub.start()
  th.hub.quorum.onChange((_snapshot, change) => void changes.push(change))
})
afterAll(async () => th?.close())

describe('checks', () => {
  it('lists every check, unknown before any vote', async () => {
    const { status, json } = await th.get('/api/v1/checks')
    expect(status).toBe(200)
    expect(json.checks.map((c: any) => [c.name, c.state])).toEqual([['shop', 'unknown'], ['api', 'unknown']])
    expect(json.checks[0].votes).toEqual({ up: 0, down: 0, challenged: 0, stale: 3, muted: 0 })
  })

  it('shows state, votes and disagreement once vantages report', async () => {
    await th.votes({ 'eu-1': 'down', 'eu-2': 'up', 'us-1': 'down', 'ap-1': 'up' })
    const { json } = await th.get('/api/v1/checks')
    const shop = json.checks.find((c: any) => c.name === 'shop')
    expect(shop).toMatchObject({
      state: 'ok',
      votes: { up: 2, down: 1, challenged: 0, stale: 0, muted: 0 },
      eligible: 3,
      down: 1,
      min_down: 2,
      disagreement: true,
      disagreement_since: th.time.now(),
      incident_id: null,
    })
  })

  it('GET /api/v1/checks/{name} has the DESIGN.md shape, with every vantage’s latest result as evidence', async () => {
    const { status, json } = await th.get('/api/v1/checks/shop')
    expect(status).toBe(200)
    expect(json).toMatchObject({ name: 'shop', type: 'http', target: 'https://shop.example/', state: 'ok', incident: null })
    expect(json.quorum).toEqual({ min_down: 2, for_ms: 60_000, resolve_after_ms: 30_000 })
    expect(json.stale_after_ms).toBe(3 * INTERVAL)
    const byName = Object.fromEntries(json.vantages.map((v: any) => [v.vantage, v]))
    expect(Object.keys(byName)).toEqual(['eu', 'us', 'ap'])
    // Two agents, one vantage, one vote: up (one of them succeeded).
    expect(byName.eu).toMatchObject({ vote: 'up', impaired: false, agents: ['eu-1', 'eu-2'], eligible: true })
    expect(byName.eu.latest).toMatchObject({ agent_id: 'eu-2', success: true })
    expect(byName.us).toMatchObject({ vote: 'down', impaired: false, agents: ['us-1'] })
    expect(byName.us.latest).toMatchObject({ error_code: 'CONNECTION_REFUSED', error: 'connect ECONNREFUSED (us-1)' })
    expect(typeof byName.us.latest.result_id).toBe('string')
    expect(byName.ap).toMatchObject({ failure_domain: 'aws', region: 'ap' })
  })

  it('404s an unknown check with a clear message', async () => {
    const { status, json } = await th.get('/api/v1/checks/nope')
    expect(status).toBe(404)
    expect(json).toEqual({ code: 'check_not_found', error: 'no check named "nope" is configured (configured: shop, api)' })
  })

  it('refuses unknown query parameters', async () => {
    const { status, json } = await th.get('/api/v1/checks?stat=ok')
    expect(status).toBe(400)
    expect(json.error).toMatch(/unknown query parameter "stat"/)
  })
})

describe('results history', () => {
  it('answers newest first, each with its result_id, filtered by vantage, since and limit', async () => {
    await th.time.advance(INTERVAL)
    const a = await th.push('us-1', 'down', { error: 'first' })
    await th.time.advance(1000)
    const b = await th.push('us-1', 'down', { error: 'second' })
    await th.time.advance(1000)
    const c = await th.push('us-1', 'up')
    const { status, json } = await th.get('/api/v1/checks/shop/results?vantage=us&limit=3')
    expect(status).toBe(200)
    expect(json.results.map((r: any) => r.result_id)).toEqual([c.result_id, b.result_id, a.result_id])
    expect(json).toMatchObject({ check: 'shop', vantage: 'us', limit: 3 })

    const since = new Date(th.time.now() - 1000).toISOString()
    const recent = await th.get(`/api/v1/checks/shop/results?vantage=us&since=${encodeURIComponent(since)}`)
    expect(recent.json.results.map((r: any) => r.result_id)).toEqual([c.result_id, b.result_id])
    expect(recent.json.since).toBe(since)

    const all = await th.get('/api/v1/checks/shop/results')
    expect(all.json.results.length).toBe(7)
    expect(new Set(all.json.results.map((r: any) => r.vantage))).toEqual(new Set(['eu', 'us', 'ap']))
  })

  it.each([
    ['limit=0', 400, /limit must be from 1 to 1000, got 0/],
    ['limit=5000', 400, /limit must be from 1 to 1000/],
    ['limit=ten', 400, /limit must be a whole number/],
    ['since=yesterday', 400, /since must be an ISO 8601 time/],
    ['since=2026-13-45T99:00:00Z', 400, /since must be an ISO 8601 time/],
    ['vantage=mars', 404, /no vantage named "mars"/],
    ['vantage=', 400, /vantage is empty/],
    ['limit=1&limit=2', 400, /limit is given 2 times/],
    ['check=shop', 400, /unknown query parameter "check" \(this route takes vantage, since, limit\)/],
  ])('?%s → %i', async (query, status, message) => {
    const res = await th.get(`/api/v1/checks/shop/results?${query}`)
    expect(res.status).toBe(status)
    expect(res.json.error).toMatch(message)
  })

  it('404s the history of an unknown check', async () => {
    expect((await th.get('/api/v1/checks/nope/results')).status).toBe(404)
  })
})

describe('disagreements', () => {
  it('lists the checks whose eligible vantages disagree now, since when, with each vantage’s vote and error', async () => {
    await th.time.advance(INTERVAL)
    await th.votes({ 'eu-1': 'up', 'us-1': 'down', 'ap-1': 'up' })
    const since = th.hub.quorum.check('shop')!.disagreement_since!
    await th.time.advance(5000)
    const { status, json } = await th.get('/api/v1/disagreements')
    expect(status).toBe(200)
    expect(json.disagreements).toHaveLength(1)
    const [d] = json.disagreements
    expect(d).toMatchObject({ check: 'shop', state: 'ok', since, up: ['eu', 'ap'], down: ['us'] })
    expect(d.duration_seconds).toBe((th.time.now() - since) / 1000)
    expect(d.vantages.find((v: any) => v.vantage === 'us')).toMatchObject({
      vote: 'down',
      error: 'connect ECONNREFUSED (us-1)',
      error_code: 'CONNECTION_REFUSED',
      agents: ['us-1'],
    })
  })
})

describe('ack', () => {
  it('records an operator note on the check', async () => {
    const { status, json } = await th.post('/api/v1/checks/shop/ack', { note: 'us-east blocked by the WAF, ticket #42', by: 'alice' })
    expect(status).toBe(200)
    expect(json).toMatchObject({ check: 'shop', ack: { note: 'us-east blocked by the WAF, ticket #42', by: 'alice', at: th.time.now() } })
    expect((await th.get('/api/v1/checks/shop')).json.ack).toEqual({ note: 'us-east blocked by the WAF, ticket #42', by: 'alice', at: th.time.now() })
  })

  it.each([
    ['no body', undefined, {}, 400, /body must be a JSON object/],
    ['no note', { by: 'x' }, {}, 400, /note is required/],
    ['empty note', { note: '  ' }, {}, 400, /note is empty/],
    ['a number', { note: 5 }, {}, 400, /note must be a string, got number/],
    ['an unknown field', { note: 'x', severity: 'low' }, {}, 400, /unknown field "severity"/],
    ['an array', [1], {}, 400, /body must be a JSON object/],
    ['bad JSON', '{"note":', {}, 400, /not valid JSON/],
    ['text', 'note=hi', { 'content-type': 'text/plain' }, 415, /must be JSON/],
    ['too large', { note: 'x'.repeat(20_000) }, {}, 413, /16384-byte limit/],
    ['a long note', { note: 'x'.repeat(2001) }, {}, 400, /at most 2000/],
  ])('refuses %s', async (_what, body, headers, status, message) => {
    const res = await th.post('/api/v1/checks/shop/ack', body, headers)
    expect(res.status).toBe(status)
    expect(res.json.error).toMatch(message)
  })

  it('404s an unknown check', async () => {
    const res = await th.post('/api/v1/checks/nope/ack', { note: 'x' })
    expect([res.status, res.json.code]).toEqual([404, 'check_not_found'])
  })
})

describe('mute and unmute', () => {
  it('mutes a vantage for a duration: it casts no vote until then', async () => {
    const { status, json } = await th.post('/api/v1/vantages/us/mute', { reason: 'ISP outage in us-east', until: '10m' })
    expect(status).toBe(200)
    expect(json).toMatchObject({ vantage: 'us', mute: { reason: 'ISP outage in us-east', until: th.time.now() + 600_000 } })
    const check = (await th.get('/api/v1/checks/shop')).json
    expect(check.vantages.find((v: any) => v.vantage === 'us')).toMatchObject({ vote: 'muted', eligible: false, mute: { reason: 'ISP outage in us-east' } })
    expect(check.disagreement).toBe(false)
    const vantages = (await th.get('/api/v1/vantages')).json.vantages
    expect(vantages.find((v: any) => v.vantage === 'us').mute).toMatchObject({ reason: 'ISP outage in us-east' })
  })

  it('unmutes (without a body) and says whether it was muted', async () => {
    expect(await th.post('/api/v1/vantages/us/unmute')).toEqual({ status: 200, json: { vantage: 'us', unmuted: true } })
    expect(await th.post('/api/v1/vantages/us/unmute', {})).toEqual({ status: 200, json: { vantage: 'us', unmuted: false } })
    expect(th.hub.quorum.check('shop')!.vantages.find((v) => v.vantage === 'us')!.vote).toBe('down')
  })

  it('takes an ISO until, and refuses one in the past', async () => {
    const until = new Date(th.time.now() + 3_600_000).toISOString()
    const ok = await th.post('/api/v1/vantages/ap/mute', { reason: 'planned', until, by: 'bob' })
    expect(ok.json.mute).toMatchObject({ until: Date.parse(until), by: 'bob' })
    await th.post('/api/v1/vantages/ap/unmute')
    const past = await th.post('/api/v1/vantages/ap/mute', { reason: 'x', until: '2001-01-01T00:00:00Z' })
    expect([past.status, past.json.error]).toEqual([400, 'until (2001-01-01T00:00:00.000Z) is not in the future'])
  })

  it.each([
    [{}, /reason is required/],
    [{ reason: 'x', until: 'soon' }, /until must be an ISO 8601 time .* or a duration/],
    [{ reason: 'x', until: 600 }, /until must be a string/],
    [{ reason: 'x', until: '0s' }, /above zero/],
  ])('refuses %j', async (body, message) => {
    const res = await th.post('/api/v1/vantages/eu/mute', body)
    expect(res.status).toBe(400)
    expect(res.json.error).toMatch(message)
  })

  it('404s an unknown vantage', async () => {
    for (const path of ['/api/v1/vantages/mars/mute', '/api/v1/vantages/mars/unmute']) {
      const res = await th.post(path, { reason: 'x' })
      expect(res.status).toBe(404)
      expect(res.json).toEqual({ code: 'vantage_not_found', error: 'no vantage named "mars" is configured (configured: eu, us, ap)' })
    }
  })
})

describe('late results, outage, incidents', () => {
  it('a result replayed from an outbox never votes, end to end through ingest', async () => {
    await th.time.advance(INTERVAL)
    await th.votes({ 'eu-1': 'up', 'us-1': 'up', 'ap-1': 'up' })
    const old = th.time.now() - 4 * INTERVAL
    const late = await th.push('ap-1', 'down', { round: Math.floor(old / INTERVAL), started_at: new Date(old).toISOString() })
    const view = th.hub.quorum.check('shop')!
    expect(view.vantages.find((v) => v.vantage === 'ap')!.vote).toBe('up')
    expect(view.state).toBe('ok')
    expect(th.hub.store.result(late.result_id)).toEqual(late)
  })

  it('an outage opens an incident, listed by GET /api/v1/incidents', async () => {
    await th.time.advance(INTERVAL)
    await th.votes({ 'eu-1': 'down', 'eu-2': 'down', 'us-1': 'down', 'ap-1': 'up' })
    expect(th.hub.quorum.check('shop')!.state).toBe('pending')
    await th.time.advance(INTERVAL)
    await th.votes({ 'eu-1': 'down', 'us-1': 'down', 'ap-1': 'up' })
    await th.time.advance(INTERVAL) // `for: 1m` held: the timer declares the outage
    const shop = (await th.get('/api/v1/checks/shop')).json
    expect(shop.state).toBe('outage')
    expect(shop.incident).toMatchObject({ id: shop.incident_id, check: 'shop', ended_at: null, failing_vantages: ['eu', 'us'] })
    expect(shop.incident.evidence.map((e: any) => [e.vantage, e.first.error_code, e.last.error_code])).toEqual([
      ['eu', 'CONNECTION_REFUSED', 'CONNECTION_REFUSED'],
      ['us', 'CONNECTION_REFUSED', 'CONNECTION_REFUSED'],
    ])
    expect(changes.flatMap((c) => c.transitions).map((t) => `${t.check}:${t.from}→${t.to}`)).toContain('shop:pending→outage')

    const open = await th.get('/api/v1/incidents?open=true')
    expect(open.json.incidents.map((i: any) => i.id)).toEqual([shop.incident_id])
    expect((await th.get('/api/v1/incidents?check=api')).json.incidents).toEqual([])
    expect((await th.get(`/api/v1/incidents/${shop.incident_id}`)).json.id).toBe(shop.incident_id)

    // Recovery closes it; incidents are listed newest first.
    await th.votes({ 'eu-1': 'up', 'us-1': 'up' })
    await th.time.advance(INTERVAL)
    expect(th.hub.quorum.check('shop')!.state).toBe('ok')
    expect((await th.get('/api/v1/incidents?open=true')).json.incidents).toEqual([])
    const closed = (await th.get('/api/v1/incidents?open=false&check=shop')).json.incidents
    expect(closed).toHaveLength(1)
    expect(closed[0]).toMatchObject({ id: shop.incident_id, resolution: 'recovered' })
    expect(closed[0].ended_at).toBe(th.time.now())
  })

  it.each([
    ['/api/v1/incidents?open=yes', 400, /open must be true or false/],
    ['/api/v1/incidents?limit=-1', 400, /limit must be a whole number/],
    ['/api/v1/incidents/0', 400, /id must be from 1/],
    ['/api/v1/incidents/99999', 404, /no incident with id 99999/],
    ['/api/v1/nothing-here', 404, /no operator API route GET \/api\/v1\/nothing-here/],
  ])('%s → %i', async (path, status, message) => {
    const res = await th.get(path)
    expect(res.status).toBe(status)
    expect(res.json.error).toMatch(message)
  })
})

describe('snapshot and vantages', () => {
  it('GET /api/v1/snapshot is the QuorumSnapshot (what the alerting and the page read)', async () => {
    const { status, json } = await th.get('/api/v1/snapshot')
    expect(status).toBe(200)
    expect(json.at).toBe(th.time.now())
    expect(json.checks.map((c: any) => c.name)).toEqual(['shop', 'api'])
    expect(json).toEqual(JSON.parse(JSON.stringify(th.hub.quorum.snapshot())))
  })

  it('reports agents that stopped pushing as stale, and the vantage’s vote as stale', async () => {
    // eu-2 has not pushed for a while; everyone else keeps going for 2 more minutes.
    for (let i = 0; i < 4; i++) {
      await th.time.advance(INTERVAL)
      await th.votes({ 'eu-1': 'up', 'us-1': 'up' })
    }
    const snap = (await th.get('/api/v1/snapshot')).json
    expect(snap.stale_agents.map((a: any) => a.agent).sort()).toEqual(['ap-1', 'eu-2'])
    expect(snap.stale_agents.find((a: any) => a.agent === 'ap-1').last_seen).toBeGreaterThan(0)
    const shop = snap.checks.find((c: any) => c.name === 'shop')
    expect(shop.vantages.map((v: any) => [v.vantage, v.vote])).toEqual([['eu', 'up'], ['us', 'up'], ['ap', 'stale']])
    const vantages = (await th.get('/api/v1/vantages')).json.vantages
    expect(vantages.find((v: any) => v.vantage === 'eu').agents).toEqual([
      { agent: 'eu-1', last_seen: th.time.now(), stale: false },
      expect.objectContaining({ agent: 'eu-2', stale: true }),
    ])
  })
})
