// deploy/Dockerfile.hub, deploy/Dockerfile.agent and deploy/compose.yaml. No Docker engine runs
// on our machines, so these are checked statically: the files parse, every file they copy or
// mount exists (and is sent in the build context), ports, volumes, config paths and service
// names agree with each other and with the configs, the configs load with the real loaders,
// and the health checks' command and paths answer on a running hub.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, posix } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAgentConfig } from '../../agent/daemon/config.ts'
import { ALERT_NAMES } from '../../hub/alerts/model.ts'
import { parseHubConfig } from '../../hub/config.ts'
import { BUNDLE_FILE, buildAgentBundle } from '../../deploy/agent-bundle/build.ts'
import { killAll, ROOT, spawnHub, type HubProcess } from '../helpers/processes.ts'
import { makeKeys, tempDir, type TestDir } from '../hub/helpers.ts'
import { DEPLOY, execForm, mapPaths, nodeCommand, parseDockerfile, readDashboard, readText, stageEnv, unitCommand, type Stage } from './helpers.ts'

const run = promisify(execFile)

interface Service {
  build?: { context: string; dockerfile: string }
  image?: string
  command?: string[] | string
  entrypoint?: string[]
  ports?: string[]
  volumes?: string[]
  environment?: Record<string, string>
  healthcheck?: { test: string[] }
  depends_on?: Record<string, { condition: string }> | string[]
  read_only?: boolean
  tmpfs?: string[]
  cap_drop?: string[]
  security_opt?: string[]
}

interface Compose {
  services: Record<string, Service>
  volumes: Record<string, unknown>
}

const compose = (): Compose => parse(readText('compose.yaml'), { merge: true }) as Compose
const dockerfile = (name: string) => parseDockerfile(readText(name))
const finalStage = (stages: Stage[]) => stages[stages.length - 1]
const args = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args)

/** Build-context paths a Dockerfile's .dockerignore (`**` then `!` exceptions) lets through. */
function contextIncludes(dockerfileName: string, path: string): boolean {
  const lines = readText(`${dockerfileName}.dockerignore`)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  expect(lines[0]).toBe('**')
  let included = false
  for (const l of lines.slice(1)) {
    const negate = l.startsWith('!')
    const pattern = (negate ? l.slice(1) : l).replace(/\/$/, '')
    const matches = pattern.startsWith('**/') ? path.split('/').includes(pattern.slice(3)) : path === pattern || path.startsWith(`${pattern}/`)
    if (matches) included = negate
  }
  return included
}

/** Each `volumes:` entry as source, target, read-only. */
function mounts(s: Service): { source: string; target: string; ro: boolean; bind: boolean }[] {
  return (s.volumes ?? []).map((v) => {
    const [source, target, mode] = v.split(':')
    return { source, target, ro: mode === 'ro', bind: source.startsWith('.') || source.startsWith('/') }
  })
}

const commandOf = (s: Service): string[] => (Array.isArray(s.command) ? s.command : [])
const flag = (argv: string[], name: string) => argv[argv.indexOf(name) + 1]

let t: TestDir
let hub: HubProcess | undefined

beforeAll(async () => {
  t = tempDir('vantage-containers-')
  await makeKeys(t, ['hub', 'eu-1', 'us-1'])
  // A hub as the images start one, only on loopback: the health checks are run against it.
  hub = await spawnHub(t.dir, ['--http-listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--data', join(t.dir, 'data')])
})

afterAll(async () => {
  if (hub) await killAll([hub])
  t?.cleanup()
})

/** Runs a Dockerfile or compose health check command here, with `env`. */
async function healthcheck(argv: string[], env: Record<string, string>): Promise<number> {
  expect(argv[0]).toBe('node')
  try {
    await run(process.execPath, argv.slice(1), { env: { ...process.env, ...env }, timeout: 10_000 })
    return 0
  } catch (err) {
    return (err as { code?: number }).code ?? 1
  }
}

