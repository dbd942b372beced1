import { equalBytes, toHex } from './bytes.js'
import { type CborValue, cborBytesHead, cborHeadSize, decodeCbor, encodeCbor, read, writeCborHead } from './codec.js'
import { getCrypto } from './crypto.js'
import { CodecError, ValidationError } from './errors.js'
import { sha256 } from './hash.js'
import type { KeyPair } from './keys.js'
import { FORMAT_VERSION, LIMITS, TX_KINDS, type TxKind } from './limits.js'
import { fastDecodeStrippedTx, fastDecodeTransaction } from './tx-fast-decode.js'
import { StrippedTxObject, TransactionObject, TxBodyObject } from './tx-objects.js'

/** The signed part of a transaction (DESIGN §3). */
export interface TxBody {
  version: number
  network: string
  kind: TxKind
  /** Origin's Ed25519 public key (32 bytes). */
  origin: Uint8Array
  /** Monotonic per origin, starting at 0. */
  seq: number
  /** Milliseconds since the Unix epoch. */
  timestamp: number
  payloadHash: Uint8Array
  payloadSize: number
  metadata: Record<string, string>
}

/** Body + signature: what blocks carry. Verifies without the payload. */
export interface StrippedTx {
  body: TxBody
  signature: Uint8Array
}

/** A stripped tx with its payload. */
export interface Transaction extends StrippedTx {
  payload: Uint8Array
}

export function txBodyToCbor(b: TxBody): CborValue {
  return [b.version, b.network, b.kind, b.origin, b.seq, b.timestamp, b.payloadHash, b.payloadSize, b.metadata]
}

// Encodings are memoised per object: a record is signed, hashed, stored, gossiped and sized, and CBOR
// encoding was a quarter of a busy node's main thread. Treat txs as immutable once encoded (build a new
// object, e.g. `{ ...tx, signature }`, to change one), exactly as for the txId memo below. The memos are
// private fields of the objects core builds (tx-objects.ts), WeakMap entries for any other object.

/** A tx body object whose encoding core memoises in a field (cheaper than for a literal); same fields. */
export function newTxBody(b: TxBody): TxBody {
  return new TxBodyObject(b.version, b.network, b.kind, b.origin, b.seq, b.timestamp, b.payloadHash, b.payloadSize, b.metadata)
}

/** A transaction object `{ body, signature, payload }` whose memos (encodings, txId) are fields. */
export function newTransaction(body: TxBody, signature: Uint8Array, payload: Uint8Array): Transaction {
  return new TransactionObject(body, signature, payload)
}

function memo<K extends object, V>(cache: WeakMap<K, V>, key: K, make: () => V): V {
  let v = cache.get(key)
  if (v === undefined) {
    v = make()
    cache.set(key, v)
  }
  return v
}

export function encodeTxBody(b: TxBody): Uint8Array {
  let enc = TxBodyObject.enc(b)
  if (enc === undefined) {
    enc = encodeTxBodyDirect(b) ?? encodeCbor(txBodyToCbor(b))
    TxBodyObject.setEnc(b, enc)
  }
  return enc
}

