import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { Aes256Gcm, CipherSuite, HkdfSha256 } from '@hpke/core'
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519'
import { fromHex, isHex, toHex } from '@profichain/core'
import { BrokerError } from './errors.js'

/** A network's X25519 key pair for HPKE, both raw 32-byte keys (RFC 7748). */
export interface HpkeKeyPair {
  readonly publicKey: Uint8Array
  readonly privateKey: Uint8Array
}

/** RFC 9180 suite of the link: DHKEM(X25519, HKDF-SHA256) 0x0020, HKDF-SHA256 0x0001, AES-256-GCM 0x0002. */
export function hpkeSuite(): CipherSuite {
  return new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() })
}

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

function raw(jwkField: string | undefined): Uint8Array {
  return new Uint8Array(Buffer.from(jwkField as string, 'base64url'))
}

/** A fresh X25519 key pair for a network's config (store the private key as secretly as a node key). */
export function generateHpkeKeyPair(): HpkeKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  return { privateKey: raw(privateKey.export({ format: 'jwk' }).d), publicKey: raw(publicKey.export({ format: 'jwk' }).x) }
}

/** The key pair of a raw 32-byte X25519 private key (the public key is derived). */
export function hpkeKeyPairFromPrivateKey(privateKey: Uint8Array): HpkeKeyPair {
  checkKey(privateKey, 'HPKE private key')
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' })
  return { privateKey: Uint8Array.from(privateKey), publicKey: raw(createPublicKey(key).export({ format: 'jwk' }).x) }
}

/** A 64-hex-digit X25519 public key (as the config stores it) → its 32 bytes. */
export function hpkePublicKeyFromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !isHex(hex, 32)) {
    throw new BrokerError('ERR_BROKER_ARGUMENT', 'an HPKE (X25519) public key must be 64 hex digits (32 bytes)')
  }
  return fromHex(hex)
}

/** A 32-byte X25519 public key → 64 lowercase hex digits. */
export function hpkePublicKeyToHex(publicKey: Uint8Array): string {
  checkKey(publicKey, 'HPKE public key')
  return toHex(publicKey)
}

export function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.byteLength !== 32) {
    throw new BrokerError('ERR_BROKER_ARGUMENT', `${what} must be 32 bytes (a raw X25519 key)`)
  }
}
