// The edge worker's tcp and smtp checks through `cloudflare:sockets`, and https through fetch(),
// in real workerd: a real TCP dialogue server, a real TLS server, real smtp-server instances
// (STARTTLS and implicit TLS) and real HTTPS servers, with certificates of the test CA, which
// workerd trusts through NODE_EXTRA_CA_CERTS (as the public roots are trusted on Cloudflare: the
// runtime's trust store is all there is) — and one self-signed certificate it must refuse.
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProbeResult } from '../../proto/result.ts'
import type { Hub } from '../../hub/server.ts'
import { testPki, type TestPki } from '../helpers/certs.ts'
import { closedPort, listen, type Listening } from '../helpers/net-servers.ts'
import { makeKeys, startTestHub, tempDir, type TestDir } from '../hub/helpers.ts'
import { removeBundle, buildWorker, startEdgeWorker, type EdgeWorker } from './helpers.ts'

let t: TestDir
let pki: TestPki
let hub: Hub
let edge: EdgeWorker
const servers: { close(): Promise<void> | void }[] = []
const smtp: Record<string, { port: number; commands: string[] }> = {}
let dialogue: Listening
let dialogueLines: string[]
const httpsRequests: Record<string, string[]> = { valid: [], untrusted: [] }

beforeAll(async () => {
  t = tempDir('vantage-edge-sockets-')
  pki = await testPki()
  const keys = await makeKeys(t, ['hub', 'edge-1'])

  // A line protocol: greet, answer HELLO <name>.
  dialogueLines = []
  dialogue = await listen(
    net.createServer((socket) => {
      socket.write('220 tcp.example.test ready\r\n')
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => {
        for (const line of chunk.split(/\r?\n/).filter(Boolean)) {
          dialogueLines.push(line)
          if (line.startsWith('HELLO ')) socket.write(`250 hello ${line.slice(6)}\r\n`)
        }
      })
      socket.on('error', () => {})
    }),
  )
  servers.push(dialogue)
  const tlsServer = await listen(
    tls.createServer({ key: pki.leaves.valid.keyPem, cert: pki.leaves.valid.chainPem }, (socket) => {
      socket.write('hello over tls\n')
      socket.on('error', () => {})
    }),
  )
  servers.push(tlsServer)
  const closed = await closedPort(net.createServer())
  const webServer = (name: 'valid' | 'untrusted', cert: { keyPem: string; chainPem?: string; certPem: string }) =>
    listen(
      https.createServer({ key: cert.keyPem, cert: cert.chainPem ?? cert.certPem }, (req, res) => {
        httpsRequests[name].push(`${req.url} ${req.headers['x-synthetic-bypass'] ?? '-'}`)
        res.writeHead(200, { 'content-type': 'text/plain' }).end('secure shop')
      }),
    )
  const httpsValid = await webServer('valid', pki.leaves.valid)
  const httpsUntrusted = await webServer('untrusted', { keyPem: pki.leaves.selfSigned.keyPem, certPem: pki.leaves.selfSigned.certPem })
  servers.push(httpsValid, httpsUntrusted)

  smtp.starttls = await startSmtp({ key: pki.leaves.valid.keyPem, cert: pki.leaves.valid.chainPem })
  smtp.smtps = await startSmtp({ secure: true, key: pki.leaves.valid.keyPem, cert: pki.leaves.valid.chainPem })
  smtp.untrusted = await startSmtp({ key: pki.leaves.selfSigned.keyPem, cert: pki.leaves.selfSigned.certPem })
  smtp.plain = await startSmtp({ hideSTARTTLS: true })

  hub = await startTestHub(
    t,
    `hub_key: ./keys/hub.jwk
vantages:
  edge: { region: global, capabilities: [http, tcp, smtp] }
agents:
  - { id: edge-1, vantage: edge, public_key: ./keys/edge-1.pub.jwk }
checks:
  - name: tcp-dialogue
    type: tcp
    target: 127.0.0.1:${dialogue.port}
    tcp:
      query_response:
        - { expect: "^220 (?<host>\\\\S+) ready", send: "HELLO \${host}" }
        - { expect: "^250 hello tcp\\\\.example\\\\.test$" }
  - { name: tcp-tls, type: tcp, target: "localhost:${tlsServer.port}", tcp: { tls: true, query_response: [{ expect: "^hello over tls$" }] } }
  - { name: tcp-closed, type: tcp, target: "127.0.0.1:${closed}" }
  - { name: tcp-mismatch, type: tcp, target: "127.0.0.1:${dialogue.port}", tcp: { query_response: [{ expect: "^SSH-" }] }, timeout: 3s }
  - { name: smtp-starttls, type: smtp, target: "localhost:${smtp.starttls.port}", smtp: { starttls: true, ehlo: probe.example } }
  - { name: smtp-smtps, type: smtp, target: "smtps://localhost:${smtp.smtps.port}" }
  - { name: smtp-untrusted, type: smtp, target: "localhost:${smtp.untrusted.port}", smtp: { starttls: true } }
  - { name: smtp-plain, type: smtp, target: "127.0.0.1:${smtp.plain.port}" }
  - name: https-valid
    type: http
    target: https://localhost:${httpsValid.port}/
    http: { body_contains: secure shop, bypass_header: { name: X-Synthetic-Bypass, value_env: BYPASS_TOKEN } }
  - name: https-untrusted
    type: http
    target: https://localhost:${httpsUntrusted.port}/
    http: { bypass_header: { name: X-Synthetic-Bypass, value_env: BYPASS_TOKEN } }
`,
  )
  edge = await startEdgeWorker({
    hubUrl: hub.httpUrl,
    agentId: 'edge-1',
    agentKeys: keys['edge-1'],
    hubPublicJwk: keys.hub.publicJwk,
    extraCaPem: pki.caPem,
    bindings: { BYPASS_TOKEN: 'edge-bypass-secret' },
  })
})

