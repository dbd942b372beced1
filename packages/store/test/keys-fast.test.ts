import { encodeCbor } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeTxIndex, encodeTxIndex, txIndexEncoder, u64 } from '../src/keys.js'

// Key and value encoders of the commit path written directly (session 5): the same bytes as before.

function u64Reference(n: number): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

describe('u64 without BigInt', () => {
  it('equals the BigInt big-endian form for every safe non-negative integer', () => {
    const edges = [0, 1, 255, 256, 0xffffffff, 0x100000000, 0x1234567890ab, Number.MAX_SAFE_INTEGER]
    for (const n of edges) expect(u64(n)).toEqual(u64Reference(n))
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        expect(u64(n)).toEqual(u64Reference(n))
      }),
      { numRuns: 1000 },
    )
  })
})

describe('txIndexEncoder', () => {
  it('equals encodeTxIndex (and decodes back) for any block hash, height and index, per block prefix', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.oneof(fc.nat({ max: 30 }), fc.nat({ max: 0xffff }), fc.maxSafeNat()),
        fc.array(fc.oneof(fc.nat({ max: 30 }), fc.nat({ max: 300 }), fc.nat({ max: 0x1ffff })), { maxLength: 20 }),
        (blockHash, height, indexes) => {
          const enc = txIndexEncoder(blockHash, height)
          for (const index of indexes) {
            const got = enc(index)
            expect(got).toEqual(encodeTxIndex({ blockHash, height, index }))
            expect(got).toEqual(encodeCbor([blockHash, height, index]))
            expect(decodeTxIndex(got)).toEqual({ blockHash, height, index })
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