// A body written straight into one buffer: cborg's general encoder (tokens, a map sort by encoded keys,
// chunked output) was 12.7 µs per record, ~4 % of a JSONL burst's main thread, for a 9-item array.
// Byte-identical to encodeCbor(txBodyToCbor(b)) (property-tested against it); anything outside the
// common shape (a non-integer or negative number, a non-string metadata value, a non-ASCII metadata
// key, whose byte order would need UTF-8 comparison) returns undefined and takes the general encoder.
function isUint(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/** Keys sorted as deterministic CBOR sorts them (bytewise by encoding): ASCII keys by length, then code. */
function byEncodedKey(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
}

/** A text string of `len` UTF-8 bytes: ASCII copied by code unit, anything else through Buffer's encoder. */
function writeText(out: Uint8Array, p: number, s: string, len: number): number {
  p = writeCborHead(out, p, 3, len)
  if (len === s.length) {
    for (let i = 0; i < len; i++) out[p + i] = s.charCodeAt(i)
  } else {
    Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(s, p, len, 'utf8')
  }
  return p + len
}

function writeBytes(out: Uint8Array, p: number, x: Uint8Array): number {
  p = writeCborHead(out, p, 2, x.byteLength)
  out.set(x, p)
  return p + x.byteLength
}

export function encodeTxBodyDirect(b: TxBody): Uint8Array | undefined {
  const { version, network, kind, origin, seq, timestamp, payloadHash, payloadSize, metadata } = b
  if (!isUint(version) || !isUint(seq) || !isUint(timestamp) || !isUint(payloadSize)) return undefined
  if (typeof network !== 'string' || typeof kind !== 'string') return undefined
  if (!(origin instanceof Uint8Array) || !(payloadHash instanceof Uint8Array)) return undefined
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata) || metadata instanceof Uint8Array) return undefined
  const keys = Object.keys(metadata)
  let size = 1 + cborHeadSize(version) + cborHeadSize(seq) + cborHeadSize(timestamp) + cborHeadSize(payloadSize)
  const netLen = Buffer.byteLength(network, 'utf8')
  const kindLen = Buffer.byteLength(kind, 'utf8')
  size += cborHeadSize(netLen) + netLen + cborHeadSize(kindLen) + kindLen
  size += cborHeadSize(origin.byteLength) + origin.byteLength + cborHeadSize(payloadHash.byteLength) + payloadHash.byteLength
  size += cborHeadSize(keys.length)
  const valLens: number[] = new Array(keys.length)
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]
    const v = (metadata as Record<string, unknown>)[k]
    // ASCII iff its UTF-8 length is its length in code units
    if (typeof v !== 'string' || Buffer.byteLength(k, 'utf8') !== k.length) return undefined
    const vl = Buffer.byteLength(v, 'utf8')
    valLens[i] = vl
    size += cborHeadSize(k.length) + k.length + cborHeadSize(vl) + vl
  }
  const out = new Uint8Array(size)
  out[0] = 0x89 // array of 9
  let p = writeCborHead(out, 1, 0, version)
  p = writeText(out, p, network, netLen)
  p = writeText(out, p, kind, kindLen)
  p = writeBytes(out, p, origin)
  p = writeCborHead(out, p, 0, seq)
  p = writeCborHead(out, p, 0, timestamp)
  p = writeBytes(out, p, payloadHash)
  p = writeCborHead(out, p, 0, payloadSize)
  p = writeCborHead(out, p, 5, keys.length)
  const order = keys.length > 1 ? keys.map((_, i) => i).sort((x, y) => byEncodedKey(keys[x], keys[y])) : [0]
  for (let j = 0; j < keys.length; j++) {
    const i = order[j]
    p = writeText(out, p, keys[i], keys[i].length)
    p = writeText(out, p, (metadata as Record<string, string>)[keys[i]], valLens[i])
  }
  return p === size ? out : undefined
}

// The stripped and full encodings are built from the encodings inside them: deterministic CBOR of a
// definite-length array is its head followed by its items' encodings, so [body, signature] is 0x82 ‖
// encode(body) ‖ head(signature) ‖ signature, and [stripped, payload] likewise — the same bytes as
// encoding the whole value again (tested against encodeCbor), without re-encoding the body (already
// encoded for signing) or copying the payload through the CBOR encoder twice.
const ARRAY2 = 0x82

export function encodeStrippedTx(tx: StrippedTx): Uint8Array {
  let enc = StrippedTxObject.stripped(tx)
  if (enc === undefined) {
    enc = joinArray2(encodeTxBody(tx.body), tx.signature)
    StrippedTxObject.setStripped(tx, enc)
  }
  return enc
}

/** Wire/disk form of a full transaction: [stripped, payload]. */
export function encodeTransaction(tx: Transaction): Uint8Array {
  let enc = TransactionObject.enc(tx)
  if (enc === undefined) {
    enc = joinArray2(encodeStrippedTx(tx), tx.payload)
    TransactionObject.setEnc(tx, enc)
  }
  return enc
}

/** encode([x, bytes]) from encode(x) and the raw bytes. */
function joinArray2(first: Uint8Array, bytes: Uint8Array): Uint8Array {
  const head = cborBytesHead(bytes.byteLength)
  const out = new Uint8Array(1 + first.byteLength + head.byteLength + bytes.byteLength)
  out[0] = ARRAY2
  out.set(first, 1)
  out.set(head, 1 + first.byteLength)
  out.set(bytes, 1 + first.byteLength + head.byteLength)
  return out
}

