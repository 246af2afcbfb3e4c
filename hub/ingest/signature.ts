// Ed25519 verification for the hub with node:crypto, on the calling thread. In Node 20, WebCrypto's
// verify (what the portable envelope uses by default) runs on libuv's thread pool: two thread
// hops per batch, which under load cost more in latency (about 1.3 ms at the median) than the
// ~150 µs of CPU a 60 KB batch takes here, now that the event loop no longer writes to SQLite.
import { KeyObject, verify, type webcrypto } from 'node:crypto'
import type { SignatureVerifier } from '../../proto/envelope.ts'

const keyObjects = new WeakMap<object, KeyObject>()

/** A SignatureVerifier (proto/envelope.ts) that answers at once, with WebCrypto's answer. */
export const verifyNow: SignatureVerifier = (key, signature, data) => {
  let keyObject = keyObjects.get(key)
  if (!keyObject) keyObjects.set(key, (keyObject = KeyObject.from(key as webcrypto.CryptoKey)))
  try {
    return Promise.resolve(verify(null, data, keyObject, signature))
  } catch (err) {
    return Promise.reject(err)
  }
}
