import { blockHash, type BlockHeader } from './block.js'
import { decodeCbor, encodeCbor, read } from './codec.js'
import { getCrypto } from './crypto.js'
import { CodecError } from './errors.js'
import type { KeyPair } from './keys.js'

/**
 * A validator's co-signature of a block (quorum consensus, DESIGN §5), gossiped on
 * `/profichain/<network>/vote/1`. `signature` is Ed25519 by `signer` over the 32-byte block hash: the same
 * bytes as a header signature, so a vote becomes a `HeaderSignature` { signer, signature } of the block.
 *
 * Wire form (docs/network.md, "Votes"): [1, network, height, blockHash, signer, signature], deterministic CBOR.
 */
export interface Vote {
  network: string
  height: number
  blockHash: Uint8Array
  signer: Uint8Array
  signature: Uint8Array
}

export const VOTE_VERSION = 1
/** Largest encoded vote (network id ≤ 64 bytes). */
export const MAX_VOTE_BYTES = 256

/** Sign a vote for block `hash` at `height` (signature over the block hash). */
export function signVote(network: string, height: number, hash: Uint8Array, key: KeyPair): Vote {
  return {
    network,
    height,
    blockHash: hash,
    signer: key.publicKey,
    signature: getCrypto().sign(key.seed, hash),
  }
}

/** A vote for this header, signed by `key`. */
export function voteForHeader(header: BlockHeader, key: KeyPair): Vote {
  return signVote(header.network, header.height, blockHash(header), key)
}

/** Is the vote's signature valid for its block hash? (Says nothing about whether the signer is a validator.) */
export function verifyVote(v: Vote): boolean {
  return getCrypto().verify(v.signer, v.blockHash, v.signature)
}

export function encodeVote(v: Vote): Uint8Array {
  return encodeCbor([VOTE_VERSION, v.network, v.height, v.blockHash, v.signer, v.signature])
}

/** Decode a vote (shape and sizes only; the signature is not checked). Throws CodecError only. */
export function decodeVote(bytes: Uint8Array): Vote {
  if (bytes.byteLength > MAX_VOTE_BYTES)
    throw new CodecError(`vote: ${bytes.byteLength} bytes exceeds ${MAX_VOTE_BYTES}`)
  const a = read.array(decodeCbor(bytes, 'vote'), 6, 'vote')
  const version = read.uint(a[0], 'vote.version')
  if (version !== VOTE_VERSION) throw new CodecError(`vote: unsupported version ${version}`)
  return {
    network: read.text(a[1], 'vote.network', 64),
    height: read.uint(a[2], 'vote.height'),
    blockHash: read.bytes(a[3], 'vote.blockHash', 32),
    signer: read.bytes(a[4], 'vote.signer', 32),
    signature: read.bytes(a[5], 'vote.signature', 64),
  }
}