export function txBodyFromCbor(v: CborValue): TxBody {
  const a = read.array(v, 9, 'tx body')
  const version = read.uint(a[0], 'tx.version')
  if (version !== FORMAT_VERSION) throw new CodecError(`tx.version: unsupported version ${version}`)
  const kind = read.text(a[2], 'tx.kind', LIMITS.kindBytes)
  if (!(TX_KINDS as readonly string[]).includes(kind)) throw new CodecError(`tx.kind: unknown kind "${kind}"`)
  return new TxBodyObject(
    version,
    read.text(a[1], 'tx.network', LIMITS.networkIdBytes),
    kind as TxKind,
    read.bytes(a[3], 'tx.origin', 32),
    read.uint(a[4], 'tx.seq'),
    read.uint(a[5], 'tx.timestamp'),
    read.bytes(a[6], 'tx.payloadHash', 32),
    read.uint(a[7], 'tx.payloadSize'),
    read.textMap(a[8], 'tx.metadata', LIMITS.metadataEntries, LIMITS.metadataKeyBytes, LIMITS.metadataValueBytes),
  )
}

export function strippedTxFromCbor(v: CborValue): StrippedTx {
  const a = read.array(v, 2, 'stripped tx')
  return new StrippedTxObject(txBodyFromCbor(a[0]), read.bytes(a[1], 'tx.signature', 64))
}

// decodeCbor has proven `bytes` canonical, so they are the encoding: remember a private copy, and a
// decoded tx that is hashed, stored or handed to the worker pool is not encoded again.
// The inner encodings are found in that copy (same layout as joinArray2 builds: 0x82 ‖ first ‖ head ‖ bytes),
// so the txId of a decoded tx is one SHA-256, without encoding its body again (10 % of a devnet full node's
// main thread took the txIds of gossiped txs through encodeTxBody).
export function decodeStrippedTx(bytes: Uint8Array): StrippedTx {
  if (bytes instanceof Uint8Array) {
    const copy = new Uint8Array(bytes)
    const fast = fastDecodeStrippedTx(copy)
    if (fast !== undefined) {
      StrippedTxObject.setStripped(fast.tx, copy)
      TxBodyObject.setEnc(fast.tx.body, copy.subarray(1, fast.bodyEnd))
      return fast.tx
    }
  }
  return decodeStrippedTxGeneral(bytes)
}

/** decodeStrippedTx through the general CBOR decoder only (the reference for the direct reader). */
export function decodeStrippedTxGeneral(bytes: Uint8Array): StrippedTx {
  const tx = strippedTxFromCbor(decodeCbor(bytes, 'stripped tx'))
  const copy = new Uint8Array(bytes)
  StrippedTxObject.setStripped(tx, copy)
  rememberBody(tx, copy)
  return tx
}

export function decodeTransaction(bytes: Uint8Array): Transaction {
  if (bytes instanceof Uint8Array) {
    const copy = new Uint8Array(bytes)
    const fast = fastDecodeTransaction(copy)
    if (fast !== undefined) {
      const { tx, bodyEnd, strippedEnd } = fast
      TransactionObject.setEnc(tx, copy)
      const stripped = copy.slice(1, strippedEnd)
      StrippedTxObject.setStripped(tx, stripped)
      TxBodyObject.setEnc(tx.body, stripped.subarray(1, bodyEnd - 1))
      return tx
    }
  }
  // Anything the direct reader does not take (malformed, or an odd but valid case): the general decoder.
  return decodeTransactionGeneral(bytes)
}

/** decodeTransaction through the general CBOR decoder only: the reference the direct reader is tested against. */
export function decodeTransactionGeneral(bytes: Uint8Array): Transaction {
  const a = read.array(decodeCbor(bytes, 'transaction'), 2, 'transaction')
  const stripped = strippedTxFromCbor(a[0])
  const tx = new TransactionObject(stripped.body, stripped.signature, read.bytes(a[1], 'tx.payload', undefined, LIMITS.payloadBytes))
  const copy = new Uint8Array(bytes)
  TransactionObject.setEnc(tx, copy)
  const strippedLen = copy.byteLength - 1 - cborBytesHead(tx.payload.byteLength).byteLength - tx.payload.byteLength
  // A copy, not a view: a stripped tx (stripTx keeps this encoding) must not hold the payload in memory.
  const strippedBytes = copy.slice(1, 1 + strippedLen)
  StrippedTxObject.setStripped(tx, strippedBytes)
  rememberBody(tx, strippedBytes)
  return tx
}

