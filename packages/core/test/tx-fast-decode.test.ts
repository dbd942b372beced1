import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeBlock,
  decodeBlockGeneral,
  decodeStrippedTx,
  decodeStrippedTxGeneral,
  decodeTransaction,
  decodeTransactionGeneral,
  encodeBlock,
  encodeCbor,
  encodeStrippedTx,
  encodeTransaction,
  encodeTxBody,
  sha256,
  toHex,
  txBodyToCbor,
  txId,
} from '../src/index.js'
import { fastDecodeStrippedTx, fastDecodeTransaction, fastSplitBlock } from '../src/tx-fast-decode.js'
import { blockArb, strippedTxArb, transactionArb } from './arbitraries.js'

/** The general decoder's answer: the tx or the error message. */
function general(bytes: Uint8Array): { tx?: unknown; error?: string } {
  try {
    return { tx: decodeTransactionGeneral(bytes) }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

// Mutations that keep most of the structure: flip a byte, cut the end, insert a byte, swap two bytes.
const mutated = fc
  .tuple(transactionArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }))
  .map(([t, i, j, v, op]) => {
    const b = encodeTransaction(t)
    const at = i % b.byteLength
    if (op === 0) {
      const c = new Uint8Array(b)
      c[at] = v
      return c
    }
    if (op === 1) return b.slice(0, at)
    if (op === 2) return Uint8Array.from([...b.subarray(0, at), v, ...b.subarray(at)])
    const c = new Uint8Array(b)
    const k = j % b.byteLength
    ;[c[at], c[k]] = [c[k], c[at]]
    return c
  })

describe('direct tx reader (fastDecodeTransaction) agrees with the general decoder', () => {
  it('takes every valid encoding and gives the same tx', () => {
    fc.assert(
      fc.property(transactionArb, (t) => {
        const bytes = encodeTransaction(t)
        const fast = fastDecodeTransaction(new Uint8Array(bytes))
        // The arbitraries include "__proto__"-like keys the reader leaves to the general decoder.
        if (fast === undefined) {
          expect(Object.keys(t.body.metadata)).toContain('__proto__')
          return
        }
        expect(fast.tx).toEqual(decodeTransactionGeneral(bytes))
        expect(toHex(bytes.subarray(2, fast.bodyEnd))).toBe(toHex(encodeCbor(txBodyToCbor(t.body))))
      }),
      { numRuns: 300 },
    )
  })

  it('on any mutated encoding: undefined, or exactly what the general decoder accepts', () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        const fast = fastDecodeTransaction(new Uint8Array(bytes))
        const ref = general(bytes)
        if (fast !== undefined) {
          expect(ref.error).toBeUndefined()
          expect(fast.tx).toEqual(ref.tx)
        }
        // decodeTransaction (fast path first) answers exactly as the general decoder.
        let got: { tx?: unknown; error?: string }
        try {
          got = { tx: decodeTransaction(bytes) }
        } catch (err) {
          got = { error: (err as Error).message }
        }
        expect(got).toEqual(ref)
      }),
      { numRuns: 2000 },
    )
  })

  it('a tx decoded on the fast path has the memoised encodings and txId of a fresh encoding', () => {
    fc.assert(
      fc.property(transactionArb, (t) => {
        const back = decodeTransaction(encodeTransaction(t))
        const body = { ...t.body }
        expect(toHex(encodeTxBody(back.body))).toBe(toHex(encodeCbor(txBodyToCbor(body))))
        expect(toHex(encodeStrippedTx(back))).toBe(toHex(encodeCbor([txBodyToCbor(body), t.signature])))
        expect(toHex(encodeTransaction(back))).toBe(toHex(encodeCbor([[txBodyToCbor(body), t.signature], t.payload])))
        expect(toHex(txId(back))).toBe(toHex(sha256(encodeCbor([txBodyToCbor(body), t.signature]))))
      }),
      { numRuns: 200 },
    )
  })

  it('refuses non-shortest integer heads, unsorted metadata and invalid UTF-8 (general decoder decides)', () => {
    const t = decodeTransaction(encodeTransaction(decodeTransactionGeneral(encodeTransaction(sample()))))
    const bytes = encodeTransaction(t)
    // seq 5 as a one-byte-extended uint (0x18 0x05) instead of 0x05.
    const i = bytes.indexOf(0x05, 2)
    const long = Uint8Array.from([...bytes.subarray(0, i), 0x18, ...bytes.subarray(i)])
    expect(fastDecodeTransaction(long)).toBeUndefined()
    expect(() => decodeTransaction(long)).toThrow()
    // Metadata keys "b" then "a" (not sorted).
    const unsorted = new Uint8Array(bytes)
    const k = unsorted.indexOf(0x61 /* 'a' */, unsorted.length - t.payload.byteLength - 80)
    expect(k).toBeGreaterThan(0)
    unsorted[k] = 0x63 // "a" → "c": now "c", "b": out of order
    expect(fastDecodeTransaction(unsorted)).toBeUndefined()
    expect(() => decodeTransaction(unsorted)).toThrow()
    const badUtf8 = new Uint8Array(bytes)
    badUtf8[k] = 0xff
    expect(fastDecodeTransaction(badUtf8)).toBeUndefined()
    expect(() => decodeTransaction(badUtf8)).toThrow()
  })
})

