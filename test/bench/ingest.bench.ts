// Hub ingest vs the real Pushgateway, side by side in one run. Prints figures, asserts nothing.
//   node --import tsx test/bench/ingest.bench.ts
//
// A real hub (`node bin/vantage.js hub` with the systemd unit's node flags; SQLite WAL, every
// group commit fsynced before its acks, as by default; a fresh data dir for
// each row) and the real Pushgateway (Debian's prometheus-pushgateway, no persistence file) run
// as child processes. From a separate runner process (test/bench/ingest-runner.ts), AGENTS
// concurrent agents (distinct keys, one connection each, one batch in flight each, as the agent
// daemon pushes) send pre-signed batches of 1, 100 and 1000 realistic https results over HTTP
// POST /v1/results and gRPC PushStream; the same number of samples goes to the Pushgateway as
// text-format PUTs of groups (one group per agent, as many samples per PUT as results per batch).
// Per row: results (samples) per second, p50/p99 ack latency, and what the server spent during
// the measurement (from /proc: CPU of all its threads, bytes written to storage), and its peak
// resident memory since it started.
//
// Options (env): SIZES (default 1,100,1000), MODES (http,grpc,pushgateway), AGENTS (4; a list
// such as 4,16 gives rows at each count),
// RESULTS (results per row for sizes ≥ 100, default 100000), RESULTS_1 (for size 1, default 8000),
// PROFILE=1 (run each hub under --cpu-prof and print where its main thread spent the time; try
// it with SIZES=100), KEEP=1 (keep the temp dir: stores, profiles), HUB_NODE_ARGS (more node
// flags for the hub, e.g. --trace-gc: its output goes to hub-<row>.out in the temp dir), REPEAT
// (runs per row, modes taking turns; each row shows its median run and the range of all).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/blackbox.ts'
import { killAll, spawnHub, spawnNode, stopProcess, type LoggedProcess } from '../helpers/processes.ts'
import { makeKeys, tempDir } from '../hub/helpers.ts'
import { unitCommand } from '../deploy/helpers.ts'
import type { Mode, RunnerReport, RunnerSpec } from './ingest-runner.ts'

const PUSHGATEWAY_BIN = process.env.PUSHGATEWAY_BIN ?? '/usr/bin/prometheus-pushgateway'
const SIZES = (process.env.SIZES ?? '1,100,1000').split(',').map(Number)
const MODES = (process.env.MODES ?? 'http,grpc,pushgateway').split(',') as Mode[]
/** Concurrent agents: one count, or several (4,16) for rows at each. */
const AGENT_COUNTS = (process.env.AGENTS ?? '4').split(',').map(Number)
const MAX_AGENTS = Math.max(...AGENT_COUNTS)
const RESULTS = Number(process.env.RESULTS ?? 100_000)
const RESULTS_1 = Number(process.env.RESULTS_1 ?? 8000)
const PROFILE = process.env.PROFILE === '1'
/** Runs per row; the row shows the run of median throughput (and the range). */
const REPEAT = Math.max(1, Number(process.env.REPEAT ?? 1))
const KEEP = process.env.KEEP === '1'
/** More node flags for the hub (e.g. --trace-gc); its output other than log lines goes to hub-<row>.out (with KEEP=1). */
const HUB_NODE_ARGS = (process.env.HUB_NODE_ARGS ?? '').split(' ').filter(Boolean)
const CHECKS = 100
const CHECK_INTERVAL_MS = 30_000
const RUNNER = join(import.meta.dirname, 'ingest-runner.ts')
/** The hub runs with node's flags as deploy/systemd/vantage-hub.service and deploy/Dockerfile.hub run it (its heap sizes). */
const HUB_UNIT_FLAGS = unitCommand('vantage-hub').flags

if (execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim() !== '100') {
  throw new Error('the runner reads /proc CPU times assuming CLK_TCK = 100')
}

const VANTAGES = [
  { vantage: 'eu-west', region: 'eu' },
  { vantage: 'us-east', region: 'us' },
  { vantage: 'ap-south', region: 'ap' },
]
const agents = Array.from({ length: MAX_AGENTS }, (_, i) => ({ id: `bench-${i + 1}`, ...VANTAGES[i % VANTAGES.length] }))

// ---------------------------------------------------------------------------------------------
// Processes

interface Pushgateway {
  child: ChildProcess
  url: string
  version: string
  stop(): Promise<void>
}

