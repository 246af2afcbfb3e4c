// Push throughput and scrape time: our Pushgateway-compatible store vs the real Pushgateway
// (Debian's prometheus-pushgateway 1.5.1), in the same run, on the same machine.
// Run: node --import tsx test/bench/pushgateway.bench.ts
// Options (env): SECONDS per push workload (default 3), CONCURRENCY (default 8), GROUPS for the
// scrape test (default 10000), SAMPLES_PER_GROUP for it (default 10).
//
// Both sides run in their own process (ours: this file with --serve, a bare fastify app with the
// plugin and SQLite persistence, every push written through before it is acknowledged; the real
// one with its defaults: consistency check on, persistence off). The load generator runs here.
//
// Pushes: PUT of a text body with N samples (one family, N series) to 100 groups in rotation,
// CONCURRENCY requests in flight, for SECONDS, after WARMUP_SECONDS (default 1) of unmeasured
// pushes to each side.
// Scrape: GROUPS groups of SAMPLES_PER_GROUP samples each, then GET /pushgateway/metrics:
// the first scrape after filling (cold), the median of 5 more (warm), and the median of 5 scrapes
// each right after one push (what a scrape costs when something changed in between). Filling the
// real Pushgateway one checked push at a time costs O(store) per push (it re-gathers every
// group), so its scrape instance is started with --push.disable-consistency-check for the fill;
// its scrape path is the same.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'

const SECONDS = Number(process.env.SECONDS ?? 3)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8)
const GROUPS = Number(process.env.GROUPS ?? 10_000)
const SAMPLES_PER_GROUP = Number(process.env.SAMPLES_PER_GROUP ?? 10)
const PG_BIN = process.env.PUSHGATEWAY_BIN ?? '/usr/bin/prometheus-pushgateway'

if (process.argv.includes('--serve')) {
  // Server mode: ours, in its own process; prints its URL, stops when stdin closes.
  const { startOurPushgateway } = await import('../pushgateway/helpers.ts')
  const dir = process.argv[process.argv.indexOf('--serve') + 1]
  const ours = await startOurPushgateway({ store: { file: join(dir, 'pushgateway.db') } })
  if (process.env.BENCH_DEBUG) {
    const render = ours.store.render.bind(ours.store)
    ours.store.render = () => {
      const t0 = performance.now()
      const out = render()
      console.error(`render ${(performance.now() - t0).toFixed(1)} ms`)
      return out
    }
  }
  console.log(JSON.stringify({ url: ours.url }))
  process.stdin.resume()
  process.stdin.on('end', async () => {
    await ours.stop()
    process.exit(0)
  })
} else {
  await main()
}

interface Server {
  name: string
  url: string
  child: ChildProcess
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

async function startOurs(dir: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', dir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`our server exited (${code})`)))
  })
  return { name: 'ours', url: JSON.parse(line).url, child }
}

async function startReal(extra: string[] = []): Promise<Server> {
  const port = await freePort()
  const child = spawn(PG_BIN, [`--web.listen-address=127.0.0.1:${port}`, '--web.route-prefix=/pushgateway', '--persistence.file=', '--log.level=error', ...extra], {
    stdio: 'ignore',
  })
  const url = `http://127.0.0.1:${port}/pushgateway`
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url + '/-/ready')).ok) return { name: 'pushgateway', url, child }
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error('the Pushgateway did not start')
}

async function stop(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return
  const exited = once(s.child, 'exit')
  if (s.name === 'ours') s.child.stdin!.end()
  else s.child.kill('SIGTERM')
  await exited
}

function body(samples: number, seq: number): string {
  let text = '# HELP bench_value A benchmark gauge.\n# TYPE bench_value gauge\n'
  for (let i = 0; i < samples; i++) text += `bench_value{series="s${i}",shard="${i % 7}"} ${seq + i * 0.5}\n`
  return text
}

async function pushRate(s: Server, samples: number, seconds = SECONDS): Promise<{ rate: number; errors: number; p50: number; p99: number }> {
  const u = new URL(s.url)
  const pool = new Pool(u.origin, { connections: CONCURRENCY, pipelining: 1 })
  const bodies = Array.from({ length: 10 }, (_, i) => body(samples, i))
  let done = 0
  let errors = 0
  const latencies: number[] = []
  const end = performance.now() + seconds * 1000
  const worker = async (w: number) => {
    let n = 0
    while (performance.now() < end) {
      const group = (w * 1000 + n) % 100
      const t0 = performance.now()
      const res = await pool.request({ method: 'PUT', path: `${u.pathname}/metrics/job/bench_${samples}/instance/i${group}`, body: bodies[n % 10] })
      await res.body.arrayBuffer()
      latencies.push(performance.now() - t0)
      if (res.statusCode >= 300) errors++
      done++
      n++
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)))
  const wall = (performance.now() - t0) / 1000
  await pool.close()
  latencies.sort((a, b) => a - b)
  return { rate: done / wall, errors, p50: latencies[Math.floor(latencies.length / 2)], p99: latencies[Math.floor(latencies.length * 0.99)] }
}

/** DELETE the 100 groups a push workload wrote. */
async function clear(s: Server, samples: number): Promise<void> {
  for (let group = 0; group < 100; group++) {
    const res = await fetch(`${s.url}/metrics/job/bench_${samples}/instance/i${group}`, { method: 'DELETE' })
    await res.arrayBuffer()
  }
}

