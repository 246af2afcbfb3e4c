// The pushing side of test/bench/ingest.bench.ts, in a process of its own (so the hub's CPU is
// the hub's alone): a few concurrent "agents", each with its own connection and key, sending
// its next batch when the previous one is acknowledged (as the agent daemon does).
//
//   node --import tsx test/bench/ingest-runner.ts '<json RunnerSpec>'
//
// Everything is prepared before the clock starts: results built, batches signed and serialized
// (JWS JSON for HTTP, SignedBatch bytes for gRPC, text exposition for the Pushgateway). After a
// warm-up, it measures wall time, per-batch ack latency and the server's CPU (from /proc), and
// prints one JSON line (RunnerReport).
import { readdirSync, readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { Client } from 'undici'
import type { PushAck, ResultBatch } from '../../proto/batch.ts'
import { decodePushAck, encodeSignedBatch, INGEST_METHODS } from '../../proto/codec.ts'
import { signBatch } from '../../proto/envelope.ts'
import { importPrivate, type Ed25519Jwk } from '../../proto/keys.ts'
import type { ProbeResult } from '../../proto/result.ts'
import { httpsResult } from './https-result.ts'

export type Mode = 'http' | 'grpc' | 'pushgateway'

export interface RunnerSpec {
  mode: Mode
  /** http: base URL of the hub; grpc: host:port; pushgateway: base URL. */
  target: string
  /** Results (samples) per batch (push). */
  size: number
  batchesPerAgent: number
  warmupPerAgent: number
  agents: { id: string; vantage: string; region: string; privateKeyFile: string }[]
  /** Batches of agent i use seq seqBase + 1, + 2, …: above anything the hub saw from it. */
  seqBase: number
  /** Check names results cycle through (configured in the hub, so votes are kept). */
  checks: number
  checkInterval: number
  /** pid of the server, for its CPU time. */
  serverPid: number
}

export interface RunnerReport {
  mode: Mode
  size: number
  agents: number
  batches: number
  results: number
  wallSeconds: number
  resultsPerSecond: number
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number }
  /** CPU seconds (user + system) the server spent during the measurement. */
  serverCpuSeconds: number
  /** CPU seconds of the server's main thread alone (for the hub: its event loop). */
  serverMainThreadCpuSeconds: number
  /** CPU seconds per server thread during the measurement, by thread name (tid for the main thread: "main"). */
  serverThreadCpuSeconds: Record<string, number>
  /** Bytes the server wrote to storage during the measurement (/proc/PID/io write_bytes). */
  serverWriteBytes: number
  /** The server's peak resident memory since it started (/proc/PID/status VmHWM), in bytes. */
  serverPeakRssBytes: number
  /** CPU seconds this process spent sending and reading acks during the measurement. */
  clientCpuSeconds: number
  /** Accepted results the hub acknowledged (hub modes), for a sanity check. */
  acked: number
  errors: string[]
}

const CLK_TCK = 100 // Linux USER_HZ; the orchestrator checks getconf CLK_TCK

/** CPU seconds of a process (all threads), or of one thread given its tid. */
function procCpuSeconds(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

/** CPU seconds of each live thread of a process, by tid, with its name (/proc/PID/task/TID/comm). */
function threadCpuSeconds(pid: number): Map<number, { name: string; cpu: number }> {
  const out = new Map<number, { name: string; cpu: number }>()
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    try {
      const name = tid === pid ? "main" : `${readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()}/${tid}`
      out.set(tid, { name, cpu: procCpuSeconds(pid, tid) })
    } catch {
      // the thread ended meanwhile
    }
  }
  return out
}

/** What each thread name spent between two threadCpuSeconds readings (threads gone meanwhile are not counted). */
function threadCpuDelta(before: Map<number, { name: string; cpu: number }>, after: Map<number, { name: string; cpu: number }>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [tid, t] of after) out[t.name] = (out[t.name] ?? 0) + t.cpu - (before.get(tid)?.cpu ?? 0)
  return out
}

function procPeakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN) * 1024
}

function procWriteBytes(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8')
  return Number(/^write_bytes: (\d+)$/m.exec(io)?.[1] ?? NaN)
}

/** The same results as the Pushgateway sees them: one synthetic_probe_success sample each. */
function exposition(results: ProbeResult[]): string {
  const lines = ['# TYPE synthetic_probe_success gauge']
  results.forEach((r, i) => {
    // A push may not hold the same series twice: the position keeps every label set distinct.
    lines.push(
      `synthetic_probe_success{check="${r.check}-${i}",type="${r.type}",target="${r.target}",vantage="${r.vantage}",region="${r.region}"} ${r.success ? 1 : 0}`,
    )
  })
  return lines.join('\n') + '\n'
}

interface Sender {
  send(i: number): Promise<number> // resolves with the results acknowledged
  close(): Promise<void>
}

