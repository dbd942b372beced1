import { concatBytes, utf8 } from './bytes.js'
import { decode as cborDecode } from 'cborg'
import { type CborValue, cborHeadAt, cborHeadEnd, cborHeadSize, writeCborHead, DECODE_OPTIONS, decodeCbor, encodeCbor, MAX_DECODE_BYTES, read } from './codec.js'
import { getCrypto } from './crypto.js'
import { CodecError, ProfichainError } from './errors.js'
import { LIMITS } from './limits.js'
import { decodeTransaction, strippedTxFromCbor, type Transaction, txBodyToCbor } from './transaction.js'

/**
 * The Profichain ingest protocol v1 (docs/ingest-protocol.md): devices send device-signed txs to a node over
 * TLS 1.3 as length-prefixed frames. A frame is a u32 big-endian length N followed by N bytes of
 * deterministic CBOR: an array `[INGEST_PROTOCOL_VERSION, frameType, ...fields]`. Decoding is strict (the
 * core codec's canonical-form rules plus the shape of each frame type) and every failure is an
 * IngestWireError whose `code` is the protocol code the server answers with.
 */
export const INGEST_PROTOCOL_VERSION = 1
export const INGEST_ALPN = 'profichain-ingest/1'
export const INGEST_DEFAULT_PORT = 7443
/** Prefix of the signed hello message (followed by challenge ‖ cert fingerprint ‖ network). */
export const INGEST_HELLO_CONTEXT = 'profichain-ingest/1 hello\n'

export const INGEST_FRAME_TYPES = {
  'server-hello': 0,
  hello: 1,
  welcome: 2,
  submit: 3,
  ack: 4,
  receipt: 5,
  error: 6,
  'receipt-ack': 7,
} as const
export type IngestFrameType = keyof typeof INGEST_FRAME_TYPES

/**
 * Every code the protocol carries, in ack entries (`rejected` + code) and in error frames. Decoders accept
 * any code of the shape /^[A-Z][A-Z0-9_]*$/ (a newer server may add codes); these are the ones v1 defines.
 */
export const INGEST_CODES = [
  // the frame itself
  'BAD_FRAME',
  'FRAME_TOO_LARGE',
  'UNSUPPORTED_VERSION',
  'BATCH_TOO_LARGE',
  'TOO_MANY_IN_FLIGHT',
  // the hello
  'BAD_HELLO',
  'BAD_SIGNATURE',
  'HELLO_TIMEOUT',
  // connection limits
  'TOO_MANY_CONNECTIONS',
  'IDLE_TIMEOUT',
  'SLOW_READER',
  'SHUTTING_DOWN',
  // one tx
  'BAD_TX',
  'WRONG_NETWORK',
  'WRONG_ORIGIN',
  'NOT_MEMBER',
  'UNKNOWN_DEVICE',
  'REVOKED',
  'REPLAY',
  'TX_TOO_LARGE',
  'RATE_LIMITED',
  'INTERNAL',
] as const
export type IngestCode = (typeof INGEST_CODES)[number]

/** A frame that cannot be read (or must be refused): `code` is what the peer is told. */
export class IngestWireError extends ProfichainError {
  declare readonly code: IngestCode
  constructor(code: IngestCode, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'IngestWireError'
  }
}

export const ACK_STATUS = { accepted: 0, duplicate: 1, rejected: 2 } as const
export type AckStatus = keyof typeof ACK_STATUS
const STATUS_BY_NUMBER: readonly AckStatus[] = ['accepted', 'duplicate', 'rejected']

