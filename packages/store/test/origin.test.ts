import { ConsensusError } from '@profichain/consensus'
import { blockHash, encodeTransaction, toHex, txIdHex } from '@profichain/core'
import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { openSublevels, u64 } from '../src/keys.js'
import { child, makeTx, openTree, payloadsOf, seedKey, useTree } from './helpers.js'

// Issue 10 item 7: a valid tx signed by a fresh key (in no genesis) must never be stored.
const stranger = seedKey(77)

const t = useTree()

async function rejection(p: Promise<unknown>): Promise<ConsensusError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ConsensusError)
  return err as ConsensusError
}

describe('records from unknown origins', () => {
  it('block import refuses a block with a tx from a non-member origin, naming tx and origin', async () => {
    const good = makeTx('member record')
    const bad = makeTx('stranger record', {}, stranger)
    const txs = [good, bad]
    const block = child(t.tree.head().header, { txs })
    const err = await rejection(t.tree.addBlock(block, { payloads: payloadsOf(txs) }))
    expect(err.code).toBe('ERR_ORIGIN_NOT_MEMBER')
    expect(err.meta).toMatchObject({ txId: txIdHex(bad), origin: toHex(stranger.publicKey), index: 1, height: 1 })
    expect(err.message).toContain(txIdHex(bad))
    // Nothing of it was stored.
    expect(t.tree.head().height).toBe(0)
    expect(await t.tree.hasBlock(blockHash(block.header))).toBe(false)
    expect(await t.tree.getTx(txIdHex(good))).toBeUndefined()

    // Not as an orphan either: a child of an unknown parent is refused before the orphan pool.
    const parent = child(t.tree.head().header, { txs: [makeTx('parent')] })
    const orphan = child(parent.header, { txs: [makeTx('orphan', {}, stranger)] })
    expect((await rejection(t.tree.addBlock(orphan))).code).toBe('ERR_ORIGIN_NOT_MEMBER')
    expect((await t.tree.stats()).orphans).toBe(0)
    expect((await t.tree.addBlock(parent)).status).toBe('added')
    expect(t.tree.head().height).toBe(1)
  })

  it('mempool add refuses (counts, never stores) a tx from a non-member origin', async () => {
    const good = makeTx('member pending')
    const bad = makeTx('stranger pending', {}, stranger)
    expect(await t.tree.mempool.add([good, bad])).toBe(1)
    expect(t.tree.mempool.has(txIdHex(bad))).toBe(false)
    expect(t.tree.mempool.refusedOrigins()).toBe(1)
    expect(await t.tree.mempool.add([bad])).toBe(0)
    expect(t.tree.mempool.refusedOrigins()).toBe(2)
    expect((await t.tree.mempool.select(1_000_000)).map(txIdHex)).toEqual([txIdHex(good)])
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.mempool.size()).toBe(1)
    expect(t.tree.mempool.has(txIdHex(bad))).toBe(false)
  })

  it('mempool load drops a persisted tx from a non-member origin (e.g. left by an older version)', async () => {
    const good = makeTx('member pending')
    expect(await t.tree.mempool.add([good])).toBe(1)
    await t.tree.close()
    const bad = makeTx('stranger persisted', {}, stranger)
    const db = new Level<Uint8Array, Uint8Array>(t.dir.path, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    await openSublevels(db).mempool.put(u64(1000), encodeTransaction(bad))
    await db.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.mempool.size()).toBe(1)
    expect(t.tree.mempool.has(txIdHex(bad))).toBe(false)
    expect(t.tree.mempool.refusedOrigins()).toBe(1)
    // Deleted from disk, not only skipped.
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.mempool.refusedOrigins()).toBe(0)
    expect(t.tree.mempool.size()).toBe(1)
  })
})
