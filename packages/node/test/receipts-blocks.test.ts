import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Consensus, defaultOrigin, type Genesis, GENESIS_DEFAULTS } from '@profichain/consensus'
import {
  type Block,
  type BlockHeader,
  blockHash,
  type ChainpointProof,
  createBlock,
  createTransaction,
  evaluateChainpoint,
  generateKeyPair,
  type KeyPair,
  signHeader,
  stripTx,
  toHex,
  type Transaction,
  txIdHex,
} from '@profichain/core'
import type { FileIngest, ReceiptSource } from '@profichain/ingest'
import { type BlockTree, createBlockTree, genesisBlockOf } from '@profichain/store'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createChainService } from '../src/chain/index.js'
import { HealthMonitor } from '../src/health.js'
import { createReceiptsWriter } from '../src/receipts/index.js'
import { silent, waitFor } from './fakes.js'

// Receipts per connected block (issue 12): the chain service notes each block that became canonical and the
// receipts writer looks up only those txs in the outbox, instead of scanning the whole outbox after every
// block. A real block tree (LevelDB on disk) and the real chain service; the receipt sink records receipts.

const NET = 'receipts-net'
const producer = generateKeyPair()
const own = generateKeyPair()
const genesis: Genesis = {
  version: 1,
  network: NET,
  origin: defaultOrigin(NET),
  checkpoint: { depth: GENESIS_DEFAULTS.checkpoint.depth, intervalMs: GENESIS_DEFAULTS.checkpoint.intervalMs },
  timestamp: 1_700_000_000_000,
  members: [
    { name: 'p', publicKey: toHex(producer.publicKey), roles: ['validator'] },
    { name: 'own', publicKey: toHex(own.publicKey), roles: ['full'] },
  ],
  validators: [toHex(producer.publicKey)],
  consensus: { type: 'authority', backoffMs: 500 },
  blockTimeMs: 1000,
  maxBlockBytes: 1024 * 1024,
  maxTxBytes: 64 * 1024,
}
const consensus: Consensus = {
  type: 'work',
  genesis,
  seal: async (b: Block) => b,
  validateHeader: async () => {},
  work: (h: BlockHeader) => BigInt(h.difficulty + 1),
  producerDelay: async () => 0,
  isFinal: () => false,
}

let seq = 0
function rec(key: KeyPair = own): Transaction {
  const s = seq++
  return createTransaction(key, {
    network: NET,
    seq: s,
    timestamp: 1_700_000_001_000 + s,
    payload: new TextEncoder().encode(`record ${s}`),
    metadata: { source: 'file', path: `f${s}.txt` },
  })
}

function blockOn(parent: BlockHeader, txs: Transaction[]): Block {
  const b = createBlock({
    network: NET,
    height: parent.height + 1,
    timestamp: parent.timestamp + 1000,
    prevHash: blockHash(parent),
    producer: producer.publicKey,
    txs: txs.map((t) => stripTx(t)),
  })
  b.header.signatures.push(signHeader(b.header, producer))
  return b
}

let dir: string
let tree: BlockTree

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-receipts-'))
  tree = await createBlockTree({ path: join(dir, 'db'), genesis, consensus })
})
afterEach(async () => {
  await tree.close()
  await rm(dir, { recursive: true, force: true })
})

