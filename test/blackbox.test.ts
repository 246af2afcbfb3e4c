// Side by side with the real blackbox_exporter: on the same loopback targets our engine must
// report what the reference tool reports. DESIGN.md ("The result") defines our fields by
// blackbox's metrics: success = probe_success, http.status_code = probe_http_status_code,
// tls.earliest_cert_expiry = probe_ssl_earliest_cert_expiry, tls.last_chain_expiry =
// probe_ssl_last_chain_expiry_timestamp_seconds, tls.version = probe_tls_version_info{version}.
import { once } from 'node:events'
import { createServer as createHttpServer, type RequestListener } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTlsServer } from 'node:tls'
import type { Server, Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SMTPServer } from 'smtp-server'
import type { CheckSpec } from '../proto/check.ts'
import type { CheckType, ProbeResult } from '../proto/result.ts'
import { nullLogger, systemClock, type Probe } from '../agent/core/probe.ts'
import { runProbe, type RunOptions } from '../agent/core/run.ts'
import { probeHttp } from '../agent/probes/http.ts'
import { probeTls } from '../agent/probes/tls.ts'
import { probeTcp } from '../agent/probes/tcp.ts'
import { probeDns } from '../agent/probes/dns.ts'
import { probeSmtp } from '../agent/probes/smtp.ts'
import { blackboxAvailable, blackboxSkipReason, freePort, startBlackbox, type Blackbox, type Samples } from './helpers/blackbox.ts'
import { testPki, type TestCert, type TestPki } from './helpers/certs.ts'
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.ts'

/** Go's zero time.Time as unix seconds: what blackbox 0.23 reports as last chain expiry when it verified nothing. */
const GO_ZERO_TIME = -62135596800

// CI installs blackbox_exporter: there, a missing binary is a failure, not a skip.
if (!blackboxAvailable) {
  if (process.env.CI) throw new Error(blackboxSkipReason)
  console.warn(`skipping blackbox_exporter side-by-side tests: ${blackboxSkipReason}`)
}

