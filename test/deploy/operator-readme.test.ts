// deploy/README.md, followed as an operator would, on loopback: every fenced block whose info
// string says `operator-step` is run in order. Each host of the walk-through (hub, alertmanager,
// eu-1, us-1, ap-1) is a directory of its own:
//
// - absolute paths of a host (/etc/…, /var/…, /opt/vantage-agent) are mapped into its
//   directory, /opt/vantage (the checkout) to this repository; `X.example:/path` (scp) to host
//   X's directory;
// - X.example:PORT, 0.0.0.0:PORT and 127.0.0.1:PORT to 127.0.0.1 and the free port standing for
//   PORT; https://shop.example/ to a local HTTP server;
// - `vantage` and `vantage-agent` are symlinks to bin/vantage.js and to the host's
//   /opt/vantage-agent bundle, as the README makes them; `scp` is cp (creating the
//   destination's parent, as /opt exists on a real host);
// - blocks with `daemon=UNIT` are not run: the test starts what deploy/systemd/UNIT.service's
//   ExecStart says (in its WorkingDirectory, with its Environment), and `reload=UNIT` runs its
//   ExecReload with $MAINPID; `daemon=alertmanager` starts Debian's Alertmanager
//   (test/helpers/alertmanager.ts) with the config file the steps wrote;
// - blocks with `notest=…` need root, the npm registry or systemd: not run; for
//   `notest=network` (npm ci of the agent bundle) the bundle's dependencies are copied from
//   the repository's node_modules, as npm ci would install them;
// - YAML blocks with `file=PATH` are written (or appended, with `append`), intervals shortened
//   (30s → 1s, for: 1m/2m → 2s, resend 1m → 1s); each agent.yaml gets `source_address`
//   127.0.0.2/.3/.4, so the hub sees three sources, and `config_refresh: 1s`;
// - `expect="REGEX"` must match the block's output; with `retry`, the block is run again until
//   it does (within 30 s). VANTAGE_TEST_VERBOSE=1 prints what each step printed.
import { execFile } from 'node:child_process'
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLE_FILE } from '../../deploy/agent-bundle/build.ts'
import { freePort, startAlertmanager, type AlertmanagerProcess } from '../helpers/alertmanager.ts'
import { killAll, ROOT, spawnNode, type LoggedProcess } from '../helpers/processes.ts'
import { DEPLOY, nodeCommand, readText, serviceSettings } from './helpers.ts'

const exec = promisify(execFile)

export interface Step {
  lang: string
  attrs: Record<string, string | true>
  body: string
  line: number
}

/** The fenced blocks of a Markdown text whose info string has `operator-step`. */
export function operatorSteps(markdown: string): Step[] {
  const steps: Step[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s+(.*)$/.exec(lines[i])
    if (!open) continue
    const start = i
    const body: string[] = []
    while (++i < lines.length && lines[i] !== '```') body.push(lines[i])
    const attrs: Record<string, string | true> = {}
    for (const m of open[2].matchAll(/([\w-]+)(?:=("(?:[^"\\]|\\.)*"|\S+))?/g)) {
      attrs[m[1]] = m[2] === undefined ? true : m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2]
    }
    if (attrs['operator-step']) steps.push({ lang: open[1], attrs, body: body.join('\n') + '\n', line: start + 1 })
  }
  return steps
}

const HOSTS = ['hub', 'alertmanager', 'eu-1', 'us-1', 'ap-1'] as const
const SOURCES: Record<string, string> = { 'eu-1': '127.0.0.2', 'us-1': '127.0.0.3', 'ap-1': '127.0.0.4' }
/** What a `notest` block may be skipped for; any other reason fails the test. */
const NOTEST = new Set(['root', 'network', 'systemd'])

let root: string
const hostDir = (host: string) => join(root, 'hosts', host)
let ports: Record<string, number>
let target: Server
let targetUrl: string
const hits: string[] = []
const daemons = new Map<string, LoggedProcess>() // "host/unit" → process
let alertmanager: AlertmanagerProcess | undefined
const log: string[] = []

/** A path on `host` → where it lives in the test. */
function hostPath(host: string, path: string): string {
  if (path === '/opt/vantage' || path.startsWith('/opt/vantage/')) return ROOT + path.slice('/opt/vantage'.length)
  return join(hostDir(host), path)
}

