import { type Block, blockHash, generateKeyPair, toHex, type Transaction, txId } from '@profichain/core'
import type { FileIngest, ReceiptSource } from '@profichain/ingest'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { type ChainStore, createChainService } from '../src/chain/index.js'
import { HealthMonitor } from '../src/health.js'
import { createReceiptsWriter, type ReceiptsStore } from '../src/receipts/index.js'
import { blocksOn, FakeStore, GENESIS_LIKE, record, silent, waitFor } from './fakes.js'

/** A receipts sink standing in for file ingest: records every receipt it was asked to write. */
function fakeIngest(failFor = new Set<string>()) {
  const written: Array<{ txId: string; receipt: unknown }> = []
  const ingest: Pick<FileIngest, 'writeReceipts'> = {
    writeReceipts: async (sources: ReceiptSource[], receiptFor) => {
      const out = { written: [] as string[], skipped: [] as string[], failed: [] as Array<{ txId: string; code: string; message: string }> }
      for (const s of sources) {
        if (failFor.has(s.txId)) {
          out.failed.push({ txId: s.txId, code: 'ENOSPC', message: 'disk full' })
          continue
        }
        written.push({ txId: s.txId, receipt: await receiptFor(s.txId) })
        out.written.push(s.txId)
      }
      return out
    },
  }
  return { ingest, written }
}

function setup(opts: { producer?: boolean; failFor?: Set<string> } = {}) {
  const key = generateKeyPair()
  const store = new FakeStore()
  const registry = new Registry()
  const health = new HealthMonitor()
  const { ingest, written } = fakeIngest(opts.failFor)
  const receipts = createReceiptsWriter(
    { confirmations: 1, anchorBase: () => 'http://anchor', retryMinMs: 1, retryMaxMs: 1 },
    { store: store as unknown as ReceiptsStore, ingest, health, logger: silent, registry },
  )
  const notified = { n: 0 }
  const chain = createChainService(
    {},
    {
      store: store as unknown as ChainStore,
      verifier: { verifyStrippedTxs: async (txs) => txs.map(() => true) },
      ownOrigin: key.publicKey,
      receipts,
      producer: opts.producer ? { notify: () => void notified.n++ } : undefined,
      logger: silent,
      registry,
    },
  )
  const events = { blocks: [] as Block[], reorgs: 0, committed: [] as string[], own: [] as Transaction[] }
  chain.on('block', (b) => events.blocks.push(b))
  chain.on('reorg', () => events.reorgs++)
  chain.on('committed', (e) => events.committed.push(...e.txIds))
  chain.on('own-txs', (txs) => events.own.push(...txs))
  return { key, store, chain, receipts, registry, health, written, events, notified }
}

const hex = (b: Uint8Array) => toHex(b)
const idOf = (t: Transaction) => toHex(txId(t))

async function counter(registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name)
  return m ? (await m.get()).values.reduce((n, v) => n + v.value, 0) : NaN
}

