import { encodeCbor } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { seqKeyOfHex } from '../src/devices.js'
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

describe('seqKeyOfHex (the head view’s device seq key, decoded straight from the origin hex)', () => {
  // seqKey(fromHex(origin), seq) as it was: origin bytes, then the u64 seq over bytes 32..40.
  const reference = (origin: Uint8Array, seq: number): Uint8Array => {
    const k = new Uint8Array(40)
    k.set(origin, 0)
    k.set(u64Reference(seq), 32)
    return k
  }

  it('equals origin bytes ‖ u64 seq for any origin (lower or upper case hex) and any safe seq', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: 0xffffffff }), fc.maxSafeNat()),
        fc.boolean(),
        (origin, seq, upper) => {
          const hex = Buffer.from(origin).toString('hex')
          expect(seqKeyOfHex(upper ? hex.toUpperCase() : hex, seq)).toEqual(reference(origin, seq))
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('refuses what is not 32 bytes of hex as fromHex does (never a key from part of the string)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 70 }), fc.nat(), (s, seq) => {
        const valid = /^[0-9a-fA-F]{64}$/.test(s)
        if (valid) expect(seqKeyOfHex(s, seq)).toEqual(reference(new Uint8Array(Buffer.from(s, 'hex')), seq))
        else if (/^([0-9a-fA-F]{2})*$/.test(s)) {
          // Other lengths of valid hex: what seqKey(fromHex(s), seq) gave before (the origin rule never asks for them).
          expect(seqKeyOfHex(s, seq)).toEqual(reference(new Uint8Array(Buffer.from(s, 'hex')), seq))
        } else expect(() => seqKeyOfHex(s, seq)).toThrow(/not a hex string/)
      }),
      { numRuns: 2000 },
    )
    const bad = `${'ab'.repeat(31)}zz`
    expect(() => seqKeyOfHex(bad, 1)).toThrow(/not a hex string/)
  })
})
