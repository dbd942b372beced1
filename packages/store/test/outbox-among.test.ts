import { blockHash, fromHex, toHex, txIdHex } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { child, makeTx, openTree, tempDir, useTree } from './helpers.js'

// outbox.confirmedAmong: `confirmed` restricted to given txIds (the txs of the blocks just connected), so the
// receipts writer's cost per block is O(block), not O(outbox).

const t = useTree()

describe('outbox.confirmedAmong', () => {
  it('returns the given txs that are in the outbox and deep enough, in outbox order, after a reopen too', async () => {
    const txs = Array.from({ length: 6 }, (_, i) => makeTx(`among ${i}`))
    await t.tree.outbox.addMany(txs.map((tx) => ({ tx })))
    const b1 = child(t.tree.head().header, { txs: [txs[3], txs[0]] })
    await t.tree.addBlock(b1)
    const b2 = child(b1.header, { txs: [txs[1], txs[4]] })
    await t.tree.addBlock(b2)
    const ids = txs.map((t) => fromHex(txIdHex(t)))
    const among = t.tree.outbox.confirmedAmong?.bind(t.tree.outbox)
    expect(among).toBeDefined()
    if (!among) return
    // Outbox order (insertion), not block order; txs 2 and 5 are in no block.
    expect((await among(ids, 1)).map((l) => l.txId)).toEqual([0, 1, 3, 4].map((i) => txIdHex(txs[i])))
    expect((await among(ids, 2)).map((l) => l.txId)).toEqual([0, 3].map((i) => txIdHex(txs[i])))
    expect(await among(ids, 3)).toEqual([])
    // Only the asked ids; locations as in the tx index; the tx hashes to its id.
    const [loc] = await among([ids[4]], 1)
    expect(loc).toMatchObject({ txId: txIdHex(txs[4]), height: 2, index: 1 })
    expect(txIdHex(loc.tx)).toBe(loc.txId)
    // Acked ones are gone; unknown ids are ignored.
    await t.tree.outbox.ack([txIdHex(txs[0])])
    expect((await among([...ids, new Uint8Array(32)], 2)).map((l) => l.txId)).toEqual([txIdHex(txs[3])])
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect((await t.tree.outbox.confirmedAmong?.(ids, 1))?.map((l) => l.txId)).toEqual([1, 3, 4].map((i) => txIdHex(txs[i])))
  })

  it('agrees with confirmed() restricted to the same ids (property)', async () => {
    // Blocks, confirmations and the asked subset are random; confirmed() scans the whole outbox.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        async (blockOf, confirmations, asked) => {
          await t.tree.close()
          await t.dir.cleanup()
          t.dir = await tempDir()
          t.tree = await openTree(t.dir.path)
          const txs = blockOf.map((_, i) => makeTx(`prop ${i} ${Math.random()}`))
          await t.tree.outbox.addMany(txs.map((tx) => ({ tx })))
          // Block k holds the txs with blockOf = k (1..3); 0 = not in a block.
          let parent = t.tree.head().header
          for (let k = 1; k <= 3; k++) {
            const b = child(parent, { txs: txs.filter((_, i) => blockOf[i] === k) })
            await t.tree.addBlock(b)
            parent = b.header
          }
          const subset = txs.filter((_, i) => asked[i]).map(txIdHex)
          const want = (await t.tree.outbox.confirmed(confirmations)).map((l) => l.txId).filter((id) => subset.includes(id))
          const got = (await t.tree.outbox.confirmedAmong?.(subset.map(fromHex), confirmations))?.map((l) => l.txId)
          expect(got).toEqual(want)
        },
      ),
      { numRuns: 15 },
    )
  })
})

describe('outbox.ack with the block the receipt names', () => {
  it('keeps an entry a reorg moved while its receipt was written, so it is confirmed again at its new block', async () => {
    const tx = makeTx('moved by a reorg')
    const id = txIdHex(tx)
    await t.tree.outbox.addMany([{ tx }])
    const genesis = t.tree.head().header
    const a1 = child(genesis, { txs: [tx] })
    await t.tree.addBlock(a1)
    const [atA] = await t.tree.outbox.confirmed(1)
    expect(atA.blockHash).toEqual(blockHash(a1.header))
    // The receipt for a1 is being written; meanwhile a longer branch holding the same tx wins.
    const b1 = child(genesis, { txs: [tx], nonce: 1 })
    await t.tree.addBlock(b1)
    await t.tree.addBlock(child(b1.header))
    expect(toHex(t.tree.head().header.prevHash)).toBe(toHex(blockHash(b1.header)))
    await t.tree.outbox.ack([id], { blockHashes: [atA.blockHash] })
    const again = await t.tree.outbox.confirmed(1)
    expect(again.map((l) => [l.txId, toHex(l.blockHash)])).toEqual([[id, toHex(blockHash(b1.header))]])
    // Acked for the block it is in now: gone.
    await t.tree.outbox.ack([id], { blockHashes: [again[0].blockHash] })
    expect(await t.tree.outbox.confirmed(1)).toEqual([])
    expect(await t.tree.outbox.size()).toBe(0)
  })
})
