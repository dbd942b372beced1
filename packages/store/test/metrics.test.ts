import { Counter, Gauge, Registry } from 'prom-client'
import { txIdHex } from '@profichain/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BlockTree, type BlockTreeInit, STORE_METRIC_NAMES } from '../src/index.js'
import { child, makeGenesis, makeTx, tempDir, testConsensus } from './helpers.js'

let dir: { path: string; cleanup: () => Promise<void> }
let tree: BlockTree | undefined
let registry: Registry

function open(extra: Partial<BlockTreeInit> = {}, reg: Registry = registry): Promise<BlockTree> {
  const genesis = makeGenesis()
  return BlockTree.open({ path: dir.path, genesis, consensus: testConsensus(genesis), ...extra }, { registry: reg })
}

async function value(name: string): Promise<number> {
  const m = registry.getSingleMetric(name)
  if (m === undefined) throw new Error(`${name} is not registered`)
  const v = (await m.get()).values
  return v.length === 0 ? 0 : v[0].value
}

beforeEach(async () => {
  dir = await tempDir()
  registry = new Registry()
})

afterEach(async () => {
  await tree?.close()
  tree = undefined
  await dir.cleanup()
})

describe('store metrics', () => {
  it('registers every store metric: counters _total, gauges for levels', async () => {
    tree = await open()
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort()
    expect(names).toEqual([...STORE_METRIC_NAMES].sort())
    for (const n of STORE_METRIC_NAMES) {
      expect(n).toMatch(/^profichain_store_/)
      const m = registry.getSingleMetric(n)
      expect(m).toBeInstanceOf(n.endsWith('_total') ? Counter : Gauge)
    }
  })

  it('counts blocks applied, reorgs, orphans added and evicted, and the orphan pool level', async () => {
    tree = await open({ maxOrphans: 2 })
    const g = tree.head().header
    const b1 = child(g)
    const b2 = child(b1.header)
    expect((await tree.addBlock(b2)).status).toBe('orphan')
    expect(await value('profichain_store_orphans_added_total')).toBe(1)
    expect(await value('profichain_store_orphan_pool_blocks')).toBe(1)
    expect(await value('profichain_store_orphan_pool_bytes')).toBeGreaterThan(0)
    await tree.addBlock(b1)
    expect(await value('profichain_store_blocks_applied_total')).toBe(2)
    expect(await value('profichain_store_orphan_pool_blocks')).toBe(0)
    expect(await value('profichain_store_orphan_pool_bytes')).toBe(0)
    expect(await value('profichain_store_reorgs_total')).toBe(0)

    // A heavier branch from genesis replaces b1, b2.
    const a1 = child(g, { difficulty: 5 })
    const r = await tree.addBlock(a1)
    expect(r.reorg?.depth).toBe(2)
    expect(await value('profichain_store_reorgs_total')).toBe(1)
    expect(await value('profichain_store_blocks_applied_total')).toBe(3)

    // Three orphans in a pool of two: the oldest is evicted.
    const c1 = child(a1.header)
    const c2 = child(c1.header)
    const c3 = child(c2.header)
    const c4 = child(c3.header)
    for (const b of [c2, c3, c4]) expect((await tree.addBlock(b)).status).toBe('orphan')
    expect(await value('profichain_store_orphans_added_total')).toBe(4)
    expect(await value('profichain_store_orphans_evicted_total')).toBe(1)
    expect(await value('profichain_store_orphan_pool_blocks')).toBe(2)
    expect((await tree.stats()).orphanBytes).toBe(await value('profichain_store_orphan_pool_bytes'))
  })

  it('tracks the outbox depth and deferred receipts, and reuses its metrics when reopened', async () => {
    tree = await open()
    const t1 = makeTx()
    const t2 = makeTx()
    await tree.outbox.addMany([{ tx: t1 }, { tx: t2 }])
    expect(await value('profichain_store_outbox_depth')).toBe(2)
    await tree.outbox.deferReceipts([{ txId: txIdHex(t1), code: 'EACCES', message: 'permission denied' }])
    expect(await value('profichain_store_outbox_depth')).toBe(1)
    expect(await value('profichain_store_deferred_receipts')).toBe(1)
    expect(await value('profichain_store_receipt_writes_deferred_total')).toBe(1)
    // Deferred again on the retry: counted again, still one waiting.
    await tree.outbox.deferReceipts([{ txId: txIdHex(t1), code: 'EACCES', message: 'permission denied' }])
    expect(await value('profichain_store_receipt_writes_deferred_total')).toBe(2)
    expect(await value('profichain_store_deferred_receipts')).toBe(1)
    await tree.close()

    // Reopened with the same registry (a restart in one process): the levels come from the DB.
    registry.resetMetrics()
    tree = await open()
    expect(await value('profichain_store_outbox_depth')).toBe(1)
    expect(await value('profichain_store_deferred_receipts')).toBe(1)
    await tree.outbox.clearDeferred([txIdHex(t1)])
    expect(await value('profichain_store_deferred_receipts')).toBe(0)
    await tree.outbox.ack([txIdHex(t2)])
    expect(await value('profichain_store_outbox_depth')).toBe(0)
  })

  it('refuses a registry holding one of its names as another metric type', async () => {
    new Gauge({ name: 'profichain_store_reorgs_total', help: 'not a counter', registers: [registry] })
    await expect(open()).rejects.toMatchObject({ code: 'ERR_STORE_CONFIG', meta: { field: 'registry' } })
  })
})
