import { cborBytesHead, cborHead, cborHeadAt, cborHeadEnd, CodecError, decodeTxBatchItems, WIRE_LIMITS, WIRE_VERSION } from '@profichain/core'

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

function splitCanonical(b: Uint8Array): Uint8Array[] | undefined {
  const end = b.byteLength
  if (end > WIRE_LIMITS.txBatchBytes || end < 3) return undefined
  if (b[0] !== 0x82 || b[1] !== WIRE_VERSION || b[2] >> 5 !== 4) return undefined
  // cborHeadAt: shortest-form heads only (-1 otherwise); anything odd goes to the general decoder.
  const n = cborHeadAt(b, 2)
  if (n < 0 || n > WIRE_LIMITS.txBatchItems) return undefined
  let pos = cborHeadEnd
  const items: Uint8Array[] = new Array(n)
  for (let i = 0; i < n; i++) {
    if (pos >= end || b[pos] >> 5 !== 2) return undefined
    const len = cborHeadAt(b, pos)
    if (len < 0) return undefined
    const at = cborHeadEnd
    if (at + len > end) return undefined
    items[i] = b.subarray(at, at + len)
    pos = at + len
  }
  return pos === end ? items : undefined
}