async function fill(s: Server, groups: number, samples: number): Promise<number> {
  const u = new URL(s.url)
  const pool = new Pool(u.origin, { connections: CONCURRENCY })
  const text = body(samples, 1)
  let next = 0
  let errors = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < groups) {
        const g = next++
        const res = await pool.request({ method: 'PUT', path: `${u.pathname}/metrics/job/scrape/instance/host-${g}`, body: text })
        await res.body.arrayBuffer()
        if (res.statusCode >= 300) errors++
      }
    }),
  )
  await pool.close()
  return errors
}

async function scrapeOnce(s: Server): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now()
  const res = await fetch(s.url + '/metrics')
  const buf = await res.arrayBuffer()
  return { ms: performance.now() - t0, bytes: buf.byteLength }
}

/** Time ratio in words: ours vs theirs. */
function speed(ours: number, theirs: number): string {
  return ours <= theirs ? `${(theirs / ours).toFixed(1)}× faster` : `${(ours / theirs).toFixed(1)}× slower`
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function scrapeTimes(s: Server): Promise<{ cold: number; warm: number; afterPush: number; bytes: number; pushed: number }> {
  const cold = await scrapeOnce(s)
  const warm: number[] = []
  for (let i = 0; i < 5; i++) warm.push((await scrapeOnce(s)).ms)
  const after: number[] = []
  for (let i = 0; i < 5; i++) {
    await fetch(`${s.url}/metrics/job/scrape/instance/host-${i}`, { method: 'PUT', body: body(SAMPLES_PER_GROUP, i + 2) }).then((r) => r.arrayBuffer())
    after.push((await scrapeOnce(s)).ms)
  }
  const lines = (await (await fetch(s.url + '/metrics')).text()).split('\n').filter((l) => l.startsWith('bench_value{')).length
  return { cold: cold.ms, warm: median(warm), afterPush: median(after), bytes: cold.bytes, pushed: lines }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vantage-pgw-bench-'))
  const rows: string[] = []
  const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
  console.log(`pushgateway bench: ${SECONDS}s per workload, ${CONCURRENCY} in flight, node ${process.version}`)
  try {
    const ours = await startOurs(dir)
    const real = await startReal()
    try {
      rows.push('| workload | ours | Pushgateway 1.5.1 | ours vs theirs |', '|---|---:|---:|---:|')
      // Warm both up (JIT, connections) before measuring.
      const warm = Number(process.env.WARMUP_SECONDS ?? 1)
      for (const s of [ours, real]) {
        for (const samples of [10, 100]) {
          await pushRate(s, samples, warm)
          await clear(s, samples)
        }
      }
      for (const samples of [10, 100, 1000]) {
        // Each workload starts from an empty store on both sides (the real one re-gathers the
        // whole store on every checked push, so what is left over would slow it down).
        const a = await pushRate(ours, samples)
        await clear(ours, samples)
        const b = await pushRate(real, samples)
        await clear(real, samples)
        rows.push(
          `| PUT ${samples} samples: pushes/s (p50 / p99 ms) | ${fmt(a.rate)} (${fmt(a.p50, 2)} / ${fmt(a.p99, 2)})${a.errors ? ` ${a.errors} errors` : ''} | ${fmt(b.rate)} (${fmt(b.p50, 2)} / ${fmt(b.p99, 2)})${b.errors ? ` ${b.errors} errors` : ''} | ${fmt(a.rate / b.rate, 2)}× the rate |`,
        )
        console.log(rows[rows.length - 1])
      }
    } finally {
      await stop(real)
      await stop(ours)
    }

    rmSync(dir, { recursive: true, force: true })
    const ours2 = await startOurs(dir)
    const real2 = await startReal(['--push.disable-consistency-check'])
    try {
      let t0 = performance.now()
      const e1 = await fill(ours2, GROUPS, SAMPLES_PER_GROUP)
      const fillOurs = (performance.now() - t0) / 1000
      t0 = performance.now()
      const e2 = await fill(real2, GROUPS, SAMPLES_PER_GROUP)
      const fillReal = (performance.now() - t0) / 1000
      if (e1 || e2) console.log(`fill errors: ours ${e1}, theirs ${e2}`)
      // Warm the client's body-reading path on the real one (which caches nothing anyway).
      await scrapeOnce(real2)
      const a = await scrapeTimes(ours2)
      const b = await scrapeTimes(real2)
      rows.push(
        `| fill ${fmt(GROUPS)} groups × ${SAMPLES_PER_GROUP} samples: s (theirs unchecked) | ${fmt(fillOurs, 2)} | ${fmt(fillReal, 2)} | |`,
        `| scrape ${fmt(GROUPS)} groups, cold: ms | ${fmt(a.cold, 1)} | ${fmt(b.cold, 1)} | ${speed(a.cold, b.cold)} |`,
        `| scrape ${fmt(GROUPS)} groups, warm (median of 5): ms | ${fmt(a.warm, 1)} | ${fmt(b.warm, 1)} | ${speed(a.warm, b.warm)} |`,
        `| scrape ${fmt(GROUPS)} groups, right after a push (median of 5): ms | ${fmt(a.afterPush, 1)} | ${fmt(b.afterPush, 1)} | ${speed(a.afterPush, b.afterPush)} |`,
        `| scrape size: bytes (bench_value series) | ${fmt(a.bytes)} (${fmt(a.pushed)}) | ${fmt(b.bytes)} (${fmt(b.pushed)}) | |`,
      )
    } finally {
      await stop(real2)
      await stop(ours2)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  console.log('\n' + rows.join('\n'))
}