export interface IngestLimits {
  /** Largest frame body (the length prefix's value) either side may send. */
  maxFrameBytes: number
  /** Most txs in one submit. */
  maxBatch: number
  /** Most submits a client may have sent and not yet seen acked. */
  maxInFlight: number
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = { maxFrameBytes: 4 * 1024 * 1024, maxBatch: 256, maxInFlight: 8 }

/** Format limits of fields (not negotiable). */
export const INGEST_FIELD_LIMITS = {
  challengeBytes: 32,
  codeBytes: 64,
  messageBytes: 1024,
  deviceIdBytes: 256,
  chainpointBytes: 1024 * 1024,
  receiptAckIds: 4096,
  /** Hard ceiling of maxFrameBytes whatever a server advertises. */
  maxFrameBytes: 64 * 1024 * 1024,
} as const

export interface AckEntry {
  /** txId of the tx at this position of the submit (32 zero bytes if it could not be decoded). */
  txId: Uint8Array
  status: AckStatus
  /** '' for accepted and duplicate; a code (INGEST_CODES or newer) for rejected. */
  code: string
}

export type IngestFrame =
  | { type: 'server-hello'; challenge: Uint8Array; network: string; limits: IngestLimits }
  | { type: 'hello'; publicKey: Uint8Array; signature: Uint8Array }
  | { type: 'welcome'; deviceId: string; registered: boolean; nextSeq: number }
  | { type: 'submit'; batchId: number; txs: readonly Transaction[] }
  | { type: 'ack'; batchId: number; results: AckEntry[] }
  | { type: 'receipt'; txId: Uint8Array; height: number; blockHash: Uint8Array; chainpoint: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'receipt-ack'; txIds: Uint8Array[] }

/** One tx of a decoded submit: the tx, or why it could not be decoded (the rest of the batch is unaffected). */
export type SubmitItem = { ok: true; tx: Transaction } | { ok: false; error: IngestWireError }

export type DecodedSubmitFrame = { type: 'submit'; batchId: number; items: SubmitItem[] }
/** What decodeFrame returns: a submit's txs are decoded one by one (per-tx rejection). */
export type DecodedIngestFrame = Exclude<IngestFrame, { type: 'submit' }> | DecodedSubmitFrame

export const ZERO_TX_ID = new Uint8Array(32)

const CODE_RE = /^[A-Z][A-Z0-9_]*$/

function txToCbor(tx: Transaction): CborValue {
  return [[txBodyToCbor(tx.body), tx.signature], tx.payload]
}

function frameToCbor(f: IngestFrame): CborValue {
  const head = [INGEST_PROTOCOL_VERSION, INGEST_FRAME_TYPES[f.type]]
  switch (f.type) {
    case 'server-hello':
      return [...head, f.challenge, f.network, { maxFrameBytes: f.limits.maxFrameBytes, maxBatch: f.limits.maxBatch, maxInFlight: f.limits.maxInFlight }]
    case 'hello':
      return [...head, f.publicKey, f.signature]
    case 'welcome':
      return [...head, { deviceId: f.deviceId, registered: f.registered, nextSeq: f.nextSeq }]
    case 'submit':
      return [...head, f.batchId, f.txs.map(txToCbor)]
    case 'ack':
      return [...head, f.batchId, f.results.map((r) => [r.txId, ACK_STATUS[r.status], r.code])]
    case 'receipt':
      return [...head, f.txId, f.height, f.blockHash, f.chainpoint]
    case 'error':
      return [...head, f.code, f.message]
    case 'receipt-ack':
      return [...head, f.txIds]
  }
}

/** The frame's CBOR body (no length prefix). Checks the frame against the decoder's rules first. */
export function encodeFrameBody(frame: IngestFrame): Uint8Array {
  // Never send what a strict peer would refuse (the same rules as decodeFrame, size limits aside). A submit's
  // txs were checked when they were built (createTransaction), and re-decoding megabytes per batch is costly.
  // Acks and receipts (a node sends one of each per record) are checked on their fields, before encoding:
  // decoding each back (CBOR decode and the canonical re-encode) cost twice their encoding.
  if (frame.type === 'ack' || frame.type === 'receipt') return encodeAckOrReceipt(frame, 0)
  const body = encodeCbor(frameToCbor(frame))
  if (frame.type !== 'submit') decodeFrameBody(body, { maxBatch: Number.MAX_SAFE_INTEGER })
  return body
}

/**
 * An ack or receipt frame (a node sends one of each per record) written straight into one buffer, after
 * `prefix` bytes (4: the length prefix, filled in): the same bytes as the codec's encoding of frameToCbor
 * (tested against it), without building the CBOR value tree, cborg's generic encoder and the copy that put the
 * length prefix in front (encodeFrame was 4.6 % of the ingest API node's main thread). The fields are checked
 * first; anything the quick check does not pass goes through checkFields for its exact error.
 */
function encodeAckOrReceipt(f: Extract<IngestFrame, { type: 'ack' | 'receipt' }>, prefix: 0 | 4): Uint8Array {
  const size = quickSize(f)
  if (size < 0) return checkedSlow(f, prefix)
  const buf = Buffer.allocUnsafe(prefix + size)
  if (prefix === 4) buf.writeUInt32BE(size, 0)
  const end = writeQuick(f, buf, prefix, quickText)
  if (end !== prefix + size) throw new Error(`ingest frame encoder wrote ${end - prefix} bytes, sized ${size}`)
  return new Uint8Array(buf.buffer, buf.byteOffset, end)
}

/**
 * Several frames as they go on the wire (each length-prefixed), in one buffer: a node pushing a block's receipts
 * to a device writes them at once (one allocation, one socket write). Same bytes as concatenating encodeFrame's.
 */
export function encodeFrames(frames: readonly IngestFrame[]): Uint8Array {
  const n = frames.length
  const sizes = new Array<number>(n)
  const texts = new Array<number>(n)
  const other = new Array<Uint8Array | undefined>(n)
  let total = 0
  for (let i = 0; i < n; i++) {
    const f = frames[i]
    const size = f.type === 'ack' || f.type === 'receipt' ? quickSize(f) : -1
    if (size < 0) {
      const enc = encodeFrame(f)
      other[i] = enc
      total += enc.byteLength
    } else {
      sizes[i] = size
      texts[i] = quickText
      total += 4 + size
    }
  }
  const buf = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < n; i++) {
    const enc = other[i]
    if (enc !== undefined) {
      buf.set(enc, at)
      at += enc.byteLength
      continue
    }
    buf.writeUInt32BE(sizes[i], at)
    const end = writeQuick(frames[i] as Extract<IngestFrame, { type: 'ack' | 'receipt' }>, buf, at + 4, texts[i])
    if (end !== at + 4 + sizes[i]) throw new Error(`ingest frame encoder wrote ${end - at - 4} bytes, sized ${sizes[i]}`)
    at = end
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, at)
}

