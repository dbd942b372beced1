import { cborBytesHead, cborHead, CodecError, decodeTxBatchItems, WIRE_LIMITS, WIRE_VERSION } from '@profichain/core'

/**
 * Tx batch framing without the general CBOR codec. A batch is [1, [bytes...]] (core wire.ts); core's
 * decoder runs cborg over the whole message and re-encodes it to prove canonical form, and its encoder
 * copies every item through cborg: ~4 and ~2 µs per 1 KiB record on every devnet node (the full node and
 * each relaying thin node decode every batch). Same bytes, same answers: the reader takes only the canonical
 * shape and leaves everything else to core's decoder, which gives the exact error (tested against it).
 */

/** `encodeTxBatch(items)` of already encoded txs, built by concatenation. */
export function encodeTxBatchItems(items: readonly Uint8Array[]): Uint8Array {
  if (items.length > WIRE_LIMITS.txBatchItems)
    throw new CodecError(`tx batch: ${items.length} items exceeds ${WIRE_LIMITS.txBatchItems}`)
  const arrayHead = cborHead(4, items.length)
  const heads = items.map((it) => cborBytesHead(it.byteLength))
  let total = 2 + arrayHead.byteLength
  for (let i = 0; i < items.length; i++) total += heads[i].byteLength + items[i].byteLength
  const out = new Uint8Array(total)
  out[0] = 0x82 // array(2)
  out[1] = WIRE_VERSION // uint < 24: the item is its own head
  out.set(arrayHead, 2)
  let pos = 2 + arrayHead.byteLength
  for (let i = 0; i < items.length; i++) {
    out.set(heads[i], pos)
    pos += heads[i].byteLength
    out.set(items[i], pos)
    pos += items[i].byteLength
  }
  return out
}

/** `decodeTxBatchItems(bytes)`: views of the items (the caller's decoders copy what they keep). */
export function txBatchItems(bytes: Uint8Array): Uint8Array[] {
  return splitCanonical(bytes) ?? decodeTxBatchItems(bytes)
}

/** Shortest-form head of major type `major` at `pos`: [value, next pos], or undefined. */
function head(b: Uint8Array, pos: number, major: number): [number, number] | undefined {
  if (pos >= b.byteLength || b[pos] >> 5 !== major) return undefined
  const ai = b[pos] & 31
  if (ai < 24) return [ai, pos + 1]
  if (ai === 24) return pos + 2 <= b.byteLength && b[pos + 1] >= 24 ? [b[pos + 1], pos + 2] : undefined
  if (ai === 25) {
    if (pos + 3 > b.byteLength) return undefined
    const n = (b[pos + 1] << 8) | b[pos + 2]
    return n >= 0x100 ? [n, pos + 3] : undefined
  }
  if (ai === 26) {
    if (pos + 5 > b.byteLength) return undefined
    const n = b[pos + 1] * 0x1000000 + ((b[pos + 2] << 16) | (b[pos + 3] << 8) | b[pos + 4])
    return n >= 0x10000 ? [n, pos + 5] : undefined
  }
  return undefined // 8-byte lengths and anything odd: the general decoder decides
}

function splitCanonical(b: Uint8Array): Uint8Array[] | undefined {
  if (b.byteLength > WIRE_LIMITS.txBatchBytes || b.byteLength < 3) return undefined
  if (b[0] !== 0x82 || b[1] !== WIRE_VERSION) return undefined
  const h = head(b, 2, 4)
  if (h === undefined || h[0] > WIRE_LIMITS.txBatchItems) return undefined
  const [n] = h
  let pos = h[1]
  const items: Uint8Array[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const x = head(b, pos, 2)
    if (x === undefined || x[1] + x[0] > b.byteLength) return undefined
    items[i] = b.subarray(x[1], x[1] + x[0])
    pos = x[1] + x[0]
  }
  return pos === b.byteLength ? items : undefined
}
