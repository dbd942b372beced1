import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeStrippedTx,
  decodeStrippedTxGeneral,
  decodeTransaction,
  decodeTransactionGeneral,
  encodeCbor,
  encodeStrippedTx,
  encodeTransaction,
  encodeTxBody,
  leafHash,
  newTransaction,
  newTxBody,
  payloadHashOf,
  rememberPayloadHash,
  rememberTxId,
  rememberTxPayloadHash,
  sha256,
  type StrippedTx,
  stripTx,
  toHex,
  type Transaction,
  txBodyToCbor,
  txId,
  txIdHex,
  txLeafHash,
  txPayloadHash,
  validateTx,
} from '../src/index.js'
import { strippedTxArb, transactionArb } from './arbitraries.js'

// The memos of the objects core builds live in private fields (tx-objects.ts); any other object memoises through
// WeakMaps. Both must give the answers of encoding from scratch, and a copy must never carry a memo along.

const plainBody = (tx: StrippedTx) => ({ ...tx.body })
const fresh = (tx: StrippedTx) => encodeCbor([txBodyToCbor(tx.body), tx.signature])

function answers(tx: Transaction) {
  return {
    body: toHex(encodeTxBody(tx.body)),
    stripped: toHex(encodeStrippedTx(tx)),
    full: toHex(encodeTransaction(tx)),
    id: toHex(txId(tx)),
    hex: txIdHex(tx),
    strippedId: txIdHex(stripTx(tx)),
    leaf: toHex(txLeafHash(tx)),
  }
}