/** The UTF-8 size of the receipt's chainpoint that quickSize measured last. */
let quickText = 0

/** The body size of an ack or receipt whose fields pass the quick check (decodeFrameBody's rules); -1 otherwise. */
function quickSize(f: Extract<IngestFrame, { type: 'ack' | 'receipt' }>): number {
  if (f.type === 'receipt') {
    if (!isBytes32(f.txId) || !isUint(f.height) || !isBytes32(f.blockHash) || typeof f.chainpoint !== 'string') return -1
    const text = (quickText = Buffer.byteLength(f.chainpoint))
    if (text > INGEST_FIELD_LIMITS.chainpointBytes) return -1
    return 3 + 34 + cborHeadSize(f.height) + 34 + cborHeadSize(text) + text
  }
  if (!isUint(f.batchId) || !Array.isArray(f.results)) return -1
  let size = 3 + cborHeadSize(f.batchId) + cborHeadSize(f.results.length)
  for (const r of f.results) {
    if (r === null || typeof r !== 'object' || !isBytes32(r.txId) || typeof r.code !== 'string') return -1
    const status = ACK_STATUS[r.status]
    if (status === undefined || !Object.hasOwn(ACK_STATUS, r.status)) return -1
    // A code is ASCII (A-Z, 0-9, _): one byte per character.
    if (status === ACK_STATUS.rejected ? r.code.length > INGEST_FIELD_LIMITS.codeBytes || !CODE_RE.test(r.code) : r.code !== '') return -1
    size += 1 + 34 + 1 + cborHeadSize(r.code.length) + r.code.length
  }
  return size
}

/** Write the body of a frame quickSize passed at `at`; the offset after it. */
function writeQuick(f: Extract<IngestFrame, { type: 'ack' | 'receipt' }>, buf: Buffer, at: number, textBytes: number): number {
  if (f.type === 'receipt') {
    buf[at++] = 0x86
    buf[at++] = INGEST_PROTOCOL_VERSION
    buf[at++] = INGEST_FRAME_TYPES.receipt
    at = putBytes32(buf, at, f.txId)
    at = writeCborHead(buf, at, 0, f.height)
    at = putBytes32(buf, at, f.blockHash)
    at = writeCborHead(buf, at, 3, textBytes)
    return at + buf.write(f.chainpoint, at, textBytes, 'utf8')
  }
  buf[at++] = 0x84
  buf[at++] = INGEST_PROTOCOL_VERSION
  buf[at++] = INGEST_FRAME_TYPES.ack
  at = writeCborHead(buf, at, 0, f.batchId)
  at = writeCborHead(buf, at, 4, f.results.length)
  for (const r of f.results) {
    buf[at++] = 0x83
    at = putBytes32(buf, at, r.txId)
    buf[at++] = ACK_STATUS[r.status]
    at = writeCborHead(buf, at, 3, r.code.length)
    for (let i = 0; i < r.code.length; i++) buf[at++] = r.code.charCodeAt(i)
  }
  return at
}

