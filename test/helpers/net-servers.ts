// Real loopback servers for probe tests: listen on port 0, remember every connection, and
// close everything (connections included) when the test is done.
import type { AddressInfo } from 'node:net'
import type net from 'node:net'

export interface Listening {
  port: number
  /** Every connection accepted, in order. */
  connections: net.Socket[]
  /** Resolves when accepted connection #n (0-based) has closed on the server side. */
  closed(n: number): Promise<void>
  close(): Promise<void>
}

export async function listen(server: net.Server, host = '127.0.0.1'): Promise<Listening> {
  const connections: net.Socket[] = []
  const closings: Promise<void>[] = []
  // TLS servers hand out the raw socket on 'connection' too, before any handshake.
  server.on('connection', (socket: net.Socket) => {
    connections.push(socket)
    const closing = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    closings.push(closing)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    closed: (n) => closings[n] ?? Promise.reject(new Error(`no connection #${n} was accepted`)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of connections) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** A port with nothing listening on it (bound, then released). */
export async function closedPort(server: net.Server): Promise<number> {
  const l = await listen(server)
  await l.close()
  return l.port
}