describe.each(['Dockerfile.hub', 'Dockerfile.agent'])('deploy/%s', (name) => {
  const stages = dockerfile(name)
  const last = finalStage(stages)

  it('is multi-stage on node:20, and every COPY --from names an earlier stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const s of stages) expect(s.image).toMatch(/^node:20(-|$)/)
    stages.forEach((s, i) => {
      for (const from of s.instructions.filter((ins) => ins.op === 'COPY' && ins.args.startsWith('--from='))) {
        const stage = /^--from=(\S+)/.exec(from.args)![1]
        expect(stages.slice(0, i).map((x) => x.name), `line ${from.line}`).toContain(stage)
      }
    })
  })

  it('copies only files that exist and that its .dockerignore sends in the build context', () => {
    for (const s of stages) {
      for (const ins of s.instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='))) {
        const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'))
        for (const src of parts.slice(0, -1)) {
          expect(existsSync(join(ROOT, src)), `line ${ins.line}: ${src}`).toBe(true)
          expect(contextIncludes(name, src.replace(/\/$/, '')), `line ${ins.line}: ${src} is excluded by ${name}.dockerignore`).toBe(true)
        }
      }
    }
  })

  it('runs as a non-root user, with the data volume, a health check on /-/ready and a read-only-root-friendly setup', () => {
    const user = args(last, 'USER')
    expect(user).toHaveLength(1)
    expect(user[0]).not.toMatch(/^(root|0)(:|$)/)
    // The user is made in the final stage with a fixed uid, shared by both images (one keys volume).
    expect(args(last, 'RUN').join('\n')).toMatch(/useradd --system --uid 10001 --gid vantage/)
    expect(args(last, 'VOLUME')).toEqual(['["/var/lib/vantage"]'])
    const hc = args(last, 'HEALTHCHECK')
    expect(hc).toHaveLength(1)
    expect(hc[0]).toMatch(/--interval=\d+s --timeout=\d+s/)
    expect(new URL(stageEnv(last).VANTAGE_READY_URL).pathname).toBe('/-/ready')
    expect(args(last, 'STOPSIGNAL')).toEqual(['SIGTERM'])
  })

  it('its HEALTHCHECK command passes against a ready hub and fails when none answers', async () => {
    const argv = execForm(args(last, 'HEALTHCHECK')[0])
    const path = new URL(stageEnv(last).VANTAGE_READY_URL).pathname
    expect(await healthcheck(argv, { VANTAGE_READY_URL: `${hub!.http}${path}` })).toBe(0)
    expect(await healthcheck(argv, { VANTAGE_READY_URL: 'http://127.0.0.1:9/-/ready' })).not.toBe(0)
  })

  it('starts the program its stages put in place', () => {
    const { node, program } = nodeCommand(execForm(args(last, 'ENTRYPOINT')[0]))
    expect(node).toBe('node')
    const entry = [node, ...program] // node's flags aside
    const workdir = args(last, 'WORKDIR').at(-1)!
    const copies = last.instructions.filter((i) => i.op === 'COPY').map((i) => i.args.split(/\s+/).filter((p) => !p.startsWith('--')))
    const provided = copies.map((p) => posix.resolve(workdir, p[p.length - 1]))
    expect(provided.some((dest) => entry[1] === dest || entry[1].startsWith(`${dest}/`)), `${entry[1]} from ${provided.join(', ')}`).toBe(true)
  })
})