/** The codec's way, for fields the quick check did not pass: checkFields throws the exact error. */
function checkedSlow(f: Extract<IngestFrame, { type: 'ack' | 'receipt' }>, prefix: 0 | 4): Uint8Array {
  checkFields(f)
  const body = encodeCbor(frameToCbor(f))
  return prefix === 4 ? withLengthPrefix(body) : body
}

const isBytes32 = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.byteLength === 32
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** A 32-byte byte string (head 0x58 0x20) at `at`. */
function putBytes32(out: Uint8Array, at: number, b: Uint8Array): number {
  out[at] = 0x58
  out[at + 1] = 0x20
  out.set(b, at + 2)
  return at + 34
}

/** decodeFrameBody's rules for an ack or receipt frame, on the fields (same errors). */
function checkFields(f: Extract<IngestFrame, { type: 'ack' | 'receipt' }>): void {
  if (f.type === 'receipt') {
    field(() => read.bytes(f.txId, 'receipt.txId', 32))
    field(() => read.uint(f.height, 'receipt.height'))
    field(() => read.bytes(f.blockHash, 'receipt.blockHash', 32))
    field(() => read.text(f.chainpoint, 'receipt.chainpoint', INGEST_FIELD_LIMITS.chainpointBytes))
    return
  }
  field(() => read.uint(f.batchId, 'ack.batchId'))
  if (!Array.isArray(f.results)) throw bad('ack.results: expected an array')
  f.results.forEach((r, i) => {
    field(() => read.bytes(r.txId, `ack.results[${i}].txId`, 32))
    if (!Object.hasOwn(ACK_STATUS, r.status)) throw bad(`ack.results[${i}].status: unknown status ${String(r.status)}`)
    const code = field(() => read.text(r.code, `ack.results[${i}].code`, INGEST_FIELD_LIMITS.codeBytes))
    if (r.status === 'rejected' ? !CODE_RE.test(code) : code !== '') {
      throw bad(`ack.results[${i}].code: a rejected entry carries a code, the others an empty string`)
    }
  })
}

/** u32be(length) ‖ body: the bytes to write to the socket. */
export function encodeFrame(frame: IngestFrame): Uint8Array {
  if (frame.type === 'ack' || frame.type === 'receipt') return encodeAckOrReceipt(frame, 4)
  return withLengthPrefix(encodeFrameBody(frame))
}

export function withLengthPrefix(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.byteLength)
  new DataView(out.buffer).setUint32(0, body.byteLength)
  out.set(body, 4)
  return out
}

export interface DecodeFrameOptions {
  /** Most txs accepted in a submit (BATCH_TOO_LARGE beyond). */
  maxBatch?: number
  /** Most bytes accepted for a body (FRAME_TOO_LARGE beyond). */
  maxFrameBytes?: number
}

function bad(message: string, cause?: unknown): IngestWireError {
  return new IngestWireError('BAD_FRAME', message, {}, cause === undefined ? undefined : { cause })
}

/** Field readers that throw BAD_FRAME (the core readers throw CodecError). */
function field<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof CodecError) throw bad(err.message, err)
    throw err
  }
}

function readCode(v: CborValue, what: string): string {
  const code = field(() => read.text(v, what, INGEST_FIELD_LIMITS.codeBytes))
  if (!CODE_RE.test(code)) throw bad(`${what}: "${code}" is not a code (A-Z, 0-9, _)`)
  return code
}

function readMap(v: CborValue, keys: readonly string[], what: string): Record<string, CborValue> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw bad(`${what}: expected a map`)
  const got = Object.keys(v).sort()
  const want = [...keys].sort()
  if (got.length !== want.length || got.some((k, i) => k !== want[i])) {
    throw bad(`${what}: expected exactly the keys ${want.join(', ')}, got ${got.join(', ')}`)
  }
  return v
}

function readTx(v: CborValue): Transaction {
  const a = read.array(v, 2, 'transaction')
  const stripped = strippedTxFromCbor(a[0])
  return { ...stripped, payload: read.bytes(a[1], 'tx.payload', undefined, LIMITS.payloadBytes) }
}


/** Deepest nesting the codec accepts (its float check refuses items deeper than this). */
const MAX_DEPTH = 16

