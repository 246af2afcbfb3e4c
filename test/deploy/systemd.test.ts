// deploy/systemd: `systemd-analyze verify` and `systemd-analyze security` on the shipped units
// (Debian's systemd package), the hardening they promise, and their commands: ExecStart names
// the files the repo and the agent bundle really have. (The operator README's test starts the
// units' ExecStart and reloads them as ExecReload does.)
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { BUNDLE_FILE } from '../../deploy/agent-bundle/build.ts'
import { ROOT } from '../helpers/processes.ts'
import { DEPLOY, readText, serviceSettings, unitCommand } from './helpers.ts'

const run = promisify(execFile)
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze'
const UNITS = ['vantage-hub.service', 'vantage-agent.service']

const dir = mkdtempSync(join(tmpdir(), 'vantage-systemd-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The units as shipped; ExecStart's /usr/bin/node is this machine's node when it lives elsewhere. */
function unitCopies(): string[] {
  return UNITS.map((unit) => {
    let text = readText('systemd', unit)
    if (!existsSync('/usr/bin/node')) text = text.replaceAll('/usr/bin/node ', `${process.execPath} `)
    const file = join(dir, unit)
    writeFileSync(file, text)
    return file
  })
}

async function analyze(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(SYSTEMD_ANALYZE, args, { cwd: dir })
    return { code: 0, out: stdout + stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : 1, out: (e.stdout ?? '') + (e.stderr ?? '') }
  }
}

describe('deploy/systemd', () => {
  it('ships exactly the hub and agent units', () => {
    expect(readdirSync(join(DEPLOY, 'systemd')).sort()).toEqual([...UNITS].sort())
  })

  it('systemd-analyze verify: both units, no warnings', async () => {
    const { code, out } = await analyze(['verify', ...unitCopies()])
    expect(out.trim(), out).toBe('')
    expect(code).toBe(0)
  })

  it('systemd-analyze security: exposure level under 2.0 ("OK")', async () => {
    for (const file of unitCopies()) {
      const { code, out } = await analyze(['security', '--offline=yes', '--threshold=20', '--no-pager', file])
      expect(code, out.split('\n').slice(-3).join('\n')).toBe(0)
      expect(out).toMatch(/Overall exposure level for [\w-]+\.service: 1\.\d/)
    }
  })

  for (const unit of UNITS) {
    it(`${unit}: a dedicated user, its state directory, hardening, restart policy, reload by SIGHUP`, () => {
      const s = serviceSettings(readText('systemd', unit))
      const one = (k: string) => {
        const v = s.get(k)
        expect(v, `${unit}: ${k}`).toBeDefined()
        return v![v!.length - 1]
      }
      const dynamic = s.get('DynamicUser')?.[0] === 'yes'
      if (!dynamic) expect(one('User')).toMatch(/^(?!root$)[a-z][\w-]*$/)
      const kind = unit.replace(/^vantage-|\.service$/g, '')
      expect(one('StateDirectory')).toBe(`vantage-${kind}`)
      expect(one('WorkingDirectory')).toBe(`/var/lib/vantage-${kind}`)
      expect(one('ProtectSystem')).toBe('strict')
      expect(one('NoNewPrivileges')).toBe('yes')
      expect(one('PrivateTmp')).toBe('yes')
      expect(one('CapabilityBoundingSet')).toBe('')
      expect(one('Restart')).toMatch(/^(on-failure|always)$/)
      expect(one('RestartPreventExitStatus')).toBe('2') // a bad config: restarting does not help
      expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID')
      // V8's JIT needs writable and executable memory: this setting would kill node.
      expect(s.get('MemoryDenyWriteExecute')).toBeUndefined()
    })
  }

  it('ExecStart runs the files the repository and the agent bundle have', () => {
    // node's own flags first (the hub's heap sizes), then the program
    const { node, flags: nodeFlags, program: hub } = unitCommand('vantage-hub')
    expect(node).toBe('/usr/bin/node')
    expect(hub.slice(0, 2)).toEqual(['/opt/vantage/bin/vantage.js', 'hub'])
    expect(existsSync(join(ROOT, 'bin', 'vantage.js'))).toBe(true)
    expect(hub.slice(2)).toEqual(['--config', '/etc/vantage/hub.yaml'])
    // A flag node refuses would stop the service at every start.
    expect(spawnSync(process.execPath, [...nodeFlags, '-e', '0'], { encoding: 'utf8' }).stderr).toBe('')

    const agent = serviceSettings(readText('systemd', 'vantage-agent.service')).get('ExecStart')![0].split(' ')
    expect(agent.slice(0, 3)).toEqual(['/usr/bin/node', `/opt/vantage-agent/${BUNDLE_FILE}`, 'agent'])
    expect(agent.slice(3)).toEqual(['--config', '/etc/vantage/agent.yaml'])
  })
})
