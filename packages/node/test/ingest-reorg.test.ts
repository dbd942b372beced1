import { blockHash, generateKeyPair, toHex, type Transaction, txId } from '@profichain/core'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { type ChainStore, createChainService } from '../src/chain/index.js'
import { HealthMonitor } from '../src/health.js'
import { createReceiptsWriter, type ReceiptsStore } from '../src/receipts/index.js'
import { blocksOn, FakeStore, GENESIS_LIKE, record, silent } from './fakes.js'

const idOf = (t: Transaction) => toHex(txId(t))

describe('chain service: records the node answers for besides its own (device records)', () => {
  it('a device record it accepted is re-submitted after a reorg drops it; others are not', async () => {
    const key = generateKeyPair()
    const device = generateKeyPair()
    const store = new FakeStore()
    const registry = new Registry()
    const receipts = createReceiptsWriter(
      { confirmations: 1, anchorBase: () => 'http://anchor', retryMinMs: 1, retryMaxMs: 1 },
      { store: store as unknown as ReceiptsStore, ownOrigin: key.publicKey, health: new HealthMonitor(), logger: silent, registry },
    )
    const accepted = record(device, 0)
    const foreign = record(generateKeyPair(), 0)
    const asked: string[] = []
    const chain = createChainService(
      {},
      {
        store: store as unknown as ChainStore,
        verifier: { verifyStrippedTxs: async (txs) => txs.map(() => true) },
        ownOrigin: key.publicKey,
        isOwnRecord: async (tx) => {
          asked.push(toHex(txId(tx)))
          return toHex(txId(tx)) === idOf(accepted)
        },
        receipts,
        logger: silent,
        registry,
      },
    )
    const committed: string[] = []
    chain.on('committed', (e) => committed.push(...e.txIds))
    await chain.submitOwn([{ tx: accepted }])
    const [a1] = blocksOn(GENESIS_LIKE, [[accepted, foreign]])
    await chain.addBlock(a1)
    await chain.idle()
    expect(committed).toEqual([idOf(accepted)])
    store.payloads.set(idOf(accepted), accepted.payload) // kept once committed (the ingest API stores it)
    const [b1, b2] = blocksOn(GENESIS_LIKE, [[foreign], []])
    await chain.addBlock(b1)
    await chain.addBlock(b2)
    await chain.idle()
    expect(asked.sort()).toEqual([idOf(accepted), idOf(foreign)].sort())
    expect([...store.outbox.txs.keys()]).toEqual([idOf(accepted)])
    const [b3] = blocksOn({ hash: blockHash(b2.header), height: 2 }, [[accepted]])
    await chain.addBlock(b3)
    await chain.idle()
    expect(committed).toEqual([idOf(accepted), idOf(accepted)])
  })
})