/** Memoise the body encoding inside a (canonical, just decoded) stripped encoding [body, signature]. */
function rememberBody(tx: StrippedTx, stripped: Uint8Array): void {
  const bodyLen = stripped.byteLength - 1 - cborBytesHead(tx.signature.byteLength).byteLength - tx.signature.byteLength
  TxBodyObject.setEnc(tx.body, stripped.subarray(1, 1 + bodyLen))
}

/** txId = SHA-256(encode(StrippedTransaction)). Memoised per object. */
export function txId(tx: StrippedTx): Uint8Array {
  let id = StrippedTxObject.id(tx)
  if (id === undefined) {
    id = sha256(encodeStrippedTx(tx))
    StrippedTxObject.setId(tx, id)
  }
  return id
}

/**
 * Seed the txId memo of `tx` with an id hashed elsewhere: the SHA-256 of exactly encodeStrippedTx(tx)'s bytes,
 * e.g. by the worker that verified those bytes (the ingest API hashed every device record again on the main
 * thread). The caller vouches for it, as a wrong id would be used everywhere; a tx that has an id keeps it.
 */
export function rememberTxId(tx: StrippedTx, id: Uint8Array): void {
  if (id.byteLength !== 32) throw new RangeError(`a txId is 32 bytes, got ${id.byteLength}`)
  if (StrippedTxObject.id(tx) === undefined) StrippedTxObject.setId(tx, id)
}

// The hex id is the key of the mempool, outbox results, payload maps and receipts: a record's id was
// converted to hex several times on its way (5 % of the store's commit pipeline); once per object now.
export function txIdHex(tx: StrippedTx): string {
  let hex = StrippedTxObject.idHex(tx)
  if (hex === undefined) {
    hex = toHex(txId(tx))
    StrippedTxObject.setIdHex(tx, hex)
  }
  return hex
}

// The origin's hex is the key of the origin rule (member set, device registry, device seqs): a device record
// was converted at the gateway, the mempool, the producer's filter, block import and the canonical switch
// (toHex 6 % of the ingest API node's main thread). Memoised per origin bytes object (treated as immutable,
// like the encodings above); a node's own records share one key object, so one string for all of them.
const originHexCache = new WeakMap<Uint8Array, string>()

/** Lower-case hex of a tx's origin key, memoised per origin bytes object. */
export function originHex(tx: StrippedTx): string {
  return originKeyHex(tx.body.origin)
}

/** Lower-case hex of an origin key (a tx's `body.origin`), memoised per bytes object. */
export function originKeyHex(origin: Uint8Array): string {
  return memo(originHexCache, origin, () => toHex(origin))
}

// SHA-256 of a payload, memoised per payload object (payloads are treated as immutable, like the encodings
// above): a record's payload was hashed where it was built or received and again by the outbox's check right
// after (3 % of the ingest API's main thread). Only this function fills the memo, and it always hashes the
// bytes: a payload from outside the node is still hashed once, where it is received — or, for the ingest API,
// by the worker that checks the record (rememberPayloadHash).
const payloadHashCache = new WeakMap<Uint8Array, Uint8Array>()

/**
 * Seed the payload-hash memo of `payload` with its SHA-256 computed elsewhere, e.g. by the worker that found
 * a received record's payload hashing to the body's payloadHash (the main thread hashed each 1 KiB payload
 * again). The caller vouches for it; a payload that has a hash keeps it.
 */
export function rememberPayloadHash(payload: Uint8Array, hash: Uint8Array): void {
  if (hash.byteLength !== 32) throw new RangeError(`a SHA-256 is 32 bytes, got ${hash.byteLength}`)
  if (!payloadHashCache.has(payload)) payloadHashCache.set(payload, hash)
}

/** SHA-256 of a payload, memoised per object. */
export function payloadHashOf(payload: Uint8Array): Uint8Array {
  return memo(payloadHashCache, payload, () => sha256(payload))
}

/**
 * SHA-256 of `tx.payload`: payloadHashOf's answer, memoised in a field of the tx objects core builds (a WeakMap
 * entry per record otherwise: validateTx asked for it of every record the outbox, the mempool or a block took).
 * A payload's memo (payloadHashOf, rememberPayloadHash) is used when there is one.
 */
export function txPayloadHash(tx: Transaction): Uint8Array {
  let h = TransactionObject.payloadHash(tx)
  if (h === undefined) {
    h = payloadHashCache.get(tx.payload)
    if (h === undefined) {
      h = sha256(tx.payload)
      if (!TransactionObject.setPayloadHash(tx, h)) payloadHashCache.set(tx.payload, h)
    } else TransactionObject.setPayloadHash(tx, h)
  }
  return h
}

