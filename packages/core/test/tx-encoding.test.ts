import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cborBytesHead, encodeCbor, encodeStrippedTx, encodeTransaction, encodeTxBody, leafHash, originHex, stripTx, toHex, txBodyToCbor, txId, txLeafHash } from '../src/index.js'
import { transactionArb } from './arbitraries.js'

// encodeStrippedTx / encodeTransaction are assembled from the inner encodings (no second CBOR pass):
// they must stay byte-identical to encoding the whole value with the codec.
describe('tx encodings assembled from their parts', () => {
  it('equal encodeCbor of the whole value, for any tx (body encoded first or not)', () => {
    fc.assert(
      fc.property(transactionArb, fc.boolean(), (tx, bodyFirst) => {
        if (bodyFirst) encodeTxBody(tx.body)
        const body = txBodyToCbor(tx.body)
        expect(encodeStrippedTx(tx)).toEqual(encodeCbor([body, tx.signature]))
        expect(encodeTransaction(tx)).toEqual(encodeCbor([[body, tx.signature], tx.payload]))
      }),
      { numRuns: 200 },
    )
  })

  it('byte-string heads match the codec at every length boundary', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 65535, 65536, 70000]) {
      const enc = encodeCbor(new Uint8Array(n))
      expect(cborBytesHead(n)).toEqual(enc.subarray(0, enc.byteLength - n))
    }
  })

  it('a full tx with a large payload (4-byte length head) matches the codec', () => {
    const tx = fc.sample(transactionArb, { numRuns: 1, seed: 7 })[0]
    const big = { ...tx, payload: new Uint8Array(70_000).fill(7), body: { ...tx.body, payloadSize: 70_000 } }
    expect(encodeTransaction(big)).toEqual(encodeCbor([[txBodyToCbor(big.body), big.signature], big.payload]))
  })
})

// Memos of the commit path (session 5): the same values as computing them afresh, for any tx.
describe('originHex and txLeafHash memos', () => {
  it('equal toHex(origin) and leafHash(txId(tx)), on first use and on repeated use', () => {
    fc.assert(
      fc.property(transactionArb, (tx) => {
        for (let i = 0; i < 2; i++) {
          expect(originHex(tx)).toBe(toHex(tx.body.origin))
          expect(txLeafHash(tx)).toEqual(leafHash(txId(tx)))
          expect(txLeafHash(stripTx(tx))).toEqual(leafHash(txId(tx)))
        }
      }),
      { numRuns: 100 },
    )
  })
})