/**
 * Whether `b` is, for certain, one item of a subset of canonical CBOR that the codec decodes to a value
 * re-encoding to exactly `b`: shortest-form heads, definite lengths, unsigned and negative safe integers,
 * byte strings, ASCII text strings, arrays, maps with ASCII text keys in strictly increasing bytewise order
 * of their encodings (RFC 8949 §4.2.1; no duplicates, no `__proto__`), false/true/null, nesting of at most
 * 16, no trailing bytes. A walk over the heads (byte strings are skipped, not copied). False means "not
 * proven", never "refused": such bytes take the codec's full check (floats, tags, non-ASCII text and
 * non-canonical forms all land there).
 */
export function provenCanonical(b: Uint8Array): boolean {
  const n = b.byteLength
  if (n === 0 || n > MAX_DECODE_BYTES) return false
  let pos = 0
  const head = (): { major: number; arg: number } | undefined => {
    if (pos >= n) return undefined
    const major = b[pos] >> 5
    if (major === 7) {
      const ai = b[pos++] & 31
      return ai >= 20 && ai <= 22 ? { major, arg: ai } : undefined
    }
    const arg = cborHeadAt(b, pos)
    if (arg < 0) return undefined
    pos = cborHeadEnd
    return { major, arg }
  }
  const ascii = (len: number): boolean => {
    if (pos + len > n) return false
    for (let i = pos; i < pos + len; i++) if (b[i] >= 0x80) return false
    pos += len
    return true
  }
  const item = (depth: number): boolean => {
    if (depth > MAX_DEPTH) return false
    const h = head()
    if (h === undefined) return false
    switch (h.major) {
      case 0:
        return true
      case 1:
        return h.arg < Number.MAX_SAFE_INTEGER // -1 - arg stays a safe integer
      case 2:
        if (pos + h.arg > n) return false
        pos += h.arg
        return true
      case 3:
        return ascii(h.arg)
      case 4:
        for (let i = 0; i < h.arg; i++) if (!item(depth + 1)) return false
        return true
      case 5: {
        let prevStart = -1
        let prevEnd = -1
        for (let i = 0; i < h.arg; i++) {
          const start = pos
          const k = head()
          if (k === undefined || k.major !== 3) return false
          const textStart = pos
          if (!ascii(k.arg)) return false
          if (k.arg === 9 && String.fromCharCode(...b.subarray(textStart, pos)) === '__proto__') return false
          if (prevStart >= 0 && compareRange(b, prevStart, prevEnd, start, pos) >= 0) return false
          prevStart = start
          prevEnd = pos
          if (!item(depth + 1)) return false
        }
        return true
      }
      case 7:
        return true
      default:
        return false // tags
    }
  }
  return item(0) && pos === n
}

/** Bytewise comparison of b[a0, a1) and b[b0, b1). */
function compareRange(b: Uint8Array, a0: number, a1: number, b0: number, b1: number): number {
  const la = a1 - a0
  const lb = b1 - b0
  for (let i = 0; i < Math.min(la, lb); i++) {
    const d = b[a0 + i] - b[b0 + i]
    if (d !== 0) return d
  }
  return la - lb
}

/**
 * Decode one frame body (the bytes after the length prefix). Throws IngestWireError: BAD_FRAME for anything
 * malformed, UNSUPPORTED_VERSION, FRAME_TOO_LARGE, BATCH_TOO_LARGE. A submit's txs are decoded one by one:
 * a malformed tx becomes `{ ok: false }` in `items` and does not fail the frame.
 */
export function decodeFrameBody(body: Uint8Array, opts: DecodeFrameOptions = {}): DecodedIngestFrame {
  const maxFrame = Math.min(opts.maxFrameBytes ?? INGEST_FIELD_LIMITS.maxFrameBytes, INGEST_FIELD_LIMITS.maxFrameBytes)
  if (!(body instanceof Uint8Array)) throw bad('frame: expected bytes')
  if (body.byteLength > maxFrame) throw new IngestWireError('FRAME_TOO_LARGE', `frame of ${body.byteLength} bytes exceeds the ${maxFrame}-byte limit`)
  const proven = provenCanonical(body)
  if (proven) {
    const submit = fastSubmit(body, opts)
    if (submit !== undefined) return submit
  }
  return decodeFrameGeneral(body, opts, proven)
}