describe('record objects with memo fields', () => {
  it('answer as plain literals do, whichever memo is filled first, decoded (fast or general) or built', () => {
    fc.assert(
      fc.property(transactionArb, fc.nat(3), (t, order) => {
        const literal: Transaction = { body: plainBody(t), signature: t.signature, payload: t.payload }
        const want = {
          body: toHex(encodeCbor(txBodyToCbor(t.body))),
          stripped: toHex(fresh(t)),
          full: toHex(encodeCbor([[txBodyToCbor(t.body), t.signature], t.payload])),
          id: toHex(sha256(fresh(t))),
          hex: toHex(sha256(fresh(t))),
          strippedId: toHex(sha256(fresh(t))),
          leaf: toHex(leafHash(sha256(fresh(t)))),
        }
        const bytes = encodeCbor([[txBodyToCbor(t.body), t.signature], t.payload])
        const built = newTransaction(newTxBody(t.body), t.signature, t.payload)
        if (order === 1) txIdHex(built)
        if (order === 2) encodeTransaction(built)
        if (order === 3) encodeTxBody(built.body)
        if (order === 1) txLeafHash(built)
        for (const tx of [literal, built, decodeTransaction(bytes), decodeTransactionGeneral(bytes)]) {
          expect(answers(tx)).toEqual(want)
          // Same enumerable fields, same order, as the literal: deep equality, JSON and key order unchanged.
          expect(tx).toEqual(literal)
          expect(Object.keys(tx)).toEqual(['body', 'signature', 'payload'])
          expect(Object.keys(tx.body)).toEqual(['version', 'network', 'kind', 'origin', 'seq', 'timestamp', 'payloadHash', 'payloadSize', 'metadata'])
          // (a decoder's metadata holds the keys in canonical order, which may differ from t's)
          expect(JSON.stringify(tx)).toBe(JSON.stringify({ body: { ...tx.body }, signature: tx.signature, payload: tx.payload }))
          expect('payload' in stripTx(tx)).toBe(false)
        }
      }),
      { numRuns: 150 },
    )
  })

  it('stripped txs decoded by either decoder answer as literals do', () => {
    fc.assert(
      fc.property(strippedTxArb, (t) => {
        const bytes = fresh(t)
        for (const tx of [decodeStrippedTx(bytes), decodeStrippedTxGeneral(bytes), { body: plainBody(t), signature: t.signature }]) {
          expect(toHex(encodeStrippedTx(tx))).toBe(toHex(bytes))
          expect(toHex(encodeTxBody(tx.body))).toBe(toHex(encodeCbor(txBodyToCbor(t.body))))
          expect(txIdHex(tx)).toBe(toHex(sha256(bytes)))
          expect(Object.keys(tx)).toEqual(['body', 'signature'])
        }
      }),
      { numRuns: 150 },
    )
  })

  it('a spread or structured clone carries no memo: a changed copy encodes its own fields', () => {
    fc.assert(
      fc.property(transactionArb, fc.uint8Array({ minLength: 64, maxLength: 64 }), (t, sig) => {
        const bytes = encodeCbor([[txBodyToCbor(t.body), t.signature], t.payload])
        for (const tx of [decodeTransaction(bytes), newTransaction(newTxBody(t.body), t.signature, t.payload)]) {
          txIdHex(tx)
          encodeTransaction(tx)
          const changed = { ...tx, signature: sig }
          const want = encodeCbor([txBodyToCbor(t.body), sig])
          expect(toHex(encodeStrippedTx(changed))).toBe(toHex(want))
          expect(txIdHex(changed)).toBe(toHex(sha256(want)))
          const seq = t.body.seq === 0 ? 1 : 0
          const otherBody = { ...tx, body: { ...tx.body, seq } }
          expect(toHex(encodeTxBody(otherBody.body))).toBe(toHex(encodeCbor(txBodyToCbor({ ...t.body, seq }))))
          const clone = structuredClone(tx) as Transaction
          expect(clone).toEqual(tx)
          expect(txIdHex(clone)).toBe(txIdHex(tx))
        }
      }),
      { numRuns: 100 },
    )
  })

  it('rememberTxId seeds the field memo once; a tx that has an id keeps it', () => {
    fc.assert(
      fc.property(transactionArb, fc.uint8Array({ minLength: 32, maxLength: 32 }), (t, other) => {
        const bytes = encodeCbor([[txBodyToCbor(t.body), t.signature], t.payload])
        const a = decodeTransaction(bytes)
        rememberTxId(a, other)
        expect(toHex(txId(a))).toBe(toHex(other))
        expect(txIdHex(stripTx(a))).toBe(toHex(other))
        const b = decodeTransaction(bytes)
        const real = toHex(txId(b))
        rememberTxId(b, other)
        expect(toHex(txId(b))).toBe(real)
      }),
      { numRuns: 50 },
    )
  })

  it('txPayloadHash answers SHA-256 of the payload for any object, seeded or not; a copy with another payload is checked again', () => {
    fc.assert(
      fc.property(transactionArb, fc.uint8Array({ maxLength: 64 }), fc.nat(2), (t, other, seed) => {
        const bytes = encodeCbor([[txBodyToCbor(t.body), t.signature], t.payload])
        const literal: Transaction = { body: plainBody(t), signature: t.signature, payload: new Uint8Array(t.payload) }
        for (const tx of [literal, newTransaction(newTxBody(t.body), t.signature, t.payload), decodeTransaction(bytes), decodeTransactionGeneral(bytes)]) {
          const want = toHex(sha256(tx.payload))
          if (seed === 1) rememberTxPayloadHash(tx, sha256(tx.payload))
          if (seed === 2) payloadHashOf(tx.payload)
          expect(toHex(txPayloadHash(tx))).toBe(want)
          expect(toHex(txPayloadHash(tx))).toBe(want)
          expect(toHex(payloadHashOf(tx.payload))).toBe(want)
          // a tx that has a hash keeps it
          rememberTxPayloadHash(tx, new Uint8Array(32).fill(7))
          expect(toHex(txPayloadHash(tx))).toBe(want)
          const swapped = { ...tx, payload: other }
          expect(toHex(txPayloadHash(swapped))).toBe(toHex(sha256(other)))
          const rules = { network: t.body.network, maxTxBytes: Number.MAX_SAFE_INTEGER }
          const matches = toHex(sha256(other)) === toHex(t.body.payloadHash) && other.byteLength === t.body.payloadSize
          if (!matches) expect(() => validateTx(swapped, rules, { skipSignature: true })).toThrow()
        }
      }),
      { numRuns: 100 },
    )
  })

  it('a payload seeded through rememberPayloadHash answers for a tx that carries it', () => {
    const t = fc.sample(transactionArb, { numRuns: 1, seed: 7 })[0]
    const bytes = encodeCbor([[txBodyToCbor(t.body), t.signature], t.payload])
    const tx = decodeTransaction(bytes)
    const seeded = new Uint8Array(32).fill(9)
    rememberPayloadHash(tx.payload, seeded)
    expect(toHex(txPayloadHash(tx))).toBe(toHex(seeded))
  })
})
