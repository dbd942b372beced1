import { equalBytes, toHex } from './bytes.js'
import { type CborValue, cborHead, decodeCbor, encodeCbor, read } from './codec.js'
import { getCrypto } from './crypto.js'
import { CodecError, ValidationError } from './errors.js'
import { sha256 } from './hash.js'
import type { KeyPair } from './keys.js'
import { FORMAT_VERSION, LIMITS } from './limits.js'
import { leafHash, merkleRoot } from './merkle.js'
import { decodeStrippedTx, type StrippedTx, type TxRules, encodeStrippedTx, strippedTxFromCbor, txId, txIdHex, validateTx } from './transaction.js'
import { fastSplitBlock } from './tx-fast-decode.js'
import { StrippedTxObject } from './tx-objects.js'

/** The hashed part of a block header (DESIGN §3). */
export interface HeaderBody {
  version: number
  network: string
  height: number
  timestamp: number
  prevHash: Uint8Array
  merkleRoot: Uint8Array
  txCount: number
  /** Consensus fields: meaning depends on the consensus (authority: in-turn weight; work: leading zero bits). */
  difficulty: number
  nonce: number
  /** Producer's Ed25519 public key. */
  producer: Uint8Array
}

export interface HeaderSignature {
  signer: Uint8Array
  signature: Uint8Array
}

/** Header = body + signatures over the block hash (a quorum can add signatures without changing the hash). */
export interface BlockHeader extends HeaderBody {
  signatures: HeaderSignature[]
}

/** Header + stripped txs; payloads travel separately. */
export interface Block {
  header: BlockHeader
  txs: StrippedTx[]
}

export const ZERO_HASH = new Uint8Array(32)

function headerBodyToCbor(h: HeaderBody): CborValue {
  return [h.version, h.network, h.height, h.timestamp, h.prevHash, h.merkleRoot, h.txCount, h.difficulty, h.nonce, h.producer]
}

function headerToCbor(h: BlockHeader): CborValue {
  return [headerBodyToCbor(h), h.signatures.map((s) => [s.signer, s.signature])]
}

export function encodeHeaderBody(h: HeaderBody): Uint8Array {
  return encodeCbor(headerBodyToCbor(h))
}

export function encodeHeader(h: BlockHeader): Uint8Array {
  return encodeCbor(headerToCbor(h))
}

// [header, [stripped...]] assembled from the txs' memoised stripped encodings (deterministic CBOR of a
// definite-length array is its head followed by its items' encodings): encoding every tx of a block again
// for gossip and sync cost 5 % of a devnet full node's main thread. Same bytes (tested against encodeCbor).
export function encodeBlock(b: Block): Uint8Array {
  const header = encodeCbor(headerToCbor(b.header))
  const txs = b.txs.map((t) => encodeStrippedTx(t))
  const head = cborHead(4, txs.length)
  let size = 1 + header.byteLength + head.byteLength
  for (const t of txs) size += t.byteLength
  const out = new Uint8Array(size)
  out[0] = 0x82
  out.set(header, 1)
  let at = 1 + header.byteLength
  out.set(head, at)
  at += head.byteLength
  for (const t of txs) {
    out.set(t, at)
    at += t.byteLength
  }
  return out
}

function headerFromCbor(v: CborValue): BlockHeader {
  const outer = read.array(v, 2, 'header')
  const a = read.array(outer[0], 10, 'header body')
  const version = read.uint(a[0], 'header.version')
  if (version !== FORMAT_VERSION) throw new CodecError(`header.version: unsupported version ${version}`)
  const sigs = read.list(outer[1], LIMITS.signaturesPerHeader, 'header.signatures').map((s, i) => {
    const p = read.array(s, 2, `header.signatures[${i}]`)
    return { signer: read.bytes(p[0], 'signature.signer', 32), signature: read.bytes(p[1], 'signature.signature', 64) }
  })
  return {
    version,
    network: read.text(a[1], 'header.network', LIMITS.networkIdBytes),
    height: read.uint(a[2], 'header.height'),
    timestamp: read.uint(a[3], 'header.timestamp'),
    prevHash: read.bytes(a[4], 'header.prevHash', 32),
    merkleRoot: read.bytes(a[5], 'header.merkleRoot', 32),
    txCount: read.uint(a[6], 'header.txCount'),
    difficulty: read.uint(a[7], 'header.difficulty'),
    nonce: read.uint(a[8], 'header.nonce'),
    producer: read.bytes(a[9], 'header.producer', 32),
    signatures: sigs,
  }
}

export function decodeHeader(bytes: Uint8Array): BlockHeader {
  return headerFromCbor(decodeCbor(bytes, 'header'))
}

// The direct path: the header through the general decoder (small), each tx through decodeStrippedTx (its
// direct reader, which also memoises the tx's encoding, so its txId is one hash); decoding whole blocks
// was 7 % of a devnet thin node's main thread. Any doubt: the general decoder, which gives the exact error.
export function decodeBlock(bytes: Uint8Array): Block {
  const parts = bytes instanceof Uint8Array ? fastSplitBlock(bytes) : undefined
  if (parts !== undefined) {
    try {
      const header = decodeHeader(bytes.subarray(1, parts.headerEnd))
      const n = parts.txs.length
      if (n === header.txCount) {
        const txs: StrippedTx[] = new Array(n)
        for (let i = 0; i < n; i++) txs[i] = decodeStrippedTx(bytes.subarray(parts.txs[i], i + 1 < n ? parts.txs[i + 1] : bytes.byteLength))
        return { header, txs }
      }
    } catch {
      // the general decoder below says why
    }
  }
  return decodeBlockGeneral(bytes)
}

