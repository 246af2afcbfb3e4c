// Runs one journey iteration in a worker thread and reports it. The worker gets a heap cap
// (resourceLimits) and an empty environment; the wall-clock limit is enforced here by
// terminate(), which also stops a script blocked in sleep() or in an endless loop. Every request
// the script makes is performed here, through the HTTP probe's Session, so the identity header,
// source address, CA and TLS verification rules and challenge classification apply to all.
import { performance } from 'node:perf_hooks'
import { MessageChannel, Worker } from 'node:worker_threads'
import type { CheckSpec, TlsOptions } from '../../proto/check.ts'
import type { ProbeContext } from '../core/probe.ts'
import { TimeoutError } from '../core/run.ts'
import { Session } from '../probes/http.ts'
import { runtimeCode, workerCode, type CompiledJourney } from './compile.ts'
import { sendHop } from './http-client.ts'
import { MAX_EVENTS, type HopRequest, type WorkerEvent } from './protocol.ts'
import { JourneyRecorder, type Ending, type JourneyReport } from './report.ts'
import { validateThresholds } from './thresholds.ts'

export const DEFAULT_MEMORY_MB = 128
const MAX_SAMPLES = 2 * MAX_EVENTS

// V8's code cache for the runtime, made by the first iteration: later isolates start warm, so
// a step's timing is the target's, not the runtime compiling itself.
let runtimeCache: Uint8Array | undefined
const MAX_LOG_LINES = 200
/** Connections per origin, as k6's batchPerHost default. */
const CONNECTIONS_PER_ORIGIN = 6

export interface RunJourneyOptions {
  compiled: CompiledJourney
  /** __ENV: the check's env and the secrets it names, never the agent's environment. */
  env?: Record<string, string>
  timeoutMs: number
  memoryMb?: number
  ctx: ProbeContext
  /** TLS rules for every request: `insecure` reports but does not refuse bad certificates. */
  tls?: TlsOptions
  /** The script's console output; by default logged at debug level. */
  onLog?: (level: string, message: string) => void
}

export async function runJourney(o: RunJourneyOptions): Promise<JourneyReport> {
  const [runtime, workerSource] = await Promise.all([runtimeCode(), workerCode()])
  const started = performance.now()
  let logLines = 0
  const onLog = (level: string, message: string) => {
    if (logLines++ >= MAX_LOG_LINES) return
    if (o.onLog) o.onLog(level, message)
    else o.ctx.logger.debug({ journey: o.compiled.name, level, message: message.slice(0, 4096) }, 'journey console')
  }
  const recorder = new JourneyRecorder(o.compiled.stepNames, onLog)

  // Connections live as long as the iteration (and the probe's own deadline).
  const stop = new AbortController()
  const signal = AbortSignal.any([o.ctx.signal, stop.signal])
  const sessionCheck: CheckSpec = {
    name: o.compiled.name,
    type: 'journey',
    target: o.compiled.name,
    interval_ms: 0,
    timeout_ms: o.timeoutMs,
    http: { http_version: '2' }, // offered over ALPN, as Go's client does for k6
    tls: { insecure: o.tls?.insecure, ca: o.tls?.ca },
  }
  const session = new Session(sessionCheck, { ...o.ctx, signal }, CONNECTIONS_PER_ORIGIN)

  const memoryMb = o.memoryMb ?? DEFAULT_MEMORY_MB
  const shared = new SharedArrayBuffer(8)
  const flags = new Int32Array(shared)
  const { port1, port2 } = new MessageChannel()
  const worker = new Worker(workerSource, {
    eval: true,
    workerData: {
      runtime,
      runtimeCache,
      script: o.compiled.code,
      init: { env: o.env ?? {}, scriptName: o.compiled.name, binaryBudgetBytes: memoryMb * 1024 * 1024 },
      shared,
      port: port2,
    },
    transferList: [port2],
    resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: Math.min(16, Math.max(4, memoryMb >> 3)), stackSizeMb: 4 },
    env: {},
    execArgv: [],
    stdout: true,
    stderr: true,
  })
  worker.stdout.resume()
  worker.stderr.resume()

  let finished = false
  const ending = await new Promise<Ending>((resolve) => {
    const finish = (e: Ending) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      o.ctx.signal.removeEventListener('abort', onAbort)
      resolve(e)
    }
    const timer = setTimeout(() => finish({ kind: 'timeout', ms: o.timeoutMs }), o.timeoutMs)
    const onAbort = () => {
      const reason: unknown = o.ctx.signal.reason
      finish(reason instanceof TimeoutError ? { kind: 'timeout', ms: reason.timeoutMs } : { kind: 'aborted' })
    }
    if (o.ctx.signal.aborted) onAbort()
    else o.ctx.signal.addEventListener('abort', onAbort, { once: true })

    const serve = async (reqs: HopRequest[]) => {
      const outcomes = await Promise.all(reqs.map((r) => sendHop(session, o.ctx.agent_id, r)))
      if (finished) return
      outcomes.forEach((out, i) => recorder.hop(reqs[i], out.reply, out.challenge, out.failure?.error ?? null, out.sentBytes, out.receivedBytes))
      if (recorder.samples.length > MAX_SAMPLES) return finish({ kind: 'flood', events: recorder.samples.length })
      port1.postMessage(JSON.stringify(outcomes.map((out) => out.reply)))
      Atomics.store(flags, 0, 1)
      Atomics.notify(flags, 0)
    }

    worker.on('message', (raw: string | { runtimeCache: Uint8Array }) => {
      if (typeof raw !== 'string') {
        runtimeCache ??= raw.runtimeCache
        return
      }
      if (finished) return
      let e: WorkerEvent
      try {
        e = JSON.parse(raw) as WorkerEvent
      } catch {
        return finish({ kind: 'crash', message: 'unreadable message from the journey worker' })
      }
      if (e.t === 'http') {
        serve(e.reqs).catch((err: unknown) => finish({ kind: 'crash', message: err instanceof Error ? err.message : String(err) }))
        return
      }
      if (e.t === 'flood') return finish({ kind: 'flood', events: e.events })
      recorder.event(e)
      // Requests add samples too: the same bound holds for everything kept here.
      if (recorder.samples.length > MAX_SAMPLES) return finish({ kind: 'flood', events: recorder.samples.length })
      if (e.t === 'init') {
        const invalid = validateThresholds(e.thresholds, recorder.metricTypes)
        if (invalid) {
          recorder.failLoad(`${o.compiled.name}: ${invalid}`)
          finish({ kind: 'done' })
        }
      }
      if (e.t === 'done' || e.t === 'load-error') finish({ kind: 'done' })
    })
    worker.on('error', (err: Error & { code?: string }) => {
      finish(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? { kind: 'memory', mb: memoryMb } : { kind: 'crash', message: err.message })
    })
    worker.on('exit', (code) => finish({ kind: 'crash', message: `the journey worker exited (code ${code})` }))
  })

  await worker.terminate()
  port1.close()
  stop.abort()
  await session.close()
  return recorder.report(ending, (performance.now() - started) / 1000)
}