afterAll(async () => {
  await edge?.close()
  await hub?.close()
  for (const s of servers) await s.close()
  if (edge) removeBundle(await buildWorker())
  t?.cleanup()
})

function latest(check: string): ProbeResult {
  const [r] = hub.store.history({ check, vantage: 'edge', limit: 1 })
  if (!r) throw new Error(`no result for ${check}`)
  return r
}

describe('tcp and smtp through cloudflare:sockets, https through fetch', () => {
  it('one cron tick runs them all; the hub stores the signed results', async () => {
    expect(await edge.tick()).toMatchObject({ outcome: 'ok' })
    const deadline = Date.now() + 5000
    while (hub.store.history({ check: 'smtp-plain', vantage: 'edge', limit: 1 }).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
    expect(edge.logs.find((l) => l.msg === 'batch delivered')).toMatchObject({ accepted: 10, duplicates: 0 })
  })

  it('tcp: query_response with named groups, over plain TCP and over TLS', () => {
    expect(latest('tcp-dialogue')).toMatchObject({ type: 'tcp', success: true, agent_id: 'edge-1', vantage: 'edge' })
    expect(dialogueLines).toContain('HELLO tcp.example.test')
    expect(latest('tcp-tls')).toMatchObject({ success: true })
    expect(latest('tcp-tls').tls).toBeUndefined() // the runtime verifies the certificate but does not show it
  })

  it('tcp: a closed port and an unexpected banner fail with their codes', () => {
    expect(latest('tcp-closed')).toMatchObject({ success: false, error_code: 'CONNECTION_REFUSED' })
    const mismatch = latest('tcp-mismatch')
    expect(mismatch).toMatchObject({ success: false })
    // The server stays silent after its banner: the check times out waiting for a match.
    expect(mismatch.error_code).toBe('TIMEOUT')
  })

  it('smtp: STARTTLS through startTls(), verified for the target host, the post-TLS EHLO reported', () => {
    const r = latest('smtp-starttls')
    expect(r).toMatchObject({ success: true, challenged: false })
    expect(r.smtp).toMatchObject({ banner: '220 mx.example.test ESMTP Vantage test MX', banner_code: 220, starttls: true })
    expect(r.smtp!.extensions).toEqual(expect.arrayContaining(['PIPELINING', 'SIZE 35882577']))
    expect(r.smtp!.extensions).not.toContain('STARTTLS')
    expect(smtp.starttls.commands).toEqual(['EHLO', 'STARTTLS', 'EHLO', 'QUIT'])
  })

  it('smtp: implicit TLS (smtps://) and plain EHLO', () => {
    expect(latest('smtp-smtps')).toMatchObject({ success: true, smtp: { banner_code: 220, starttls: false } })
    const plain = latest('smtp-plain')
    expect(plain).toMatchObject({ success: true, smtp: { banner_code: 220, starttls: false } })
    expect(plain.smtp!.extensions).not.toContain('STARTTLS')
  })

  it('smtp: a certificate the runtime does not trust fails the STARTTLS check, and nothing is sent after the handshake', () => {
    const r = latest('smtp-untrusted')
    expect(r).toMatchObject({ success: false, error_code: 'TLS_HANDSHAKE_FAILED', smtp: { banner_code: 220 } })
    expect(smtp.untrusted.commands).toEqual(['EHLO', 'STARTTLS'])
  })
})

describe('https through fetch', () => {
  it('verifies the certificate for the host: a trusted one succeeds, with the bypass header sent', () => {
    expect(latest('https-valid')).toMatchObject({ success: true, http: { status_code: 200, final_url: expect.stringMatching(/^https:\/\/localhost:/) } })
    expect(latest('https-valid').tls).toBeUndefined()
    expect(httpsRequests.valid).toEqual(['/ edge-bypass-secret'])
  })

  it('an untrusted certificate fails the check, and no request (no bypass token) reaches that server', () => {
    expect(latest('https-untrusted')).toMatchObject({ success: false, error_code: 'TLS_HANDSHAKE_FAILED', http: { status_code: 0 } })
    expect(httpsRequests.untrusted).toEqual([])
  })
})

async function startSmtp(options: SMTPServerOptions) {
  const commands: string[] = []
  const record = (...params: unknown[]) => {
    const meta = params[0] as { tnx?: string; command?: string } | undefined
    if (meta?.tnx === 'command' && meta.command) commands.push(meta.command)
  }
  const server = new SMTPServer({
    name: 'mx.example.test',
    banner: 'Vantage test MX',
    size: 35882577,
    authOptional: true,
    disableReverseLookup: true,
    logger: { level() {}, trace() {}, debug: record, info: record, warn() {}, error() {}, fatal() {} },
    ...options,
  })
  server.on('error', () => {})
  server.listen(0, '127.0.0.1')
  await once(server.server, 'listening')
  servers.push({ close: () => new Promise<void>((r) => server.close(() => r())) })
  return { port: (server.server.address() as net.AddressInfo).port, commands }
}
