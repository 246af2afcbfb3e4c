#!/usr/bin/env node
// The `vantage` command: a thin dispatcher to each subcommand's module (TypeScript, via tsx).
import { register } from 'tsx/esm/api'

const COMMANDS = {
  start: ['../agent/cli/start.ts', 'the embedded default: a local hub and agent'],
  hub: ['../hub/cli.ts', 'run the hub (--config hub.yaml)'],
  agent: ['../agent/cli/agent.ts', 'run an agent daemon (--config agent.yaml)'],
  probe: ['../agent/cli/probe.ts', 'run one probe now: vantage probe <http|tls|tcp|smtp|dns> <target>'],
  journey: ['../agent/cli/journey.ts', 'run one journey once: vantage journey <file.js|file.ts>'],
  keygen: ['../agent/cli/keygen.ts', 'make an Ed25519 key pair: vantage keygen --out DIR --id ID'],
}

function usage() {
  const lines = Object.entries(COMMANDS).map(([name, [, what]]) => `  ${name.padEnd(8)} ${what}`)
  return `usage: vantage <command> [options]\n\ncommands:\n${lines.join('\n')}\n`
}

const [name, ...args] = process.argv.slice(2)
if (!name || name === 'help' || name === '--help' || name === '-h') {
  process.stdout.write(usage())
  process.exitCode = name ? 0 : 2
} else if (!(name in COMMANDS)) {
  process.stderr.write(`vantage: unknown command "${name}"\n\n${usage()}`)
  process.exitCode = 2
} else if (COMMANDS[name][0] === null) {
  process.stderr.write(`vantage ${name}: not built yet in this version (see the README's roadmap)\n`)
  process.exitCode = 2
} else {
  register()
  const { run } = await import(COMMANDS[name][0])
  process.exitCode = await run(args)
}
