// better-sqlite3 ships no types (and @types/better-sqlite3 is not a dependency): load it through
// require and describe only the calls the Pushgateway store makes.
import { createRequire } from 'node:module'

export interface Statement<Row = unknown> {
  run(...params: unknown[]): unknown
  all(...params: unknown[]): Row[]
}

export interface Database {
  prepare<Row = unknown>(sql: string): Statement<Row>
  exec(sql: string): void
  pragma(source: string): unknown
  close(): void
}

type DatabaseConstructor = new (filename: string, options?: { timeout?: number }) => Database

const require = createRequire(import.meta.url)

export function openDatabase(file: string): Database {
  const Driver = require('better-sqlite3') as DatabaseConstructor
  return new Driver(file, { timeout: 5000 })
}