describe('chain service', () => {
  it('own record: outbox → mempool + gossip → block → receipt → committed', async () => {
    const { key, store, chain, written, events, notified } = setup({ producer: true })
    const tx = record(key, 0)
    const r = await chain.submitOwn([{ tx }])
    expect(r).toEqual([{ txId: idOf(tx), duplicate: false }])
    expect((await chain.submitOwn([{ tx }]))[0].duplicate).toBe(true)
    expect(events.own.map(idOf)).toEqual([idOf(tx)])
    await waitFor('the producer is notified', () => notified.n === 1)
    expect(store.mempool.txs.map(idOf)).toEqual([idOf(tx)])

    const [b1] = blocksOn(GENESIS_LIKE, [[tx]])
    expect((await chain.addBlock(b1, { from: 'peer' })).status).toBe('applied')
    await chain.idle()
    expect(events.blocks.map((b) => b.header.height)).toEqual([1])
    expect(events.committed).toEqual([idOf(tx)])
    expect(written).toEqual([{ txId: idOf(tx), receipt: { txId: idOf(tx), block: hex(blockHash(b1.header)), height: 1 } }])
    expect(store.outbox.txs.size).toBe(0)
    expect(store.acks).toEqual([{ height: 1, hash: hex(blockHash(b1.header)) }])
    expect((await chain.addBlock(b1)).status).toBe('known')
  })

  it('rejects a block with a bad tx signature, stores nothing', async () => {
    const { key, store, registry } = setup()
    const chain = createChainService(
      {},
      {
        store: store as unknown as ChainStore,
        verifier: { verifyStrippedTxs: async (txs) => txs.map(() => false) },
        ownOrigin: key.publicKey,
        receipts: { flush: async () => {}, on: () => undefined },
        logger: silent,
      },
    )
    const [b1] = blocksOn(GENESIS_LIKE, [[record(generateKeyPair(), 0)]])
    expect(await chain.addBlock(b1)).toMatchObject({ status: 'invalid', code: 'ERR_TX_SIGNATURE' })
    expect(store.blocks.size).toBe(0)
    expect(await counter(registry, 'profichain_chain_blocks_total')).toBe(0)
  })

  it('an orphan is counted and not applied', async () => {
    const { chain, registry, events } = setup()
    const [, b2] = blocksOn(GENESIS_LIKE, [[], []])
    expect((await chain.addBlock(b2, { from: 'peer' })).status).toBe('orphan')
    expect(events.blocks).toEqual([])
    expect(await counter(registry, 'profichain_chain_orphans_total')).toBe(1)
  })

  it('reorg recovery: own records of an abandoned block are tracked again and re-committed', async () => {
    const { key, store, chain, events, registry } = setup()
    const mine = record(key, 0)
    const theirs = record(generateKeyPair(), 0)
    await chain.submitOwn([{ tx: mine }])
    // Our record lands in a block of branch A and is confirmed (receipt written, outbox cleared).
    const [a1] = blocksOn(GENESIS_LIKE, [[mine, theirs]])
    await chain.addBlock(a1)
    await chain.idle()
    expect(events.committed).toEqual([idOf(mine)])
    expect(store.outbox.txs.size).toBe(0)
    store.payloads.set(idOf(mine), mine.payload) // the store keeps own payloads (retention)
    // A longer branch B without our record wins.
    const [b1, b2] = blocksOn(GENESIS_LIKE, [[theirs], []])
    await chain.addBlock(b1)
    expect((await chain.addBlock(b2)).status).toBe('applied')
    await chain.idle()
    expect(events.reorgs).toBe(1)
    expect(await counter(registry, 'profichain_chain_reorgs_total')).toBe(1)
    // Tracked again: back in the outbox (uncommitted) and handed to gossip once more, with its payload.
    expect([...store.outbox.txs.keys()]).toEqual([idOf(mine)])
    expect(await store.outbox.uncommitted()).toHaveLength(1)
    expect(events.own.map(idOf)).toEqual([idOf(mine), idOf(mine)])
    expect(events.own[1].payload).toEqual(mine.payload)
    // Committed again in a block of the new branch.
    const [b3] = blocksOn({ hash: blockHash(b2.header), height: 2 }, [[mine]])
    await chain.addBlock(b3)
    await chain.idle()
    expect(events.committed).toEqual([idOf(mine), idOf(mine)])
    expect(store.outbox.txs.size).toBe(0)
  })

  it('receipt rewrite: a record a reorg moved into another block gets a receipt for its new block', async () => {
    const { key, store, chain, written } = setup()
    const mine = record(key, 0)
    await chain.submitOwn([{ tx: mine }])
    store.payloads.set(idOf(mine), mine.payload)
    const [a1] = blocksOn(GENESIS_LIKE, [[mine]])
    await chain.addBlock(a1)
    await chain.idle()
    expect(written.map((w) => w.receipt)).toEqual([{ txId: idOf(mine), block: hex(blockHash(a1.header)), height: 1 }])
    // The other side of a healed partition also committed it, in a longer branch.
    const [b1, b2] = blocksOn(GENESIS_LIKE, [[], [mine]])
    await chain.addBlock(b1)
    await chain.addBlock(b2)
    await chain.idle()
    expect(written.map((w) => w.receipt)).toEqual([
      { txId: idOf(mine), block: hex(blockHash(a1.header)), height: 1 },
      { txId: idOf(mine), block: hex(blockHash(b2.header)), height: 2 },
    ])
    expect(store.outbox.txs.size).toBe(0)
    expect(store.acks.at(-1)).toEqual({ height: 2, hash: hex(blockHash(b2.header)) })
  })

  it('a receipt that cannot be written is parked, raises RECEIPTS_FAILING, and is retried', async () => {
    const key = generateKeyPair()
    const bad = record(key, 0)
    const good = record(key, 1)
    const failFor = new Set([idOf(bad)])
    const { store, chain, receipts, health, written, events } = setup({ failFor })
    await chain.submitOwn([{ tx: bad }, { tx: good }])
    // Receipts follow the outbox (the origin matters only for reorg recovery).
    const [b1] = blocksOn(GENESIS_LIKE, [[bad, good]])
    await chain.addBlock(b1)
    await chain.idle()
    expect(written.map((w) => w.txId)).toEqual([idOf(good)])
    expect(events.committed.sort()).toEqual([idOf(bad), idOf(good)].sort())
    expect([...store.outbox.deferred.keys()]).toEqual([idOf(bad)])
    await receipts.retry()
    expect(health.problems().map((p) => p.code)).toEqual(['RECEIPTS_FAILING'])
    failFor.clear()
    await receipts.retry()
    expect(written.map((w) => w.txId)).toEqual([idOf(good), idOf(bad)])
    expect(store.outbox.deferred.size).toBe(0)
    expect(health.problems()).toEqual([])
  })
})
