// A Prometheus-family server (Alertmanager, Prometheus, …) as a child process on loopback for the
// suites: its files in a temp dir, ready when /-/ready answers, stopped by its own pid.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface LoopbackDaemon {
  url: string
  child: ChildProcess
  log(): string
  stop(): Promise<void>
}

/**
 * Starts `bin` with the arguments `args(dir)` builds (dir: a fresh temp dir, removed on stop) and
 * waits for `${url}/-/ready`, failing with its log if it exits or is not ready in time.
 */
export async function startLoopbackDaemon(opts: { name: string; bin: string; port: number; args: (dir: string) => string[]; readyWithinMs: number }): Promise<LoopbackDaemon & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `vantage-${opts.name}-`))
  const child = spawn(opts.bin, opts.args(dir), { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout!.on('data', (c: Buffer) => void (log += c.toString()))
  child.stderr!.on('data', (c: Buffer) => void (log += c.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${opts.port}`

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + opts.readyWithinMs
  for (;;) {
    if (child.exitCode !== null) {
      await stop()
      throw new Error(`${opts.name} exited (${child.exitCode}) before ready:\n${log}`)
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`${opts.name} not ready within ${opts.readyWithinMs / 1000} s:\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { url, dir, child, log: () => log, stop }
}
