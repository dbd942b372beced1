import { type CborValue, CodecError, decodeCbor, encodeCbor, read } from '@profichain/core'
import type { Level } from 'level'

/**
 * The store's LevelDB buckets (one sublevel each), by name: key → value (docs/storage.md). Every bucket uses
 * binary keys and values; structured values go through the core codec (deterministic CBOR), hashed data is
 * stored in its canonical encoding so audit can re-hash it. The values are the sublevel prefixes on disk
 * (`!h!…`): they are the format and never change; code names the bucket, never the letter.
 *
 * Beside the DB directory (not in LevelDB, so it survives losing LevelDB's log): `<db>.ack.json`, the
 * acknowledged watermark { height, hash } written atomically by `BlockTree.acknowledge` (durability.ts).
 */
export const Bucket = {
  /** blockHash → encodeHeader(signed header) */
  header: 'h',
  /** blockHash ‖ u32 index → encodeStrippedTx */
  strippedTx: 'x',
  /** blockHash → CBOR byte string: the block's Merkle leaves, 32 bytes each */
  leaves: 'l',
  /** blockHash → CBOR [height, totalWork (big-endian bytes)] */
  blockMeta: 'm',
  /** u64 height → blockHash (canonical chain) */
  canonical: 'c',
  /** txId → CBOR [blockHash, height, index] (canonical txs only) */
  txIndex: 'i',
  /** payloadHash ‖ txId → empty (canonical txs only) */
  payloadIndex: 'p',
  /** txId → payload bytes (kept per the retention policy, and of every outbox entry until its ack) */
  payload: 'd',
  /**
   * u64 outbox order → encodeStrippedTx (this node's own txs until acknowledged; their payloads are in
   * `payload`, written in the same batch). Layout 2 stored encodeTransaction here (payload included).
   */
  outbox: 'o',
  /** txId → u64 outbox order */
  outboxOrder: 'O',
  /** utf8 dedupe key → txId (never deleted) */
  dedupe: 'k',
  /** origin public key → u64 next origin sequence number */
  originSeq: 'q',
  /** u64 mempool arrival order → encodeTransaction */
  mempool: 't',
  /** txId → CBOR [code, message, attempts, firstFailedAt ms, lastFailedAt ms] (receipts to retry) */
  deferredReceipt: 'r',
  /** utf8 name → value (see META) */
  meta: 'z',
} as const
/**
 * Buckets of quorum consensus (issue 18), added to layout 1 without changing it: a store written before they
 * existed simply has them empty.
 */
export const QuorumBucket = {
  /** u64 height → blockHash this node co-signed at that height (the vote guard; written before the vote leaves) */
  ownVote: 'v',
  /** validator public key ‖ u64 height → encodeVote (the first vote seen by that validator at that height) */
  vote: 'V',
  /** validator public key ‖ u64 height → CBOR [encodeVote, encodeVote] (equivocation evidence, never deleted) */
  evidence: 'e',
} as const
/**
 * Buckets of device identities and device sequence numbers (issue 14, docs/devices.md), added to layout 1
 * without changing it: a store written before they existed has them empty (no devices registered).
 */
export const DeviceBucket = {
  /** device key ‖ blockHash → CBOR [kind 0 register | 1 revoke, height, txId, owner key, device id | reason | null] (every stored block, any branch) */
  deviceEvent: 'Dv',
  /** device origin key ‖ u64 seq → CBOR [txId, height] (canonical chain only) */
  deviceSeq: 'Ds',
  /** device origin key ‖ u64 seq ‖ refused txId → CBOR [first txId, first stripped tx | null, refused stripped tx, ms] (replay evidence, bounded) */
  replayEvidence: 'Dr',
  /** origin key → CBOR [replays refused, revoked-key uses refused] (members and registered devices) */
  originRefusals: 'Df',
} as const

/**
 * Payloads of outbox entries (layout 3): an entry's payload lives in `payload` from its add; at its ack it is
 * deleted unless the retention policy keeps it or it is pinned here.
 */
export const PayloadBucket = {
  /** txId → empty: this outbox entry's payload stays at its ack (it was stored before the entry, or `putPayload` asked to keep it) */
  payloadPin: 'P',
} as const

/**
 * Buckets of the ingest API (issue 14, docs/ingest-protocol.md §3.3), added without changing the layout: a
 * store written before they existed has them empty. Written through the outbox (`Outbox.addMany`'s `index`
 * ops, `Outbox.index`), so the entries of a group of device records and their outbox entries are one batch.
 */
export const IngestBucket = {
  /** owed-receipts index, keys and values defined by the ingest API (packages/node/src/ingest-api/owed.ts) */
  ingestOwed: 'Io',
} as const

/**
 * Buckets of the global network (DESIGN §11, layout 2), written and read by @profichain/global through
 * `BlockTree.globalBuckets` (the store itself does not interpret them).
 */
