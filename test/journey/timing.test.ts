// A journey's timings are the target's, not the runtime's: a step around one request to a server
// that takes 50 ms lasts within 5 ms of what the server measured, and so do k6's request timings.
// As on an agent, the process has run a journey before (the runtime's code cache is warm); the
// median of five steps is compared, so a scheduling hiccup on a busy machine is not a failure.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runJourneyCheck, startShop, type Shop } from './servers.ts'

let shop: Shop
beforeAll(async () => {
  shop = await startShop()
})
afterAll(() => shop.close())

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

it('a step around a 50 ms request lasts within 5 ms of the server-side delay', async () => {
  const source = `
    import http from 'k6/http'
    import { check, group } from 'k6'
    export default function () {
      for (let i = 1; i <= 5; i++) {
        group('delayed ' + i, () => {
          const res = http.get(__ENV.BASE + '/delay/50')
          check(res, { 'answered': (r) => r.status === 200 })
          console.log(JSON.stringify(res.timings))
        })
      }
    }`
  await runJourneyCheck({ source }, { env: { BASE: shop.app } })
  shop.delays.length = 0
  const { result, logs } = await runJourneyCheck({ source }, { env: { BASE: shop.app } })
  expect(result.success).toBe(true)

  const server = shop.delays
  const steps = result.steps!.map((s) => s.duration_seconds * 1000)
  const timings = logs.map((line) => JSON.parse(line.replace(/^info /, '')) as Record<string, number>)
  expect(server).toHaveLength(5)
  for (const ms of server) expect(ms).toBeGreaterThanOrEqual(49)
  expect(Math.abs(median(steps.map((ms, i) => ms - server[i])))).toBeLessThan(5)
  expect(Math.abs(median(timings.map((t, i) => t.waiting - server[i])))).toBeLessThan(5)
  expect(Math.abs(median(timings.map((t, i) => t.duration - server[i])))).toBeLessThan(5)
  for (const t of timings) expect(t.duration).toBeCloseTo(t.sending + t.waiting + t.receiving, 6)
  // The first request opened the connection (reported apart); the others reused it.
  expect(timings[0].connecting).toBeGreaterThan(0)
  expect(timings.slice(1).every((t) => t.connecting === 0 && t.tls_handshaking === 0)).toBe(true)
})
