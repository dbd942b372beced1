import { type BlockHeader, fromHex, txIdHex } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { child, makeTx, openTree, tempDir, useTree } from './helpers.js'

// The outbox keeps its entries and their canonical locations in memory (no tx index read per entry on
// every scan): it must agree with the tx index on disk after any sequence of blocks, forks and reorgs,
// acks and adds of txs already on the chain, and after a reopen.

const t = useTree()

/** What the outbox reports, and what the tx index on disk says about the same entries. */
async function views(ids: string[]): Promise<{ got: unknown; want: unknown }> {
  const confirmed = (await t.tree.outbox.confirmed(1)).map((l) => [l.txId, l.height, l.index, Buffer.from(l.blockHash).toString('hex')])
  const uncommitted = (await t.tree.outbox.uncommitted()).map(txIdHex)
  const among = ((await t.tree.outbox.confirmedAmong?.(ids.map(fromHex), 1)) ?? []).map((l) => [l.txId, l.height, l.index, Buffer.from(l.blockHash).toString('hex')])
  const inOutbox = new Set([...(await t.tree.outbox.confirmed(1)).map((l) => l.txId), ...uncommitted])
  const locs = await t.tree.getTxs(ids)
  const wantConfirmed: unknown[] = []
  const wantUncommitted: string[] = []
  ids.forEach((id, i) => {
    if (!inOutbox.has(id)) return
    const l = locs[i]
    if (l) wantConfirmed.push([id, l.height, l.index, Buffer.from(l.blockHash).toString('hex')])
    else wantUncommitted.push(id)
  })
  // As sets (the outbox lists in insertion order; outbox-among.test.ts checks the order).
  const byId = (a: unknown[]): unknown[] => [...a].sort((x, y) => String(Array.isArray(x) ? x[0] : x).localeCompare(String(Array.isArray(y) ? y[0] : y)))
  return {
    got: { confirmed: byId(confirmed), uncommitted: byId(uncommitted), among: byId(among) },
    want: { confirmed: byId(wantConfirmed), uncommitted: byId(wantUncommitted), among: byId(wantConfirmed) },
  }
}

describe('outbox in-memory index', () => {
  it('follows a reorg: a tx leaves the chain with its block and comes back at another place', async () => {
    const [t0, t1] = [makeTx('reorg 0'), makeTx('reorg 1')]
    const ids = [t0, t1].map(txIdHex)
    await t.tree.outbox.addMany([{ tx: t0 }, { tx: t1 }])
    const g = t.tree.head().header
    const a1 = child(g, { txs: [t0] })
    await t.tree.addBlock(a1)
    expect((await t.tree.outbox.confirmed(1)).map((l) => [l.txId, l.height])).toEqual([[ids[0], 1]])
    // A heavier fork without t0: t0 is uncommitted again, with the tx index.
    const b1 = child(g, { txs: [t1], difficulty: 5 })
    await t.tree.addBlock(b1)
    expect((await t.tree.outbox.uncommitted()).map(txIdHex)).toEqual([ids[0]])
    expect((await t.tree.outbox.confirmedAmong?.([fromHex(ids[0])], 1)) ?? []).toEqual([])
    const b2 = child(b1.header, { txs: [makeTx('filler'), t0] })
    await t.tree.addBlock(b2)
    let v = await views(ids)
    expect(v.got).toEqual(v.want)
    expect((await t.tree.outbox.confirmedAmong?.([fromHex(ids[0])], 1))?.map((l) => [l.height, l.index])).toEqual([[2, 1]])
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    v = await views(ids)
    expect(v.got).toEqual(v.want)
    expect((await t.tree.outbox.uncommitted()).length).toBe(0)
  })

  it('agrees with the tx index after random blocks, forks, reorgs, acks and a reopen (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Each step: a block on a random earlier block (fork) with random difficulty and some of the txs,
        // or an ack of a tx, or an add of a tx (possibly one already on the chain).
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('block' as const), parent: fc.nat(), difficulty: fc.integer({ min: 0, max: 3 }), pick: fc.array(fc.nat(), { maxLength: 3 }) }),
            fc.record({ kind: fc.constant('ack' as const), pick: fc.nat() }),
            fc.record({ kind: fc.constant('add' as const), pick: fc.nat() }),
          ),
          { minLength: 1, maxLength: 14 },
        ),
        async (steps) => {
          await t.tree.close()
          await t.dir.cleanup()
          t.dir = await tempDir()
          t.tree = await openTree(t.dir.path)
          const txs = Array.from({ length: 8 }, (_, i) => makeTx(`idx ${i} ${Math.random()}`))
          const ids = txs.map(txIdHex)
          // Half the txs in the outbox at first; the others join later (some after a block has them).
          await t.tree.outbox.addMany(txs.slice(0, 4).map((tx) => ({ tx })))
          const headers: BlockHeader[] = [t.tree.head().header]
          let nonce = 0
          for (const s of steps) {
            if (s.kind === 'block') {
              const parent = headers[s.parent % headers.length]
              const chosen = [...new Set(s.pick.map((p) => p % txs.length))].map((i) => txs[i])
              const b = child(parent, { txs: chosen, difficulty: s.difficulty, nonce: nonce++ })
              // A tx already below the fork point is a replay: such blocks are refused, which is fine here.
              const ok = await t.tree.addBlock(b).then(
                () => true,
                () => false,
              )
              if (ok) headers.push(b.header)
            } else if (s.kind === 'ack') {
              await t.tree.outbox.ack([ids[s.pick % ids.length]])
            } else {
              await t.tree.outbox.addMany([{ tx: txs[s.pick % txs.length] }])
            }
            const v = await views(ids)
            expect(v.got).toEqual(v.want)
          }
          const before = await views(ids)
          await t.tree.close()
          t.tree = await openTree(t.dir.path)
          const after = await views(ids)
          expect(after.got).toEqual(after.want)
          expect(after.got).toEqual(before.got)
        },
      ),
      { numRuns: 20 },
    )
  })
})