async function prepare(spec: RunnerSpec, agent: RunnerSpec['agents'][number], agentIndex: number): Promise<Sender> {
  const total = spec.warmupPerAgent + spec.batchesPerAgent
  const now = Date.now()
  const batches: ProbeResult[][] = []
  for (let b = 0; b < total; b++) {
    // Result ids are UUIDv7s, time-ordered as an agent makes them: batch b's a little after b - 1's.
    batches.push(Array.from({ length: spec.size }, (_, j) => httpsResult(agent, agentIndex * 7919 + b * spec.size + j, { checks: spec.checks, intervalMs: spec.checkInterval }, now + b)))
  }

  if (spec.mode === 'pushgateway') {
    const bodies = batches.map(exposition)
    const client = new Client(spec.target, { pipelining: 1 })
    const path = `/metrics/job/synthetic-probe/vantage/${agent.vantage}/agent/${agent.id}`
    return {
      async send(i) {
        const res = await client.request({ method: 'PUT', path, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: bodies[i] })
        const text = await res.body.text()
        if (res.statusCode >= 300) throw new Error(`pushgateway ${res.statusCode}: ${text}`)
        return spec.size
      },
      close: () => client.close(),
    }
  }

  const privateKey = await importPrivate(JSON.parse(readFileSync(agent.privateKeyFile, 'utf8')) as Ed25519Jwk)
  const jws: string[] = []
  for (let b = 0; b < total; b++) {
    const batch: ResultBatch = {
      agent_id: agent.id,
      vantage: agent.vantage,
      seq: spec.seqBase + b + 1,
      sent_at: Date.now(),
      dropped: 0,
      results: batches[b],
    }
    jws.push(JSON.stringify(await signBatch(batch, { kid: agent.id, privateKey })))
  }
  const check = (ack: PushAck, i: number): number => {
    if (ack.reason || ack.seq !== spec.seqBase + i + 1 || ack.accepted + ack.duplicates !== spec.size) {
      throw new Error(`unexpected ack for ${agent.id} seq ${spec.seqBase + i + 1}: ${JSON.stringify(ack)}`)
    }
    return ack.accepted
  }

  if (spec.mode === 'http') {
    const client = new Client(spec.target, { pipelining: 1 })
    return {
      async send(i) {
        const res = await client.request({ method: 'POST', path: '/v1/results', headers: { 'content-type': 'application/json' }, body: jws[i] })
        const text = await res.body.text()
        if (res.statusCode !== 200) throw new Error(`hub ${res.statusCode}: ${text}`)
        return check(JSON.parse(text) as PushAck, i)
      },
      close: () => client.close(),
    }
  }

  // gRPC PushStream: one stream (and, with a local subchannel pool, one connection) per agent.
  const messages = jws.map((j) => Buffer.from(encodeSignedBatch({ jws: j })))
  const client = new grpc.Client(spec.target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 })
  const stream = client.makeBidiStreamRequest(INGEST_METHODS.PushStream, (b: Buffer) => b, (bytes: Buffer) => decodePushAck(bytes))
  let waiting: { resolve: (ack: PushAck) => void; reject: (err: Error) => void } | null = null
  stream.on('data', (ack: PushAck) => waiting?.resolve(ack))
  stream.on('error', (err: Error) => waiting?.reject(err))
  return {
    send(i) {
      return new Promise<number>((resolve, reject) => {
        waiting = {
          resolve: (ack) => {
            waiting = null
            try {
              resolve(check(ack, i))
            } catch (err) {
              reject(err as Error)
            }
          },
          reject,
        }
        stream.write(messages[i])
      })
    },
    async close() {
      stream.end()
      stream.cancel()
      client.close()
    },
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as RunnerSpec
  const senders = await Promise.all(spec.agents.map((a, i) => prepare(spec, a, i)))
  const errors: string[] = []

  // Warm-up (connections, JIT on both sides), not measured.
  await Promise.all(
    senders.map(async (s) => {
      for (let i = 0; i < spec.warmupPerAgent; i++) await s.send(i)
    }),
  )

  const latencies: number[] = []
  let acked = 0
  const cpu0 = procCpuSeconds(spec.serverPid)
  const mainCpu0 = procCpuSeconds(spec.serverPid, spec.serverPid)
  const threads0 = threadCpuSeconds(spec.serverPid)
  const written0 = procWriteBytes(spec.serverPid)
  const client0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    senders.map(async (s) => {
      for (let i = spec.warmupPerAgent; i < spec.warmupPerAgent + spec.batchesPerAgent; i++) {
        const start = performance.now()
        try {
          acked += await s.send(i)
        } catch (err) {
          errors.push((err as Error).message)
          return
        }
        latencies.push(performance.now() - start)
      }
    }),
  )
  const wall = (performance.now() - t0) / 1000
  const serverCpu = procCpuSeconds(spec.serverPid) - cpu0
  const serverMainCpu = procCpuSeconds(spec.serverPid, spec.serverPid) - mainCpu0
  const serverThreads = threadCpuDelta(threads0, threadCpuSeconds(spec.serverPid))
  const serverWriteBytes = procWriteBytes(spec.serverPid) - written0
  const serverPeakRssBytes = procPeakRssBytes(spec.serverPid)
  const clientCpu = process.cpuUsage(client0)
  await Promise.all(senders.map((s) => s.close()))

  latencies.sort((a, b) => a - b)
  const batches = latencies.length
  const report: RunnerReport = {
    mode: spec.mode,
    size: spec.size,
    agents: spec.agents.length,
    batches,
    results: batches * spec.size,
    wallSeconds: wall,
    resultsPerSecond: (batches * spec.size) / wall,
    latencyMs: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
      mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, batches),
    },
    serverCpuSeconds: serverCpu,
    serverMainThreadCpuSeconds: serverMainCpu,
    serverThreadCpuSeconds: serverThreads,
    serverWriteBytes,
    serverPeakRssBytes,
    clientCpuSeconds: (clientCpu.user + clientCpu.system) / 1e6,
    acked,
    errors: errors.slice(0, 5),
  }
  process.stdout.write(JSON.stringify(report) + '\n')
}

await main()
