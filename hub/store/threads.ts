// The hub's threads (the ingest writer, the history indexer) start here: through
// thread-entry.mjs, which gives them the TypeScript loader the hub has.
import { Worker } from 'node:worker_threads'

const ENTRY = new URL('./thread-entry.mjs', import.meta.url)

/** Starts `module` (a TypeScript module of the hub) on a thread of its own, with `data` as its workerData. */
export function startThread(module: URL, data: Record<string, unknown>): Worker {
  return new Worker(ENTRY, { workerData: { ...data, module: module.href }, execArgv: profilingFlags(process.execArgv) })
}

/**
 * The hub's profiling flags (--cpu-prof, --heap-prof and their options), for the writer to
 * profile itself too. Not the others: the loaders (thread-entry.mjs registers the TypeScript
 * loader itself, and a second one would transform twice), and V8 flags (they apply to every
 * thread already, and a worker refuses them).
 */
function profilingFlags(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (/^--(cpu|heap)-prof(-[a-z]+)?(=|$)/.test(argv[i])) {
      out.push(argv[i])
      // --cpu-prof-dir DIR: the value as a word of its own
      if (/^--(cpu|heap)-prof-[a-z]+$/.test(argv[i]) && i + 1 < argv.length) out.push(argv[++i])
    }
  }
  return out
}
