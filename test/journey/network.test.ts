// Journey requests go through the agent's HTTP machinery: TLS verified with the agent's CA (and
// no request over a connection that failed verification unless `insecure`), the source address
// bound, HTTP/2 offered over ALPN as k6 does.
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testPki, type TestPki } from '../helpers/certs.ts'
import { runJourneyCheck, startShop, type Shop } from './servers.ts'

let pki: TestPki
let shop: Shop
const servers: { close(cb: () => void): void; closeAllConnections?: () => void }[] = []
let requests = 0

async function serve(server: https.Server | http2.Http2SecureServer): Promise<string> {
  servers.push(server as https.Server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `https://localhost:${(server.address() as AddressInfo).port}`
}

const handler = (_req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
  requests++
  ;(res as http.ServerResponse).writeHead(200, { 'content-type': 'text/plain' })
  res.end('secure hello')
}

let valid: string
let selfSigned: string
let h2: string
beforeAll(async () => {
  pki = await testPki()
  shop = await startShop()
  valid = await serve(https.createServer({ cert: pki.leaves.valid.chainPem, key: pki.leaves.valid.keyPem }, handler))
  selfSigned = await serve(https.createServer({ cert: pki.leaves.selfSigned.certPem, key: pki.leaves.selfSigned.keyPem }, handler))
  h2 = await serve(http2.createSecureServer({ cert: pki.leaves.valid.chainPem, key: pki.leaves.valid.keyPem, allowHTTP1: true }, handler))
})
afterAll(async () => {
  await shop.close()
  for (const s of servers) {
    s.closeAllConnections?.()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }
})

const script = `
  import http from 'k6/http'
  export default function () {
    const r = http.get(__ENV.URL + '/')
    console.log(JSON.stringify({ status: r.status, error_code: r.error_code, body: r.body, tls: r.tls_version, proto: r.proto, tlsTime: r.timings.tls_handshaking > 0 }))
  }`

async function fetchWith(url: string, o: { ca?: string; insecure?: boolean } = {}) {
  const { logs } = await runJourneyCheck({ source: script }, { env: { URL: url }, ...o })
  return JSON.parse(logs[0].slice(5)) as Record<string, unknown>
}

describe('TLS', () => {
  it("verifies certificates with the agent's CA", async () => {
    expect(await fetchWith(valid, { ca: pki.caPem })).toEqual({ status: 200, error_code: 0, body: 'secure hello', tls: 'tls1.3', proto: 'HTTP/1.1', tlsTime: true })
  })

  it('sends nothing over a connection whose certificate failed verification (k6 code 1310)', async () => {
    const before = requests
    const r = await fetchWith(valid)
    expect(r).toMatchObject({ status: 0, error_code: 1310, body: null })
    expect(requests).toBe(before)
    expect(await fetchWith(selfSigned, { ca: pki.caPem })).toMatchObject({ status: 0, error_code: 1310 })
    expect(requests).toBe(before)
  })

  it('with insecure, reports but does not refuse', async () => {
    expect(await fetchWith(selfSigned, { insecure: true })).toMatchObject({ status: 200, body: 'secure hello' })
  })

  it('negotiates HTTP/2 when the server offers it', async () => {
    expect(await fetchWith(h2, { ca: pki.caPem })).toMatchObject({ status: 200, proto: 'HTTP/2.0', body: 'secure hello' })
  })
})

it('binds requests to the source address', async () => {
  const { logs } = await runJourneyCheck(
    { source: `import http from 'k6/http'\nexport default function () { console.log(http.get(__ENV.BASE + '/echo').json('remote')) }` },
    { env: { BASE: shop.app }, source: '127.0.0.3' },
  )
  expect(logs).toEqual(['info 127.0.0.3'])
})