const MAPPED = /(?:\b([\w-]+)\.example:)?(\/(?:etc|var|opt)\/[^\s'"`:;|&<>()]*)/g

function substitute(host: string, text: string): string {
  let out = text
  // Addresses first (hub.example:8080 is not a path).
  for (const [port, local] of Object.entries(ports)) {
    out = out.replace(new RegExp(`\\b(?:[\\w-]+\\.example|0\\.0\\.0\\.0|127\\.0\\.0\\.1):${port}\\b`, 'g'), `127.0.0.1:${local}`)
  }
  out = out.replace(/https:\/\/shop\.example\//g, `${targetUrl}/`)
  out = out.replace(MAPPED, (_m, remote: string | undefined, path: string) => hostPath(remote ?? host, path))
  return out
}

function shortenDurations(yaml: string): string {
  return yaml
    .replace(/\binterval: \d+[sm]\b/g, 'interval: 1s')
    .replace(/\btimeout: \d+s\b/g, 'timeout: 900ms')
    .replace(/\bfor: \d+[sm]\b/g, 'for: 2s')
    .replace(/\bresend_interval: \d+[sm]\b/g, 'resend_interval: 1s')
}

/**
 * PATH for a host: `vantage` and `vantage-agent` are the README's symlinks (ln -s …/vantage.js,
 * ln -s /opt/vantage-agent/vantage-agent.mjs: run by their `#!/usr/bin/env node`), `scp` is cp.
 */
function shims(host: string): string {
  const dir = join(root, 'bin', host)
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true })
    symlinkSync(join(ROOT, 'bin', 'vantage.js'), join(dir, 'vantage'))
    symlinkSync(hostPath(host, `/opt/vantage-agent/${BUNDLE_FILE}`), join(dir, 'vantage-agent'))
    writeFileSync(join(dir, 'scp'), '#!/bin/sh\nfor last; do :; done\nmkdir -p "$(dirname "$last")"\nexec cp "$@"\n')
    chmodSync(join(dir, 'scp'), 0o755)
  }
  return `${dir}:${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`
}

async function runShell(host: string, script: string): Promise<string> {
  mkdirSync(hostDir(host), { recursive: true })
  try {
    const { stdout, stderr } = await exec('/bin/sh', ['-ec', script], {
      cwd: hostDir(host),
      env: { ...process.env, PATH: shims(host), NODE_OPTIONS: '' },
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    })
    return stdout + stderr
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`on ${host}: ${script}\n${e.stdout ?? ''}${e.stderr ?? e.message}`)
  }
}

/** The unit's ExecStart, mapped to `host`, started as systemd would (its cwd and environment). */
function startUnit(host: string, unit: string): LoggedProcess {
  const s = serviceSettings(readText('systemd', `${unit}.service`))
  const { node, flags: nodeArgs, program } = nodeCommand(substitute(host, s.get('ExecStart')![0]).split(' '))
  expect(node).toBe('/usr/bin/node')
  const cwd = hostPath(host, s.get('WorkingDirectory')![0])
  mkdirSync(cwd, { recursive: true, mode: 0o700 }) // StateDirectory=
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: process.env.PATH, NODE_OPTIONS: '' }
  for (const e of s.get('Environment') ?? []) env[e.split('=')[0]] = e.slice(e.indexOf('=') + 1)
  const p = spawnNode(program[0], program.slice(1), { cwd, env, nodeArgs })
  daemons.set(`${host}/${unit}`, p)
  return p
}

