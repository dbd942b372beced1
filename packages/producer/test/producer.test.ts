import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTransaction, generateKeyPair, toHex, txId } from '@profichain/core'
import { createConsensus, createGenesis } from '@profichain/consensus'
import { BlockTree } from '@profichain/store'
import { afterEach, describe, expect, it } from 'vitest'
import { BlockProducer, type ProducedBlock } from '../src/index.js'

const open: Array<{ stop(): Promise<void> } | BlockTree> = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await ('close' in o ? o.close() : o.stop())
})

async function setup(opts: { blockTimeMs?: number; maxBlockBytes?: number; emptyBlocks?: boolean; maxTxsPerBlock?: number } = {}) {
  const key = generateKeyPair()
  const genesis = createGenesis({ network: 'ptest', validators: [key], blockTimeMs: opts.blockTimeMs ?? 50, maxBlockBytes: opts.maxBlockBytes })
  const consensus = createConsensus(genesis)
  const tree = await BlockTree.open({ path: join(await mkdtemp(join(tmpdir(), 'producer-')), 'db'), genesis, consensus, retention: { mode: 'all' } })
  open.push(tree)
  const producer = new BlockProducer(
    { chain: tree, consensus, key, context: tree.chain },
    { emptyBlocks: opts.emptyBlocks, maxTxsPerBlock: opts.maxTxsPerBlock, idlePollMs: 10 },
  )
  open.push(producer)
  const blocks: ProducedBlock[] = []
  producer.on('block', (b: ProducedBlock) => blocks.push(b))
  return { key, genesis, tree, producer, blocks }
}

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('BlockProducer', () => {
  it('seals mempool txs in arrival order into canonical blocks', async () => {
    const { key, tree, producer, blocks } = await setup()
    const txs = Array.from({ length: 30 }, (_, i) => createTransaction(key, { network: 'ptest', seq: i, payload: new TextEncoder().encode(`r${i}`) }))
    await tree.mempool.add(txs)
    producer.start()
    // The 'block' event follows the store write, so wait on the events, then check the store agrees.
    await until('all txs in produced blocks', () => blocks.reduce((n, b) => n + b.block.txs.length, 0) === 30)
    expect(await tree.getTx(toHex(txId(txs[29])))).toBeDefined()
    const committed = blocks.flatMap((b) => b.block.txs.map((t) => toHex(txId(t))))
    expect(committed).toEqual(txs.map((t) => toHex(txId(t))))
    expect(tree.head().height).toBe(blocks.length)
    expect(tree.mempool.size()).toBe(0)
  })

  it('makes no empty blocks when idle unless asked to', async () => {
    const idle = await setup()
    idle.producer.start()
    await new Promise((r) => setTimeout(r, 300))
    expect(idle.blocks.length).toBe(0)
    const busy = await setup({ emptyBlocks: true })
    busy.producer.start()
    await until('three empty blocks', () => busy.blocks.length >= 3)
    expect(busy.blocks.every((b) => b.block.txs.length === 0)).toBe(true)
    // Each block waits out the block time after its parent.
    for (let i = 1; i < busy.blocks.length; i++) {
      expect(busy.blocks[i].block.header.timestamp - busy.blocks[i - 1].block.header.timestamp).toBeGreaterThanOrEqual(50)
    }
  })

  it('respects the per-block tx cap and the byte limit', async () => {
    const { key, tree, producer, blocks } = await setup({ maxTxsPerBlock: 7, maxBlockBytes: 64 * 1024 })
    const txs = Array.from({ length: 40 }, (_, i) => createTransaction(key, { network: 'ptest', seq: i, payload: new Uint8Array(4000).fill(i) }))
    await tree.mempool.add(txs)
    producer.start()
    await until('all 40 in produced blocks', () => blocks.reduce((n, b) => n + b.block.txs.length, 0) === 40)
    expect(blocks.every((b) => b.block.txs.length <= 7)).toBe(true)
    expect(await tree.getTx(toHex(txId(txs[39])))).toBeDefined()
  })

  it('stops cleanly and can be stopped twice', async () => {
    const { producer } = await setup({ emptyBlocks: true })
    producer.start()
    await producer.stop()
    await producer.stop()
  })
})