describe('the images, specifically', () => {
  it('hub: the sources tsx runs, the runbooks it serves, both ports, the tsx cache off for a read-only root', () => {
    const last = finalStage(dockerfile('Dockerfile.hub'))
    const copied = last.instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).map((i) => i.args.split(/\s+/)[0])
    expect(copied).toEqual(expect.arrayContaining(['bin', 'proto', 'agent', 'hub', 'deploy/runbooks']))
    expect(args(last, 'EXPOSE')).toEqual(['8080 8081'])
    expect(stageEnv(last).TSX_DISABLE_CACHE).toBe('1')
    // node's own flags (the hub's heap sizes, as the systemd unit has them), then the program
    const entry = nodeCommand(execForm(args(last, 'ENTRYPOINT')[0]))
    expect(entry).toEqual({ node: 'node', flags: unitCommand('vantage-hub').flags, program: ['/app/bin/vantage.js'] })
    expect(entry.flags).not.toEqual([])
    const cmd = execForm(args(last, 'CMD')[0])
    expect(cmd[0]).toBe('hub')
    expect(flag(cmd, '--http-listen')).toBe('0.0.0.0:8080')
    expect(flag(cmd, '--grpc-listen')).toBe('0.0.0.0:8081')
    expect(flag(cmd, '--data')).toBe('/var/lib/vantage')
  })

  it('agent: built by deploy/agent-bundle/build.ts, installed from the lockfile it writes, one .mjs and node_modules', async () => {
    const stages = dockerfile('Dockerfile.agent')
    const build = stages.find((s) => s.name === 'build')!
    // Every file the bundle build reads is copied into the build stage.
    const built = await buildAgentBundle({ outDir: join(t.dir, 'bundle') })
    const copied = build.instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1))
    for (const input of built.inputs) {
      expect(copied.some((src) => input === src.replace(/\/$/, '') || input.startsWith(`${src.replace(/\/$/, '')}/`)), `${input} is not copied into the build stage`).toBe(true)
      expect(contextIncludes('Dockerfile.agent', input), `${input} is excluded by Dockerfile.agent.dockerignore`).toBe(true)
    }
    expect(args(build, 'RUN').join('\n')).toContain('node --import tsx deploy/agent-bundle/build.ts --out /out')
    expect(existsSync(join(DEPLOY, 'agent-bundle', 'build.ts'))).toBe(true)
    const deps = stages.find((s) => s.name === 'deps')!
    expect(args(deps, 'COPY')).toContain('--from=build /out/package.json /out/package-lock.json ./')
    expect(args(deps, 'RUN').join('\n')).toContain('npm ci --omit=dev')
    const last = finalStage(stages)
    expect(execForm(args(last, 'ENTRYPOINT')[0])).toEqual(['node', `/opt/vantage-agent/${BUNDLE_FILE}`])
    expect(execForm(args(last, 'CMD')[0])).toEqual(['agent', '--config', '/etc/vantage/agent.yaml'])
    expect(args(last, 'EXPOSE')).toEqual([]) // the agent serves nothing
  })
})

