import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  buildChainpointReceipt,
  buildNativeReceipt,
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
})
