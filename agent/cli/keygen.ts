// `vantage keygen --out DIR --id ID [--force]`: an Ed25519 key pair as JWK files,
// DIR/ID.jwk (private, 0600) and DIR/ID.pub.jwk. The same command makes the hub's key.
import { constants } from 'node:fs'
import { link, mkdir, open, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, isSafeId, SAFE_ID } from '../../proto/keys.ts'

export const USAGE = 'usage: vantage keygen --out DIR --id AGENT_ID [--force]'

export interface Output {
  write(text: string): unknown
}

interface Args {
  out: string
  id: string
  force: boolean
}

class UsageError extends Error {}

function parseArgs(args: string[]): Args | 'help' {
  const values: Partial<Record<'out' | 'id', string>> = {}
  let force = false
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '-h' || arg === '--help') return 'help'
    if (arg === '--force') {
      force = true
      continue
    }
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    if (flag !== '--out' && flag !== '--id') throw new UsageError(`unknown argument ${JSON.stringify(arg)}`)
    const value = inline ?? args[++i]
    if (value === undefined || value === '' || (inline === undefined && value.startsWith('--'))) {
      throw new UsageError(`${flag} needs a value`)
    }
    values[flag.slice(2) as 'out' | 'id'] = value
  }
  if (values.out === undefined) throw new UsageError('--out DIR is required')
  if (values.id === undefined) throw new UsageError('--id AGENT_ID is required')
  if (!isSafeId(values.id)) {
    throw new UsageError(`--id ${JSON.stringify(values.id)} is not a safe name: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit`)
  }
  return { out: values.out, id: values.id, force }
}

export async function run(args: string[], io: { stdout: Output; stderr: Output } = process): Promise<number> {
  let parsed: Args | 'help'
  try {
    parsed = parseArgs(args)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    io.stderr.write(`vantage keygen: ${err.message}\n${USAGE}\n`)
    return 2
  }
  if (parsed === 'help') {
    io.stdout.write(`${USAGE}\nWrites DIR/AGENT_ID.jwk (private, mode 0600) and DIR/AGENT_ID.pub.jwk (id pattern ${SAFE_ID}).\n`)
    return 0
  }
  const { out, id, force } = parsed
  const privatePath = join(out, `${id}.jwk`)
  const publicPath = join(out, `${id}.pub.jwk`)
  try {
    if (!force) {
      for (const path of [privatePath, publicPath]) {
        if (await exists(path)) {
          io.stderr.write(`vantage keygen: ${path} already exists; use --force to replace the key pair\n`)
          return 1
        }
      }
    }
    await mkdir(out, { recursive: true, mode: 0o700 })
    const { privateJwk, publicJwk } = await generateKeyPair(id)
    await writeKeyFile(privatePath, privateJwk, 0o600, force)
    await writeKeyFile(publicPath, publicJwk, 0o644, force)
  } catch (err) {
    io.stderr.write(`vantage keygen: ${(err as Error).message}\n`)
    return 1
  }
  io.stdout.write(`${privatePath}\n${publicPath}\n`)
  return 0
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/**
 * Writes a temporary file created with its final mode (so a private key is never readable by
 * others, not even for a moment), then moves it into place in one step: rename replaces
 * (--force), link refuses an existing file, so a key appearing meanwhile is never clobbered.
 */
async function writeKeyFile(path: string, jwk: object, mode: number, replace: boolean): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`
  const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  try {
    await file.writeFile(`${JSON.stringify(jwk, null, 2)}\n`)
    await file.sync()
  } finally {
    await file.close()
  }
  try {
    if (replace) await rename(tmp, path)
    else await link(tmp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${path} already exists; use --force to replace the key pair`)
    }
    throw err
  } finally {
    await unlink(tmp).catch(() => {}) // gone after a rename; after a link, the second name
  }
}
