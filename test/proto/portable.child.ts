// Run by test/proto/codec.test.ts under `node --disallow-code-generation-from-strings`, the
// restriction Cloudflare Workers impose: the whole wire contract must work without eval.
import { deepStrictEqual } from 'node:assert/strict'
import { decodeBatch, decodePushAck, encodeBatch, encodePushAck } from '../../proto/codec.ts'
import { createAgentToken, signBatch, signJson, verifyAgentToken, verifyBatch, verifyJson } from '../../proto/envelope.ts'
import { generateKeyPair } from '../../proto/keys.ts'
import { batchOf, fullResult } from './fixtures.ts'

let evalBlocked = false
try {
  new Function('return 1')
} catch {
  evalBlocked = true
}
if (!evalBlocked) throw new Error('run me with --disallow-code-generation-from-strings')

const batch = { ...batchOf(3), results: [...batchOf(3).results, { ...fullResult, agent_id: 'eu-1' }] }
deepStrictEqual(decodeBatch(encodeBatch(batch)), batch)
if (decodePushAck(encodePushAck({ seq: 1, accepted: 2, duplicates: 0 })).accepted !== 2) throw new Error('ack round trip')

const agent = await generateKeyPair('eu-1')
const hub = await generateKeyPair('hub')
const now = Date.now()
const jws = await signBatch(batch, { kid: 'eu-1', privateKey: agent.privateJwk })
const verified = await verifyBatch(JSON.stringify(jws), () => agent.publicJwk, { now, maxSkewMs: 60_000 })
if (verified.results.length !== 4) throw new Error('verifyBatch lost results')
const config = await signJson({ checks: [] }, { kid: 'hub', privateKey: hub.privateJwk, typ: 'vantage-config' })
await verifyJson(config, hub.publicJwk, { typ: 'vantage-config' })
const token = await createAgentToken('eu-1', agent.privateJwk, now)
await verifyAgentToken(token, () => agent.publicJwk, { now })
process.stdout.write('ok\n')
