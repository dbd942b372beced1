import { cborHeadAt, cborHeadEnd, MAX_DECODE_BYTES } from './codec.js'
import { FORMAT_VERSION, LIMITS, TX_KINDS, type TxKind } from './limits.js'
import type { StrippedTx, Transaction, TxBody } from './transaction.js'
import { StrippedTxObject, TransactionObject, TxBodyObject } from './tx-objects.js'

/**
 * A direct reader for the one shape every gossiped and stored record has:
 * [[[version, network, kind, origin, seq, timestamp, payloadHash, payloadSize, {metadata}], signature], payload].
 * `decodeCbor` (cborg decode + a full re-encode to prove canonical form) cost ~80 µs per 1 KiB record on a
 * loaded machine and was the largest single cost of tx gossip on every devnet node; this walks the bytes once.
 *
 * It is a fast path only: it returns a transaction just when the bytes are the canonical (deterministic
 * CBOR) encoding of a transaction that passes every rule of the general decoder (shortest heads, sorted
 * unique map keys, valid UTF-8, the field limits), and `undefined` on anything else, so the caller falls
 * back to the general decoder, which gives the exact error. A property test checks both agree.
 * Byte fields are copies (a stripped tx must not keep the whole encoding alive).
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const KINDS: readonly string[] = TX_KINDS

class Reader {
  pos = 0
  constructor(readonly b: Uint8Array) {}

  /** Head of the next item if its major type is `major`, with the shortest-form rule; -1 if not. */
  head(major: number): number {
    if (this.pos >= this.b.byteLength || this.b[this.pos] >> 5 !== major) return -1
    const n = cborHeadAt(this.b, this.pos)
    if (n >= 0) this.pos = cborHeadEnd
    return n
  }

  /** Start of the next byte/text string's content (its end is then `pos`), or -1. */
  span(major: 2 | 3, max: number): number {
    const len = this.head(major)
    if (len < 0 || len > max || this.pos + len > this.b.byteLength) return -1
    const s = this.pos
    this.pos += len
    return s
  }

  bytes(len?: number, max = Number.MAX_SAFE_INTEGER): Uint8Array | undefined {
    const s = this.span(2, max)
    if (s < 0 || (len !== undefined && this.pos - s !== len)) return undefined
    return this.b.slice(s, this.pos)
  }

  text(max: number): string | undefined {
    const s = this.span(3, max)
    if (s < 0) return undefined
    const b = this.b
    const e = this.pos
    // ASCII check and a hash of the bytes in one pass.
    let h = e - s
    let i = s
    for (; i < e; i++) {
      const c = b[i]
      if (c >= 0x80) break
      h = (Math.imul(h, 31) + c) | 0
    }
    if (i === e) return e - s <= INTERN_MAX ? interned(b, s, e - s, h) : latin1(b, s, e)
    try {
      return utf8.decode(b.subarray(s, e))
    } catch {
      return undefined
    }
  }
}

/**
 * Short ASCII strings (network, kind, metadata keys and most values) repeat from one record to the next: a
 * small direct-mapped table of their bytes and strings answers a repeat without building a string (building
 * them was ~5 % of a full node's main thread in tx gossip). Bounded: INTERN_SLOTS × INTERN_MAX bytes; a
 * collision only replaces the slot.
 */
const INTERN_SLOTS = 512
const INTERN_MAX = 48
const internBytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX)
const internLen = new Int32Array(INTERN_SLOTS).fill(-1)
const internStr: string[] = new Array<string>(INTERN_SLOTS).fill('')

function interned(b: Uint8Array, s: number, n: number, h: number): string {
  const slot = (h ^ (h >>> 13)) & (INTERN_SLOTS - 1)
  const off = slot * INTERN_MAX
  if (internLen[slot] === n) {
    let j = 0
    while (j < n && internBytes[off + j] === b[s + j]) j++
    if (j === n) return internStr[slot]
  }
  const str = latin1(b, s, s + n)
  for (let j = 0; j < n; j++) internBytes[off + j] = b[s + j]
  internLen[slot] = n
  internStr[slot] = str
  return str
}

function latin1(b: Uint8Array, s: number, e: number): string {
  let out = ''
  for (let i = s; i < e; i += 4096) out += String.fromCharCode.apply(null, b.subarray(i, Math.min(e, i + 4096)) as unknown as number[])
  return out
}

/** Bytewise comparison of b[as, ae) and b[bs, be). */
function compare(b: Uint8Array, as: number, ae: number, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs)
  for (let i = 0; i < n; i++) {
    const d = b[as + i] - b[bs + i]
    if (d !== 0) return d
  }
  return ae - as - (be - bs)
}

