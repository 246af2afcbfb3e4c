// The portable core (proto/, agent/core/) also runs in the Cloudflare Worker: no `node:` imports,
// and no imports from the Node-only parts of the tree.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..')
const PORTABLE = ['proto', 'agent/core']
const NODE_BUILTINS = /^(node:|fs$|path$|net$|tls$|dns$|os$|crypto$|http$|https$|http2$|dgram$|child_process$|worker_threads$|stream$|util$|events$|buffer$)/

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.(ts|js)$/.test(name) ? [path] : []
  })
}

function importsOf(source: string): string[] {
  const specs: string[] = []
  for (const m of source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    specs.push(m[1] ?? m[2])
  }
  return specs
}

describe('portable core', () => {
  const files = PORTABLE.flatMap((d) => sourceFiles(join(ROOT, d)))

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(3)
  })

  it.each(files.map((f) => [relative(ROOT, f), f]))('%s imports nothing Node-only', (_name, file) => {
    const bad = importsOf(readFileSync(file, 'utf8')).filter((spec) => {
      if (NODE_BUILTINS.test(spec)) return true
      if (!spec.startsWith('.')) return false
      const target = relative(ROOT, join(file, '..', spec))
      return !PORTABLE.some((dir) => target.startsWith(dir + '/'))
    })
    expect(bad).toEqual([])
  })

  it('the checker catches a node: import', () => {
    expect(importsOf(`import { connect } from 'node:net'\nexport { x } from "./y.ts"`)).toEqual(['node:net', './y.ts'])
  })
})
