import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTransaction, generateKeyPair, toHex, txId, txIdHex } from '@profichain/core'
import { createConsensus, createGenesis } from '@profichain/consensus'
import { BlockTree, StoreError } from '@profichain/store'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createBlockProducer,
  PRODUCER_ERROR_CODES,
  type ProducedBlock,
  ProducerError,
  type ProducerChain,
  type ProducerFailure,
  type ProducerHealth,
  type ProducerRecovered,
} from '../src/index.js'

const open: Array<{ stop(): Promise<void> } | BlockTree> = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await ('close' in o ? o.close() : o.stop())
})

async function setup(
  opts: {
    blockTimeMs?: number
    maxBlockBytes?: number
    emptyBlocks?: boolean
    maxTxsPerBlock?: number
    /** Wrap the real store (unit tests of failures); default: the store itself. */
    chain?: (tree: BlockTree) => ProducerChain
    needsBlock?: () => boolean
  } = {},
) {
  const key = generateKeyPair()
  const genesis = createGenesis({ network: 'ptest', validators: [key], blockTimeMs: opts.blockTimeMs ?? 50, maxBlockBytes: opts.maxBlockBytes })
  const consensus = createConsensus(genesis)
  const tree = await BlockTree.open({ path: join(await mkdtemp(join(tmpdir(), 'producer-')), 'db'), genesis, consensus, retention: { mode: 'all' } })
  open.push(tree)
  const producer = createBlockProducer(
    { emptyBlocks: opts.emptyBlocks, maxTxsPerBlock: opts.maxTxsPerBlock, idlePollMs: 10 },
    { chain: opts.chain ? opts.chain(tree) : tree, consensus, key, context: tree.chain, needsBlock: opts.needsBlock },
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
  it('seals empty blocks while needsBlock() says so (quorum head not final), and stops when it no longer does', async () => {
    let need = true
    const { producer, blocks } = await setup({ needsBlock: () => need })
    producer.start()
    await until('two empty blocks', () => blocks.length >= 2)
    expect(blocks.every((b) => b.block.txs.length === 0)).toBe(true)
    need = false
    const settled = blocks.length
    // One block may already be in flight; after that no more are sealed with nothing to commit.
    await until('production settles', async () => {
      const n = blocks.length
      await new Promise((r) => setTimeout(r, 300))
      return blocks.length === n
    })
    expect(blocks.length).toBeLessThanOrEqual(settled + 1)
  })

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

  it('never includes a tx whose origin is not a genesis member', async () => {
    // A mempool that hands out a valid tx signed by a fresh key (as one filled before the rule could).
    const stranger = generateKeyPair()
    const bad = createTransaction(stranger, { network: 'ptest', seq: 0, payload: new TextEncoder().encode('stranger') })
    const { key, tree, producer, blocks } = await setup({
      chain: (t) => ({
        head: () => t.head(),
        addBlock: (b, o) => t.addBlock(b, o),
        mempool: {
          add: (txs) => t.mempool.add(txs),
          size: () => t.mempool.size() + 1,
          select: async (...a: Parameters<typeof t.mempool.select>) => [bad, ...(await t.mempool.select(...a))],
        },
      }),
    })
    const txs = Array.from({ length: 5 }, (_, i) => createTransaction(key, { network: 'ptest', seq: i, payload: new TextEncoder().encode(`m${i}`) }))
    await tree.mempool.add(txs)
    producer.start()
    await until('the member txs in produced blocks', () => blocks.reduce((n, b) => n + b.block.txs.length, 0) >= 5)
    const committed = blocks.flatMap((b) => b.block.txs.map((t) => toHex(txId(t))))
    expect(committed).toEqual(txs.map((t) => txIdHex(t)))
    expect(committed).not.toContain(txIdHex(bad))
    expect(await tree.getTx(txIdHex(bad))).toBeUndefined()
    expect(producer.skippedOrigins).toBeGreaterThan(0)
    expect(producer.errors).toBe(0)
  })

  it('survives a full disk: backs off, reports DISK_FULL, then recovers and produces once writes succeed', async () => {
    // The store's addBlock fails with ENOSPC three times (as a raw errno error and as the store's I/O
    // error), then works again: space was freed.
    const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' })
    const failures = [
      enospc(),
      new StoreError('ERR_STORE_IO', 'writing a block failed: IO error: 000012.log: No space left on device', { levelCode: 'LEVEL_IO_ERROR' }, { cause: enospc() }),
      enospc(),
    ]
    let attempts = 0
    const { key, tree, producer, blocks } = await setup({
      chain: (t) => ({
        head: () => t.head(),
        mempool: t.mempool,
        addBlock: async (b, o) => {
          attempts++
          const err = failures.shift()
          if (err) throw err
          return t.addBlock(b, o)
        },
      }),
    })
    const seen: Array<{ failure: ProducerFailure; health: ProducerHealth }> = []
    producer.on('failure', (failure: ProducerFailure) => seen.push({ failure, health: producer.health() }))
    let recovered = 0
    producer.on('recovered', () => recovered++)
    const txs = Array.from({ length: 10 }, (_, i) => createTransaction(key, { network: 'ptest', seq: i, payload: new TextEncoder().encode(`d${i}`) }))
    await tree.mempool.add(txs)
    expect(producer.health()).toEqual({ ok: true })
    producer.start()
    await until('all txs in produced blocks after the disk-full errors', () => blocks.reduce((n, b) => n + b.block.txs.length, 0) === 10)
    expect(attempts).toBeGreaterThanOrEqual(4)
    expect(seen.map((s) => s.failure.code)).toEqual(['DISK_FULL', 'DISK_FULL', 'DISK_FULL'])
    for (const s of seen) {
      expect(s.health.ok).toBe(false)
      expect(s.health.code).toBe('DISK_FULL')
      expect(s.health.message).toMatch(/disk .* full.*free space/)
    }
    // Back-off grows (bounded) with failures in a row.
    expect(seen.map((s) => s.failure.retryInMs)).toEqual([100, 200, 400])
    expect(producer.errors).toBe(3)
    expect(recovered).toBe(1)
    expect(producer.health()).toEqual({ ok: true })
    expect(await tree.getTx(txIdHex(txs[9]))).toBeDefined()
    expect(tree.mempool.size()).toBe(0)
  })

  it('reports PRODUCE_FAILED for other errors and keeps going', async () => {
    let fail = 1
    const { key, tree, producer, blocks } = await setup({
      chain: (t) => ({
        head: () => t.head(),
        mempool: t.mempool,
        addBlock: async (b, o) => {
          if (fail-- > 0) throw new Error('EIO: i/o error, write')
          return t.addBlock(b, o)
        },
      }),
    })
    const health: ProducerHealth[] = []
    producer.on('failure', () => health.push(producer.health()))
    await tree.mempool.add([createTransaction(key, { network: 'ptest', seq: 0, payload: new Uint8Array([1]) })])
    producer.start()
    await until('the tx in a produced block', () => blocks.length === 1)
    expect(health).toEqual([{ ok: false, code: 'PRODUCE_FAILED', message: expect.stringContaining('EIO') }])
    expect(producer.health().ok).toBe(true)
  })

  it('every failure carries a ProducerError with a code of PRODUCER_ERROR_CODES, typed meta and the cause', async () => {
    const errors = [Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }), new Error('EIO: i/o error')]
    const thrownErrs = [...errors]
    const { key, tree, producer, blocks } = await setup({
      chain: (t) => ({
        head: () => t.head(),
        mempool: t.mempool,
        addBlock: async (b, o) => {
          const err = thrownErrs.shift()
          if (err) throw err
          return t.addBlock(b, o)
        },
      }),
    })
    const failures: ProducerFailure[] = []
    const recovered: ProducerRecovered[] = []
    producer.on('failure', (f) => failures.push(f))
    producer.on('recovered', (r) => recovered.push(r))
    await tree.mempool.add([createTransaction(key, { network: 'ptest', seq: 0, payload: new Uint8Array([1]) })])
    producer.start()
    await until('the tx in a produced block', () => blocks.length === 1)
    expect(failures.map((f) => f.code)).toEqual(['DISK_FULL', 'PRODUCE_FAILED'])
    failures.forEach((f, i) => {
      expect(f.error).toBeInstanceOf(ProducerError)
      expect(f.error.name).toBe('ProducerError')
      expect(PRODUCER_ERROR_CODES).toContain(f.error.code)
      expect(f.error.code).toBe(f.code)
      expect(f.error.cause).toBe(errors[i])
      expect(f.error.meta).toEqual({ consecutive: i + 1, retryInMs: f.retryInMs })
    })
    expect(recovered).toEqual([{ code: 'PRODUCE_FAILED', failures: 2 }])
  })
})
