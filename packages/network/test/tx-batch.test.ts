import { CodecError, decodeTxBatchItems, encodeCbor, encodeTxBatch, WIRE_LIMITS } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeTxBatchItems, txBatchItems } from '../src/tx-batch.js'

/** Core's answer: the items, or the CodecError it throws. */
function general(bytes: Uint8Array): Uint8Array[] | string {
  try {
    return decodeTxBatchItems(bytes)
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError)
    return 'CodecError'
  }
}
function fast(bytes: Uint8Array): Uint8Array[] | string {
  try {
    return txBatchItems(bytes)
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError)
    return 'CodecError'
  }
}

// Item lengths across the 1-, 2- and 3-byte CBOR heads (5-byte heads: the fixed cases below).
const itemBytes = fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.integer({ min: 20, max: 300 }).map((n) => new Uint8Array(n).fill(7)))

describe('tx batch framing (issue 12: no general CBOR codec on the gossip path)', () => {
  it('encodeTxBatchItems gives the bytes of core encodeTxBatch, and both readers give the items back', () => {
    fc.assert(
      fc.property(fc.array(itemBytes, { maxLength: 40 }), (items) => {
        const bytes = encodeTxBatchItems(items)
        expect(bytes).toEqual(encodeTxBatch(items))
        expect(txBatchItems(bytes)).toEqual(items)
        expect(decodeTxBatchItems(bytes)).toEqual(items)
      }),
      { numRuns: 40 },
    )
    const big = [65_535, 65_536, 70_000].map((n) => new Uint8Array(n).fill(9))
    expect(encodeTxBatchItems(big)).toEqual(encodeTxBatch(big))
    expect(txBatchItems(encodeTxBatchItems(big))).toEqual(big)
    // Array heads of 1, 2 and 3 bytes.
    for (const n of [0, 23, 24, 255, 256, WIRE_LIMITS.txBatchItems]) {
      const items = Array.from({ length: n }, (_, i) => Uint8Array.of(i & 0xff))
      expect(encodeTxBatchItems(items)).toEqual(encodeTxBatch(items))
      expect(txBatchItems(encodeTxBatchItems(items))).toEqual(items)
    }
    expect(() => encodeTxBatchItems(Array.from({ length: WIRE_LIMITS.txBatchItems + 1 }, () => new Uint8Array(1)))).toThrow(CodecError)
  })

  it('any other bytes get exactly core decodeTxBatchItems answer: a flipped bit, a cut, garbage, odd but valid CBOR', () => {
    const batch = fc.array(itemBytes, { maxLength: 12 }).map((items) => encodeTxBatchItems(items))
    fc.assert(
      fc.property(batch, fc.nat(), fc.nat(7), (bytes, at, bit) => {
        const c = bytes.slice()
        c[at % c.length] ^= 1 << bit
        expect(fast(c)).toEqual(general(c))
      }),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(batch, fc.nat(), (bytes, cut) => {
        const c = bytes.subarray(0, cut % bytes.length)
        expect(fast(c)).toEqual(general(c))
        const longer = new Uint8Array(bytes.length + 1)
        longer.set(bytes)
        expect(fast(longer)).toEqual(general(longer))
      }),
      { numRuns: 100 },
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (c) => {
        expect(fast(c)).toEqual(general(c))
      }),
      { numRuns: 300 },
    )
    // Non-shortest heads, another version, an 8-byte length, text instead of bytes, too many items.
    const odd = [
      Uint8Array.of(0x82, 0x01, 0x98, 0x01, 0x41, 0x00),
      Uint8Array.of(0x82, 0x01, 0x81, 0x58, 0x01, 0x00),
      Uint8Array.of(0x82, 0x01, 0x81, 0x59, 0x00, 0x01, 0x00),
      Uint8Array.of(0x82, 0x02, 0x81, 0x41, 0x00),
      Uint8Array.of(0x82, 0x01, 0x81, 0x5b, 0, 0, 0, 0, 0, 0, 0, 1, 0x00),
      Uint8Array.of(0x82, 0x01, 0x81, 0x61, 0x61),
      Uint8Array.of(0x82, 0x01, 0x9f, 0x41, 0x00, 0xff),
      encodeCbor([1, Array.from({ length: WIRE_LIMITS.txBatchItems + 1 }, () => new Uint8Array(1))]),
      encodeCbor([1, []]),
      encodeCbor([1, [new Uint8Array(3)], 5]),
    ]
    for (const c of odd) expect(fast(c)).toEqual(general(c))
  })
})
