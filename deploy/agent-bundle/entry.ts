// The entry of the single-file agent (deploy/agent-bundle/build.ts bundles it): the `vantage`
// dispatcher, limited to what runs on an agent's host. Same commands, options and exit codes as
// bin/vantage.js, without tsx: everything is already JavaScript in the bundle.
import { run as agent } from '../../agent/cli/agent.ts'
import { run as journey } from '../../agent/cli/journey.ts'
import { run as keygen } from '../../agent/cli/keygen.ts'
import { run as probe } from '../../agent/cli/probe.ts'

const COMMANDS: Record<string, [(args: string[]) => Promise<number>, string]> = {
  agent: [agent, 'run an agent daemon (--config agent.yaml)'],
  probe: [probe, 'run one probe now: probe <http|tls|tcp|smtp|dns> <target>'],
  journey: [journey, 'run one journey once: journey <file.js|file.ts>'],
  keygen: [(args) => keygen(args), 'make an Ed25519 key pair: keygen --out DIR --id ID'],
}

declare const VANTAGE_VERSION: string

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, [, what]]) => `  ${name.padEnd(8)} ${what}`)
  return `usage: node vantage-agent.mjs <command> [options]   (vantage ${VANTAGE_VERSION}, agent bundle)\n\ncommands:\n${lines.join('\n')}\n`
}

const [name, ...args] = process.argv.slice(2)
if (!name || name === 'help' || name === '--help' || name === '-h') {
  process.stdout.write(usage())
  process.exitCode = name ? 0 : 2
} else if (name === '--version' || name === 'version') {
  process.stdout.write(`${VANTAGE_VERSION}\n`)
} else if (!Object.prototype.hasOwnProperty.call(COMMANDS, name)) {
  process.stderr.write(`vantage: unknown command "${name}" (this is the agent bundle; the hub runs from the repository or its container)\n\n${usage()}`)
  process.exitCode = 2
} else {
  process.exitCode = await COMMANDS[name][0](args)
}
