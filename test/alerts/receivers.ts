// A real local HTTP server that records what it is sent (Alertmanager's notifications, the hub's
// webhook), answering with the statuses a test queues.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  path: string
  headers: IncomingHttpHeaders
  raw: Buffer
  json: Record<string, unknown>
  status: number
}

export interface RecordingServer {
  url: string
  received: Received[]
  /** Statuses for the next requests, in order; then 200. */
  respond(...statuses: number[]): void
  close(): Promise<void>
}

export async function recordingServer(): Promise<RecordingServer> {
  const received: Received[] = []
  const statuses: number[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      let json: Record<string, unknown> = {}
      try {
        json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>
      } catch {
        // recorded raw
      }
      const status = statuses.shift() ?? 200
      received.push({ path: req.url ?? '', headers: req.headers, raw, json, status })
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : `status ${status}`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    respond: (...s) => void statuses.push(...s),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
