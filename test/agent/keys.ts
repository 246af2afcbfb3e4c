// Key files for agent tests: an agent key pair and a hub key pair, written as `vantage keygen` does.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, type KeyPair } from '../../proto/keys.ts'

export interface TestKeys {
  agent: KeyPair
  hub: KeyPair
  files: { agentPrivate: string; agentPublic: string; hubPrivate: string; hubPublic: string }
}

export async function writeTestKeys(dir: string, agentId = 'eu-1'): Promise<TestKeys> {
  const agent = await generateKeyPair(agentId)
  const hub = await generateKeyPair('hub')
  const files = {
    agentPrivate: join(dir, `${agentId}.jwk`),
    agentPublic: join(dir, `${agentId}.pub.jwk`),
    hubPrivate: join(dir, 'hub.jwk'),
    hubPublic: join(dir, 'hub.pub.jwk'),
  }
  writeFileSync(files.agentPrivate, JSON.stringify(agent.privateJwk), { mode: 0o600 })
  writeFileSync(files.agentPublic, JSON.stringify(agent.publicJwk))
  writeFileSync(files.hubPrivate, JSON.stringify(hub.privateJwk), { mode: 0o600 })
  writeFileSync(files.hubPublic, JSON.stringify(hub.publicJwk))
  return { agent, hub, files }
}