describe('deploy/compose.yaml', () => {
  const c = compose()
  const s = c.services

  it('has a hub, two agents in two vantages, Prometheus, Alertmanager and Grafana', () => {
    expect(Object.keys(s).sort()).toEqual(['agent-eu-west', 'agent-us-east', 'alertmanager', 'grafana', 'hub', 'keygen', 'prometheus'])
    for (const name of ['hub', 'keygen', 'agent-eu-west', 'agent-us-east']) {
      const b = s[name].build!
      expect(statSync(join(DEPLOY, b.context)).isDirectory()).toBe(true)
      expect(existsSync(join(DEPLOY, b.context, b.dockerfile)), `${name}: ${b.dockerfile}`).toBe(true)
    }
    expect(s.hub.build!.dockerfile).toBe('deploy/Dockerfile.hub')
    expect(s['agent-eu-west'].build!.dockerfile).toBe('deploy/Dockerfile.agent')
    for (const name of ['prometheus', 'alertmanager', 'grafana']) expect(s[name].image, name).toMatch(/^[\w./-]+:v?\d+\.\d+\.\d+$/)
  })

  it('mounts only files that exist, and declares exactly the named volumes it uses', () => {
    const used = new Set<string>()
    for (const [name, svc] of Object.entries(s)) {
      for (const m of mounts(svc)) {
        if (m.bind) expect(existsSync(join(DEPLOY, m.source)), `${name}: ${m.source}`).toBe(true)
        else used.add(m.source)
      }
    }
    expect([...used].sort()).toEqual(Object.keys(c.volumes).sort())
  })

  it('runs every service read-only, without capabilities, with a writable /tmp', () => {
    for (const [name, svc] of Object.entries(s)) {
      expect(svc.read_only, name).toBe(true)
      expect(svc.tmpfs, name).toEqual(['/tmp'])
      expect(svc.cap_drop, name).toEqual(['ALL'])
      expect(svc.security_opt, name).toEqual(['no-new-privileges:true'])
    }
  })

  it('ports and paths agree: the hub’s listeners, its data volume, its config and keys, the images', () => {
    const hubCmd = commandOf(s.hub)
    const hubImage = finalStage(dockerfile('Dockerfile.hub'))
    expect(hubCmd).toEqual(execForm(args(hubImage, 'CMD')[0]))
    const exposed = args(hubImage, 'EXPOSE')[0].split(' ')
    const published = (s.hub.ports ?? []).map((p) => p.split(':').at(-1)!)
    expect(published.sort()).toEqual(exposed.sort())
    expect(flag(hubCmd, '--http-listen').split(':')[1]).toBe('8080')
    expect(flag(hubCmd, '--grpc-listen').split(':')[1]).toBe('8081')
    const hubMounts = mounts(s.hub)
    expect(hubMounts.find((m) => m.target === flag(hubCmd, '--data'))?.source).toBe('hub-data')
    expect(hubMounts.find((m) => m.target === flag(hubCmd, '--config'))).toMatchObject({ source: './compose/hub.yaml', ro: true })
    for (const agent of ['agent-eu-west', 'agent-us-east']) {
      const cmd = commandOf(s[agent])
      expect(cmd).toEqual(execForm(args(finalStage(dockerfile('Dockerfile.agent')), 'CMD')[0]))
      expect(mounts(s[agent]).find((m) => m.target === '/var/lib/vantage')?.source).toBe(`${agent}-data`)
      expect(mounts(s[agent]).find((m) => m.target === flag(cmd, '--config'))?.ro).toBe(true)
    }
  })

  it('the hub.yaml and agent configs it mounts load, and register each other (ids, vantages, keys, addresses)', () => {
    const keys = mounts(s.hub).find((m) => m.source === 'vantage-keys')!.target
    const mapping = { [keys]: join(t.dir, 'keys'), '/var/lib/vantage': join(t.dir, 'compose-data') }
    const hubYaml = mounts(s.hub).find((m) => m.target === '/etc/vantage/hub.yaml')!.source
    const cfg = parseHubConfig(mapPaths(readText(hubYaml), mapping), join(t.dir, 'hub.yaml'))
    expect([...cfg.vantages.keys()].sort()).toEqual(['eu-west', 'us-east'])
    expect(cfg.alerting.alertmanager).toEqual(['http://alertmanager:9093'])
    const agentIds = [...cfg.agents.keys()].sort()

    // The keygen service makes exactly the keys the configs use.
    const keygen = (s.keygen.command as string[]).join(' ')
    const made = /for id in ([\w -]+); do/.exec(keygen)![1].split(' ').sort()
    expect(made).toEqual(['hub', ...agentIds].sort())
    expect(mounts(s.keygen)).toEqual([{ source: 'vantage-keys', target: keys, ro: false, bind: false }])

    const seen: string[] = []
    for (const agent of ['agent-eu-west', 'agent-us-east']) {
      const file = mounts(s[agent]).find((m) => m.target === '/etc/vantage/agent.yaml')!.source
      const a = parseAgentConfig(mapPaths(readText(file), mapping), join(t.dir, `${agent}.yaml`))
      seen.push(a.id)
      expect(cfg.agents.get(a.id)?.vantage, agent).toBe(agent.replace(/^agent-/, ''))
      expect(a.hub.url).toBe('http://hub:8080')
      expect(a.hub.grpc).toBe('hub:8081')
      expect(a.data).toBe(join(t.dir, 'compose-data'))
      expect(s[agent].environment?.VANTAGE_READY_URL).toBe('http://hub:8080/-/ready')
      expect(mounts(s[agent]).find((m) => m.source === 'vantage-keys')).toMatchObject({ target: keys, ro: true })
    }
    expect(seen.sort()).toEqual(agentIds)
  })

  it('health checks and dependencies: the hub’s check passes against a ready hub; agents wait for it', async () => {
    const test = s.hub.healthcheck!.test
    expect(test[0]).toBe('CMD')
    const script = test.slice(1)
    const url = /fetch\('([^']+)'\)/.exec(script.join(' '))![1]
    expect(new URL(url).pathname).toBe('/-/ready')
    expect(new URL(url).port).toBe('8080')
    const local = script.map((a) => a.replace(url, `${hub!.http}/-/ready`))
    expect(await healthcheck(local, {})).toBe(0)
    for (const agent of ['agent-eu-west', 'agent-us-east']) expect(s[agent].depends_on).toEqual({ hub: { condition: 'service_healthy' } })
    expect(s.hub.depends_on).toEqual({ keygen: { condition: 'service_completed_successfully' } })
  })

  it('Prometheus scrapes both hub targets (honor_labels on the Pushgateway one), sends to Alertmanager, loads the rules', async () => {
    const promMount = mounts(s.prometheus).find((m) => m.target === '/etc/prometheus')!
    const configArg = (s.prometheus.command as string[]).find((a) => a.startsWith('--config.file='))!.split('=')[1]
    const configFile = join(DEPLOY, promMount.source, posix.relative('/etc/prometheus', configArg))
    const { stdout } = await run('/usr/bin/promtool', ['check', 'config', configFile])
    expect(stdout).toContain('SUCCESS')
    const cfg = parse(readFileSync(configFile, 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path: string; honor_labels?: boolean; static_configs: { targets: string[] }[] }[]
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[]; alert_relabel_configs: { regex: string; action: string }[] }
      rule_files: string[]
    }
    expect(cfg.scrape_configs.map((j) => [j.job_name, j.metrics_path, j.honor_labels ?? false, j.static_configs[0].targets])).toEqual([
      ['vantage-hub', '/metrics', false, ['hub:8080']],
      ['vantage-pushgateway', '/pushgateway/metrics', true, ['hub:8080']],
    ])
    expect(cfg.alerting.alertmanagers[0].static_configs[0].targets).toEqual(['alertmanager:9093'])
    expect((s.alertmanager.ports ?? []).map((p) => p.split(':').at(-1))).toEqual(['9093'])
    // The hub sends its own alerts: Prometheus' copies of exactly those are dropped.
    const drop = cfg.alerting.alert_relabel_configs.find((r) => r.action === 'drop')!
    expect(drop.regex.split('|').sort()).toEqual([...ALERT_NAMES].sort())
    expect(cfg.rule_files).toEqual(['rules/*.yml'])
    // Alertmanager's config is the example one, and its flags point at it.
    const amMount = mounts(s.alertmanager).find((m) => m.target === '/etc/alertmanager')!
    const amConfig = (s.alertmanager.command as string[]).find((a) => a.startsWith('--config.file='))!.split('=')[1]
    expect(existsSync(join(DEPLOY, amMount.source, posix.relative('/etc/alertmanager', amConfig)))).toBe(true)
  })

  it('Grafana gets the Prometheus data source and the Vantage dashboard provisioned', () => {
    const g = mounts(s.grafana)
    const provisioning = g.find((m) => m.target === '/etc/grafana/provisioning')!
    expect(provisioning.source).toBe('./grafana/provisioning')
    const ds = parse(readText('grafana', 'provisioning', 'datasources', 'prometheus.yaml')) as { datasources: { type: string; url: string; isDefault: boolean }[] }
    expect(ds.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true })])
    const providers = (parse(readText('grafana', 'provisioning', 'dashboards', 'vantage.yaml')) as { providers: { type: string; options: { path: string } }[] }).providers
    const dashboard = g.find((m) => m.source === './grafana/vantage.json')!
    expect(providers).toEqual([expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: dirname(dashboard.target) }) })])
    expect(s.grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(dashboard.target)
    expect(readDashboard().uid).toBe('vantage-overview')
  })
})
