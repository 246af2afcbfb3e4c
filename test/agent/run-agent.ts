// Runs `vantage agent` in a process of its own, as bin/vantage.js would, for the integration test:
//   node --import tsx test/agent/run-agent.ts --config agent.yaml
import { run } from '../../agent/cli/agent.ts'

process.exitCode = await run(process.argv.slice(2))
