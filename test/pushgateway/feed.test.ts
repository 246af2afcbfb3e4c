// The hub's feed: the real hub store (hub/store) commits batches of results; the feed writes one
// group per vantage and kind (synthetic-probe / synthetic-journey) into the Pushgateway store,
// at once after a quiet spell, at most once per flush interval under load, and the scrape
// shows the DESIGN.md families with their labels.
import { afterEach, describe, expect, it } from 'vitest'
import type { HubConfig } from '../../hub/config.ts'
import { openHubPushgateway } from '../../hub/pushgateway/index.ts'
import { PushgatewayFeed } from '../../hub/pushgateway/feed.ts'
import { PushStore } from '../../hub/pushgateway/store.ts'
import { Store, type BatchInput } from '../../hub/store/store.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { result } from '../hub/helpers.ts'
import { tempDir } from './helpers.ts'

const RULE = { interval_ms: 30_000, stale_after_ms: 90_000 }

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** The parts of the hub's config the feed reads (checks with their vantages, vantage regions). */
function config(checks: { name: string; type: ProbeResult['type']; target: string; vantages: string[] }[], data = '/nonexistent'): HubConfig {
  return {
    data,
    pushgateway: { token: null, forward_url: null, ttl_ms: null },
    checks: new Map(checks.map((c) => [c.name, { spec: { name: c.name, type: c.type, target: c.target }, vantages: c.vantages }])),
    vantages: new Map([
      ['eu-west', { name: 'eu-west', region: 'eu' }],
      ['us-east', { name: 'us-east', region: 'us' }],
    ]),
  } as unknown as HubConfig
}

function batch(agent: string, vantage: string, seq: number, results: ProbeResult[]): BatchInput {
  return { agent_id: agent, vantage, seq, dropped: 0, results, received_at: Date.now(), rule: () => RULE }
}

function open(): { hubStore: Store; pg: PushStore; dir: string } {
  const t = tempDir()
  cleanups.push(() => t.cleanup())
  const hubStore = Store.open(t.dir)
  cleanups.push(() => hubStore.close())
  const pg = PushStore.open()
  cleanups.push(() => pg.close())
  return { hubStore, pg, dir: t.dir }
}

const CHECKS = [
  { name: 'shop-home', type: 'http' as const, target: 'https://shop.example/', vantages: ['eu-west', 'us-east'] },
  { name: 'checkout', type: 'journey' as const, target: 'journeys/checkout.ts', vantages: ['eu-west'] },
]