/** decodeFrameBody without the direct submit reader: the reference it is tested against. */
export function decodeFrameBodyGeneral(body: Uint8Array, opts: DecodeFrameOptions = {}): DecodedIngestFrame {
  const maxFrame = Math.min(opts.maxFrameBytes ?? INGEST_FIELD_LIMITS.maxFrameBytes, INGEST_FIELD_LIMITS.maxFrameBytes)
  if (!(body instanceof Uint8Array)) throw bad('frame: expected bytes')
  if (body.byteLength > maxFrame) throw new IngestWireError('FRAME_TOO_LARGE', `frame of ${body.byteLength} bytes exceeds the ${maxFrame}-byte limit`)
  return decodeFrameGeneral(body, opts, provenCanonical(body))
}

/**
 * A submit frame proven canonical, read directly: the header by hand, each tx by decodeTransaction on its own
 * bytes (the direct tx reader, which also keeps the tx's encodings: the gateway's signature check and txId then
 * encode nothing again). The general path decoded the whole frame through cborg, built each tx from the value,
 * and the gateway re-encoded every body (cborg decode + encodeStrippedTx ~1 s of main thread per 44,000 records).
 * Undefined when the frame is not a submit; a tx the direct reader does not take is read the general way
 * (same value, same error).
 */
function fastSubmit(body: Uint8Array, opts: DecodeFrameOptions): DecodedSubmitFrame | undefined {
  // [1, 3, batchId, [tx, ...]]: 0x84 0x01 0x03
  if (body.byteLength < 5 || body[0] !== 0x84 || body[1] !== INGEST_PROTOCOL_VERSION || body[2] !== INGEST_FRAME_TYPES.submit) return undefined
  let pos = 3
  if (body[pos] >> 5 !== 0) return undefined
  const batchId = cborHeadAt(body, pos)
  pos = cborHeadEnd
  if (pos >= body.byteLength || body[pos] >> 5 !== 4) return undefined
  const n = cborHeadAt(body, pos)
  pos = cborHeadEnd
  const maxBatch = opts.maxBatch ?? DEFAULT_INGEST_LIMITS.maxBatch
  if (n > maxBatch) {
    throw new IngestWireError('BATCH_TOO_LARGE', `submit of ${n} txs exceeds the batch limit of ${maxBatch}; split it`, { batchId })
  }
  const items: SubmitItem[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const end = skipItem(body, pos)
    const bytes = body.subarray(pos, end)
    pos = end
    try {
      items[i] = { ok: true, tx: decodeTransaction(bytes) }
    } catch (err) {
      if (!(err instanceof CodecError)) throw err
      try {
        items[i] = { ok: true, tx: readTx(cborDecode(bytes, DECODE_OPTIONS) as CborValue) }
      } catch (e) {
        if (!(e instanceof CodecError)) throw e
        items[i] = { ok: false, error: new IngestWireError('BAD_TX', `tx ${i}: ${e.message}`, { index: i }, { cause: e }) }
      }
    }
  }
  if (pos !== body.byteLength) throw new Error('ingest submit reader: the items do not end at the frame end')
  return { type: 'submit', batchId, items }
}

/** The end of the item at `pos` in bytes provenCanonical accepted (definite lengths, no tags or floats). */
function skipItem(b: Uint8Array, pos: number): number {
  let pending = 1
  while (pending > 0) {
    const major = b[pos] >> 5
    const arg = cborHeadAt(b, pos)
    pos = cborHeadEnd
    pending--
    if (major === 2 || major === 3) pos += arg
    else if (major === 4) pending += arg
    else if (major === 5) pending += 2 * arg
  }
  return pos
}

