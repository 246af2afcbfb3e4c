// A real HTTP hop between the worker and a real hub, to play the network: pass everything,
// be unreachable (connections reset), or tamper with the hub's signed assignment on the way
// (what a man in the middle or a compromised cache would do). Loopback only.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { signJson } from '../../proto/envelope.ts'
import type { KeyPair } from '../../proto/keys.ts'

export type ProxyMode =
  | { kind: 'pass' }
  /** Every connection is destroyed: the hub is unreachable. */
  | { kind: 'down' }
  /** The config's payload is edited, its signature kept. */
  | { kind: 'tamper'; edit: (payload: Record<string, unknown>) => void }
  /** The config is re-signed by another key (an impostor hub). */
  | { kind: 'impostor'; keys: KeyPair }

export interface HubProxy {
  url: string
  mode: ProxyMode
  /** Requests seen, as "METHOD path status". */
  seen: string[]
  close(): Promise<void>
}

export async function startHubProxy(hubUrl: string): Promise<HubProxy> {
  const proxy: HubProxy = { url: '', mode: { kind: 'pass' }, seen: [], close: async () => {} }
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      proxy.seen.push(`${req.method} ${req.url} proxy error: ${err.message}`)
      if (!res.headersSent) res.writeHead(502).end(err.message)
    })
  })
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const mode = proxy.mode
    if (mode.kind === 'down') {
      proxy.seen.push(`${req.method} ${req.url} reset`)
      req.socket.destroy()
      return
    }
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k)) headers[k] = v
    // Tampering needs a full answer to tamper with, not the hub's 304.
    if (mode.kind === 'tamper' || mode.kind === 'impostor') delete headers['if-none-match']
    const upstream = await fetch(`${hubUrl}${req.url}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined })
    let body = Buffer.from(await upstream.arrayBuffer())
    const isConfig = req.method === 'GET' && /^\/v1\/agents\/[^/]+\/config$/.test(req.url ?? '') && upstream.status === 200
    if (isConfig && mode.kind === 'tamper') {
      const jws = JSON.parse(body.toString()) as { protected: string; payload: string; signature: string }
      const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as Record<string, unknown>
      mode.edit(payload)
      jws.payload = Buffer.from(JSON.stringify(payload)).toString('base64url')
      body = Buffer.from(JSON.stringify(jws))
    } else if (isConfig && mode.kind === 'impostor') {
      const jws = JSON.parse(body.toString()) as { payload: string }
      const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as unknown
      const forged = await signJson(payload, { kid: 'hub', privateKey: mode.keys.privateJwk, typ: 'vantage-agent-config' })
      body = Buffer.from(JSON.stringify(forged))
    }
    proxy.seen.push(`${req.method} ${req.url} ${upstream.status}`)
    const out: Record<string, string> = {}
    upstream.headers.forEach((v, k) => {
      if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive') out[k] = v
    })
    res.writeHead(upstream.status, out).end(body)
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return proxy
}