/**
 * rememberPayloadHash for the payload of `tx`, kept in the tx's field when it has one: the SHA-256 of exactly
 * `tx.payload`, computed elsewhere (the worker that checked a received record, or the caller that hashed the
 * payload to build the record's body). The caller vouches for it; a tx or payload that has a hash keeps it.
 */
export function rememberTxPayloadHash(tx: Transaction, hash: Uint8Array): void {
  if (hash.byteLength !== 32) throw new RangeError(`a SHA-256 is 32 bytes, got ${hash.byteLength}`)
  if (TransactionObject.payloadHash(tx) !== undefined || payloadHashCache.has(tx.payload)) return
  if (!TransactionObject.setPayloadHash(tx, hash)) payloadHashCache.set(tx.payload, hash)
}

export interface CreateTxInit {
  network: string
  kind?: TxKind
  seq: number
  timestamp?: number
  payload: Uint8Array
  metadata?: Record<string, string>
}

/** Build and sign a transaction with the origin's key. */
export function createTransaction(key: KeyPair, init: CreateTxInit): Transaction {
  const body: TxBody = new TxBodyObject(
    FORMAT_VERSION,
    init.network,
    init.kind ?? 'record',
    key.publicKey,
    init.seq,
    init.timestamp ?? Date.now(),
    payloadHashOf(init.payload),
    init.payload.byteLength,
    init.metadata ?? {},
  )
  // Check the body against the decoder's rules so we never sign something peers would reject.
  checkBody(body)
  const signature = getCrypto().sign(key.seed, encodeTxBody(body))
  return new TransactionObject(body, signature, init.payload)
}

function checkBody(body: TxBody): void {
  // The decoder's field rules, applied to the value directly (an encode + decode round trip per record
  // cost ~5% of a busy node's main thread); the encoder itself only emits canonical CBOR.
  txBodyFromCbor(txBodyToCbor(body))
}

/** Drop the payload. */
export function stripTx(tx: Transaction | StrippedTx): StrippedTx {
  const s = new StrippedTxObject(tx.body, tx.signature)
  const id = StrippedTxObject.id(tx)
  if (id) StrippedTxObject.setId(s, id)
  const hex = StrippedTxObject.idHex(tx)
  if (hex !== undefined) StrippedTxObject.setIdHex(s, hex)
  const enc = StrippedTxObject.stripped(tx)
  if (enc) StrippedTxObject.setStripped(s, enc)
  return s
}

export function verifyTxSignature(tx: StrippedTx): boolean {
  return getCrypto().verify(tx.body.origin, encodeTxBody(tx.body), tx.signature)
}

export interface TxRules {
  network: string
  /** Maximum payload size in bytes (genesis `maxTxBytes`). */
  maxTxBytes: number
}

/**
 * Stateless validation: network, sizes, signature, and (when present) payload hash and size.
 * Throws ValidationError with a stable code.
 */
export function validateTx(tx: StrippedTx | Transaction, rules: TxRules, opts: { skipSignature?: boolean } = {}): void {
  const b = tx.body
  const id = () => txIdHex(tx)
  if (b.network !== rules.network) {
    throw new ValidationError('ERR_TX_NETWORK', `tx is for network "${b.network}", expected "${rules.network}"`, { txId: id() })
  }
  if (b.payloadSize > rules.maxTxBytes) {
    throw new ValidationError('ERR_TX_TOO_LARGE', `payload of ${b.payloadSize} bytes exceeds the ${rules.maxTxBytes}-byte limit`, { txId: id() })
  }
  if ('payload' in tx && tx.payload !== undefined) {
    if (tx.payload.byteLength !== b.payloadSize) {
      throw new ValidationError('ERR_TX_PAYLOAD_SIZE', `payload is ${tx.payload.byteLength} bytes, body says ${b.payloadSize}`, { txId: id() })
    }
    if (!equalBytes(txPayloadHash(tx), b.payloadHash)) {
      throw new ValidationError('ERR_TX_PAYLOAD_HASH', 'payload does not match the signed payload hash', { txId: id() })
    }
  }
  if (!opts.skipSignature && !verifyTxSignature(tx)) {
    throw new ValidationError('ERR_TX_SIGNATURE', 'tx signature does not verify against its origin key', { txId: id() })
  }
}