function decodeFrameGeneral(body: Uint8Array, opts: DecodeFrameOptions, proven: boolean): DecodedIngestFrame {
  let v: CborValue
  try {
    // Bytes the walker proves canonical are decoded without the codec's re-encoding check (the whole frame,
    // payloads included, was encoded again for every submit: 2.7 % of the ingest API's main thread); any
    // other bytes take the codec's full check, so what is accepted and refused is the same.
    v = proven ? (cborDecode(body, DECODE_OPTIONS) as CborValue) : decodeCbor(body, 'frame')
  } catch (err) {
    throw bad((err as Error).message, err)
  }
  if (!Array.isArray(v) || v.length < 2) throw bad('frame: expected an array [version, type, ...]')
  const version = field(() => read.uint(v[0], 'frame.version'))
  if (version !== INGEST_PROTOCOL_VERSION) {
    throw new IngestWireError('UNSUPPORTED_VERSION', `frame: protocol version ${version} is not supported (this side speaks ${INGEST_PROTOCOL_VERSION})`)
  }
  const type = field(() => read.uint(v[1], 'frame.type'))
  const len = (n: number, name: string) => {
    if (v.length !== n) throw bad(`${name}: expected ${n} items, got ${v.length}`)
  }
  switch (type) {
    case 0: {
      len(5, 'server-hello')
      const m = readMap(v[4], ['maxFrameBytes', 'maxBatch', 'maxInFlight'], 'server-hello.limits')
      const limits = field(() => ({
        maxFrameBytes: read.uint(m.maxFrameBytes, 'limits.maxFrameBytes'),
        maxBatch: read.uint(m.maxBatch, 'limits.maxBatch'),
        maxInFlight: read.uint(m.maxInFlight, 'limits.maxInFlight'),
      }))
      if (limits.maxFrameBytes < 1024 || limits.maxBatch < 1 || limits.maxInFlight < 1) throw bad('server-hello.limits: values out of range')
      return {
        type: 'server-hello',
        challenge: field(() => read.bytes(v[2], 'server-hello.challenge', INGEST_FIELD_LIMITS.challengeBytes)),
        network: field(() => read.text(v[3], 'server-hello.network', LIMITS.networkIdBytes)),
        limits,
      }
    }
    case 1:
      len(4, 'hello')
      return {
        type: 'hello',
        publicKey: field(() => read.bytes(v[2], 'hello.publicKey', 32)),
        signature: field(() => read.bytes(v[3], 'hello.signature', 64)),
      }
    case 2: {
      len(3, 'welcome')
      const m = readMap(v[2], ['deviceId', 'registered', 'nextSeq'], 'welcome')
      if (typeof m.registered !== 'boolean') throw bad('welcome.registered: expected a boolean')
      return {
        type: 'welcome',
        deviceId: field(() => read.text(m.deviceId, 'welcome.deviceId', INGEST_FIELD_LIMITS.deviceIdBytes)),
        registered: m.registered,
        nextSeq: field(() => read.uint(m.nextSeq, 'welcome.nextSeq')),
      }
    }
    case 3: {
      len(4, 'submit')
      const batchId = field(() => read.uint(v[2], 'submit.batchId'))
      const list = v[3]
      if (!Array.isArray(list)) throw bad('submit.txs: expected an array')
      const maxBatch = opts.maxBatch ?? DEFAULT_INGEST_LIMITS.maxBatch
      if (list.length > maxBatch) {
        throw new IngestWireError('BATCH_TOO_LARGE', `submit of ${list.length} txs exceeds the batch limit of ${maxBatch}; split it`, { batchId })
      }
      const items: SubmitItem[] = list.map((x, i) => {
        try {
          return { ok: true, tx: readTx(x) }
        } catch (err) {
          if (!(err instanceof CodecError)) throw err
          return { ok: false, error: new IngestWireError('BAD_TX', `tx ${i}: ${err.message}`, { index: i }, { cause: err }) }
        }
      })
      return { type: 'submit', batchId, items }
    }
    case 4: {
      len(4, 'ack')
      const batchId = field(() => read.uint(v[2], 'ack.batchId'))
      const list = v[3]
      if (!Array.isArray(list)) throw bad('ack.results: expected an array')
      const results = list.map((x, i): AckEntry => {
        if (!Array.isArray(x) || x.length !== 3) throw bad(`ack.results[${i}]: expected [txId, status, code]`)
        const txId = field(() => read.bytes(x[0], `ack.results[${i}].txId`, 32))
        const n = field(() => read.uint(x[1], `ack.results[${i}].status`))
        const status = STATUS_BY_NUMBER[n]
        if (status === undefined) throw bad(`ack.results[${i}].status: unknown status ${n}`)
        const code = field(() => read.text(x[2], `ack.results[${i}].code`, INGEST_FIELD_LIMITS.codeBytes))
        if (status === 'rejected' ? !CODE_RE.test(code) : code !== '') {
          throw bad(`ack.results[${i}].code: a rejected entry carries a code, the others an empty string`)
        }
        return { txId, status, code }
      })
      return { type: 'ack', batchId, results }
    }
    case 5:
      len(6, 'receipt')
      return {
        type: 'receipt',
        txId: field(() => read.bytes(v[2], 'receipt.txId', 32)),
        height: field(() => read.uint(v[3], 'receipt.height')),
        blockHash: field(() => read.bytes(v[4], 'receipt.blockHash', 32)),
        chainpoint: field(() => read.text(v[5], 'receipt.chainpoint', INGEST_FIELD_LIMITS.chainpointBytes)),
      }
    case 6:
      len(4, 'error')
      return {
        type: 'error',
        code: readCode(v[2], 'error.code'),
        message: field(() => read.text(v[3], 'error.message', INGEST_FIELD_LIMITS.messageBytes)),
      }
    case 7: {
      len(3, 'receipt-ack')
      const list = field(() => read.list(v[2], INGEST_FIELD_LIMITS.receiptAckIds, 'receipt-ack.txIds'))
      return { type: 'receipt-ack', txIds: list.map((x, i) => field(() => read.bytes(x, `receipt-ack.txIds[${i}]`, 32))) }
    }
    default:
      throw bad(`frame: unknown frame type ${type}`)
  }
}