export const GlobalBucket = {
  /** u8 level ‖ u64 index → 32-byte hash of the complete block log subtree of leaves [index·2^level, (index+1)·2^level) */
  logNode: 'g',
  /** utf8 name → value: block log size, latest signed checkpoint, collected cosignatures, outside witness state */
  logMeta: 'G',
  /** utf8 origin → CBOR witness state of a witnessed log: [size, root, signed checkpoint note] */
  witnessState: 'w',
  /** utf8 origin ‖ 0x00 ‖ u64 seq → CBOR evidence: [kind, time ms, previous note, offered note] */
  witnessEvidence: 'W',
} as const
export type GlobalBucketName = keyof typeof GlobalBucket

export type BucketName =
  | keyof typeof Bucket
  | keyof typeof QuorumBucket
  | keyof typeof DeviceBucket
  | GlobalBucketName
  | keyof typeof IngestBucket
  | keyof typeof PayloadBucket

/** Every bucket name, in a fixed order. */
export const BUCKETS = [
  ...Object.keys(Bucket),
  ...Object.keys(QuorumBucket),
  ...Object.keys(DeviceBucket),
  ...Object.keys(GlobalBucket),
  ...Object.keys(IngestBucket),
  ...Object.keys(PayloadBucket),
] as BucketName[]

/**
 * The layout of the DB described by `Bucket`, `META` and docs/storage.md, stored under META.layout. A DB
 * without one is layout 1 (stores before the version was named); another version is refused at open.
 * Layout 2: block 0 commits to the whole genesis (new genesis hash), the global buckets and the checkpoint floor.
 * Layout 3: an outbox entry is its stripped tx, its payload in `payload` (written once, not in the entry and
 * again by its block); `payloadPin`. A layout-2 DB is upgraded in place at open (layout.ts).
 */
export const LAYOUT_VERSION = 3

export type BinaryDb = Level<Uint8Array, Uint8Array>
/** Plain Uint8Array views (no Buffer subclass) out of the DB, zero-copy. */
const u8 = {
  name: 'profichain-u8',
  format: 'view' as const,
  encode: (v: Uint8Array): Uint8Array => v,
  decode: (v: Uint8Array): Uint8Array =>
    v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
}

function makeSub(db: BinaryDb, name: string) {
  return db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: u8, valueEncoding: u8 })
}
export type Sub = ReturnType<typeof makeSub>

export type Subs = Record<BucketName, Sub>

export function openSublevels(db: BinaryDb): Subs {
  const out = {} as Subs
  const prefixes: Record<BucketName, string> = {
    ...Bucket,
    ...QuorumBucket,
    ...DeviceBucket,
    ...GlobalBucket,
    ...IngestBucket,
    ...PayloadBucket,
  }
  for (const name of BUCKETS) {
    out[name] = makeSub(db, prefixes[name])
  }
  return out
}

/** Keys of the `meta` bucket: utf8 name → value. */
export const META = {
  /** blockHash of the canonical head */
  head: utf8Key('head'),
  /** genesis block hash */
  genesis: utf8Key('genesis'),
  /** SHA-256 of the full serialized genesis (consensus genesisConfigHash) */
  genesisConfig: utf8Key('genesisConfig'),
  /** utf8 serialized genesis (to name the fields that changed) */
  genesisJson: utf8Key('genesisJson'),
  /** blockHash of the latest final block */
  final: utf8Key('final'),
  /** u64 layout version (LAYOUT_VERSION); the on-disk name predates "layout" */
  layout: utf8Key('schema'),
  /** encodeCounts: blocks, txs, payloads, payload bytes */
  counts: utf8Key('counts'),
  /** u64 height: fork choice never reorganises below it (the block log's signed checkpoint, DESIGN §11) */
  checkpointFloor: utf8Key('checkpointFloor'),
} as const

function utf8Key(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'utf8'))
}

export function u64(n: number): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, n)
  return b
}

/** `u64(n)` written into b[at, at + 8), without an array of its own. */
export function writeU64(b: Uint8Array, at: number, n: number): void {
  if (Number.isSafeInteger(n) && n >= 0) {
    // Without a BigInt and a DataView per key (several keys per record on the commit path)
    const hi = Math.floor(n / 0x100000000)
    const lo = n >>> 0
    b[at] = 0
    b[at + 1] = hi >>> 16
    b[at + 2] = (hi >>> 8) & 0xff
    b[at + 3] = hi & 0xff
    b[at + 4] = lo >>> 24
    b[at + 5] = (lo >>> 16) & 0xff
    b[at + 6] = (lo >>> 8) & 0xff
    b[at + 7] = lo & 0xff
    return
  }
  new DataView(b.buffer, b.byteOffset + at, 8).setBigUint64(0, BigInt(n))
}

export function readU64(b: Uint8Array): number {
  if (b.byteLength !== 8) throw new CodecError('u64 key: expected 8 bytes')
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0))
}