describe.skipIf(!blackboxAvailable)('our engine vs blackbox_exporter, same targets', () => {
  let pki: TestPki
  let bb: Blackbox
  let opts: RunOptions
  const cleanups: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    pki = await testPki()
    // Both sides trust the test root and the short-lived root (blackbox only these; we add them to the system roots).
    const ca = pki.caPem + pki.shortCa.certPem
    opts = {
      identity: { agent_id: 'test-1', vantage: 'test', region: 'local' },
      agent_id: 'test-1',
      logger: nullLogger,
      clock: systemClock,
      secrets: {},
      ca,
    }
    bb = await startBlackbox({
      ca,
      dnsQueryName: 'vantage.test',
      modules: {
        dns_missing: {
          prober: 'dns',
          timeout: '5s',
          dns: { preferred_ip_protocol: 'ip4', transport_protocol: 'udp', query_name: 'missing.vantage.test', query_type: 'A' },
        },
      },
    })
    cleanups.push(() => bb.stop())
  })

  afterAll(async () => {
    await Promise.allSettled(cleanups.map((c) => c()))
  })

  // --- targets -------------------------------------------------------------------------------

  /** Listens on 127.0.0.1:0; afterAll destroys its open connections and closes it. */
  async function listen(server: Server): Promise<number> {
    const sockets = new Set<Socket>()
    server.on('connection', (s: Socket) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    })
    // Probes hang up abruptly (e.g. right after the handshake): not the test's concern.
    server.on('tlsClientError', () => {})
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(async () => {
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    })
    return (server.address() as { port: number }).port
  }

  const hello: RequestListener = (req, res) => {
    res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' })
    res.end('hello\n')
  }

  async function https(cert: TestCert, sendChain = true): Promise<string> {
    const key = cert.keyPem
    const port = await listen(createHttpsServer({ key, cert: sendChain ? cert.chainPem : cert.certPem }, hello))
    return `https://127.0.0.1:${port}/`
  }

  /** A TLS server that speaks no application protocol: what `tls_connect` and probeTls handshake with. */
  async function tlsOnly(cert: TestCert, { sendChain = true, maxVersion }: { sendChain?: boolean; maxVersion?: 'TLSv1.2' } = {}): Promise<string> {
    const server = createTlsServer({ key: cert.keyPem, cert: sendChain ? cert.chainPem : cert.certPem, maxVersion }, (socket) => {
      socket.on('error', () => {})
    })
    return `127.0.0.1:${await listen(server)}`
  }

  // --- the two sides -------------------------------------------------------------------------

  function check(type: CheckType, target: string, extra: Partial<CheckSpec> = {}): CheckSpec {
    return { name: 'side-by-side', type, target, interval_ms: 60_000, timeout_ms: 5_000, ...extra }
  }

  const ours = (probe: Probe, spec: CheckSpec) => runProbe(probe, spec, opts)

  function expectSameSuccess(o: ProbeResult, t: Samples): void {
    const why = `ours: ${o.error_code ?? 'ok'} ${o.error ?? ''}; blackbox probe_success=${t.value('probe_success')}`
    expect(o.success, why).toBe(t.value('probe_success') === 1)
  }

  /** TLS facts, when blackbox completed a handshake (it reports nothing after a failed verification). */
  function expectSameTls(o: ProbeResult, t: Samples): void {
    const version = t.find('probe_tls_version_info')
    expect(version, 'blackbox reported a TLS handshake').toBeDefined()
    expect(o.tls, 'our tls block').toBeTruthy()
    expect(o.tls!.version, 'tls.version vs probe_tls_version_info{version}').toBe(version!.labels.version)
    expect(o.tls!.earliest_cert_expiry, 'tls.earliest_cert_expiry vs probe_ssl_earliest_cert_expiry').toBe(
      t.value('probe_ssl_earliest_cert_expiry'),
    )
    const lastChain = t.value('probe_ssl_last_chain_expiry_timestamp_seconds')
    expect(o.tls!.last_chain_expiry ?? null, 'tls.last_chain_expiry vs probe_ssl_last_chain_expiry_timestamp_seconds').toBe(
      lastChain === GO_ZERO_TIME || lastChain === undefined ? null : lastChain,
    )
  }

  async function sideBySideHttp(module: string, spec: CheckSpec) {
    const t = await bb.probe(module, spec.target)
    const o = await ours(probeHttp, spec)
    expectSameSuccess(o, t)
    expect(o.http?.status_code ?? 0, 'http.status_code vs probe_http_status_code').toBe(t.value('probe_http_status_code'))
    if (t.find('probe_tls_version_info')) expectSameTls(o, t)
    else expect(t.value('probe_http_ssl') ?? 0).toBe(0)
    return { o, t }
  }

  async function sideBySide(probe: Probe, module: string, spec: CheckSpec, bbTarget = spec.target) {
    const t = await bb.probe(module, bbTarget)
    const o = await ours(probe, spec)
    expectSameSuccess(o, t)
    if (t.find('probe_tls_version_info')) expectSameTls(o, t)
    return { o, t }
  }

  // --- HTTP ----------------------------------------------------------------------------------

  describe('http', () => {
    it('plain HTTP 200', async () => {
      const port = await listen(createHttpServer(hello))
      const { o, t } = await sideBySideHttp('http_2xx', check('http', `http://127.0.0.1:${port}/`))
      expect(t.value('probe_http_status_code')).toBe(200)
      expect(o.tls ?? null).toBeNull()
    })

    it('plain HTTP 404 fails both', async () => {
      const port = await listen(createHttpServer(hello))
      const { t } = await sideBySideHttp('http_2xx', check('http', `http://127.0.0.1:${port}/missing`))
      expect(t.value('probe_http_status_code')).toBe(404)
    })

    it('closed port fails both', async () => {
      const port = await freePort()
      const { t } = await sideBySideHttp('http_2xx', check('http', `http://127.0.0.1:${port}/`))
      expect(t.value('probe_success')).toBe(0)
    })

    it('HTTPS with a valid chain from the test CA', async () => {
      const { t } = await sideBySideHttp('http_2xx', check('http', await https(pki.leaves.valid)))
      expect(t.value('probe_ssl_earliest_cert_expiry')).toBe(pki.leaves.valid.notAfter)
    })

    it('HTTPS under a root that expires before the leaf: last chain expiry is the root', async () => {
      const { t } = await sideBySideHttp('http_2xx', check('http', await https(pki.leaves.underShortCa)))
      // The setup means what it says: the two fields differ, so agreeing on both is meaningful.
      expect(t.value('probe_ssl_earliest_cert_expiry')).toBe(pki.leaves.underShortCa.notAfter)
      expect(t.value('probe_ssl_last_chain_expiry_timestamp_seconds')).toBe(pki.shortCa.notAfter)
    })

    // A known, deliberate difference: Go's insecure_skip_verify skips verification altogether, so
    // blackbox reports year 1 as the last chain expiry; we verify anyway (to report chain_valid),
    // so a valid chain keeps its real expiry. Everything else must agree.
    it('HTTPS with a valid chain, insecure: same facts, and we keep the last chain expiry', async () => {
      const target = await https(pki.leaves.valid)
      const t = await bb.probe('http_insecure', target)
      const o = await ours(probeHttp, check('http', target, { tls: { insecure: true } }))
      expectSameSuccess(o, t)
      expect(o.http?.status_code).toBe(t.value('probe_http_status_code'))
      expect(o.tls?.version).toBe(t.find('probe_tls_version_info')?.labels.version)
      expect(o.tls?.earliest_cert_expiry).toBe(t.value('probe_ssl_earliest_cert_expiry'))
      expect(t.value('probe_ssl_last_chain_expiry_timestamp_seconds')).toBe(GO_ZERO_TIME)
      expect(o.tls?.last_chain_expiry).toBe(pki.leaves.valid.notAfter)
    })
  })

  // Certificates that fail verification: verifying, both fail and blackbox reports no TLS facts,
  // so our (still filled) tls block is checked against blackbox's insecure look at the same server;
  // insecure, both succeed and must agree on everything.
  const broken = [
    { name: 'expired', leaf: 'expired' },
    { name: 'not yet valid', leaf: 'notYetValid' },
    { name: 'self-signed', leaf: 'selfSigned' },
    { name: 'wrong host', leaf: 'wrongHost' },
    { name: 'incomplete chain', leaf: 'incomplete', sendChain: false },
  ] as const

  describe.each(broken)('HTTPS with a broken certificate: $name', ({ leaf, ...rest }) => {
    const sendChain = 'sendChain' in rest ? rest.sendChain : true
    let target: string
    beforeAll(async () => {
      target = await https(pki.leaves[leaf], sendChain)
    })

    it('verifying: both fail; our tls block matches what blackbox sees without verifying', async () => {
      const { o, t } = await sideBySideHttp('http_2xx', check('http', target))
      expect(t.value('probe_success')).toBe(0)
      expect(t.find('probe_tls_version_info')).toBeUndefined()
      const seen = await bb.probe('http_insecure', target)
      expect(o.tls, 'tls block filled despite the failed verification').toBeTruthy()
      expect(o.tls!.version).toBe(seen.find('probe_tls_version_info')!.labels.version)
      expect(o.tls!.earliest_cert_expiry).toBe(seen.value('probe_ssl_earliest_cert_expiry'))
      expect(o.tls!.chain_valid && o.tls!.hostname_valid).toBe(false)
    })

    it('insecure: both succeed and agree', async () => {
      const { t } = await sideBySideHttp('http_insecure', check('http', target, { tls: { insecure: true } }))
      expect(t.value('probe_success')).toBe(1)
    })
  })

  // --- TLS and TCP -----------------------------------------------------------------------------

  describe('tls', () => {
    it('TLS 1.3 server with a valid chain', async () => {
      const target = await tlsOnly(pki.leaves.valid)
      const { t } = await sideBySide(probeTls, 'tls_connect', check('tls', target))
      expect(t.find('probe_tls_version_info')?.labels.version).toBe('TLS 1.3')
    })

    it('TLS 1.2-only server', async () => {
      const target = await tlsOnly(pki.leaves.valid, { maxVersion: 'TLSv1.2' })
      const { t } = await sideBySide(probeTls, 'tls_connect', check('tls', target))
      expect(t.find('probe_tls_version_info')?.labels.version).toBe('TLS 1.2')
    })

    it('root that expires before the leaf', async () => {
      const target = await tlsOnly(pki.leaves.underShortCa)
      const { t } = await sideBySide(probeTls, 'tls_connect', check('tls', target))
      expect(t.value('probe_ssl_last_chain_expiry_timestamp_seconds')).toBe(pki.shortCa.notAfter)
    })

    it.each(broken)('$name certificate: verifying fails both, insecure passes both', async ({ leaf, ...rest }) => {
      const server = await tlsOnly(pki.leaves[leaf], { sendChain: 'sendChain' in rest ? rest.sendChain : true })
      const verifying = await sideBySide(probeTls, 'tls_connect', check('tls', server))
      expect(verifying.t.value('probe_success')).toBe(0)
      const seen = await bb.probe('tls_insecure', server)
      expect(verifying.o.tls?.earliest_cert_expiry).toBe(seen.value('probe_ssl_earliest_cert_expiry'))
      const insecure = await sideBySide(probeTls, 'tls_insecure', check('tls', server, { tls: { insecure: true } }))
      expect(insecure.t.value('probe_success')).toBe(1)
    })

    it('closed port fails both', async () => {
      const port = await freePort()
      await sideBySide(probeTls, 'tls_connect', check('tls', `127.0.0.1:${port}`))
    })
  })

  describe('tcp', () => {
    it('open port', async () => {
      const port = await listen(createHttpServer(hello))
      const { t } = await sideBySide(probeTcp, 'tcp_connect', check('tcp', `127.0.0.1:${port}`))
      expect(t.value('probe_success')).toBe(1)
    })

    it('closed port', async () => {
      const port = await freePort()
      const { t } = await sideBySide(probeTcp, 'tcp_connect', check('tcp', `127.0.0.1:${port}`))
      expect(t.value('probe_success')).toBe(0)
    })

    it('TLS on connect', async () => {
      const target = await tlsOnly(pki.leaves.valid)
      await sideBySide(probeTcp, 'tls_connect', check('tcp', target, { tcp: { tls: true } }))
    })
  })

  // --- DNS and SMTP ----------------------------------------------------------------------------

  describe('dns', () => {
    let dns: TestDnsServer
    beforeAll(async () => {
      dns = await startDnsServer({ zone: { 'vantage.test': [{ type: 'A', data: '192.0.2.1' }, { type: 'A', data: '192.0.2.2' }] } })
      cleanups.push(() => dns.close())
    })

    it('existing name: both succeed with the same number of answers', async () => {
      const spec = check('dns', 'vantage.test', { dns: { server: dns.address } })
      const { o, t } = await sideBySide(probeDns, 'dns_a', spec, dns.address)
      expect(t.value('probe_success')).toBe(1)
      expect(o.dns?.answers.length).toBe(t.value('probe_dns_answer_rrs'))
    })

    it('NXDOMAIN: both fail', async () => {
      const spec = check('dns', 'missing.vantage.test', { dns: { server: dns.address } })
      const { t } = await sideBySide(probeDns, 'dns_missing', spec, dns.address)
      expect(t.value('probe_success')).toBe(0)
    })
  })

  describe('smtp', () => {
    it('STARTTLS: both succeed and agree on the certificate', async () => {
      const cert = pki.leaves.valid
      const smtp = new SMTPServer({ key: cert.keyPem, cert: cert.chainPem, authOptional: true, logger: false })
      smtp.on('error', () => {})
      const port = await listen(smtp.server as Server)
      const { o, t } = await sideBySide(probeSmtp, 'smtp_starttls', check('smtp', `127.0.0.1:${port}`, { smtp: { starttls: true } }))
      expect(t.value('probe_success'), t.text).toBe(1)
      expect(o.smtp?.starttls).toBe(true)
    })
  })

  // --- duration --------------------------------------------------------------------------------

  it('duration on a target that answers after 50 ms matches probe_duration_seconds', async () => {
    const port = await listen(createHttpServer((req, res) => setTimeout(() => hello(req, res), 50)))
    const spec = check('http', `http://127.0.0.1:${port}/`)
    // Alternate the two sides and take medians: two cores make single runs noisy.
    const mine: number[] = []
    const theirs: number[] = []
    for (let i = 0; i < 7; i++) {
      const t = await bb.probe('http_2xx', spec.target)
      expect(t.value('probe_success')).toBe(1)
      theirs.push(t.value('probe_duration_seconds')!)
      const o = await ours(probeHttp, spec)
      expect(o.success).toBe(true)
      mine.push(o.duration_seconds)
    }
    const ourMedian = median(mine)
    const theirMedian = median(theirs)
    const tolerance = Math.max(0.2 * theirMedian, 0.005)
    expect(theirMedian).toBeGreaterThanOrEqual(0.05)
    expect(
      Math.abs(ourMedian - theirMedian),
      `ours ${ourMedian.toFixed(4)}s vs blackbox ${theirMedian.toFixed(4)}s (runs: ${fmt(mine)} / ${fmt(theirs)})`,
    ).toBeLessThanOrEqual(tolerance)
  })
})

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const fmt = (xs: number[]) => xs.map((x) => x.toFixed(4)).join(' ')
