// Shared by the deploy/ suites: the files under deploy/, the queries of the Grafana dashboard
// and of the Prometheus rules, and the metric names a PromQL expression reads.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'
import { ROOT } from '../helpers/processes.ts'

export const DEPLOY = join(ROOT, 'deploy')

export const readText = (...path: string[]): string => readFileSync(join(DEPLOY, ...path), 'utf8')
export const readYaml = <T = Record<string, unknown>>(...path: string[]): T => parse(readText(...path)) as T
/** Every document of a multi-document YAML file (Kubernetes manifests). */
export const readYamlDocs = <T = Record<string, unknown>>(...path: string[]): T[] =>
  parseAllDocuments(readText(...path))
    .map((d) => {
      if (d.errors.length) throw new Error(`${join(...path)}: ${d.errors[0].message}`)
      return d.toJS() as T
    })
    .filter((d) => d !== null && d !== undefined)

// ------------------------------------------------------------------ PromQL

const FUNCTION_OR_KEYWORD = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan'])

/**
 * The metric names a PromQL expression selects: identifiers that are not functions,
 * aggregations or keywords, outside strings, label matchers, ranges and grouping clauses.
 * Grafana's variables ($check, $__range, ${datasource}) are taken out first.
 */
export function metricNames(expr: string): string[] {
  let s = expr
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
  s = s.replace(/\$\{[^}]*\}|\$\w+/g, '1')
  s = s.replace(/\{[^}]*\}/g, ' ')
  s = s.replace(/\[[^\]]*\]/g, ' ')
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  s = s.replace(/\boffset\s+-?\w+/g, ' ')
  s = s.replace(/(^|[^A-Za-z0-9_:])(\d+(\.\d+)?(e[+-]?\d+)?|0x[0-9a-f]+)(?![A-Za-z0-9_:])/gi, '$1 ')
  const names = new Set<string>()
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = s.slice(m.index + m[0].length)
    if (/^\s*\(/.test(rest)) continue // a function or an aggregation
    if (FUNCTION_OR_KEYWORD.has(m[0].toLowerCase())) continue
    names.add(m[0])
  }
  return [...names]
}

export interface DashboardQuery {
  where: string
  expr: string
}

interface Panel {
  id: number
  title: string
  type: string
  targets?: { expr?: string; refId: string }[]
  panels?: Panel[]
}

export interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
  templating: { list: { name: string; type: string; query: string | { query: string }; definition?: string }[] }
  [key: string]: unknown
}

export const readDashboard = (): Dashboard => JSON.parse(readText('grafana', 'vantage.json')) as Dashboard

/** Every PromQL query of the dashboard: panel targets and query variables (label_values(metric, label)). */
export function dashboardQueries(d: Dashboard): DashboardQuery[] {
  const out: DashboardQuery[] = []
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr })
      if (p.panels) walk(p.panels)
    }
  }
  walk(d.panels)
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue
    const q = typeof v.query === 'string' ? v.query : v.query.query
    const m = /^label_values\((.+),\s*\w+\)$/.exec(q)
    out.push({ where: `variable $${v.name}`, expr: m ? m[1] : q })
  }
  return out
}

export interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

export const RULE_FILES = (): string[] => readdirSync(join(DEPLOY, 'prometheus', 'rules')).filter((f) => /\.ya?ml$/.test(f)).sort()

export function readRules(): (Rule & { file: string })[] {
  return RULE_FILES().flatMap((file) =>
    readYaml<{ groups: { rules: Rule[] }[] }>('prometheus', 'rules', file).groups.flatMap((g) => g.rules.map((r) => ({ ...r, file }))),
  )
}

