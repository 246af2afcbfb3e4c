// Test PKI generated in the test process (nothing committed): a root CA, an intermediate CA and
// one leaf per failure a TLS probe must tell apart. ECDSA P-256 keeps generation fast; the
// result is cached per process. Validity times are whole seconds and exported, so tests can
// assert expiry fields exactly.
import './reflect-metadata.ts'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

type KeyPair = webcrypto.CryptoKeyPair

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const DAY = 86_400

export interface TestCert {
  certPem: string
  /** PKCS#8 PEM, as tls.createServer wants it. */
  keyPem: string
  /** certPem followed by the intermediate (what a correctly configured server sends). */
  chainPem: string
  /** Unix seconds. */
  notBefore: number
  notAfter: number
  /** Subject as the probe spells it ("CN=...,O=..."). */
  subject: string
  /** Lower-case hex, as the probe reports it. */
  serial: string
}

export interface TestCa {
  certPem: string
  keyPem: string
  notBefore: number
  notAfter: number
  subject: string
  serial: string
}

export interface TestPki {
  /** Generation time (unix seconds); every validity below is relative to it. */
  now: number
  caPem: string
  intermediatePem: string
  ca: TestCa
  intermediate: TestCa
  /** A separate root that expires (in 10 days) before the leaf it signs (60 days). */
  shortCa: TestCa
  leaves: {
    /** localhost, 127.0.0.1 and ::1; signed by the intermediate. */
    valid: TestCert
    expired: TestCert
    notYetValid: TestCert
    selfSigned: TestCert
    /** SAN wrong.example only. */
    wrongHost: TestCert
    /** Expires in one hour. */
    shortLived: TestCert
    /** Signed by the intermediate; serve certPem alone to get an incomplete chain. */
    incomplete: TestCert
    /** Signed directly by shortCa, outliving it. */
    underShortCa: TestCert
  }
}

const ORG = 'Vantage Test'
const LOCAL_NAMES: x509.JsonGeneralName[] = [
  { type: 'dns', value: 'localhost' },
  { type: 'ip', value: '127.0.0.1' },
  { type: 'ip', value: '::1' },
]

let cached: Promise<TestPki> | undefined

/** The test PKI, generated once per process. */
export function testPki(): Promise<TestPki> {
  cached ??= generate()
  return cached
}

interface Issued {
  cert: x509.X509Certificate
  keys: KeyPair
  pem: string
  keyPem: string
  notBefore: number
  notAfter: number
  subject: string
}

let serialCounter = 0x10

async function generate(): Promise<TestPki> {
  const now = Math.floor(Date.now() / 1000)
  const root = await issue({ cn: 'Vantage Test Root CA', from: now - DAY, to: now + 3650 * DAY, ca: true })
  const inter = await issue({ cn: 'Vantage Test Intermediate CA', from: now - DAY, to: now + 1825 * DAY, ca: true, issuer: root })
  const shortRoot = await issue({ cn: 'Vantage Test Short CA', from: now - DAY, to: now + 10 * DAY, ca: true })

  const leaf = async (cn: string, from: number, to: number, issuer: Issued | null, names = LOCAL_NAMES): Promise<TestCert> => {
    const l = await issue({ cn, from, to, ca: false, issuer, names })
    const chain = issuer === inter ? l.pem + inter.pem : l.pem
    return {
      certPem: l.pem,
      keyPem: l.keyPem,
      chainPem: chain,
      notBefore: l.notBefore,
      notAfter: l.notAfter,
      subject: l.subject,
      serial: l.cert.serialNumber.toLowerCase(),
    }
  }

  const leaves = {
    valid: await leaf('localhost', now - DAY, now + 90 * DAY, inter),
    expired: await leaf('expired.localhost', now - 30 * DAY, now - DAY, inter),
    notYetValid: await leaf('future.localhost', now + DAY, now + 30 * DAY, inter),
    selfSigned: await leaf('self-signed.localhost', now - DAY, now + 90 * DAY, null),
    wrongHost: await leaf('wrong.example', now - DAY, now + 90 * DAY, inter, [{ type: 'dns', value: 'wrong.example' }]),
    shortLived: await leaf('short.localhost', now - 60, now + 3600, inter),
    incomplete: await leaf('incomplete.localhost', now - DAY, now + 90 * DAY, inter),
    underShortCa: await leaf('short-ca.localhost', now - DAY, now + 60 * DAY, shortRoot),
  }
  const caOf = (c: Issued): TestCa => ({
    certPem: c.pem,
    keyPem: c.keyPem,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    subject: c.subject,
    serial: c.cert.serialNumber.toLowerCase(),
  })
  return {
    now,
    caPem: root.pem,
    intermediatePem: inter.pem,
    ca: caOf(root),
    intermediate: caOf(inter),
    shortCa: caOf(shortRoot),
    leaves,
  }
}

interface IssueParams {
  cn: string
  from: number
  to: number
  ca: boolean
  /** null or absent: self-signed. */
  issuer?: Issued | null
  names?: x509.JsonGeneralName[]
}

async function issue(p: IssueParams): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair
  // ASN.1 order O then CN, the usual layout; the probe prints it as "CN=...,O=...".
  const name = `O=${ORG}, CN=${p.cn}`
  // Two hex digits below 0x80: a minimal, positive DER INTEGER.
  const serialNumber = (serialCounter++).toString(16)
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(p.ca, p.ca ? 1 : undefined, true),
    new x509.KeyUsagesExtension(
      p.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ]
  if (!p.ca) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]))
  if (p.names) extensions.push(new x509.SubjectAlternativeNameExtension(p.names))
  const common = {
    serialNumber,
    notBefore: new Date(p.from * 1000),
    notAfter: new Date(p.to * 1000),
    signingAlgorithm: ALG,
  }
  let cert: x509.X509Certificate
  if (p.issuer) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(p.issuer.keys.publicKey))
    cert = await x509.X509CertificateGenerator.create({
      ...common,
      subject: name,
      issuer: p.issuer.cert.subject,
      publicKey: keys.publicKey,
      signingKey: p.issuer.keys.privateKey,
      extensions,
    })
  } else {
    cert = await x509.X509CertificateGenerator.createSelfSigned({ ...common, name, keys, extensions })
  }
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return {
    cert,
    keys,
    pem: cert.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
    notBefore: p.from,
    notAfter: p.to,
    subject: `CN=${p.cn},O=${ORG}`,
  }
}
