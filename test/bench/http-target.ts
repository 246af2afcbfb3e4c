// The benchmark's HTTP target, run as its own process so its CPU is counted for neither side.
// Prints {"port": N} once listening; exits when its parent closes stdin.
import { createServer } from 'node:http'

const body = Buffer.from('ok\n')
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
  res.end(body)
})
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(JSON.stringify({ port }) + '\n')
})
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
