// What the `vantage` subcommands share in reading their flags: one-line usage errors, durations
// and the extra CA file.
import { readFileSync } from 'node:fs'
import { parseDuration } from '../../proto/duration.ts'

/** A bad argument: the command prints its one line, then the usage, and exits 2. */
export class UsageError extends Error {}

/** A positive duration flag (`--timeout 5s`), in milliseconds. */
export function durationFlag(flag: string, value: string): number {
  try {
    const ms = parseDuration(value)
    if (ms <= 0) throw new Error('must be more than 0')
    return ms
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`)
  }
}

/** `--ca FILE`: PEM certificates to trust besides the system roots. */
export function readCa(path: string): string {
  let pem: string
  try {
    pem = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--ca: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca: ${path} holds no PEM certificate`)
  return pem
}
