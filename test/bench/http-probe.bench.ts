// CPU and memory per HTTP probe: our engine vs the real blackbox_exporter, in the same run,
// against the same local target. Run: node --import tsx test/bench/http-probe.bench.ts
// Options (env): PROBES (default 2000), CONCURRENCY (default 8).
//
// Each side is measured in its own process: ours in a runner child (test/bench/http-probe-runner.ts),
// blackbox from /proc/<pid>. The target runs in a third process so neither side pays for it.
// "raw" counts the whole process life (startup included), "net" only what the probes added.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { blackboxAvailable, blackboxSkipReason, startBlackbox, type Blackbox } from '../helpers/blackbox.ts'

const PROBES = Number(process.env.PROBES ?? 2000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8)
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))

interface Side {
  name: string
  probes: number
  ok: number
  wall: number
  cpuRaw: number // seconds, whole process life
  cpuNet: number // seconds, during the probes
  peakRaw: number // bytes, peak RSS over the process life
  peakNet: number // bytes, peak RSS during the probes minus RSS right before them
}

/** Spawns a Node child running a .ts file and resolves with its first stdout line, parsed. */
function spawnTs(file: string, args: string[]): { child: ChildProcess; first: Promise<any> } {
  const child = spawn(process.execPath, ['--import', 'tsx', here(file), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout! })
  const first = new Promise<any>((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line)))
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before reporting`)))
  })
  return { child, first }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.stdin?.end()
  const exited = once(child, 'exit')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

function procCpuSeconds(pid: number): number {
  // Fields after the ")" that ends comm: utime and stime are fields 14 and 15 of the whole line.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

function procMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

async function benchOurs(url: string): Promise<Side> {
  const { child, first } = spawnTs('./http-probe-runner.ts', [url, String(PROBES), String(CONCURRENCY)])
  try {
    const r = await first
    if (r.failed > 0) console.error(`vantage: ${r.failed} probes failed, first: ${r.firstError}`)
    return {
      name: 'vantage',
      probes: r.probes,
      ok: r.ok,
      wall: r.wall,
      cpuRaw: r.after.cpu,
      cpuNet: r.after.cpu - r.before.cpu,
      peakRaw: Math.max(r.before.hwm, r.after.hwm),
      peakNet: r.after.hwm - r.before.rss,
    }
  } finally {
    await stopChild(child)
  }
}

async function benchBlackbox(bb: Blackbox, url: string): Promise<Side> {
  // One probe outside the measurement (as the runner does): fail fast on a bad setup.
  const preflight = await bb.probe('http_2xx', url)
  if (preflight.value('probe_success') !== 1) throw new Error(`blackbox preflight failed:\n${preflight.text}`)

  const cpuBefore = procCpuSeconds(bb.pid)
  const memBefore = procMemory(bb.pid)
  // Reset its VmHWM to its current RSS, so the peak after the run is the peak during the probes.
  writeFileSync(`/proc/${bb.pid}/clear_refs`, '5')
  const start = performance.now()
  let ok = 0
  let next = 0
  const worker = async () => {
    while (next < PROBES) {
      next++
      const samples = await bb.probe('http_2xx', url)
      if (samples.value('probe_success') === 1) ok++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const wall = (performance.now() - start) / 1000
  const cpuAfter = procCpuSeconds(bb.pid)
  const memAfter = procMemory(bb.pid)
  if (ok < PROBES) console.error(`blackbox: ${PROBES - ok} probes failed`)
  return {
    name: 'blackbox_exporter',
    probes: PROBES,
    ok,
    wall,
    cpuRaw: cpuAfter,
    cpuNet: cpuAfter - cpuBefore,
    peakRaw: Math.max(memBefore.hwm, memAfter.hwm),
    peakNet: memAfter.hwm - memBefore.rss,
  }
}

const MiB = 1024 * 1024
const ms = (s: number) => (s * 1000).toFixed(3)
const mib = (b: number) => (b / MiB).toFixed(1)

function printTable(ours: Side, bb: Side): void {
  const header = ['', 'probes', 'ok', 'wall s', 'CPU ms/probe', 'peak RSS MiB']
  const row = (s: Side, kind: 'raw' | 'net') => [
    `${s.name} (${kind})`,
    String(s.probes),
    String(s.ok),
    s.wall.toFixed(2),
    ms((kind === 'raw' ? s.cpuRaw : s.cpuNet) / s.probes),
    mib(kind === 'raw' ? s.peakRaw : s.peakNet),
  ]
  const ratio = (kind: 'raw' | 'net') => {
    const cpu = kind === 'raw' ? ours.cpuRaw / bb.cpuRaw : ours.cpuNet / bb.cpuNet
    const rss = kind === 'raw' ? ours.peakRaw / bb.peakRaw : ours.peakNet / bb.peakNet
    return [`ratio ours/blackbox (${kind})`, '', '', (ours.wall / bb.wall).toFixed(2) + 'x', cpu.toFixed(2) + 'x', rss.toFixed(2) + 'x']
  }
  const rows = [header, row(ours, 'raw'), row(ours, 'net'), row(bb, 'raw'), row(bb, 'net'), ratio('raw'), ratio('net')]
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '))
  const net = ours.cpuNet / bb.cpuNet
  console.log(`\ngoal: net CPU per probe <= 1.5x blackbox_exporter's: ${net <= 1.5 ? 'met' : 'NOT met'} (${net.toFixed(2)}x)`)
}

async function main(): Promise<void> {
  if (!blackboxAvailable) {
    console.error(`skipped: ${blackboxSkipReason}`)
    process.exit(0)
  }
  const target = spawnTs('./http-target.ts', [])
  let bb: Blackbox | undefined
  try {
    const { port } = await target.first
    const url = `http://127.0.0.1:${port}/`
    bb = await startBlackbox()
    console.log(`HTTP probe benchmark: ${PROBES} probes, ${CONCURRENCY} in flight, target ${url} (own process), ${CLK_TCK} ticks/s`)
    console.log('raw = whole process life (startup included); net = CPU added by the probes, peak RSS minus RSS before them')
    console.log('blackbox CPU includes serving /probe and encoding the metrics, its way of delivering a result\n')
    // Ours first, then blackbox: the two never run at the same time.
    const ours = await benchOurs(url)
    const theirs = await benchBlackbox(bb, url)
    printTable(ours, theirs)
  } finally {
    await bb?.stop()
    await stopChild(target.child)
  }
}

await main()
