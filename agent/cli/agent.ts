// `vantage agent --config agent.yaml`: the agent daemon. SIGTERM/SIGINT stop it gracefully
// (running probes finish, the outbox is flushed within a deadline); a second signal exits at
// once (the outbox is durable, nothing is lost). SIGHUP re-reads agent.yaml and restarts the
// daemon in place with it; an invalid file is reported and the running agent kept.
import { parseArgs } from 'node:util'
import pino from 'pino'
import { loadAgentConfig, type AgentConfig } from '../daemon/config.ts'
import { startAgent, type AgentHandle, type DaemonLogger } from '../daemon/daemon.ts'

export const USAGE = `usage: vantage agent --config agent.yaml

Runs an agent daemon: fetches its checks from the hub, probes them every interval, and pushes
signed results to the hub (results wait in a durable outbox while the hub is unreachable).

signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads agent.yaml`

export async function run(args: string[]): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }))
  } catch (err) {
    process.stderr.write(`vantage agent: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (!values.config) {
    process.stderr.write(`vantage agent: --config agent.yaml is required\n\n${USAGE}\n`)
    return 2
  }
  const file = values.config

  let config: AgentConfig
  try {
    config = loadAgentConfig(file)
  } catch (err) {
    process.stderr.write(`vantage agent: ${(err as Error).message}\n`)
    return 2
  }

  // Synchronous writes: the last lines before a crash are the ones worth reading.
  const logger = pino({ level: config.log_level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true })) as unknown as DaemonLogger & {
    level: string
  }
  return new Promise<number>((resolve) => {
    let agent: AgentHandle | null = null
    let stopping = false
    // Start, reloads and stop run one after the other, in the order the signals came.
    let steps: Promise<void> = Promise.resolve()
    const then = (step: () => Promise<void>) => {
      steps = steps.then(step).catch((err: unknown) => {
        logger.error({ err: (err as Error).message }, 'unexpected error')
        finish(1)
      })
    }

    const start = async (next: AgentConfig): Promise<boolean> => {
      try {
        agent = await startAgent({ config: next, logger })
        return true
      } catch (err) {
        logger.error({ err: (err as Error).message, file: next.file }, 'agent failed to start')
        return false
      }
    }

    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now (unsent results stay in the outbox)')
        process.exit(130)
      }
      stopping = true
      logger.info({ signal }, 'stopping')
      then(async () => {
        await agent?.stop()
        finish(0)
      })
    }

    const reload = () =>
      then(async () => {
        if (stopping || !agent) return
        let next: AgentConfig
        try {
          next = loadAgentConfig(file)
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'SIGHUP: agent.yaml is invalid; keeping the running configuration')
          return
        }
        logger.info({ file: next.file }, 'SIGHUP: reloading agent.yaml')
        // Restart in place: the outbox and the cached hub config are on disk, so nothing is lost.
        await agent.stop()
        logger.level = next.log_level
        if (await start(next)) {
          config = next
          return
        }
        logger.error({}, 'SIGHUP: starting the previous configuration again')
        logger.level = config.log_level
        if (!(await start(config))) finish(1)
      })

    const onTerm = () => stop('SIGTERM')
    const onInt = () => stop('SIGINT')
    // Handlers first, so a signal during start-up is not the default (fatal) one.
    process.on('SIGTERM', onTerm)
    process.on('SIGINT', onInt)
    process.on('SIGHUP', reload)

    then(async () => {
      if (!(await start(config))) finish(1)
    })

    function finish(code: number) {
      process.off('SIGTERM', onTerm)
      process.off('SIGINT', onInt)
      process.off('SIGHUP', reload)
      resolve(code)
    }
  })
}