/** Every PromQL expression of the rules: exprs and the queries their annotations run (printf "…" | query). */
export function ruleQueries(): DashboardQuery[] {
  const out: DashboardQuery[] = []
  for (const r of readRules()) {
    const name = r.alert ?? r.record
    out.push({ where: `${r.file}: ${name} expr`, expr: r.expr })
    for (const [k, v] of Object.entries(r.annotations ?? {})) {
      for (const m of v.matchAll(/printf\s+"((?:[^"\\]|\\.)*)"[^|]*\|\s*query/g)) {
        out.push({ where: `${r.file}: ${name} annotation ${k}`, expr: m[1].replace(/\\"/g, '"').replace(/%q/g, '"x"') })
      }
    }
  }
  return out
}

// ------------------------------------------------------------------ Dockerfiles

export interface Instruction {
  /** Upper case: FROM, RUN, COPY, … */
  op: string
  /** The rest of the line, continuations joined. */
  args: string
  line: number
}

export interface Stage {
  name: string | null
  image: string
  instructions: Instruction[]
}

/** A Dockerfile's stages and instructions (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1
    let line = lines[i].trim()
    if (line === '' || line.startsWith('#')) continue
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1).trimEnd()
      let next = lines[++i].trim()
      while (next.startsWith('#') && i + 1 < lines.length) next = lines[++i].trim()
      line = `${line} ${next}`
    }
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line)
    if (!m) throw new Error(`line ${start}: cannot parse "${line}"`)
    const ins: Instruction = { op: m[1].toUpperCase(), args: m[2].trim(), line: start }
    if (ins.op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)
      if (!f) throw new Error(`line ${start}: FROM ${ins.args}`)
      stages.push({ image: f[1], name: f[2] ?? null, instructions: [] })
    } else {
      if (stages.length === 0) throw new Error(`line ${start}: ${ins.op} before FROM`)
      stages[stages.length - 1].instructions.push(ins)
    }
  }
  return stages
}

/** A node command line (ExecStart, ENTRYPOINT) split into node, node's own flags and the program with its arguments. */
export function nodeCommand(argv: readonly string[]): { node: string; flags: string[]; program: string[] } {
  const [node, ...rest] = argv
  const firstNonFlag = rest.findIndex((a) => !a.startsWith('--'))
  const flags = rest.slice(0, firstNonFlag < 0 ? rest.length : firstNonFlag)
  return { node, flags, program: rest.slice(flags.length) }
}

/** The ExecStart of deploy/systemd/`unit`.service as shipped, split by nodeCommand. */
export function unitCommand(unit: string): ReturnType<typeof nodeCommand> {
  return nodeCommand(serviceSettings(readText('systemd', `${unit}.service`)).get('ExecStart')![0].split(' '))
}

/** The JSON (exec) form of CMD / ENTRYPOINT / HEALTHCHECK CMD, parsed. */
export function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['))
  return JSON.parse(json) as string[]
}

/** ENV lines of a stage as a map (`ENV A=1 B=2` form). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const ins of stage.instructions.filter((i) => i.op === 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) env[m[1]] = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2]
  }
  return env
}

// ------------------------------------------------------------------ configs as deployed

/**
 * Writes a config file whose absolute paths point into a container or host (/etc/vantage/keys,
 * /var/lib/vantage, …) with those prefixes replaced by directories of `dir`, so the real
 * loaders (loadHubConfig, loadAgentConfig) can check it.
 */
export function mapPaths(text: string, mapping: Record<string, string>): string {
  let out = text
  for (const [from, to] of Object.entries(mapping).sort(([a], [b]) => b.length - a.length)) {
    out = out.replace(new RegExp(`${from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=[/\\s,\\]}]|$)`, 'gm'), to)
  }
  return out
}

// ------------------------------------------------------------------ systemd units

/** A unit's [Service] settings (repeatable keys keep every value). */
export function serviceSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith(';')) continue
    const s = /^\[(.+)\]$/.exec(line)
    if (s) {
      section = s[1]
      continue
    }
    if (section !== 'Service') continue
    const i = line.indexOf('=')
    const [k, v] = [line.slice(0, i), line.slice(i + 1)]
    out.set(k, [...(out.get(k) ?? []), v])
  }
  return out
}