/** decodeBlock through the general CBOR decoder only (the reference for the direct path). */
export function decodeBlockGeneral(bytes: Uint8Array): Block {
  const a = read.array(decodeCbor(bytes, 'block'), 2, 'block')
  const header = headerFromCbor(a[0])
  const txs = read.list(a[1], LIMITS.txsPerBlock, 'block.txs').map(strippedTxFromCbor)
  if (txs.length !== header.txCount) throw new CodecError(`block: header says ${header.txCount} txs, body has ${txs.length}`)
  return { header, txs }
}

const hashCache = new WeakMap<HeaderBody, Uint8Array>()

/** blockHash = SHA-256(encode(header without signatures)). Memoised per header object. */
export function blockHash(h: HeaderBody): Uint8Array {
  let v = hashCache.get(h)
  if (v === undefined) {
    v = sha256(encodeHeaderBody(h))
    hashCache.set(h, v)
  }
  return v
}

export function blockHashHex(h: HeaderBody): string {
  return toHex(blockHash(h))
}

// A record's leaf is hashed at block import and again for its receipt (the check that the stored tree's leaf
// at its index is this tx's): memoised per tx object, like its txId (a field of core's tx objects, tx-objects.ts).

/** The RFC 6962 leaf hash of a tx's txId, memoised per tx object. */
export function txLeafHash(tx: StrippedTx): Uint8Array {
  let leaf = StrippedTxObject.leaf(tx)
  if (leaf === undefined) {
    leaf = leafHash(txId(tx))
    StrippedTxObject.setLeaf(tx, leaf)
  }
  return leaf
}

/** Merkle leaves of a block: RFC 6962 leaf hashes of its txIds, in block order. */
export function blockLeaves(txs: readonly StrippedTx[]): Uint8Array[] {
  return txs.map(txLeafHash)
}

export interface UnsignedBlockInit {
  network: string
  height: number
  timestamp: number
  prevHash: Uint8Array
  producer: Uint8Array
  difficulty?: number
  nonce?: number
  txs: StrippedTx[]
  /** Precomputed Merkle root (e.g. from the worker pool); computed here when absent. */
  merkleRoot?: Uint8Array
}

/** Assemble a block with no signatures yet (the consensus seals it). */
export function createBlock(init: UnsignedBlockInit): Block {
  const header: BlockHeader = {
    version: FORMAT_VERSION,
    network: init.network,
    height: init.height,
    timestamp: init.timestamp,
    prevHash: init.prevHash,
    merkleRoot: init.merkleRoot ?? merkleRoot(blockLeaves(init.txs)),
    txCount: init.txs.length,
    difficulty: init.difficulty ?? 0,
    nonce: init.nonce ?? 0,
    producer: init.producer,
    signatures: [],
  }
  return { header, txs: init.txs }
}

export function signHeader(h: BlockHeader, key: KeyPair): HeaderSignature {
  return { signer: key.publicKey, signature: getCrypto().sign(key.seed, blockHash(h)) }
}

export function verifyHeaderSignature(h: HeaderBody, s: HeaderSignature): boolean {
  return getCrypto().verify(s.signer, blockHash(h), s.signature)
}

/** The producer's own signature, if present and valid. */
export function producerSignature(h: BlockHeader): HeaderSignature | undefined {
  return h.signatures.find((s) => equalBytes(s.signer, h.producer) && verifyHeaderSignature(h, s))
}

export interface BlockRules extends TxRules {
  /** Maximum encoded size of the stripped block (header + stripped txs). */
  maxBlockBytes: number
}

/**
 * Stateless block validation: network, size, tx count, Merkle root, each stripped tx (signatures unless
 * the caller already checked them in the worker pool), no duplicate txIds, every header signature valid.
 */
export function validateBlock(block: Block, rules: BlockRules, opts: { skipTxSignatures?: boolean; merkleRoot?: Uint8Array } = {}): void {
  const h = block.header
  const meta = { height: h.height, blockHash: blockHashHex(h) }
  if (h.network !== rules.network) throw new ValidationError('ERR_BLOCK_NETWORK', `block is for network "${h.network}"`, meta)
  if (h.txCount !== block.txs.length) throw new ValidationError('ERR_BLOCK_TX_COUNT', `header says ${h.txCount} txs, block has ${block.txs.length}`, meta)
  let size = encodeHeader(h).byteLength
  const seen = new Set<string>()
  for (const tx of block.txs) {
    validateTx(tx, rules, { skipSignature: opts.skipTxSignatures })
    size += encodeStrippedTx(tx).byteLength
    const id = txIdHex(tx) // memoised per tx: the store and receipts use the same string
    if (seen.has(id)) throw new ValidationError('ERR_BLOCK_DUPLICATE_TX', `tx ${id} appears twice in the block`, meta)
    seen.add(id)
  }
  if (size > rules.maxBlockBytes) throw new ValidationError('ERR_BLOCK_TOO_LARGE', `block of ${size} bytes exceeds ${rules.maxBlockBytes}`, meta)
  const root = opts.merkleRoot ?? merkleRoot(blockLeaves(block.txs))
  if (!equalBytes(root, h.merkleRoot)) throw new ValidationError('ERR_BLOCK_MERKLE_ROOT', 'Merkle root does not match the txs', meta)
  for (const s of h.signatures) {
    if (!verifyHeaderSignature(h, s)) {
      throw new ValidationError('ERR_BLOCK_SIGNATURE', `invalid header signature by ${toHex(s.signer)}`, meta)
    }
  }
}
