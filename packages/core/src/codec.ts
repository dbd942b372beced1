import { decode as cborDecode, encode as cborEncode, rfc8949EncodeOptions } from 'cborg'
import { equalBytes } from './bytes.js'
import { CodecError } from './errors.js'

/**
 * The one codec for everything hashed or signed: deterministic CBOR (RFC 8949 §4.2.1 core deterministic
 * encoding: shortest integer forms, definite lengths, map keys sorted bytewise by their encoding).
 * Decoding is strict: indefinite lengths, undefined, NaN/Infinity, floats, tags, duplicate keys,
 * non-shortest forms and trailing bytes are rejected with a CodecError.
 */
export type CborValue = number | string | boolean | null | Uint8Array | CborValue[] | { [k: string]: CborValue }

/** cborg's strict decoding options: the only CBOR this codebase accepts (also used by ingest-wire's fast path). */
export const DECODE_OPTIONS = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowUndefined: false,
  allowIndefinite: false,
  allowNaN: false,
  allowInfinity: false,
  allowBigInt: false,
  useMaps: false,
  tags: [],
}

/** Hard cap on any single decoded structure, far above any legitimate block. */
export const MAX_DECODE_BYTES = 64 * 1024 * 1024

export function encodeCbor(value: CborValue): Uint8Array {
  const out = cborEncode(value, rfc8949EncodeOptions)
  // Always a plain Uint8Array: cborg may hand out a Buffer, whose slice() is a view, and encodings are
  // memoised (transaction.ts), so a caller's `enc.slice()` must copy, never alias the cached bytes.
  return out.constructor === Uint8Array ? out : new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/** The offset after the head `cborHeadAt` read last (module state: no object per head on the hot decoders). */
export let cborHeadEnd = 0

/**
 * The argument of the CBOR head at `pos` (major types 0-6) under deterministic encoding's shortest-form rule
 * (RFC 8949 §4.2.1), within safe integers; -1 for a head that is cut off, reserved or indefinite (additional
 * info 28-31), not in shortest form, or above 2^53 - 1. The offset after the head is left in `cborHeadEnd`.
 * The one head reader of core's direct decoders (tx-fast-decode, ingest-wire); the major type is `b[pos] >> 5`.
 */
export function cborHeadAt(b: Uint8Array, pos: number): number {
  const n = b.byteLength
  if (pos >= n) return -1
  const ai = b[pos] & 31
  if (ai < 24) {
    cborHeadEnd = pos + 1
    return ai
  }
  let arg: number
  let min: number
  let size: number
  const p = pos + 1
  if (ai === 24) {
    size = 1
    min = 24
    if (p + 1 > n) return -1
    arg = b[p]
  } else if (ai === 25) {
    size = 2
    min = 0x100
    if (p + 2 > n) return -1
    arg = (b[p] << 8) | b[p + 1]
  } else if (ai === 26) {
    size = 4
    min = 0x10000
    if (p + 4 > n) return -1
    arg = b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3])
  } else if (ai === 27) {
    size = 8
    min = 0x100000000
    if (p + 8 > n) return -1
    const hi = b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3])
    if (hi > 0x1fffff) return -1 // above Number.MAX_SAFE_INTEGER
    arg = hi * 0x100000000 + (b[p + 4] * 0x1000000 + ((b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]))
  } else return -1
  if (arg < min) return -1
  cborHeadEnd = p + size
  return arg
}

/** Bytes of the shortest-form CBOR head of argument `n` (1, 2, 3, 5 or 9). */
export function cborHeadSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9
}

/**
 * Write the shortest-form CBOR head of (major, n), n a safe non-negative integer, into `out` at `at`; returns
 * the offset after it. The one head writer of core's direct encoders (tx bodies, ingest frames).
 */
export function writeCborHead(out: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5
  if (n < 24) {
    out[at] = m | n
    return at + 1
  }
  if (n < 0x100) {
    out[at] = m | 24
    out[at + 1] = n
    return at + 2
  }
  if (n < 0x10000) {
    out[at] = m | 25
    out[at + 1] = n >>> 8
    out[at + 2] = n & 0xff
    return at + 3
  }
  if (n < 0x100000000) {
    out[at] = m | 26
    writeU32(out, at + 1, n)
    return at + 5
  }
  out[at] = m | 27
  writeU32(out, at + 1, Math.floor(n / 0x100000000))
  writeU32(out, at + 5, n >>> 0)
  return at + 9
}

function writeU32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24
  out[at + 1] = (n >>> 16) & 0xff
  out[at + 2] = (n >>> 8) & 0xff
  out[at + 3] = n & 0xff
}