async function startPushgateway(): Promise<Pushgateway> {
  const out = spawnSync(PUSHGATEWAY_BIN, ['--version'], { encoding: 'utf8' })
  const version = /version (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? '?'
  const port = await freePort()
  const child = spawn(PUSHGATEWAY_BIN, [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', '--log.level=warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`pushgateway did not start: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    child,
    url,
    version,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

async function runScenario(spec: RunnerSpec): Promise<RunnerReport> {
  const runner = spawnNode(RUNNER, [JSON.stringify(spec)], { nodeArgs: ['--import', 'tsx'], echoStderr: true })
  const exit = await runner.exited
  const last = runner.entries.at(-1)
  if (exit.code !== 0 || !last) throw new Error(`runner (${spec.mode}, ${spec.size}) failed (${exit.code ?? exit.signal}): ${runner.stderr()}`)
  return last as unknown as RunnerReport
}

/** Sanity after a hub row: every result sent (warm-up included) stored once, nothing refused. */
async function storedOnce(hubUrl: string, row: string, sent: number): Promise<string> {
  const metrics = await (await fetch(`${hubUrl}/metrics`)).text()
  const accepted = Number(/^hub_ingest_results_accepted_total (\S+)$/m.exec(metrics)?.[1] ?? NaN)
  const rejected = [...metrics.matchAll(/^hub_ingest_rejected_total\{reason="([^"]+)"\} (\S+)$/gm)].filter((m) => Number(m[2]) > 0)
  const ok = accepted === sent && rejected.length === 0
  return `${ok ? 'ok' : 'MISMATCH'} ${row}: hub stored ${fmtInt(accepted)} of ${fmtInt(sent)} results sent, rejections: ${
    rejected.length ? rejected.map((m) => `${m[1]}=${m[2]}`).join(', ') : 'none'
  }`
}

// ---------------------------------------------------------------------------------------------
// Output

const LABEL: Record<Mode, [string, string]> = {
  http: ['vantage hub', 'HTTP POST /v1/results'],
  grpc: ['vantage hub', 'gRPC PushStream'],
  pushgateway: [`pushgateway`, 'text PUT /metrics/job/…'],
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en')
}

function fmtMs(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)
}

/** The run of median throughput, with the range of all runs. */
function median(runs: RunnerReport[]): RunnerReport & { range: [number, number] } {
  const sorted = [...runs].sort((a, b) => a.resultsPerSecond - b.resultsPerSecond)
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], range: [sorted[0].resultsPerSecond, sorted[sorted.length - 1].resultsPerSecond] }
}

function table(rows: (RunnerReport & { range?: [number, number] })[]): string {
  const head = ['server', 'transport', 'agents', 'batch', 'results/s', ...(REPEAT > 1 ? [`${REPEAT} runs: min–max`] : []), 'p50 ms', 'p99 ms', 'batches', 'wall s', 'server CPU s', 'main thread CPU s', 'CPU µs/result', 'disk KiB/result', 'peak RSS MiB', 'client CPU s']
  const body = rows.map((r) => [
    LABEL[r.mode][0],
    LABEL[r.mode][1],
    String(r.agents),
    String(r.size),
    fmtInt(r.resultsPerSecond),
    ...(REPEAT > 1 && r.range ? [`${fmtInt(r.range[0])}–${fmtInt(r.range[1])}`] : []),
    fmtMs(r.latencyMs.p50),
    fmtMs(r.latencyMs.p99),
    fmtInt(r.batches),
    r.wallSeconds.toFixed(2),
    r.serverCpuSeconds.toFixed(2),
    r.mode === 'pushgateway' ? '–' : r.serverMainThreadCpuSeconds.toFixed(2),
    ((r.serverCpuSeconds / r.results) * 1e6).toFixed(1),
    (r.serverWriteBytes / r.results / 1024).toFixed(1),
    (r.serverPeakRssBytes / 2 ** 20).toFixed(0),
    r.clientCpuSeconds.toFixed(2),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

/** The threads that spent the most, by name: "main 2.40, node 0.91, V8 DefaultWorke 0.52, …". */
function threadSummary(r: RunnerReport): string {
  return Object.entries(r.serverThreadCpuSeconds)
    .filter(([, cpu]) => cpu >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([name, cpu]) => `${name} ${cpu.toFixed(2)}`)
    .join(', ')
}

// ---------------------------------------------------------------------------------------------
// The hub's CPU profile: where its main thread spent the time

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Rules from the leaf up: the first frame that matches decides the category. */
const MODULE_RULES: [RegExp, string][] = [
  [/^node:internal\/modules\/|\/node_modules\/tsx\/|\/node_modules\/esbuild\//, 'module loading at start-up (tsx)'],
  [/\/hub\/quorum\//, 'quorum engine (hub/quorum)'],
  [/\/hub\/pushgateway\//, 'Pushgateway feed (hub/pushgateway)'],
  [/node_modules\/jose\//, 'JWS verify (jose: parse, base64url, Ed25519 via WebCrypto)'],
  [/node_modules\/protobufjs\/|\/proto\/codec\.ts/, 'protobuf decode (protobufjs + proto/codec.ts)'],
  [/\/hub\/store\/vote\.ts/, 'votes (hub/store/vote.ts)'],
  [/node_modules\/better-sqlite3\/|\/hub\/store\//, 'SQLite (better-sqlite3, hub/store)'],
  [/node_modules\/(fastify|avvio|find-my-way|light-my-request|@fastify)\//, 'HTTP server (fastify)'],
  [/node_modules\/@grpc\//, 'gRPC (grpc-js)'],
  [/node_modules\/pino|node_modules\/thread-stream|node_modules\/sonic-boom/, 'logging (pino)'],
  [/node_modules\/prom-client\//, 'metrics (prom-client)'],
  [/\/proto\/envelope\.ts/, 'JWS verify (jose: parse, base64url, Ed25519 via WebCrypto)'],
  [/\/hub\/ingest\//, 'ingest glue (hub/ingest)'],
  [/^node:(internal\/)?(http|_http|net|stream|internal\/streams|internal\/http2|http2|tls)/, 'node net/http/http2 internals'],
  [/^node:/, 'other node internals'],
]

function summarizeProfile(file: string): { busyUs: number; text: string } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<number, number>()
  // timeDeltas[i + 1] is the time until the next sample: the time spent in samples[i].
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt)
  }

  const category = (id: number): string => {
    const leaf = byId.get(id)!.callFrame
    if (leaf.functionName === '(idle)') return 'idle'
    if (leaf.functionName === '(garbage collector)') return 'GC'
    if (leaf.functionName === '(program)') return 'native, unattributed ((program))'
    // Builtins called from JS: JSON has no url; it counts as JSON wherever it is called from.
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame
      if (f.url) break
      if (f.functionName === 'stringify' || f.functionName === 'parse') return 'JSON (stringify/parse)'
    }
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame
      if (!f.url) continue
      for (const [re, name] of MODULE_RULES) if (re.test(f.url)) return name
    }
    return 'other'
  }

  const cats = new Map<string, number>()
  const fns = new Map<string, number>()
  let busy = 0
  let idle = 0
  for (const [id, us] of self) {
    const c = category(id)
    if (c === 'idle') {
      idle += us
      continue
    }
    busy += us
    cats.set(c, (cats.get(c) ?? 0) + us)
    const f = byId.get(id)!.callFrame
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules\/|main\/)/, '')}:${f.lineNumber + 1}` : '(native)'
    const key = `${f.functionName || '(anonymous)'}  ${where}`
    fns.set(key, (fns.get(key) ?? 0) + us)
  }
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`
  const ms = (us: number) => `${fmtInt(us / 1000).padStart(8)} ms`
  const out = [`hub thread: ${fmtInt(busy / 1000)} ms busy, ${fmtInt(idle / 1000)} ms idle (${file})`, '', 'by category (self time):']
  for (const [c, us] of [...cats].sort((a, b) => b[1] - a[1])) out.push(`  ${ms(us)} ${pct(us)}  ${c}`)
  out.push('', 'top functions (self time):')
  for (const [f, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25)) out.push(`  ${ms(us)} ${pct(us)}  ${f}`)
  return { busyUs: busy, text: out.join('\n') }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t = tempDir('vantage-ingest-bench-')
  const processes: LoggedProcess[] = []
  let pg: Pushgateway | undefined
  try {
    await makeKeys(t, ['hub', ...agents.map((a) => a.id)])
    const checks = Array.from({ length: CHECKS }, (_, i) => {
      const name = `check-${String(i).padStart(3, '0')}`
      return `  - { name: ${name}, type: http, target: "https://site-${i}.example/", interval: ${CHECK_INTERVAL_MS / 1000}s }`
    })
    t.write(
      'hub.yaml',
      `listen: { http: 127.0.0.1:0, grpc: 127.0.0.1:0 }
data: ./hub-data
hub_key: ./keys/hub.jwk
vantages:
${VANTAGES.map((v) => `  ${v.vantage}: { region: ${v.region} }`).join('\n')}
agents:
${agents.map((a) => `  - { id: ${a.id}, vantage: ${a.vantage}, public_key: ./keys/${a.id}.pub.jwk }`).join('\n')}
checks:
${checks.join('\n')}
`,
    )
    pg = await startPushgateway()
    console.log(
      `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}; pushgateway ${pg.version} (no persistence file); ` +
        `hub: node ${HUB_UNIT_FLAGS.join(' ') || '(no flags)'} (as its systemd unit); store: SQLite WAL, fsynced before every ack, a fresh store per row${PROFILE ? '; hub under --cpu-prof (slower)' : ''}`,
    )
    console.log(`${AGENT_COUNTS.join(', ')} concurrent agents, one connection and one batch in flight each; results per row: ${RESULTS} (size 1: ${RESULTS_1})`)
    // Other work on the machine skews every figure: say how busy it was.
    console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`)

    const rows: (RunnerReport & { range?: [number, number] })[] = []
    const profiles: { row: string; dir: string }[] = []
    const sanity: string[] = []
    for (const agentCount of AGENT_COUNTS)
    for (const size of SIZES) {
      const total = size === 1 ? RESULTS_1 : RESULTS
      const batchesPerAgent = Math.max(1, Math.round(total / size / agentCount))
      const warmupPerAgent = Math.max(2, Math.round(batchesPerAgent / 10))
      const runs = new Map<Mode, RunnerReport[]>()
      // Rounds of every mode in turn: a spell of a busy neighbour on the VM hits them alike.
      for (let round = 1; round <= REPEAT; round++)
      for (const mode of MODES) {
        // Each hub run gets a hub of its own on an empty store, so runs do not depend on their order.
        const name = `${mode}-${size}${AGENT_COUNTS.length > 1 ? `-a${agentCount}` : ''}${REPEAT > 1 ? `-${round}` : ''}`
        const profDir = join(t.dir, `profile-${name}`)
        if (PROFILE && mode !== 'pushgateway') mkdirSync(profDir)
        const hub =
          mode === 'pushgateway'
            ? null
            : await spawnHub(t.dir, ['--config', 'hub.yaml', '--data', join(t.dir, `hub-data-${name}`)], {
                nodeArgs: [...HUB_UNIT_FLAGS, ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), ...HUB_NODE_ARGS],
                env: { ...process.env, NODE_OPTIONS: '' },
              })
        if (hub) processes.push(hub)
        const spec: RunnerSpec = {
          mode,
          target: hub ? (mode === 'grpc' ? hub.grpc : hub.http) : pg.url,
          size,
          batchesPerAgent,
          warmupPerAgent,
          agents: agents.slice(0, agentCount).map((a) => ({ ...a, privateKeyFile: join(t.dir, 'keys', `${a.id}.jwk`) })),
          seqBase: 0,
          checks: CHECKS,
          checkInterval: CHECK_INTERVAL_MS,
          serverPid: hub ? hub.child.pid! : pg.child.pid!,
        }
        const report = await runScenario(spec)
        if (report.errors.length) console.error(`${mode} ${size}: ${report.errors.join('; ')}`)
        runs.set(mode, [...(runs.get(mode) ?? []), report])
        process.stderr.write(`  done: ${LABEL[mode].join(' ')} × ${size}${REPEAT > 1 ? ` (run ${round})` : ''}: ${fmtInt(report.resultsPerSecond)}/s\n`)
        if (hub) {
          sanity.push(await storedOnce(hub.http, name, (warmupPerAgent + batchesPerAgent) * size * agentCount))
          const stopped = await stopProcess(hub, 'SIGTERM', 30_000)
          if (HUB_NODE_ARGS.length > 0) writeFileSync(join(t.dir, `hub-${name}.out`), hub.lines.filter((l) => !l.startsWith('{')).join('\n'))
          if (PROFILE) {
            if (stopped.code !== 0) console.error(`hub exited ${stopped.code ?? stopped.signal}: the profile may be missing`)
            profiles.push({ row: `${LABEL[mode][1]}, batches of ${size}`, dir: profDir })
          }
        }
      }
      for (const mode of MODES) rows.push(median(runs.get(mode)!))
    }

    console.log(table(rows))
    console.log('\nserver CPU s by thread:')
    for (const r of rows) console.log(`  ${LABEL[r.mode][0]}, ${LABEL[r.mode][1]}, ${r.agents} agents, ${r.size}: ${threadSummary(r)}`)

    console.log(`\nload average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
    console.log(sanity.join('\n'))

    const at100 = rows.filter((r) => r.size === 100)
    for (const r of at100.filter((r) => r.mode !== 'pushgateway')) {
      const pg100 = at100.find((p) => p.mode === 'pushgateway' && p.agents === r.agents)
      const vsPg = pg100 ? `, ${(r.resultsPerSecond / pg100.resultsPerSecond).toFixed(2)}× the Pushgateway's samples/s` : ''
      console.log(
        `goal (≥ 50,000 results/s with 100-result batches), ${LABEL[r.mode][1]}, ${r.agents} agents: ${fmtInt(r.resultsPerSecond)}/s — ${r.resultsPerSecond >= 50_000 ? 'met' : 'MISSED'}${vsPg}`,
      )
    }

    for (const p of profiles) {
      // One profile per thread: the main thread's is the busy one (the other is tsx's loader).
      const summaries = readdirSync(p.dir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => summarizeProfile(join(p.dir, f)))
        .sort((a, b) => b.busyUs - a.busyUs)
      if (summaries[0]) console.log(`\n== ${p.row}: ${summaries[0].text}`)
    }
  } finally {
    await killAll(processes)
    await pg?.stop()
    if (KEEP) console.log(`\nkept ${t.dir}`)
    else t.cleanup()
  }
}

await main()
