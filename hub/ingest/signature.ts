// Ed25519 verification for the hub on libuv's thread pool. WebCrypto's verify (what the portable
// envelope uses by default) does its work on the calling thread in Node 20: ~150 µs of the event
// loop per 60 KB batch. node:crypto's verify with a callback hashes and verifies on the pool.
import { KeyObject, verify, type webcrypto } from 'node:crypto'
import type { SignatureVerifier } from '../../proto/envelope.ts'

const keyObjects = new WeakMap<object, KeyObject>()

/** A SignatureVerifier (proto/envelope.ts) that keeps the event loop free. */
export const verifyOnThreadPool: SignatureVerifier = (key, signature, data) => {
  let keyObject = keyObjects.get(key)
  if (!keyObject) keyObjects.set(key, (keyObject = KeyObject.from(key as webcrypto.CryptoKey)))
  const k = keyObject
  return new Promise((resolve, reject) => verify(null, data, k, signature, (err, ok) => (err ? reject(err) : resolve(ok))))
}
