// The runtime's only door out of the vm context: one host function that takes and returns
// strings. Nothing else from the worker's realm is reachable, so a script cannot climb from a
// host object to the worker's `Function` (and from there to `process`). Errors the host reports
// come back as a leading "!" and are rethrown here as this realm's Error.
import type { WorkerEvent } from '../protocol.ts'

export type HostFn = (op: string, arg: string) => string

let host: HostFn | null = null

// Captured before the script runs: a script replacing JSON.parse must not break the bridge.
const parse = JSON.parse
const stringify = JSON.stringify

export function setHost(fn: HostFn): void {
  host = fn
}

export function call(op: string, arg: string): string {
  if (!host) throw new Error('journey runtime is not installed')
  let reply: string
  try {
    reply = host(op, '' + arg)
  } catch {
    // Never let the worker realm's error object into the script.
    throw new Error(`journey runtime: host call "${op}" failed`)
  }
  if (reply.charCodeAt(0) === 33 /* ! */) throw new Error(reply.slice(1))
  return reply
}

export function callJson<T>(op: string, arg: unknown): T {
  return parse(call(op, stringify(arg))) as T
}

export function emit(event: WorkerEvent): void {
  call('emit', stringify(event))
}

/** Milliseconds, sub-millisecond precision (the context has no `performance`). */
export function now(): number {
  return Number(call('now', ''))
}

export const json = { parse, stringify }
