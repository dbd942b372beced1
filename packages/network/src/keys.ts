import { privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import {
  peerIdFromPublicKey as libp2pPeerIdFromPublicKey,
  peerIdFromPrivateKey,
  peerIdFromString,
} from '@libp2p/peer-id'
import { concatBytes, fromHex, type KeyPair, toHex } from '@profichain/core'
import { NetworkError } from './errors.js'

/** The node's Ed25519 key as a libp2p PrivateKey (the same key is the node's libp2p identity). */
export function libp2pPrivateKey(key: KeyPair): PrivateKey {
  // privateKeyFromRaw needs seed ‖ pub (64 bytes): a 32-byte input is silently read as secp256k1.
  if (key.seed.byteLength !== 32 || key.publicKey.byteLength !== 32)
    throw new NetworkError('ERR_CONFIG', 'Ed25519 seed and public key must be 32 bytes each')
  return privateKeyFromRaw(concatBytes(key.seed, key.publicKey))
}

/** PeerId string ("12D3KooW…") of our own key. */
export function peerIdOfKey(key: KeyPair): string {
  return peerIdFromPrivateKey(libp2pPrivateKey(key)).toString()
}

/** PeerId (string) of a raw 32-byte Ed25519 public key (or its hex). */
export function peerIdFromPublicKey(publicKey: Uint8Array | string): string {
  return peerIdObjectFromPublicKey(publicKey).toString()
}

/** PeerId object of a raw 32-byte Ed25519 public key (or its hex). */
export function peerIdObjectFromPublicKey(publicKey: Uint8Array | string): PeerId {
  const raw = typeof publicKey === 'string' ? fromHex(publicKey) : publicKey
  if (raw.byteLength !== 32)
    throw new NetworkError('ERR_CONFIG', `an Ed25519 public key is 32 bytes, got ${raw.byteLength}`)
  return libp2pPeerIdFromPublicKey(publicKeyFromRaw(raw))
}

/** Raw 32-byte Ed25519 public key of a PeerId (string or object); throws for non-Ed25519 ids. */
export function publicKeyOfPeer(peer: string | PeerId): Uint8Array {
  const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
  if (id.type !== 'Ed25519' || id.publicKey === undefined)
    throw new NetworkError('ERR_NOT_MEMBER', `peer ${id.toString()} does not have an Ed25519 identity`)
  return id.publicKey.raw
}

/** Hex public key of a PeerId, or undefined when it is not an Ed25519 id. */
export function publicKeyHexOfPeer(peer: string | PeerId): string | undefined {
  try {
    return toHex(publicKeyOfPeer(peer))
  } catch {
    return undefined
  }
}