function setup(opts: { confirmations?: number; fullScanMs?: number; maxNotedTxs?: number; producer?: { notify(): void } } = {}) {
  const receipts: Array<{ txId: string; receipt: ChainpointProof }> = []
  const ingest: Pick<FileIngest, 'writeReceipts'> = {
    writeReceipts: async (sources: ReceiptSource[], receiptFor) => {
      const written: string[] = []
      for (const s of sources) {
        receipts.push({ txId: s.txId, receipt: (await receiptFor(s.txId)) as ChainpointProof })
        written.push(s.txId)
      }
      return { written, skipped: [], failed: [] }
    },
  }
  // Counts whole-outbox scans: after the one at start, connected blocks must not need any.
  const scans = { n: 0 }
  const real = tree.outbox
  const outbox = new Proxy(real, {
    get(target, prop) {
      if (prop === 'confirmed') {
        return (c: number, limit?: number) => {
          scans.n++
          return target.confirmed(c, limit)
        }
      }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  const t = tree
  // Counts the txs handed to mempool.add.
  const mempoolAdds: Transaction[] = []
  const mempool = new Proxy(t.mempool, {
    get(target, prop) {
      if (prop === 'add') {
        return (txs: Transaction[]) => {
          mempoolAdds.push(...txs)
          return target.add(txs)
        }
      }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
  const store = {
    outbox,
    mempool,
    receiptAt: t.receiptAt.bind(t),
    receipt: t.receipt.bind(t),
    getTx: t.getTx.bind(t),
    acknowledge: t.acknowledge.bind(t),
    head: t.head.bind(t),
    hasBlock: t.hasBlock.bind(t),
    addBlock: t.addBlock.bind(t),
    getBlock: t.getBlock.bind(t),
    getPayload: t.getPayload.bind(t),
  }
  const writer = createReceiptsWriter(
    { confirmations: opts.confirmations ?? 1, anchorBase: () => 'http://anchor', retryMinMs: 5, fullScanMs: opts.fullScanMs ?? 3_600_000, maxNotedTxs: opts.maxNotedTxs },
    { store, ingest, ownOrigin: own.publicKey, health: new HealthMonitor(), logger: silent, registry: new Registry() },
  )
  const chain = createChainService(
    {},
    {
      store,
      verifier: { verifyStrippedTxs: async (txs) => txs.map(() => true) },
      ownOrigin: own.publicKey,
      receipts: writer,
      producer: opts.producer,
      logger: silent,
    },
  )
  const committed: string[] = []
  chain.on('committed', (e) => committed.push(...e.txIds))
  return { writer, chain, receipts, committed, scans, mempoolAdds }
}

/** Every receipt leads from its payload hash to the hash of the block that holds the record. */
async function expectValid(receipts: Array<{ txId: string; receipt: ChainpointProof }>): Promise<void> {
  for (const { txId, receipt } of receipts) {
    const loc = await tree.getTx(txId)
    expect(loc, txId).toBeDefined()
    const [{ expected }] = evaluateChainpoint(receipt)
    expect(expected).toBe(toHex(loc?.blockHash as Uint8Array))
  }
}

describe('receipts per connected block', () => {
  it('writes each record of the connected blocks once, without scanning the outbox again', async () => {
    const { writer, chain, receipts, committed, scans } = setup()
    writer.start()
    await waitFor('the scan at start', () => scans.n >= 1)
    const txs = Array.from({ length: 30 }, () => rec())
    await chain.submitOwn(txs.map((tx, i) => ({ tx, dedupeKey: `k${i}` })))
    const scansAfterStart = scans.n
    let parent = genesisBlockOf(genesis).header
    for (let i = 0; i < 3; i++) {
      const b = blockOn(parent, txs.slice(i * 10, i * 10 + 10))
      expect((await chain.addBlock(b)).status).toBe('applied')
      parent = b.header
    }
    await waitFor('all receipts', () => committed.length === 30)
    await chain.idle()
    expect(scans.n).toBe(scansAfterStart)
    expect(new Set(receipts.map((r) => r.txId))).toEqual(new Set(txs.map(txIdHex)))
    expect(receipts).toHaveLength(30)
    expect(await tree.outbox.size()).toBe(0)
    await expectValid(receipts)
    await chain.stop()
    await writer.stop()
  })

  it('waits for the confirmations: a block is receipted once enough blocks are on top', async () => {
    const { writer, chain, receipts, committed } = setup({ confirmations: 2 })
    writer.start()
    const a = rec()
    const b = rec()
    await chain.submitOwn([{ tx: a }, { tx: b }])
    const b1 = blockOn(genesisBlockOf(genesis).header, [a])
    await chain.addBlock(b1)
    await chain.idle()
    await writer.flush()
    expect(committed).toEqual([])
    const b2 = blockOn(b1.header, [b])
    await chain.addBlock(b2)
    await waitFor('a confirmed', () => committed.length === 1)
    await chain.idle()
    expect(committed).toEqual([txIdHex(a)])
    expect(await tree.outbox.size()).toBe(1)
    await chain.addBlock(blockOn(b2.header, []))
    await waitFor('b confirmed', () => committed.length === 2)
    expect(committed).toEqual([txIdHex(a), txIdHex(b)])
    await expectValid(receipts)
    await chain.stop()
    await writer.stop()
  })

  it('more noted txs than the bound: the list is dropped and one outbox scan writes every receipt', async () => {
    const { writer, chain, receipts, committed, scans } = setup({ confirmations: 3, maxNotedTxs: 4 })
    writer.start()
    await waitFor('the scan at start', () => scans.n >= 1)
    const txs = Array.from({ length: 6 }, () => rec())
    await chain.submitOwn(txs.map((tx) => ({ tx })))
    const scansBefore = scans.n
    let parent = genesisBlockOf(genesis).header
    // Two blocks of 3: the second makes 6 noted txs (> 4); then two empty blocks confirm both 3 deep.
    for (const part of [txs.slice(0, 3), txs.slice(3), [], []]) {
      const b = blockOn(parent, part)
      await chain.addBlock(b)
      parent = b.header
    }
    await waitFor('all receipts', () => committed.length === 6)
    expect(scans.n).toBeGreaterThan(scansBefore)
    expect(new Set(receipts.map((r) => r.txId))).toEqual(new Set(txs.map(txIdHex)))
    expect(receipts).toHaveLength(6)
    await expectValid(receipts)
    await chain.stop()
    await writer.stop()
  })

  it('a record that reaches the outbox after its block is found by the periodic full scan', async () => {
    const { writer, chain, receipts, committed, scans } = setup({ fullScanMs: 20 })
    const late = rec()
    const b1 = blockOn(genesisBlockOf(genesis).header, [late])
    // Payload from the tx itself: the block arrives before the record is in the outbox (as after a reorg).
    expect((await chain.addBlock(b1)).status).toBe('applied')
    await chain.idle()
    writer.start()
    await waitFor('the scan at start', () => scans.n >= 1)
    await chain.submitOwn([{ tx: late }])
    await waitFor('the late record receipted', () => committed.includes(txIdHex(late)))
    expect(receipts.map((r) => r.txId)).toEqual([txIdHex(late)])
    await expectValid(receipts)
    await chain.stop()
    await writer.stop()
  })

  it('others’ records in a connected block get no receipt file; own records still in the outbox do', async () => {
    const { writer, chain, receipts, committed } = setup()
    writer.start()
    const mine = rec()
    const theirs = rec(producer)
    await chain.submitOwn([{ tx: mine }])
    await chain.addBlock(blockOn(genesisBlockOf(genesis).header, [theirs, mine]))
    await waitFor('mine receipted', () => committed.length === 1)
    expect(committed).toEqual([txIdHex(mine)])
    expect(receipts.map((r) => r.txId)).toEqual([txIdHex(mine)])
    await expectValid(receipts)
    await chain.stop()
    await writer.stop()
  })
})

describe('requeue of uncommitted own records', () => {
  it('hands the mempool only the records it does not hold already', async () => {
    let notified = 0
    const { chain, mempoolAdds } = setup({ producer: { notify: () => void notified++ } })
    const pending = Array.from({ length: 5 }, () => rec())
    await chain.submitOwn(pending.map((tx) => ({ tx })))
    await waitFor('the mempool holds them', () => tree.mempool.size() === 5)
    expect(mempoolAdds.map(txIdHex)).toEqual(pending.map(txIdHex))
    // One record reached the outbox but not the mempool (as after a crash between the two).
    const lost = rec()
    await tree.outbox.addMany([{ tx: lost }])
    mempoolAdds.length = 0
    const before = notified
    await chain.requeue()
    expect(mempoolAdds.map(txIdHex)).toEqual([txIdHex(lost)])
    expect(tree.mempool.size()).toBe(6)
    expect(notified).toBe(before + 1)
    // Nothing missing: nothing handed over, no wake-up.
    mempoolAdds.length = 0
    await chain.requeue()
    expect(mempoolAdds).toEqual([])
    expect(notified).toBe(before + 1)
    await chain.stop()
  })
})
