#!/usr/bin/env node
// The `vantage` command: a thin dispatcher. Sources are TypeScript, loaded through tsx.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../agent/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