describe('short ASCII strings come from a table of recent ones', () => {
  // Metadata from a small alphabet of near-identical strings (lengths around the table's 48-byte limit,
  // differing in one byte or in length), decoded in any order: each string is its own, never a neighbour's.
  const near = ['', 'a', 'b', 'ab', 'ba', 'line', 'linf', 'x'.repeat(47), `${'x'.repeat(46)}y`, 'x'.repeat(48), 'x'.repeat(49), 'é', 'ü'.repeat(3)]
  const txOf = (pairs: Array<[string, string]>, network: string) => {
    const t = sample()
    return { ...t, body: { ...t.body, network, metadata: Object.fromEntries(pairs.map(([k, v]) => [`k${k}`, v])) } }
  }
  it('repeats and near-repeats decode exactly as the general decoder', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(fc.tuple(fc.constantFrom(...near), fc.constantFrom(...near)), { maxLength: 6 }), fc.constantFrom('n', 'm', 'devnet', 'devnes')), { minLength: 1, maxLength: 20 }),
        (txs) => {
          for (const [pairs, network] of txs) {
            const bytes = encodeTransaction(txOf(pairs, network))
            expect(fastDecodeTransaction(new Uint8Array(bytes))?.tx).toEqual(decodeTransactionGeneral(bytes))
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('thousands of distinct strings of one length (every slot taken and replaced) stay exact', () => {
    for (let i = 0; i < 5000; i++) {
      const v = String(i).padStart(8, '0')
      const bytes = encodeTransaction(txOf([[v, v], ['', 'same']], 'n'))
      const fast = fastDecodeTransaction(new Uint8Array(bytes))
      expect(fast?.tx.body.metadata).toEqual({ [`k${v}`]: v, k: 'same' })
    }
  })
})

const mutatedStripped = fc
  .tuple(strippedTxArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
  .map(([t, i, v, cut]) => {
    const b = encodeStrippedTx(t)
    const at = i % b.byteLength
    if (cut) return b.slice(0, at)
    const c = new Uint8Array(b)
    c[at] = v
    return c
  })

describe('direct stripped-tx reader and encodeBlock from memoised parts', () => {
  it('decodeStrippedTx answers exactly as the general decoder on valid and mutated bytes', () => {
    fc.assert(
      fc.property(fc.oneof(strippedTxArb.map((t) => encodeStrippedTx(t)), mutatedStripped), (bytes) => {
        const answer = (f: (b: Uint8Array) => unknown) => {
          try {
            return { tx: f(bytes) }
          } catch (err) {
            return { error: (err as Error).message }
          }
        }
        const ref = answer(decodeStrippedTxGeneral)
        const fast = fastDecodeStrippedTx(new Uint8Array(bytes))
        if (fast !== undefined) expect(fast.tx).toEqual(ref.tx)
        expect(answer(decodeStrippedTx)).toEqual(ref)
        if (ref.tx !== undefined) {
          const back = decodeStrippedTx(bytes)
          expect(toHex(encodeTxBody(back.body))).toBe(toHex(encodeCbor(txBodyToCbor({ ...back.body }))))
          expect(toHex(txId(back))).toBe(toHex(sha256(bytes)))
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('decodeBlock answers exactly as the general decoder on valid and mutated blocks', () => {
    const mutatedBlock = fc.tuple(blockArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })).map(([b, i, v, op]) => {
      const enc = encodeBlock(b)
      const at = i % enc.byteLength
      if (op === 0) return enc
      if (op === 1) return enc.slice(0, at)
      const c = new Uint8Array(enc)
      c[at] = v
      return c
    })
    fc.assert(
      fc.property(mutatedBlock, (bytes) => {
        const answer = (f: (b: Uint8Array) => unknown) => {
          try {
            return { block: f(bytes) }
          } catch (err) {
            return { error: (err as Error).message }
          }
        }
        expect(answer(decodeBlock)).toEqual(answer(decodeBlockGeneral))
      }),
      { numRuns: 1000 },
    )
  })

  it('encodeBlock gives the bytes of encodeCbor over the whole block', () => {
    fc.assert(
      fc.property(blockArb, (b) => {
        const whole = encodeCbor([
          [
            [b.header.version, b.header.network, b.header.height, b.header.timestamp, b.header.prevHash, b.header.merkleRoot, b.header.txCount, b.header.difficulty, b.header.nonce, b.header.producer],
            b.header.signatures.map((s) => [s.signer, s.signature]),
          ],
          b.txs.map((t) => [txBodyToCbor(t.body), t.signature]),
        ])
        expect(toHex(encodeBlock(b))).toBe(toHex(whole))
        const parts = fastSplitBlock(whole)
        expect(parts?.txs.length).toBe(b.txs.length)
      }),
      { numRuns: 200 },
    )
  })
})

function sample() {
  return {
    body: {
      version: 1,
      network: 'n',
      kind: 'record' as const,
      origin: new Uint8Array(32).fill(7),
      seq: 5,
      timestamp: 1_700_000_000_000,
      payloadHash: new Uint8Array(32).fill(9),
      payloadSize: 3,
      metadata: { a: 'x', b: 'y' },
    },
    signature: new Uint8Array(64).fill(1),
    payload: Uint8Array.of(1, 2, 3),
  }
}
