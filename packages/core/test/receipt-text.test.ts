import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { blockLeaves, buildChainpointReceipt, chainpointReceiptJson, createBlock, generateKeyPair, inclusionProof, type StrippedTx } from '../src/index.js'
import { strippedTxArb } from './arbitraries.js'

// chainpointReceiptJson keeps the last second's ISO text and writes the wrap ops directly: every receipt's
// hash_received is still its own timestamp's second, in any order of timestamps, and the text stays
// JSON.stringify of the built receipt.
describe('receipt text: hash_received and wrap ops', () => {
  it('hash_received is the ISO second of each tx, whatever the order of timestamps', () => {
    const key = generateKeyPair()
    fc.assert(
      fc.property(
        fc.array(fc.tuple(strippedTxArb, fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.nat(2)), { minLength: 1, maxLength: 8 }),
        (items) => {
          // Timestamps close to each other (same second, next second, ms apart) and far apart.
          let prev = 1_700_000_000_000
          const txs: StrippedTx[] = items.map(([tx, ts, near]) => {
            prev = near === 0 ? prev + (ts % 1000) : near === 1 ? prev + 1000 : ts
            return { ...tx, body: { ...tx.body, timestamp: prev } }
          })
          const block = createBlock({ network: 'n', height: 2, timestamp: 1_700_000_000_000, prevHash: new Uint8Array(32), producer: key.publicKey, txs })
          const leaves = blockLeaves(txs)
          txs.forEach((tx, i) => {
            const input = { tx, header: block.header, leafIndex: i, auditPath: inclusionProof(leaves, i), anchorBase: 'http://x' }
            const text = chainpointReceiptJson(input)
            expect(JSON.parse(text).hash_received).toBe(`${new Date(tx.body.timestamp).toISOString().slice(0, 19)}Z`)
            expect(text).toBe(JSON.stringify(buildChainpointReceipt(input)))
          })
        },
      ),
      { numRuns: 100 },
    )
  })
})