describe('the Pushgateway feed', () => {
  it('writes one group per vantage and kind per commit, with the DESIGN.md families', () => {
    const { hubStore, pg } = open()
    let writes = 0
    pg.onChange(() => writes++)
    const feed = new PushgatewayFeed({ source: hubStore, store: pg, config: () => config(CHECKS) })
    cleanups.push(() => feed.close())
    expect(pg.size).toBe(0)

    const now = Date.now()
    hubStore.applyBatches([
      batch('eu-1', 'eu-west', 1, [
        result({
          check: 'shop-home',
          vantage: 'eu-west',
          agent_id: 'eu-1',
          http: {
            status_code: 200,
            http_version: '1.1',
            redirects: 0,
            final_url: 'https://shop.example/',
            body_bytes: 10,
            phases: { resolve: 0.001, connect: 0.002, tls: 0.003, processing: 0.004, transfer: 0.005 },
          },
          tls: {
            version: 'TLS 1.3',
            cipher: 'TLS_AES_128_GCM_SHA256',
            alpn: null,
            chain_valid: true,
            hostname_valid: true,
            verify_error: null,
            earliest_cert_expiry: 1900000000,
            last_chain_expiry: 1900000000,
            leaf: null,
          },
        }, now),
        result({
          check: 'checkout',
          type: 'journey',
          target: 'journeys/checkout.ts',
          vantage: 'eu-west',
          agent_id: 'eu-1',
          success: false,
          duration_seconds: 3.5,
          steps: [
            { name: 'login', success: true, challenged: false, duration_seconds: 1.25 },
            { name: 'pay', success: false, challenged: true, duration_seconds: 2 },
          ],
        }, now),
        result({ check: 'not-configured', vantage: 'eu-west', agent_id: 'eu-1' }, now),
      ]),
    ])
    // One commit: the probe group and the journey group of eu-west, one write each.
    expect(writes).toBe(2)
    const text = pg.render().toString('latin1')
    const probe = 'check="shop-home",instance="",job="synthetic-probe",region="eu",target="https://shop.example/",type="http",vantage="eu-west"'
    expect(text).toContain(`synthetic_probe_success{${probe}} 1\n`)
    expect(text).toContain(`synthetic_probe_challenged{${probe}} 0\n`)
    expect(text).toContain(`synthetic_probe_duration_seconds{${probe}} 0.05\n`)
    expect(text).toContain(`synthetic_probe_status_code{${probe}} 200\n`)
    expect(text).toContain(`synthetic_probe_ssl_earliest_cert_expiry{${probe}} 1.9e+09\n`)
    expect(text).toContain(`synthetic_probe_last_run_timestamp_seconds{${probe}} `)
    expect(text).toContain('synthetic_probe_tls_version_info{check="shop-home",instance="",job="synthetic-probe",region="eu",target="https://shop.example/",type="http",vantage="eu-west",version="TLS 1.3"} 1\n')
    const journey = 'check="checkout",instance="",job="synthetic-journey",region="eu",target="journeys/checkout.ts",type="journey",vantage="eu-west"'
    expect(text).toContain(`journey_up{${journey}} 0\n`)
    expect(text).toContain(`journey_total_duration_seconds{${journey}} 3.5\n`)
    expect(text).toContain(`journey_step_up{${journey.replace('target=', 'step="login",target=')}} 1\n`)
    expect(text).toContain(`journey_step_challenged{${journey.replace('target=', 'step="pay",target=')}} 1\n`)
    expect(text).toContain(`journey_step_duration_seconds{${journey.replace('target=', 'step="pay",target=')}} 2\n`)
    expect(text).not.toContain('not-configured')
    expect(text).not.toContain('synthetic_probe_success{check="checkout"')

    // A batch from us-east touches only us-east's group.
    hubStore.applyBatches([batch('us-1', 'us-east', 1, [result({ check: 'shop-home', vantage: 'us-east', agent_id: 'us-1', success: false, region: 'us' }, now)])])
    expect(writes).toBe(3)
    expect(pg.render().toString('latin1')).toContain('synthetic_probe_success{check="shop-home",instance="",job="synthetic-probe",region="us",target="https://shop.example/",type="http",vantage="us-east"} 0\n')
    expect(feed.stats).toEqual({ writes: 3, rejected: 0, deleted: 0 })
  })

  it('under load, writes a vantage once per interval with its latest votes, and what is pending on close', async () => {
    const { hubStore, pg } = open()
    let writes = 0
    pg.onChange(() => writes++)
    let now = 0
    const feed = new PushgatewayFeed({ source: hubStore, store: pg, config: () => config([CHECKS[0]]), flushMs: 40, now: () => now })
    cleanups.push(() => feed.close())
    const push = (agent: string, vantage: string, seq: number, success: boolean) =>
      hubStore.applyBatches([batch(agent, vantage, seq, [result({ check: 'shop-home', vantage, agent_id: agent, success, round: 1e9 + seq }, Date.now())])])
    const value = (vantage: string) => new RegExp(`synthetic_probe_success\\{[^}]*vantage="${vantage}"\\} (\\d)`).exec(pg.render().toString('latin1'))?.[1]

    push('eu-1', 'eu-west', 1, true) // quiet before: written at once
    expect([writes, value('eu-west')]).toEqual([1, '1'])
    now = 10
    push('eu-1', 'eu-west', 2, false) // within the interval: pending
    push('eu-1', 'eu-west', 3, true)
    push('us-1', 'us-east', 1, false) // another vantage, quiet: at once
    expect([writes, value('eu-west'), value('us-east')]).toEqual([2, '1', '0'])
    now = 40
    await new Promise((r) => setTimeout(r, 80))
    // One write for the three commits: the latest vote.
    expect([writes, value('eu-west')]).toEqual([3, '1'])

    now = 50
    push('eu-1', 'eu-west', 4, false)
    expect(writes).toBe(3)
    feed.close() // flushes eu-west now
    expect([writes, value('eu-west')]).toEqual([4, '0'])
    push('eu-1', 'eu-west', 5, true) // closed: no more writes
    expect(writes).toBe(4)
  })

  it('writes less often when its writes would take more than their share of the event loop', async () => {
    const { hubStore, pg } = open()
    let writes = 0
    pg.onChange(() => writes++)
    let now = 0
    // Each group write takes 10 ms of the feed's clock: 10% of 100 ms, more than 10% of the 40 ms interval.
    const replaceGroup = pg.replaceGroup.bind(pg)
    pg.replaceGroup = (key, families) => {
      now += 10
      return replaceGroup(key, families)
    }
    const feed = new PushgatewayFeed({ source: hubStore, store: pg, config: () => config([CHECKS[0]]), flushMs: 40, now: () => now })
    cleanups.push(() => feed.close())
    const push = (agent: string, vantage: string, seq: number, success: boolean) =>
      hubStore.applyBatches([batch(agent, vantage, seq, [result({ check: 'shop-home', vantage, agent_id: agent, success, round: 1e9 + seq }, Date.now())])])
    const value = (vantage: string) => new RegExp(`synthetic_probe_success\\{[^}]*vantage="${vantage}"\\} (\\d)`).exec(pg.render().toString('latin1'))?.[1]

    push('eu-1', 'eu-west', 1, true) // quiet before: written at once (at 0, taking 10 ms)
    expect(writes).toBe(1)
    now = 50 // past flushMs, but within 10 ms / FEED_MAX_SHARE = 100 ms of the last write
    push('eu-1', 'eu-west', 2, false)
    expect([writes, value('eu-west')]).toEqual([1, '1'])
    now = 100
    await expect.poll(() => writes, { timeout: 2000 }).toBe(2)
    expect(value('eu-west')).toBe('0')

    // A second vantage written too: both writes count, 20 ms for a 200 ms interval.
    push('us-1', 'us-east', 1, true)
    expect(writes).toBe(3)
    now = 310 // 210 ms after eu-west's last write (at 100): written at once
    push('eu-1', 'eu-west', 3, true)
    expect(writes).toBe(4)
    now = 520 // 210 ms again
    push('eu-1', 'eu-west', 4, false)
    expect(writes).toBe(5)
    now = 670 // 150 ms: past flushMs, not past the 200 ms the two vantages' writes call for
    push('eu-1', 'eu-west', 5, true)
    expect(writes).toBe(5)
  })

  it('writes the pending vantages one per turn of the event loop, so that acks get in between', async () => {
    const { hubStore, pg } = open()
    const events: string[] = []
    pg.onChange((key) => {
      events.push(`write ${/vantage\W+([a-z-]+)/.exec(key)?.[1]}`)
      // What an ack would be: I/O handled as soon as the event loop gets to it.
      setImmediate(() => events.push('turn'))
    })
    let now = 0
    const feed = new PushgatewayFeed({ source: hubStore, store: pg, config: () => config([CHECKS[0]]), flushMs: 40, now: () => now })
    cleanups.push(() => feed.close())
    const push = (agent: string, vantage: string, seq: number) =>
      hubStore.applyBatches([batch(agent, vantage, seq, [result({ check: 'shop-home', vantage, agent_id: agent, round: 1e9 + seq }, Date.now())])])
    push('eu-1', 'eu-west', 1)
    push('us-1', 'us-east', 1)
    await expect.poll(() => events.length).toBe(4) // both written at once (quiet), each followed by its turn
    events.length = 0
    now = 10
    push('eu-1', 'eu-west', 2)
    push('us-1', 'us-east', 2)
    now = 40 // both due when the timer fires
    await expect.poll(() => events.filter((e) => e.startsWith('write')).length, { timeout: 2000 }).toBe(2)
    await expect.poll(() => events.length).toBe(4)
    expect(events).toEqual(['write eu-west', 'turn', 'write us-east', 'turn'])
  })

  it('rebuilds from the votes at start and drops groups of vantages no longer configured', () => {
    const { hubStore, pg } = open()
    const now = Date.now()
    hubStore.applyBatches([
      batch('eu-1', 'eu-west', 1, [result({ check: 'shop-home', vantage: 'eu-west', agent_id: 'eu-1' }, now)]),
      batch('us-1', 'us-east', 1, [result({ check: 'shop-home', vantage: 'us-east', agent_id: 'us-1' }, now)]),
    ])
    let cfg = config(CHECKS)
    const feed = new PushgatewayFeed({ source: hubStore, store: pg, config: () => cfg })
    cleanups.push(() => feed.close())
    expect(pg.allGroups().map((g) => g.labels.vantage).sort()).toEqual(['eu-west', 'us-east'])
    cfg = config([{ ...CHECKS[0], vantages: ['eu-west'] }])
    feed.sync()
    expect(pg.allGroups().map((g) => g.labels.vantage)).toEqual(['eu-west'])
    expect(feed.stats.deleted).toBe(1)
  })

  it('openHubPushgateway keeps the fed groups across a hub restart, and forgets stale ones', async () => {
    const { hubStore, dir } = open()
    const now = Date.now()
    hubStore.applyBatches([batch('us-1', 'us-east', 1, [result({ check: 'shop-home', vantage: 'us-east', agent_id: 'us-1' }, now)])])
    let cfg = config(CHECKS, dir)
    const first = openHubPushgateway({ config: () => cfg, source: hubStore })
    expect(first.store.size).toBe(1)
    await first.close()
    // The check is no longer assigned to us-east when the hub comes back.
    cfg = config([{ ...CHECKS[0], vantages: ['eu-west'] }], dir)
    const second = openHubPushgateway({ config: () => cfg, source: hubStore })
    cleanups.push(() => second.close())
    expect(second.store.size).toBe(0)
  })
})