/** Key of stripped tx `index` of block `hash`. */
export function txKey(hash: Uint8Array, index: number): Uint8Array {
  const k = new Uint8Array(36)
  k.set(hash, 0)
  new DataView(k.buffer).setUint32(32, index)
  return k
}

export function txKeyIndex(k: Uint8Array): number {
  return new DataView(k.buffer, k.byteOffset, k.byteLength).getUint32(32)
}

/** Range bounds for all keys beginning with `prefix` (prefix is ≤ 32 bytes here, so 0xff padding is enough). */
export function prefixRange(prefix: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  const lt = new Uint8Array(prefix.byteLength + 5)
  lt.set(prefix, 0)
  lt.fill(0xff, prefix.byteLength)
  return { gte: prefix, lt }
}

/** Key of a validator's vote (or evidence) at a height: public key ‖ u64 height. */
export function voteKey(signer: Uint8Array, height: number): Uint8Array {
  const k = new Uint8Array(signer.byteLength + 8)
  k.set(signer, 0)
  k.set(u64(height), signer.byteLength)
  return k
}

export function payloadIndexKey(payloadHash: Uint8Array, id: Uint8Array): Uint8Array {
  const k = new Uint8Array(64)
  k.set(payloadHash, 0)
  k.set(id, 32)
  return k
}

export function bigintToBytes(n: bigint): Uint8Array {
  if (n < 0n) throw new RangeError('work must be non-negative')
  let hex = n.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  return n === 0n ? new Uint8Array(0) : new Uint8Array(Buffer.from(hex, 'hex'))
}

export function bytesToBigint(b: Uint8Array): bigint {
  return b.byteLength === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`)
}

export interface BlockMeta {
  height: number
  totalWork: bigint
}

export function encodeBlockMeta(m: BlockMeta): Uint8Array {
  return encodeCbor([m.height, bigintToBytes(m.totalWork)])
}

export function decodeBlockMeta(b: Uint8Array): BlockMeta {
  const a = read.array(decodeCbor(b, 'block meta'), 2, 'block meta')
  return {
    height: read.uint(a[0], 'meta.height'),
    totalWork: bytesToBigint(read.bytes(a[1], 'meta.totalWork')),
  }
}

export interface TxIndexEntry {
  blockHash: Uint8Array
  height: number
  index: number
}

export function encodeTxIndex(e: TxIndexEntry): Uint8Array {
  return encodeCbor([e.blockHash, e.height, e.index])
}

/**
 * encodeTxIndex for the txs of one block: [blockHash, height] is encoded once per block and each entry is
 * that prefix and its index's head (the same bytes; a general CBOR encode per record before).
 */
export function txIndexEncoder(blockHash: Uint8Array, height: number): (index: number) => Uint8Array {
  const first = encodeCbor([blockHash, height, 0])
  const prefix = first.subarray(0, first.byteLength - 1)
  return (index) => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= 0x10000) return encodeTxIndex({ blockHash, height, index })
    const head = index < 24 ? 1 : index < 0x100 ? 2 : 3
    const out = new Uint8Array(prefix.byteLength + head)
    out.set(prefix, 0)
    const p = prefix.byteLength
    if (head === 1) out[p] = index
    else if (head === 2) {
      out[p] = 24
      out[p + 1] = index
    } else {
      out[p] = 25
      out[p + 1] = index >>> 8
      out[p + 2] = index & 0xff
    }
    return out
  }
}

export function decodeTxIndex(b: Uint8Array): TxIndexEntry {
  const a = read.array(decodeCbor(b, 'tx index'), 3, 'tx index')
  return {
    blockHash: read.bytes(a[0], 'index.blockHash', 32),
    height: read.uint(a[1], 'index.height'),
    index: read.uint(a[2], 'index.index'),
  }
}

export function encodeLeaves(leaves: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(leaves.length * 32)
  for (let i = 0; i < leaves.length; i++) all.set(leaves[i], i * 32)
  return encodeCbor(all)
}

export function decodeLeaves(b: Uint8Array): Uint8Array[] {
  const all = read.bytes(decodeCbor(b, 'leaves'), 'leaves')
  if (all.byteLength % 32 !== 0) throw new CodecError('leaves: length is not a multiple of 32')
  const out: Uint8Array[] = []
  for (let i = 0; i < all.byteLength; i += 32) out.push(all.subarray(i, i + 32))
  return out
}

export interface Counts {
  blocks: number
  txs: number
  payloads: number
  payloadBytes: number
}

export function encodeCounts(c: Counts): Uint8Array {
  return encodeCbor([c.blocks, c.txs, c.payloads, c.payloadBytes] as CborValue)
}

export function decodeCounts(b: Uint8Array): Counts {
  const a = read.array(decodeCbor(b, 'counts'), 4, 'counts')
  return {
    blocks: read.uint(a[0], 'blocks'),
    txs: read.uint(a[1], 'txs'),
    payloads: read.uint(a[2], 'payloads'),
    payloadBytes: read.uint(a[3], 'payloadBytes'),
  }
}
