// better-sqlite3 ships no types and @types/better-sqlite3 is not a dependency: load it through
// require and describe the calls the agent's outbox and the hub's store make (no global
// `declare module`, so nothing collides with another declaration in the tree).
import { createRequire } from 'node:module'

export interface RunResult {
  changes: number
  lastInsertRowid: number | bigint
}

export interface Statement<Row = unknown> {
  run(...params: unknown[]): RunResult
  get(...params: unknown[]): Row | undefined
  all(...params: unknown[]): Row[]
  /** Rows one at a time, for result sets too large to hold at once. */
  iterate(...params: unknown[]): IterableIterator<Row>
}

export interface Database {
  prepare<Row = unknown>(sql: string): Statement<Row>
  exec(sql: string): void
  pragma(source: string, options?: { simple?: boolean }): unknown
  /** Called inside another transaction, the returned function runs as a SAVEPOINT. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) & { immediate: (...args: A) => R }
  close(): void
  readonly open: boolean
  readonly inTransaction: boolean
}

type DatabaseConstructor = new (filename: string, options?: { timeout?: number; readonly?: boolean; fileMustExist?: boolean }) => Database

const require = createRequire(import.meta.url)

export function openDatabase(file: string, options: { readonly?: boolean } = {}): Database {
  const Driver = require('better-sqlite3') as DatabaseConstructor
  const readonly = options.readonly === true
  return new Driver(file, { timeout: 5000, readonly, fileMustExist: readonly })
}
