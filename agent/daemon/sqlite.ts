// better-sqlite3 ships no types and @types/better-sqlite3 is not a dependency: load it through
// require and describe the few calls the outbox makes (no global `declare module`, so nothing
// collides with a declaration elsewhere in the tree).
import { createRequire } from 'node:module'

export interface RunResult {
  changes: number
  lastInsertRowid: number | bigint
}

export interface Statement<Row = unknown> {
  run(...params: unknown[]): RunResult
  get(...params: unknown[]): Row | undefined
  all(...params: unknown[]): Row[]
}

export interface Database {
  prepare<Row = unknown>(sql: string): Statement<Row>
  exec(sql: string): void
  pragma(source: string, options?: { simple?: boolean }): unknown
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R
  close(): void
  readonly open: boolean
}

type DatabaseConstructor = new (filename: string, options?: { timeout?: number }) => Database

const require = createRequire(import.meta.url)

export function openDatabase(file: string): Database {
  const Driver = require('better-sqlite3') as DatabaseConstructor
  return new Driver(file, { timeout: 5000 })
}