/** The shortest-form CBOR head of a byte string of `length` bytes (major type 2), as encodeCbor writes it. */
export function cborBytesHead(length: number): Uint8Array {
  return cborHead(2, length)
}

/** The shortest-form CBOR head of major type `major` (2 bytes, 3 text, 4 array, 5 map) and length `n`. */
export function cborHead(major: number, n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`CBOR length ${n}`)
  const m = major << 5
  if (n < 24) return Uint8Array.of(m | n)
  if (n < 0x100) return Uint8Array.of(m | 24, n)
  if (n < 0x10000) return Uint8Array.of(m | 25, n >>> 8, n & 0xff)
  if (n < 0x100000000) return Uint8Array.of(m | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
  const out = new Uint8Array(9)
  out[0] = m | 27
  new DataView(out.buffer).setBigUint64(1, BigInt(n))
  return out
}

/** Decode bytes that must be a canonical encoding of one CBOR item, and nothing else. */
export function decodeCbor(bytes: Uint8Array, what = 'value'): CborValue {
  if (!(bytes instanceof Uint8Array)) throw new CodecError(`${what}: expected bytes`)
  if (bytes.byteLength > MAX_DECODE_BYTES) {
    throw new CodecError(`${what}: ${bytes.byteLength} bytes exceeds the ${MAX_DECODE_BYTES}-byte limit`)
  }
  let value: unknown
  try {
    value = cborDecode(bytes, DECODE_OPTIONS)
  } catch (err) {
    throw new CodecError(`${what}: malformed CBOR: ${(err as Error).message}`, { what }, { cause: err })
  }
  checkNoFloats(value, what)
  // Canonical form check: re-encoding must give back the same bytes (rejects unsorted maps etc.).
  const again = encodeCbor(value as CborValue)
  if (!equalBytes(again, bytes)) throw new CodecError(`${what}: not in canonical (deterministic) CBOR form`, { what })
  return value as CborValue
}

function checkNoFloats(v: unknown, what: string, depth = 0): void {
  if (depth > 16) throw new CodecError(`${what}: nesting deeper than 16 levels`)
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new CodecError(`${what}: only safe integers are allowed, got ${v}`)
  } else if (Array.isArray(v)) {
    for (const x of v) checkNoFloats(x, what, depth + 1)
  } else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    for (const x of Object.values(v)) checkNoFloats(x, what, depth + 1)
  }
}

/** Field readers used by the structure decoders: each throws a CodecError naming the field. */
export const read = {
  array(v: CborValue, len: number, what: string): CborValue[] {
    if (!Array.isArray(v) || v.length !== len) throw new CodecError(`${what}: expected an array of ${len} items`)
    return v
  },
  list(v: CborValue, max: number, what: string): CborValue[] {
    if (!Array.isArray(v)) throw new CodecError(`${what}: expected an array`)
    if (v.length > max) throw new CodecError(`${what}: ${v.length} items exceeds the limit of ${max}`)
    return v
  },
  uint(v: CborValue, what: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new CodecError(`${what}: expected an unsigned integer`)
    }
    return v
  },
  bytes(v: CborValue, what: string, len?: number, max?: number): Uint8Array {
    if (!(v instanceof Uint8Array)) throw new CodecError(`${what}: expected a byte string`)
    if (len !== undefined && v.byteLength !== len) throw new CodecError(`${what}: expected ${len} bytes, got ${v.byteLength}`)
    if (max !== undefined && v.byteLength > max) throw new CodecError(`${what}: ${v.byteLength} bytes exceeds ${max}`)
    return v
  },
  text(v: CborValue, what: string, max: number): string {
    if (typeof v !== 'string') throw new CodecError(`${what}: expected a text string`)
    if (Buffer.byteLength(v) > max) throw new CodecError(`${what}: longer than ${max} bytes`)
    return v
  },
  textMap(v: CborValue, what: string, maxEntries: number, maxKey: number, maxValue: number): Record<string, string> {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
      throw new CodecError(`${what}: expected a map`)
    }
    const entries = Object.entries(v)
    if (entries.length > maxEntries) throw new CodecError(`${what}: more than ${maxEntries} entries`)
    const out: Record<string, string> = {}
    for (const [k, x] of entries) {
      if (Buffer.byteLength(k) > maxKey) throw new CodecError(`${what}: key longer than ${maxKey} bytes`)
      // defineProperty, not assignment: a "__proto__" key must stay an own entry, or re-encoding changes the bytes.
      Object.defineProperty(out, k, { value: read.text(x, `${what}.${k}`, maxValue), enumerable: true, writable: true, configurable: true })
    }
    return out
  },
}
