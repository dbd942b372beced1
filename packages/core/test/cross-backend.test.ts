import { afterEach, describe, expect, it } from 'vitest'
import {
  auditPathFromLevels,
  type Block,
  blockHashHex,
  blockLeaves,
  buildNativeReceipt,
  createNobleBackend,
  createNodeBackend,
  encodeBlock,
  getCrypto,
  keyPairFromSeed,
  merkleLevels,
  setCrypto,
  type Transaction,
  toHex,
  txIdHex,
  validateBlock,
  verifyNativeReceipt,
} from '../src/index.js'
import { makeBlock, makeTx, NETWORK } from './helpers.js'

const SEED_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
const SEED_B = Uint8Array.from({ length: 32 }, (_, i) => 0xff - i)

/** Build the same txs and block from seeds under whatever backend is active. */
function build(): { txs: Transaction[]; block: Block } {
  const a = keyPairFromSeed(SEED_A)
  const b = keyPairFromSeed(SEED_B)
  const txs = Array.from({ length: 9 }, (_, i) =>
    makeTx(a, i, new TextEncoder().encode(`data ${i}`), { path: `f${i}.txt` }),
  )
  return { txs, block: makeBlock(b, txs, 3) }
}

const summary = ({ txs, block }: { txs: Transaction[]; block: Block }) => ({
  txIds: txs.map(txIdHex),
  sigs: txs.map((t) => toHex(t.signature)),
  blockHash: blockHashHex(block.header),
  headerSig: toHex(block.header.signatures[0].signature),
  encoded: toHex(encodeBlock(block)),
})

describe('node:crypto and noble backends agree', () => {
  afterEach(() => setCrypto(createNodeBackend()))

  it('identical txIds, signatures, block hash and encodings', () => {
    expect(getCrypto().name).toBe('node')
    const viaNode = build()
    setCrypto(createNobleBackend())
    expect(getCrypto().name).toBe('noble')
    const viaNoble = build()
    expect(summary(viaNoble)).toEqual(summary(viaNode))
    // Each backend accepts what the other produced.
    expect(() =>
      validateBlock(viaNode.block, { network: NETWORK, maxTxBytes: 1 << 20, maxBlockBytes: 1 << 24 }),
    ).not.toThrow()
    const levels = merkleLevels(blockLeaves(viaNoble.block.txs))
    const receipt = buildNativeReceipt({
      tx: viaNoble.block.txs[2],
      header: viaNoble.block.header,
      leafIndex: 2,
      auditPath: auditPathFromLevels(levels, 2),
      anchorBase: 'http://x',
    })
    setCrypto(createNodeBackend())
    expect(() =>
      validateBlock(viaNoble.block, { network: NETWORK, maxTxBytes: 1 << 20, maxBlockBytes: 1 << 24 }),
    ).not.toThrow()
    expect(verifyNativeReceipt(receipt, { payload: viaNoble.txs[2].payload }).txId).toBe(
      txIdHex(viaNode.txs[2]),
    )
  })
})
