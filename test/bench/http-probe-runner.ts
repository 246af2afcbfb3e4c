// Runs N HTTP probes with our engine in this process and prints one JSON line with this
// process's CPU and memory, so the benchmark measures the engine and nothing else.
// Usage: node --import tsx test/bench/http-probe-runner.ts <url> <count> <concurrency>
import { readFileSync, writeFileSync } from 'node:fs'
import type { CheckSpec } from '../../proto/check.ts'
import { nullLogger, systemClock } from '../../agent/core/probe.ts'
import { runProbe, type RunOptions } from '../../agent/core/run.ts'
import { probeHttp } from '../../agent/probes/http.ts'

const [url, countArg, concurrencyArg] = process.argv.slice(2)
const count = Number(countArg)
const concurrency = Number(concurrencyArg)
if (!url || !(count > 0) || !(concurrency > 0)) {
  console.error('usage: http-probe-runner.ts <url> <count> <concurrency>')
  process.exit(2)
}

const check: CheckSpec = { name: 'bench', type: 'http', target: url, interval_ms: 60_000, timeout_ms: 5_000 }
const opts: RunOptions = {
  identity: { agent_id: 'bench-1', vantage: 'bench', region: 'local' },
  agent_id: 'bench-1',
  logger: nullLogger,
  clock: systemClock,
  secrets: {},
}

/** VmRSS / VmHWM of this process, in bytes. */
function memory(): { rss: number; hwm: number } {
  const status = readFileSync('/proc/self/status', 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

// One probe outside the measurement, as the benchmark does for blackbox: fail fast on a bad setup.
const preflight = await runProbe(probeHttp, check, opts)
if (!preflight.success) {
  console.error(`preflight probe failed: ${preflight.error_code} ${preflight.error}`)
  process.exit(1)
}

const before = { cpu: cpuSeconds(), ...memory() }
// Reset VmHWM to the current RSS, so the peak after the run is the peak during the probes.
writeFileSync('/proc/self/clear_refs', '5')
const start = performance.now()
let ok = 0
let failed = 0
let firstError = ''
let next = 0
async function worker(): Promise<void> {
  while (next < count) {
    next++
    const result = await runProbe(probeHttp, check, opts)
    if (result.success) ok++
    else {
      failed++
      firstError ||= `${result.error_code}: ${result.error}`
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker))
const wall = (performance.now() - start) / 1000
const after = { cpu: cpuSeconds(), ...memory() }

process.stdout.write(JSON.stringify({ probes: count, ok, failed, firstError, wall, before, after }) + '\n')
