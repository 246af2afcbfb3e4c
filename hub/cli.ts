// `vantage hub --config hub.yaml [--http-listen HOST:PORT] [--grpc-listen HOST:PORT] [--data DIR]`
// With the flags alone (no --config) the hub starts empty: no agents, no checks.
// SIGHUP reloads the config (a bad one is logged and the running one kept); SIGTERM/SIGINT stop
// the hub gracefully. Exit 0 after a clean stop, 2 on bad arguments or a bad config, 1 when the
// hub cannot start (e.g. a port in use).
import { parseArgs } from 'node:util'
import pino from 'pino'
import { ConfigError, emptyHubConfig, loadHubConfig, type ConfigOverrides, type HubConfig } from './config.ts'
import { startHub } from './server.ts'

export const USAGE = `usage: vantage hub --config hub.yaml [options]

  --config FILE            the hub's config (hub.yaml); without it the hub starts empty
  --http-listen HOST:PORT  HTTP address (overrides listen.http; default 127.0.0.1:8080)
  --grpc-listen HOST:PORT  gRPC address (overrides listen.grpc; default 127.0.0.1:8081)
  --data DIR               SQLite store directory (overrides data; default ./data)
  --log-level LEVEL        debug, info (default), warn, error

signals: SIGHUP reloads the config, SIGTERM/SIGINT stop the hub.`

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']

export async function run(argv: string[]): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'http-listen': { type: 'string' },
        'grpc-listen': { type: 'string' },
        data: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    process.stderr.write(`vantage hub: ${(err as Error).message.split('\n')[0]}\n\n${USAGE}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const level = values['log-level'] ?? 'info'
  if (!LEVELS.includes(level)) {
    process.stderr.write(`vantage hub: --log-level: "${level}" is not one of ${LEVELS.join(', ')}\n`)
    return 2
  }
  const overrides: ConfigOverrides = { httpListen: values['http-listen'], grpcListen: values['grpc-listen'], data: values.data }
  const file = values.config
  const load = (): HubConfig => (file !== undefined ? loadHubConfig(file, overrides) : emptyHubConfig(overrides))

  let config: HubConfig
  try {
    config = load()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`vantage hub: ${err.message}\n`)
    return 2
  }

  const logger = pino({ name: 'vantage-hub', level })
  let hub
  try {
    hub = await startHub({ config, logger, reloadConfig: file !== undefined ? load : undefined })
  } catch (err) {
    logger.fatal({ error: (err as Error).message }, 'hub failed to start')
    process.stderr.write(`vantage hub: ${(err as Error).message}\n`)
    return 1
  }
  if (file === undefined) logger.info({}, 'no --config: an empty hub (no agents, no checks)')

  return new Promise<number>((resolve) => {
    const onHup = () => {
      if (file === undefined) {
        logger.warn({}, 'SIGHUP: no --config to reload')
        return
      }
      void hub.reload()
    }
    const onStop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping')
      process.off('SIGHUP', onHup)
      process.off('SIGTERM', onStop)
      process.off('SIGINT', onStop)
      hub.close().then(
        () => resolve(0),
        (err: Error) => {
          logger.error({ error: err.message }, 'unclean stop')
          resolve(1)
        },
      )
    }
    process.on('SIGHUP', onHup)
    process.on('SIGTERM', onStop)
    process.on('SIGINT', onStop)
  })
}
