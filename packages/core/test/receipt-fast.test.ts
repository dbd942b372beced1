import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  buildChainpointReceipt,
  buildNativeReceipt,
  chainpointReceiptJson,
  toHex,
  ulidFor,
  ulidForBig,
  createBlock,
  encodeStrippedTx,
  generateKeyPair,
  inclusionProof,
  blockLeaves,
  payloadHashOffset,
  signHeader,
  type StrippedTx,
} from '../src/index.js'
import { strippedTxArb } from './arbitraries.js'

/** The reference: encode with the field flipped and find the first byte that differs. */
function flipOffset(tx: StrippedTx): number {
  const enc = encodeStrippedTx(tx)
  const flipped = encodeStrippedTx({ ...tx, body: { ...tx.body, payloadHash: tx.body.payloadHash.map((x) => x ^ 0xff) } })
  for (let i = 0; i < enc.byteLength; i++) if (enc[i] !== flipped[i]) return i
  return -1
}

describe('receipt builder shortcuts give the same receipts', () => {
  it('payloadHashOffset from field sizes equals the flip-and-compare offset, for any tx', () => {
    fc.assert(
      fc.property(strippedTxArb, (tx) => {
        expect(payloadHashOffset(tx, encodeStrippedTx(tx))).toBe(flipOffset(tx))
      }),
      { numRuns: 300 },
    )
  })

  it('a payload hash equal to another field still gets its own offset', () => {
    const tx = fc.sample(strippedTxArb, { numRuns: 1, seed: 3 })[0]
    const same = { ...tx, body: { ...tx.body, payloadHash: tx.body.origin } }
    expect(payloadHashOffset(same, encodeStrippedTx(same))).toBe(flipOffset(same))
  })

  it('pathChecked and the header ops built once per header give identical receipts', () => {
    const key = generateKeyPair()
    const txs = fc.sample(strippedTxArb, { numRuns: 7, seed: 11 })
    const block = createBlock({ network: 'n', height: 3, timestamp: 1_700_000_000_000, prevHash: new Uint8Array(32), producer: key.publicKey, txs })
    const header = { ...block.header, signatures: [signHeader(block.header, key)] }
    const leaves = blockLeaves(txs)
    for (let i = 0; i < txs.length; i++) {
      const input = { tx: txs[i], header, leafIndex: i, auditPath: inclusionProof(leaves, i), anchorBase: 'http://x' }
      const first = buildChainpointReceipt(input)
      expect(buildChainpointReceipt(input, { pathChecked: true })).toEqual(first)
      expect(buildChainpointReceipt(input)).toEqual(first)
      expect(buildNativeReceipt(input, { pathChecked: true })).toEqual(buildNativeReceipt(input))
    }
  })

  it('without pathChecked a wrong path still throws', () => {
    const key = generateKeyPair()
    const txs = fc.sample(strippedTxArb, { numRuns: 4, seed: 5 })
    const block = createBlock({ network: 'n', height: 1, timestamp: 1_700_000_000_000, prevHash: new Uint8Array(32), producer: key.publicKey, txs })
    const leaves = blockLeaves(txs)
    const input = { tx: txs[0], header: block.header, leafIndex: 0, auditPath: inclusionProof(leaves, 1), anchorBase: 'http://x' }
    expect(() => buildChainpointReceipt(input)).toThrow(/audit path/)
  })

  it('chainpointReceiptJson is JSON.stringify of the built receipt, for any txs, tree size, network and anchor base', () => {
    const key = generateKeyPair()
    fc.assert(
      fc.property(
        fc.array(strippedTxArb, { minLength: 1, maxLength: 9 }),
        fc.nat({ max: 20 }),
        fc.string({ maxLength: 12 }),
        fc.constantFrom('http://x', 'https://node.example:8545/', 'http://h/"quoted"\\/é'),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (txs, pick, network, base, height) => {
          const block = createBlock({ network: network || 'n', height, timestamp: 1_700_000_000_000, prevHash: new Uint8Array(32), producer: key.publicKey, txs })
          const leaves = blockLeaves(txs)
          const i = pick % txs.length
          const input = { tx: txs[i], header: block.header, leafIndex: i, auditPath: inclusionProof(leaves, i), anchorBase: base }
          // The text, or the error both throw (e.g. a timestamp past what a Date can show).
          const outcome = (f: () => string): string => {
            try {
              return f()
            } catch (err) {
              return `threw ${(err as Error).name}: ${(err as Error).message}`
            }
          }
          const want = outcome(() => JSON.stringify(buildChainpointReceipt(input)))
          expect(outcome(() => chainpointReceiptJson(input))).toBe(want)
          const seen = new Map<Uint8Array, string>()
          const hex = (b: Uint8Array) => seen.get(b) ?? (seen.set(b, toHex(b)), toHex(b))
          expect(outcome(() => chainpointReceiptJson(input, { pathChecked: true, hex }))).toBe(want)
          expect(outcome(() => JSON.stringify(buildChainpointReceipt(input, { hex })))).toBe(want)
          // The same header object with another anchor base (its anchor op is cached per header and base).
          const other = { ...input, anchorBase: `${base}other/` }
          expect(outcome(() => chainpointReceiptJson(other))).toBe(outcome(() => JSON.stringify(buildChainpointReceipt(other))))
          expect(outcome(() => chainpointReceiptJson(input))).toBe(want)
        },
      ),
      { numRuns: 200 },
    )
    const txs = fc.sample(strippedTxArb, { numRuns: 2, seed: 9 })
    const block = createBlock({ network: 'n', height: 1, timestamp: 1, prevHash: new Uint8Array(32), producer: key.publicKey, txs })
    const wrong = { tx: txs[0], header: block.header, leafIndex: 0, auditPath: inclusionProof(blockLeaves(txs), 1), anchorBase: 'http://x' }
    expect(() => chainpointReceiptJson(wrong)).toThrow(/audit path/)
  })

  it('ulidFor without BigInt equals the BigInt form (times from 0 past 2^48, any entropy)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 2 ** 48 + 5 }), fc.maxSafeInteger(), fc.constantFrom(0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 48 - 1)), fc.uint8Array({ minLength: 10, maxLength: 32 }), (t, e) => {
        expect(ulidFor(t, e)).toBe(ulidForBig(t, e))
      }),
      { numRuns: 1000 },
    )
    expect(ulidFor(-5, new Uint8Array(10).fill(255))).toBe(ulidForBig(-5, new Uint8Array(10).fill(255)))
  })
})
