// A local HTTP target whose answer can be switched while agents probe it, per source address:
// up for everyone, down (503) for everyone, a connection reset for one agent's address, or a
// Cloudflare managed challenge (403, `cf-mitigated: challenge`, the challenge page from the
// classifier's fixtures) for one. A `Network` shared by several targets cuts a source address
// off from all of them at once (an agent whose own network fails: its canaries fail too).
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { listen, type Listening } from './net-servers.ts'

export type Answer = 'up' | 'down' | 'reset' | 'challenge'

interface ChallengeCase {
  status: number
  headers: Record<string, string>
  body: string
}

/** Cloudflare's managed challenge, as recorded in test/fixtures/challenges/cloudflare.json. */
export const CLOUDFLARE_CHALLENGE: ChallengeCase = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'challenges', 'cloudflare.json'), 'utf8')) as { cases: (ChallengeCase & { label: string })[] }
).cases.find((c) => c.headers['cf-mitigated'] === 'challenge')!

/** Source addresses whose network is cut: every target of this network resets their connections. */
export class Network {
  readonly cut = new Set<string>()
}

export interface Hit {
  source: string
  /** The probe's identity header (undefined for a connection reset before the request was read). */
  agent: string | undefined
  answer: Answer
  at: number
}

export class SwitchableTarget {
  readonly hits: Hit[] = []
  private everyone: Answer = 'up'
  private bySource = new Map<string, Answer>()

  private constructor(
    private readonly listening: Listening,
    private readonly network: Network,
    readonly url: string,
  ) {}

  /** Listens on 127.0.0.1 port 0; `path` is appended to the URL (e.g. '/'). */
  static async start(network: Network, path = '/'): Promise<SwitchableTarget> {
    let target: SwitchableTarget | undefined
    const server = createServer((req, res) => target!.answer(req, res))
    // A reset happens at once, before any byte is read (and for kept-alive connections at the next request).
    server.on('connection', (socket) => {
      const source = (socket.remoteAddress ?? '').replace(/^::ffff:/, '')
      if (!target || target.answerFor(source) !== 'reset') return
      target.hits.push({ source, agent: undefined, answer: 'reset', at: Date.now() })
      socket.destroy()
    })
    const l = await listen(server)
    target = new SwitchableTarget(l, network, `http://127.0.0.1:${l.port}${path}`)
    return target
  }

  /** How to answer everyone, and the exceptions by source address (replacing earlier ones). */
  set(everyone: Answer, bySource: Record<string, Answer> = {}): void {
    this.everyone = everyone
    this.bySource = new Map(Object.entries(bySource))
  }

  answerFor(source: string): Answer {
    const address = source.replace(/^::ffff:/, '')
    if (this.network.cut.has(address)) return 'reset'
    return this.bySource.get(address) ?? this.everyone
  }

  close(): Promise<void> {
    return this.listening.close()
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const source = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
    const answer = this.answerFor(source)
    this.hits.push({ source, agent: req.headers['x-vantage-probe'] as string | undefined, answer, at: Date.now() })
    switch (answer) {
      case 'reset':
        req.socket.destroy()
        return
      case 'down':
        res.writeHead(503, { 'content-type': 'text/plain' }).end('down for everyone\n')
        return
      case 'challenge':
        res.writeHead(CLOUDFLARE_CHALLENGE.status, CLOUDFLARE_CHALLENGE.headers).end(CLOUDFLARE_CHALLENGE.body)
        return
      case 'up':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Shop</title><h1>Shop</h1>\n')
    }
  }
}
