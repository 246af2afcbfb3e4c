// The worker thread around one journey iteration. It owns a vm context with nothing of Node's in
// it (no require, process, import() of node modules, fs or agent keys; its global has a null
// prototype, so `this.constructor.constructor` stays inside; no code generation from strings),
// evaluates the runtime then the script there, and serves the runtime's one host function:
// - "http": post the hops to the agent's thread and block on Atomics.wait until the answer is
//   on the reply port (receiveMessageOnPort): the synchronous k6 API over async I/O;
// - "sleep": Atomics.wait on a slot nobody notifies (the agent's time limit still applies);
// - "emit", "now", "url", "hash", "random".
// The heap cap (resourceLimits) and the wall-clock limit (terminate()) are set by runner.ts.
// Bundled by compile.ts and started with `eval: true`, so it needs no TypeScript loader.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import vm from 'node:vm'
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads'
import { MAX_EVENTS, type RuntimeInit } from './protocol.ts'

interface Data {
  runtime: string
  /** V8's code cache for the runtime from an earlier iteration: a fresh isolate skips compiling it. */
  runtimeCache?: Uint8Array
  script: string
  init: RuntimeInit
  shared: SharedArrayBuffer
  port: MessagePort
}

const data = workerData as Data
const flags = new Int32Array(data.shared)
const port = parentPort!
let runtimeScript: vm.Script | undefined
let events = 0
/** A request (body included) larger than this is refused rather than copied to the agent. */
const MAX_REQUEST_CHARS = 64 * 1024 * 1024

const HASHES: Record<string, string> = {
  md4: 'md4',
  md5: 'md5',
  sha1: 'sha1',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  sha512_224: 'sha512-224',
  sha512_256: 'sha512-256',
  ripemd160: 'ripemd160',
}

function host(op: string, arg: string): string {
  try {
    switch (op) {
      case 'emit':
        if (++events > MAX_EVENTS) {
          // A flood of checks or samples would grow the agent's memory, not the worker's: report
          // it and block until the agent terminates this worker.
          port.postMessage(`{"t":"flood","events":${MAX_EVENTS}}`)
          for (;;) Atomics.wait(flags, 1, 0)
        }
        // Once the iteration is over, hand the compiled runtime to the next ones (first run only).
        if (!data.runtimeCache && runtimeScript && arg.startsWith('{"t":"done"')) port.postMessage({ runtimeCache: runtimeScript.createCachedData() })
        port.postMessage(arg)
        return ''
      case 'http': {
        if (arg.length > MAX_REQUEST_CHARS) return `!request too large for a journey (over ${MAX_REQUEST_CHARS >> 20} MB)`
        Atomics.store(flags, 0, 0)
        port.postMessage(`{"t":"http","reqs":${arg}}`)
        while (Atomics.load(flags, 0) === 0) Atomics.wait(flags, 0, 0)
        const reply = receiveMessageOnPort(data.port)
        if (!reply) return '!journey runtime: no reply from the agent'
        return reply.message as string
      }
      case 'sleep':
        Atomics.wait(flags, 1, 0, Number(arg))
        return ''
      case 'now':
        return String(performance.now())
      case 'url': {
        const { input, base } = JSON.parse(arg) as { input: string; base?: string }
        let u: URL
        try {
          u = new URL(input, base)
        } catch {
          return JSON.stringify({ error: `invalid URL "${input}"` })
        }
        const { href, protocol, username, password, hostname, host: h, port: p, pathname, search, hash } = u
        return JSON.stringify({ ok: { href, protocol, username, password, hostname: hostname.replace(/^\[|\]$/g, ''), host: h, port: p, pathname, search, hash } })
      }
      case 'hash': {
        const [alg, key, input] = arg.split(' ')
        const name = HASHES[alg]
        if (!name) return `!k6/crypto: unsupported algorithm "${alg}"`
        const bytes = Buffer.from(input, 'base64')
        let h
        try {
          h = key === '-' ? createHash(name) : createHmac(name, Buffer.from(key, 'base64'))
        } catch {
          // md4 is off in OpenSSL 3's default provider.
          return `!k6/crypto: ${alg} is not available in this agent's OpenSSL`
        }
        return h.update(bytes).digest('base64')
      }
      case 'random':
        return randomBytes(Math.max(0, Math.min(Number(arg) || 0, 65536))).toString('base64')
    }
    return `!journey runtime: unknown host operation "${op}"`
  } catch (err) {
    // Only text crosses back: the script must never hold this realm's error objects.
    return `!${err instanceof Error ? err.message : String(err)}`
  }
}

function describe(err: unknown): string {
  try {
    if (typeof err === 'object' && err !== null && 'message' in err) {
      const e = err as { name?: unknown; message?: unknown }
      const name = typeof e.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : ''
      return `${name}${String(e.message)}`
    }
    return String(err)
  } catch {
    return 'unprintable exception'
  }
}

function main(): void {
  // No eval/new Function: code made at run time could call import(), whose errors come from this
  // realm (compile.ts refuses import() in the script itself).
  const context = vm.createContext(Object.create(null) as object, { name: 'journey', codeGeneration: { strings: false, wasm: false } })
  runtimeScript = new vm.Script(data.runtime, { filename: 'vantage-k6-runtime.js', cachedData: data.runtimeCache ? Buffer.from(data.runtimeCache) : undefined })
  runtimeScript.runInContext(context)
  const sandbox = context as { __vantage_install?: (host: (op: string, arg: string) => string, init: string) => { run: () => void } }
  const install = sandbox.__vantage_install!
  const api = install(host, JSON.stringify(data.init))
  try {
    // The init context: the script's top level (imports, options, metric declarations).
    new vm.Script(data.script, { filename: data.init.scriptName }).runInContext(context)
  } catch (err) {
    port.postMessage(JSON.stringify({ t: 'load-error', message: `${data.init.scriptName}: error in the init context: ${describe(err)}` }))
    return
  }
  api.run()
}

main()
