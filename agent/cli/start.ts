// `npm start`: the embedded default. A hub on 127.0.0.1 with its SQLite store under ./data and
// one local agent, in one process, from the example configs. On first run the examples are
// copied to ./data (so they can be edited there) and the key pairs are generated.
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { generateKeyPair } from '../../proto/keys.ts'
import { ConfigError, loadHubConfig } from '../../hub/config.ts'
import { startHub } from '../../hub/server.ts'
import { loadAgentConfig } from '../daemon/config.ts'
import { startAgent } from '../daemon/daemon.ts'

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'examples')

export const USAGE = `usage: vantage start [--data DIR]

Runs the embedded default: a hub and a local agent in one process, configured by
DIR/hub.yaml and DIR/agent.yaml (copied from deploy/examples on first run; default DIR ./data).`

/** Copies the example configs and makes the keys they name, unless already there. */
export async function prepareEmbedded(dir: string): Promise<{ hubFile: string; agentFile: string; created: string[] }> {
  const created: string[] = []
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 })
  for (const name of ['hub.yaml', 'agent.yaml']) {
    const target = join(dir, name)
    if (!existsSync(target)) {
      copyFileSync(join(EXAMPLES, name), target)
      created.push(target)
    }
  }
  for (const id of ['hub', 'local-1']) {
    const privateFile = join(dir, 'keys', `${id}.jwk`)
    if (existsSync(privateFile)) continue
    const { privateJwk, publicJwk } = await generateKeyPair(id)
    writeFileSync(privateFile, JSON.stringify(privateJwk, null, 2) + '\n', { mode: 0o600 })
    chmodSync(privateFile, 0o600)
    writeFileSync(join(dir, 'keys', `${id}.pub.jwk`), JSON.stringify(publicJwk, null, 2) + '\n')
    created.push(privateFile)
  }
  return { hubFile: join(dir, 'hub.yaml'), agentFile: join(dir, 'agent.yaml'), created }
}

export async function run(argv: string[]): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({ args: argv, options: { data: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }))
  } catch (err) {
    process.stderr.write(`vantage start: ${(err as Error).message.split('\n')[0]}\n\n${USAGE}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const dir = resolve(values.data ?? 'data')
  const logger = pino({ name: 'vantage', level: process.env.LOG_LEVEL ?? 'warn' })

  const { hubFile, agentFile, created } = await prepareEmbedded(dir)
  let hubConfig, agentConfig
  try {
    hubConfig = loadHubConfig(hubFile)
    agentConfig = loadAgentConfig(agentFile)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`vantage start: ${err.message}\n`)
    return 2
  }

  let hub
  try {
    hub = await startHub({ config: hubConfig, logger: logger.child({ component: 'hub' }), reloadConfig: () => loadHubConfig(hubFile) })
  } catch (err) {
    process.stderr.write(`vantage start: the hub could not start: ${(err as Error).message}\n`)
    return 1
  }
  const agent = await startAgent({ config: agentConfig, logger: logger.child({ component: 'agent', agent: agentConfig.id }) })

  const shown = (p: string) => relative(process.cwd(), p) || '.'
  const checks = [...hubConfig.checks.keys()].join(', ')
  process.stdout.write(`Vantage is running: a hub and the local agent "${agentConfig.id}".
${created.length ? `  first run: created ${created.map(shown).join(', ')}\n` : ''}
  review         ${hub.httpUrl}/review        checks, votes per vantage, disagreements
  hub            ${hub.httpUrl}   (gRPC ${hub.grpcAddress})
  api            ${hub.httpUrl}/api/v1/checks
  metrics        ${hub.httpUrl}/metrics       quorum state (synthetic_check_*) and the hub's own
  results        ${hub.httpUrl}/pushgateway/metrics   synthetic_probe_* per check × vantage
  health         ${hub.httpUrl}/-/ready
  checks         ${checks || '(none)'}
  config         ${shown(hubFile)}, ${shown(agentFile)}   (edit, then restart; SIGHUP reloads)
  store          ${shown(hubConfig.data)}

  one probe now: npx vantage probe http ${hub.httpUrl}/-/healthy
Press Ctrl-C to stop.
`)

  return new Promise<number>((done) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      process.stdout.write('stopping…\n')
      agent
        .stop()
        .then(() => hub.close())
        .then(
          () => done(0),
          (err: Error) => {
            process.stderr.write(`vantage start: unclean stop: ${err.message}\n`)
            done(1)
          },
        )
    }
    process.on('SIGHUP', () => void hub.reload())
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
