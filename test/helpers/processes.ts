// The `vantage` command as real processes, for tests and benches that run a hub or agents the
// way users do: `node bin/vantage.js hub|agent …`. stdout is read as pino's JSON lines (kept
// both raw and parsed), stderr is kept for error messages.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

export const ROOT = join(import.meta.dirname, '..', '..')
/** The real command (bin/vantage.js registers tsx itself, so any cwd works). */
export const VANTAGE_BIN = join(ROOT, 'bin', 'vantage.js')

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface LoggedProcess {
  child: ChildProcess
  /** stdout, one entry per line. */
  lines: string[]
  /** The lines that are JSON objects (pino's log lines), parsed. */
  entries: Record<string, unknown>[]
  stderr(): string
  exited: Promise<Exit>
}

export interface SpawnOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Arguments for node itself, before the script (e.g. --cpu-prof). */
  nodeArgs?: string[]
  /** Copy the child's stderr to ours as it comes (default: only keep it). */
  echoStderr?: boolean
}

/** `node [nodeArgs] <script> [args]`, its output captured line by line. */
export function spawnNode(script: string, args: string[], opts: SpawnOptions = {}): LoggedProcess {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), script, ...args], {
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? { ...process.env },
  })
  const lines: string[] = []
  const entries: Record<string, unknown>[] = []
  let stderr = ''
  let buffered = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      lines.push(line)
      if (line.startsWith('{')) {
        try {
          entries.push(JSON.parse(line) as Record<string, unknown>)
        } catch {
          // not a log line
        }
      }
    }
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
    if (opts.echoStderr) process.stderr.write(chunk)
  })
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return { child, lines, entries, stderr: () => stderr, exited }
}

/** `node bin/vantage.js <command> [args]`. */
export function spawnVantage(command: string, args: string[], opts: SpawnOptions = {}): LoggedProcess {
  return spawnNode(VANTAGE_BIN, [command, ...args], opts)
}

export interface HubProcess extends LoggedProcess {
  /** e.g. http://127.0.0.1:34567 */
  http: string
  /** e.g. 127.0.0.1:34568 */
  grpc: string
}

/** Starts `vantage hub [args]` in `cwd` and resolves once it logs "hub listening". */
export async function spawnHub(cwd: string, args: string[], opts: Omit<SpawnOptions, 'cwd'> = {}): Promise<HubProcess> {
  const p = spawnVantage('hub', args, { ...opts, cwd })
  const listening = await Promise.race([
    waitForEntry(p, (e) => e.msg === 'hub listening', 60_000),
    p.exited.then((exit) => {
      throw new Error(`hub exited (${exit.code ?? exit.signal}) before listening: ${p.stderr()}`)
    }),
  ])
  return Object.assign(p, { http: listening.http as string, grpc: listening.grpc as string })
}

/** Starts `vantage agent --config FILE`. */
export function spawnAgent(configFile: string, opts: SpawnOptions = {}): LoggedProcess {
  return spawnVantage('agent', ['--config', configFile], opts)
}

/** The first raw stdout line matching `pattern`, waiting for it up to `timeoutMs`. */
export async function waitForLine(p: LoggedProcess, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const line = p.lines.find((l) => pattern.test(l))
    if (line) return line
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`no log line matching ${pattern}; got:\n${p.lines.join('\n')}\nstderr:\n${p.stderr()}`)
}

/** The first parsed log entry for which `match` holds, waiting for it up to `timeoutMs`. */
export async function waitForEntry(
  p: LoggedProcess,
  match: (entry: Record<string, unknown>) => boolean,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const entry = p.entries.find(match)
    if (entry) return entry
    if (p.child.exitCode !== null || p.child.signalCode !== null) break
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`no log entry matching ${match.toString()}; got:\n${p.lines.join('\n')}\nstderr:\n${p.stderr()}`)
}

/** Stops a process: `signal` first, SIGKILL after `graceMs`. Resolves with how it exited. */
export async function stopProcess(p: LoggedProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<Exit> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill(signal)
    const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs)
    const exit = await p.exited
    clearTimeout(timer)
    return exit
  }
  return p.exited
}

/** SIGKILLs every process still running and waits for them to be gone. */
export async function killAll(processes: Iterable<LoggedProcess>): Promise<void> {
  const waits: Promise<Exit>[] = []
  for (const p of processes) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    waits.push(p.exited)
  }
  await Promise.all(waits)
}
