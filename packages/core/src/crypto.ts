import { createPrivateKey, createPublicKey, hash as nodeHash, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { toHex } from './bytes.js'
import { codedError } from './errors.js'

/**
 * The small crypto interface core depends on. Two backends: node:crypto (default in Node, 14-19x faster)
 * and @noble (pure JS, for browsers, devices and other runtimes). Both verify Ed25519 strictly
 * (RFC 8032: canonical S < L, canonical point encodings, no ZIP-215 leniency).
 */
export interface CryptoBackend {
  readonly name: 'node' | 'noble'
  sha256(data: Uint8Array): Uint8Array
  /** 32-byte Ed25519 seed (RFC 8032 private key) → 32-byte public key. */
  publicKey(seed: Uint8Array): Uint8Array
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** Bounded cache of parsed KeyObjects: parsing a DER key costs more than one verify. */
class KeyCache<T> {
  private readonly map = new Map<string, T>()
  constructor(private readonly max: number) {}
  get(key: Uint8Array, make: () => T): T {
    const k = toHex(key)
    let v = this.map.get(k)
    if (v === undefined) {
      v = make()
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as string)
      this.map.set(k, v)
    }
    return v
  }
}

export function nodePrivateKey(seed: Uint8Array): KeyObject {
  if (seed.byteLength !== 32) throw codedError(new TypeError('Ed25519 seed must be 32 bytes'), 'ERR_INVALID_ARGUMENT')
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

export function nodePublicKey(pub: Uint8Array): KeyObject {
  if (pub.byteLength !== 32) throw codedError(new TypeError('Ed25519 public key must be 32 bytes'), 'ERR_INVALID_ARGUMENT')
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' })
}

export function createNodeBackend(): CryptoBackend {
  const privs = new KeyCache<KeyObject>(1024)
  const pubs = new KeyCache<KeyObject | null>(16384)
  return {
    name: 'node',
    sha256: (data) => {
      const b = nodeHash('sha256', data, 'buffer') as unknown as Buffer
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
    },
    publicKey: (seed) => {
      const der = createPublicKey(nodePrivateKey(seed)).export({ format: 'der', type: 'spki' })
      return new Uint8Array(der.subarray(SPKI_PREFIX.length))
    },
    sign: (seed, message) => {
      const key = privs.get(seed, () => nodePrivateKey(seed))
      return new Uint8Array(nodeSign(null, message, key))
    },
    verify: (pub, message, signature) => {
      if (pub.byteLength !== 32 || signature.byteLength !== 64) return false
      const key = pubs.get(pub, () => {
        try {
          return nodePublicKey(pub)
        } catch {
          return null // not a point on the curve: every signature by it is invalid
        }
      })
      if (key === null) return false
      try {
        return nodeVerify(null, message, key, signature)
      } catch {
        return false
      }
    },
  }
}

export function createNobleBackend(): CryptoBackend {
  return {
    name: 'noble',
    sha256: (data) => nobleSha256(data),
    publicKey: (seed) => ed25519.getPublicKey(seed),
    sign: (seed, message) => ed25519.sign(message, seed),
    verify: (pub, message, signature) => {
      if (pub.byteLength !== 32 || signature.byteLength !== 64) return false
      try {
        return ed25519.verify(signature, message, pub, { zip215: false })
      } catch {
        return false
      }
    },
  }
}

let active: CryptoBackend = createNodeBackend()

/** The backend every core function uses. */
export function getCrypto(): CryptoBackend {
  return active
}

/** Swap the backend (tests cross-check both; non-Node runtimes install noble). */
export function setCrypto(backend: CryptoBackend): void {
  active = backend
}