async function waitUntil(what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function runStep(step: Step): Promise<void> {
  const host = String(step.attrs.host)
  expect(HOSTS, `line ${step.line}: host`).toContain(host)
  const where = `README line ${step.line} (${host})`
  log.push(where)

  if (step.attrs.notest) {
    expect(NOTEST, `${where}: notest=${String(step.attrs.notest)}`).toContain(step.attrs.notest)
    if (step.attrs.notest === 'network' && step.body.includes('npm ci --omit=dev')) {
      // npm ci of the bundle, on every agent host: the packages its lockfile names, from ours.
      for (const h of Object.keys(SOURCES)) {
        const dest = hostPath(h, '/opt/vantage-agent/node_modules')
        for (const name of ['better-sqlite3', 'bindings', 'file-uri-to-path', 'esbuild', `@esbuild/${process.platform}-${process.arch}`]) {
          cpSync(join(ROOT, 'node_modules', name), join(dest, name), { recursive: true, dereference: true })
        }
      }
    }
    return
  }

  if (step.lang === 'yaml') {
    const file = hostPath(host, String(step.attrs.file))
    let text = shortenDurations(substitute(host, step.body))
    if (SOURCES[host] && /agent\.yaml$/.test(file)) text += `source_address: ${SOURCES[host]}\nconfig_refresh: 1s\n`
    mkdirSync(dirname(file), { recursive: true })
    if (step.attrs.append) appendFileSync(file, text)
    else writeFileSync(file, text)
    return
  }

  expect(step.lang, where).toBe('sh')
  if (step.attrs.daemon === 'alertmanager') {
    alertmanager = await startAlertmanager({ port: ports['9093'], config: readFileSync(hostPath('alertmanager', '/etc/prometheus/alertmanager.yml'), 'utf8') })
    return
  }
  if (typeof step.attrs.daemon === 'string') {
    const p = startUnit(host, step.attrs.daemon)
    if (step.attrs.daemon === 'vantage-hub') {
      await waitUntil(`the hub on ${ports['8080']}: ${p.stderr()}`, async () => (await fetch(`http://127.0.0.1:${ports['8080']}/-/ready`)).ok)
    }
    return
  }
  if (typeof step.attrs.reload === 'string') {
    const p = daemons.get(`${host}/${step.attrs.reload}`)!
    const reload = serviceSettings(readText('systemd', `${step.attrs.reload}.service`)).get('ExecReload')![0]
    const [bin, ...args] = reload.replace('$MAINPID', String(p.child.pid)).split(' ')
    await exec(bin, args)
    await waitUntil('the reload', async () => p.entries.some((e) => e.msg === 'config reloaded'), 10_000)
    return
  }

  expect(step.body, `${where}: systemctl only in daemon/reload/notest blocks`).not.toMatch(/\bsystemctl\b/)
  const script = substitute(host, step.body)
  const expected = typeof step.attrs.expect === 'string' ? new RegExp(step.attrs.expect) : null
  const deadline = Date.now() + (step.attrs.retry ? 30_000 : 0)
  for (;;) {
    const out = await runShell(host, script)
    if (process.env.VANTAGE_TEST_VERBOSE) console.log(where, out)
    if (!expected || expected.test(out)) return
    if (Date.now() > deadline) throw new Error(`${where}: output does not match /${expected.source}/:\n${out}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'vantage-operator-'))
  ports = { '8080': await freePort(), '8081': await freePort(), '9093': await freePort() }
  target = createServer((req, res) => {
    hits.push(req.socket.remoteAddress ?? '')
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Shop</h1>')
  })
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`
})

afterAll(async () => {
  await killAll(daemons.values())
  await alertmanager?.stop()
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()))
  if (root) rmSync(root, { recursive: true, force: true })
})

describe('deploy/README.md, followed step by step', () => {
  const steps = operatorSteps(readFileSync(join(DEPLOY, 'README.md'), 'utf8'))

  it('has the steps of the walk-through: keys ×4, hub.yaml, three agent.yaml, the daemons, the alert', () => {
    const keygens = steps.flatMap((s) => [...s.body.matchAll(/vantage(?:-agent)? keygen --out \S+ --id (\S+)/g)].map((m) => m[1]))
    expect(keygens.sort()).toEqual(['ap-1', 'eu-1', 'hub', 'us-1'])
    expect(steps.filter((s) => s.attrs.file === '/etc/vantage/agent.yaml').map((s) => s.attrs.host)).toEqual(['eu-1', 'us-1', 'ap-1'])
    expect(steps.filter((s) => s.attrs.daemon).map((s) => `${String(s.attrs.host)}:${String(s.attrs.daemon)}`)).toEqual([
      'alertmanager:alertmanager',
      'hub:vantage-hub',
      'eu-1:vantage-agent',
      'us-1:vantage-agent',
      'ap-1:vantage-agent',
    ])
    expect(steps.at(-1)!.body).toContain('amtool alert query')
    for (const s of steps) expect(HOSTS, `line ${s.line}`).toContain(s.attrs.host)
  })

  it('from zero to three vantages voting and QuorumOutage in Alertmanager', { timeout: 180_000 }, async () => {
    for (const step of steps) await runStep(step)

    // What the steps claim, seen from outside: three sources probed the target, the hub has a
    // vote from each vantage, and the alert in Alertmanager names the failing vantages.
    expect(new Set(hits.filter((h) => Object.values(SOURCES).includes(h)))).toEqual(new Set(Object.values(SOURCES)))
    const alerts = await alertmanager!.alerts()
    const outage = alerts.find((a) => a.labels.alertname === 'QuorumOutage' && a.labels.check === 'alert-path-test')
    expect(outage, JSON.stringify(alerts)).toBeDefined()
    expect(outage!.annotations.failing_vantages.split(',').sort()).toEqual(['ap-south', 'eu-west', 'us-east'])
    expect(outage!.annotations.runbook_url).toBe(`http://127.0.0.1:${ports['8080']}/runbooks/QuorumOutage.md`)
    expect(alerts.find((a) => a.labels.alertname === 'QuorumOutage' && a.labels.check === 'shop-home')).toBeUndefined()
  })
})