function readBody(r: Reader): TxBody | undefined {
  if (r.head(4) !== 9) return undefined
  const version = r.head(0)
  if (version !== FORMAT_VERSION) return undefined
  const network = r.text(LIMITS.networkIdBytes)
  if (network === undefined) return undefined
  const kind = r.text(LIMITS.kindBytes)
  if (kind === undefined || !KINDS.includes(kind)) return undefined
  const origin = r.bytes(32)
  if (origin === undefined) return undefined
  const seq = r.head(0)
  const timestamp = r.head(0)
  if (seq < 0 || timestamp < 0) return undefined
  const payloadHash = r.bytes(32)
  if (payloadHash === undefined) return undefined
  const payloadSize = r.head(0)
  if (payloadSize < 0) return undefined
  const entries = r.head(5)
  if (entries < 0 || entries > LIMITS.metadataEntries) return undefined
  const metadata: Record<string, string> = {}
  let prevStart = -1
  let prevEnd = -1
  for (let i = 0; i < entries; i++) {
    const keyStart = r.pos
    const key = r.text(LIMITS.metadataKeyBytes)
    // "__proto__" and the like: leave the odd cases to the general decoder.
    if (key === undefined || key === '__proto__') return undefined
    // Canonical order: encoded keys strictly increasing bytewise (also rules out duplicates).
    if (prevStart >= 0 && compare(r.b, prevStart, prevEnd, keyStart, r.pos) >= 0) return undefined
    prevStart = keyStart
    prevEnd = r.pos
    const value = r.text(LIMITS.metadataValueBytes)
    if (value === undefined) return undefined
    metadata[key] = value
  }
  return new TxBodyObject(version, network, kind as TxKind, origin, seq, timestamp, payloadHash, payloadSize, metadata)
}

/** Where the parts end in the bytes: body = [1, bodyEnd), stripped tx = [1, strippedEnd). */
export interface FastDecoded {
  tx: Transaction
  bodyEnd: number
  strippedEnd: number
}

/**
 * The transaction encoded by `bytes`, or undefined when the general decoder must decide (see above). The
 * payload is a view of `bytes` (the caller passes its own private copy); every other byte field is a copy.
 */
export function fastDecodeTransaction(bytes: Uint8Array): FastDecoded | undefined {
  if (bytes.byteLength > MAX_DECODE_BYTES) return undefined
  const r = new Reader(bytes)
  if (r.head(4) !== 2 || r.head(4) !== 2) return undefined
  const body = readBody(r)
  if (body === undefined) return undefined
  const bodyEnd = r.pos
  const signature = r.bytes(64)
  if (signature === undefined) return undefined
  const strippedEnd = r.pos
  const p = r.span(2, LIMITS.payloadBytes)
  if (p < 0 || r.pos !== bytes.byteLength) return undefined
  return { tx: new TransactionObject(body, signature, bytes.subarray(p, r.pos)), bodyEnd, strippedEnd }
}

/** The stripped tx [body, signature] encoded by `bytes` (same rules; body = [1, bodyEnd)), or undefined. */
export function fastDecodeStrippedTx(bytes: Uint8Array): { tx: StrippedTx; bodyEnd: number } | undefined {
  if (bytes.byteLength > MAX_DECODE_BYTES) return undefined
  const r = new Reader(bytes)
  if (r.head(4) !== 2) return undefined
  const body = readBody(r)
  if (body === undefined) return undefined
  const bodyEnd = r.pos
  const signature = r.bytes(64)
  if (signature === undefined || r.pos !== bytes.byteLength) return undefined
  return { tx: new StrippedTxObject(body, signature), bodyEnd }
}

/** Skip one well-formed definite-length item (no tags, no simple values or floats); false on anything else. */
function skip(r: Reader, depth: number): boolean {
  if (depth > 16 || r.pos >= r.b.byteLength) return false
  const major = r.b[r.pos] >> 5
  if (major === 0 || major === 1) return r.head(major) >= 0
  if (major === 2 || major === 3) return r.span(major, Number.MAX_SAFE_INTEGER) >= 0
  if (major === 4 || major === 5) {
    const n = r.head(major)
    if (n < 0) return false
    for (let i = 0; i < (major === 5 ? 2 * n : n); i++) if (!skip(r, depth + 1)) return false
    return true
  }
  return false
}

/**
 * Where the parts of a block [header, [stripped...]] lie: the header is bytes[1, headerEnd), tx i is
 * bytes[txs[i], txs[i + 1]) (the last ends at the end). Undefined on anything but that shape; the parts
 * themselves are checked by their own decoders.
 */
export function fastSplitBlock(bytes: Uint8Array): { headerEnd: number; txs: number[] } | undefined {
  if (bytes.byteLength > MAX_DECODE_BYTES) return undefined
  const r = new Reader(bytes)
  if (r.head(4) !== 2 || !skip(r, 1)) return undefined
  const headerEnd = r.pos
  const n = r.head(4)
  if (n < 0 || n > LIMITS.txsPerBlock) return undefined
  const txs: number[] = new Array(n)
  for (let i = 0; i < n; i++) {
    txs[i] = r.pos
    if (!skip(r, 2)) return undefined
  }
  return r.pos === bytes.byteLength ? { headerEnd, txs } : undefined
}
