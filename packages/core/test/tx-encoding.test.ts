import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cborBytesHead, encodeCbor, encodeStrippedTx, encodeTransaction, encodeTxBody, encodeTxBodyDirect, leafHash, originHex, stripTx, toHex, txBodyToCbor, txId, txLeafHash, type TxBody } from '../src/index.js'
import { text, transactionArb, txBodyArb } from './arbitraries.js'

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

// encodeTxBody writes the common body shape directly (session 5): byte-identical to the general encoder.
describe('encodeTxBodyDirect', () => {
  const asciiMeta = fc.dictionary(
    fc.oneof(fc.string({ unit: 'grapheme-ascii', maxLength: 30 }), fc.constantFrom('__proto__', 'path', 'line', 'a', 'b', 'B', '0', '10', '~')),
    fc.oneof(text(40), fc.string({ maxLength: 300 }), fc.constantFrom('\ud800', 'x\udc00y', '')),
    { maxKeys: 20, noNullPrototype: true },
  )
  it('equals encodeCbor(txBodyToCbor(body)) for any body, ASCII metadata keys or not', () => {
    fc.assert(
      fc.property(txBodyArb, fc.option(asciiMeta, { nil: undefined }), (b, meta) => {
        const body = meta === undefined ? b : { ...b, metadata: meta }
        const direct = encodeTxBodyDirect(body)
        const general = encodeCbor(txBodyToCbor(body))
        if (direct !== undefined) expect(direct).toEqual(general)
        expect(encodeTxBody({ ...body })).toEqual(general)
        // ASCII keys and well-formed numbers always take the direct path
        if (Object.keys(body.metadata).every((k) => Buffer.byteLength(k) === k.length)) expect(direct).toBeDefined()
      }),
      { numRuns: 500 },
    )
  })

  it('returns undefined (general encoder) outside the common shape', () => {
    const b = fc.sample(txBodyArb, { numRuns: 1, seed: 3 })[0]
    for (const odd of [{ seq: -1 }, { seq: 1.5 }, { timestamp: 2 ** 60 }, { metadata: { a: 1 } }, { metadata: { é: 'x' } }]) {
      const body = { ...b, ...odd } as unknown as TxBody
      expect(encodeTxBodyDirect(body)).toBeUndefined()
    }
  })

  it('is a plain Uint8Array (encodings are memoised; slice must copy)', () => {
    const b = fc.sample(txBodyArb, { numRuns: 1, seed: 4 })[0]
    expect(encodeTxBodyDirect({ ...b, metadata: { path: 'a', line: '1' } })?.constructor).toBe(Uint8Array)
  })
})
