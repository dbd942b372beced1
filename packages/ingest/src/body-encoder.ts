import type { TxBody } from '@profichain/core'

/**
 * The deterministic CBOR of a record's body (`encodeCbor(txBodyToCbor(body))`, RFC 8949 §4.2.1: shortest
 * heads, definite lengths, map keys sorted bytewise by their encoding) written directly into one buffer.
 * Issue 12: cborg built, sorted and wrote a token tree per body, ~20 µs of the main thread per JSONL line
 * (7 % of it in a line burst); the records of one ingest differ only in seq, timestamp, payload hash and size
 * and metadata values, and share their metadata keys, whose sorted order and encodings are kept per key set.
 *
 * Returns undefined for anything it does not write exactly as cborg does (a number that is not a safe
 * non-negative integer, a non-string metadata value): the caller then uses the codec. The file ingest also
 * compares its output with the codec's for the first and last body of every batch and stops using it on a
 * difference (never seen; tested against the codec in body-encoder.test.ts).
 */
export class BodyEncoder {
  /** Sorted metadata keys and their encodings, by the key list (in the object's order) joined with NUL. */
  private readonly shapes = new Map<string, Shape>()

  encode(b: TxBody): Uint8Array | undefined {
    const m = b.metadata
    const keyList = Object.keys(m)
    const shape = this.shapeOf(keyList)
    if (shape === undefined) return undefined
    if (!uintOk(b.version) || !uintOk(b.seq) || !uintOk(b.timestamp) || !uintOk(b.payloadSize)) return undefined
    if (typeof b.network !== 'string' || typeof b.kind !== 'string') return undefined
    if (!(b.origin instanceof Uint8Array) || !(b.payloadHash instanceof Uint8Array)) return undefined
    let size = 1 + uintLen(b.version) + textLen(b.network) + textLen(b.kind) + bytesLen(b.origin.byteLength)
    size += uintLen(b.seq) + uintLen(b.timestamp) + bytesLen(b.payloadHash.byteLength) + uintLen(b.payloadSize)
    size += headLen(shape.keys.length)
    const values: string[] = new Array(shape.keys.length)
    for (let i = 0; i < shape.keys.length; i++) {
      const v = m[shape.keys[i]]
      if (typeof v !== 'string') return undefined
      values[i] = v
      size += shape.encoded[i].byteLength + textLen(v)
    }
    const ab = new ArrayBuffer(size)
    const out = Buffer.from(ab)
    let o = 0
    out[o++] = 0x89 // array(9)
    o = writeHead(out, o, 0, b.version)
    o = writeText(out, o, b.network)
    o = writeText(out, o, b.kind)
    o = writeBytes(out, o, b.origin)
    o = writeHead(out, o, 0, b.seq)
    o = writeHead(out, o, 0, b.timestamp)
    o = writeBytes(out, o, b.payloadHash)
    o = writeHead(out, o, 0, b.payloadSize)
    o = writeHead(out, o, 5, shape.keys.length)
    for (let i = 0; i < values.length; i++) {
      shape.encoded[i].copy(out, o)
      o += shape.encoded[i].byteLength
      o = writeText(out, o, values[i])
    }
    if (o !== size) return undefined
    // A plain Uint8Array (as encodeCbor returns): encodings are memoised, a caller's slice() must copy.
    return new Uint8Array(ab)
  }

  private shapeOf(keyList: string[]): Shape | undefined {
    const id = keyList.join('\0')
    let s = this.shapes.get(id)
    // The id is only a hint (keys may hold NUL, [] and [''] share it): the key list itself must match.
    if (s !== undefined && !sameList(s.order, keyList)) s = undefined
    if (s === undefined) {
      if (this.shapes.size >= 64) this.shapes.clear() // bounded: key sets are few (one per kind of record)
      const pairs = keyList.map((k) => {
        const e = Buffer.alloc(textLen(k))
        writeText(e, 0, k)
        return { k, e }
      })
      pairs.sort((x, y) => Buffer.compare(x.e, y.e))
      for (let i = 1; i < pairs.length; i++) if (Buffer.compare(pairs[i - 1].e, pairs[i].e) === 0) return undefined
      s = { order: keyList, keys: pairs.map((p) => p.k), encoded: pairs.map((p) => p.e) }
      this.shapes.set(id, s)
    }
    return s
  }
}

/** Metadata keys in the object's order, sorted by their encoding, and those encodings. */
interface Shape {
  order: string[]
  keys: string[]
  encoded: Buffer[]
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function uintOk(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

function headLen(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9
}

const uintLen = headLen

function textLen(s: string): number {
  const n = Buffer.byteLength(s, 'utf8')
  return headLen(n) + n
}

function bytesLen(n: number): number {
  return headLen(n) + n
}

/** The shortest head of major type `major` with argument `n` (a safe non-negative integer). */
function writeHead(out: Buffer, o: number, major: number, n: number): number {
  const m = major << 5
  if (n < 24) {
    out[o] = m | n
    return o + 1
  }
  if (n < 0x100) {
    out[o] = m | 24
    out[o + 1] = n
    return o + 2
  }
  if (n < 0x10000) {
    out[o] = m | 25
    out.writeUInt16BE(n, o + 1)
    return o + 3
  }
  if (n < 0x100000000) {
    out[o] = m | 26
    out.writeUInt32BE(n, o + 1)
    return o + 5
  }
  out[o] = m | 27
  out.writeUInt32BE(Math.floor(n / 0x100000000), o + 1)
  out.writeUInt32BE(n >>> 0, o + 5)
  return o + 9
}

function writeText(out: Buffer, o: number, s: string): number {
  const n = Buffer.byteLength(s, 'utf8')
  o = writeHead(out, o, 3, n)
  out.write(s, o, n, 'utf8')
  return o + n
}

function writeBytes(out: Buffer, o: number, b: Uint8Array): number {
  o = writeHead(out, o, 2, b.byteLength)
  out.set(b, o)
  return o + b.byteLength
}