/**
 * Splits a byte stream into frame bodies. The length prefix is checked against `maxFrameBytes` as soon as its
 * 4 bytes are in, before any of the body is buffered: a too-long prefix throws FRAME_TOO_LARGE (the caller
 * answers with an error frame and closes). Memory held is at most 4 + maxFrameBytes + one chunk.
 */
export class FrameReader {
  private chunks: Uint8Array[] = []
  private size = 0
  private need = -1

  constructor(private maxFrameBytes: number) {}

  /** Change the limit for the frames still to come (e.g. raise it once the peer is authenticated). */
  setMaxFrameBytes(n: number): void {
    this.maxFrameBytes = n
  }

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.size
  }

  /** Feed bytes; returns the complete frame bodies they finish (possibly none). */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk)
      this.size += chunk.byteLength
    }
    const out: Uint8Array[] = []
    for (;;) {
      if (this.need < 0) {
        if (this.size < 4) break
        const head = this.take(4)
        const n = new DataView(head.buffer, head.byteOffset, 4).getUint32(0)
        if (n === 0) throw new IngestWireError('BAD_FRAME', 'frame: a length prefix of 0 (every frame has a body)')
        if (n > this.maxFrameBytes) {
          throw new IngestWireError('FRAME_TOO_LARGE', `frame of ${n} bytes exceeds the ${this.maxFrameBytes}-byte limit; send smaller batches`, { length: n })
        }
        this.need = n
      }
      if (this.size < this.need) break
      out.push(this.take(this.need))
      this.need = -1
    }
    return out
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0]
    let out: Uint8Array
    if (first.byteLength >= n) {
      out = first.subarray(0, n)
      if (first.byteLength === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
    } else {
      out = new Uint8Array(n)
      let off = 0
      while (off < n) {
        const c = this.chunks[0]
        const k = Math.min(c.byteLength, n - off)
        out.set(c.subarray(0, k), off)
        off += k
        if (k === c.byteLength) this.chunks.shift()
        else this.chunks[0] = c.subarray(k)
      }
    }
    this.size -= n
    return out
  }
}

/** SHA-256 of the server certificate's DER: what clients pin (64 hex in configs, 32 bytes in the hello). */
export function certFingerprint(certDer: Uint8Array): Uint8Array {
  return getCrypto().sha256(certDer)
}

/** The bytes a device signs in its hello: context ‖ challenge ‖ fingerprint ‖ utf8(network). */
export function helloMessage(challenge: Uint8Array, fingerprint: Uint8Array, network: string): Uint8Array {
  if (challenge.byteLength !== INGEST_FIELD_LIMITS.challengeBytes || fingerprint.byteLength !== 32) {
    throw new IngestWireError('BAD_HELLO', 'hello: the challenge and the certificate fingerprint are 32 bytes each')
  }
  return concatBytes(utf8(INGEST_HELLO_CONTEXT), challenge, fingerprint, utf8(network))
}

export function signHello(seed: Uint8Array, challenge: Uint8Array, fingerprint: Uint8Array, network: string): Uint8Array {
  return getCrypto().sign(seed, helloMessage(challenge, fingerprint, network))
}

export function verifyHello(
  publicKey: Uint8Array,
  signature: Uint8Array,
  challenge: Uint8Array,
  fingerprint: Uint8Array,
  network: string,
): boolean {
  return getCrypto().verify(publicKey, helloMessage(challenge, fingerprint, network), signature)
}
