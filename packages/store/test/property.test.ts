import { type Block, blockHash, compareBytes, type Transaction, toHex, txIdHex } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { BlockTree } from '../src/index.js'
import {
  child,
  makeGenesis,
  makeTx,
  openTree,
  payloadsOf,
  seedKey,
  tempDir,
  testConsensus,
} from './helpers.js'

interface Shape {
  /** parent[i] ∈ [-1, i): -1 is genesis. */
  parents: number[]
  difficulty: number[]
  txPicks: number[][]
}

const POOL = 10

const shapeArb = (max: number) =>
  fc.integer({ min: 1, max }).chain((n) =>
    fc.record({
      parents: fc.tuple(...Array.from({ length: n }, (_, i) => fc.integer({ min: -1, max: i - 1 }))),
      difficulty: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n }),
      txPicks: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: POOL - 1 }), { maxLength: 3 }), {
        minLength: n,
        maxLength: n,
      }),
    }),
  )

/** Build the blocks of a shape; a block never repeats a tx of its ancestors. */
function buildBlocks(tree: BlockTree, shape: Shape, pool: Transaction[]): Block[] {
  const g = tree.head().header
  const blocks: Block[] = []
  const used: Array<Set<number>> = []
  shape.parents.forEach((p, i) => {
    const inherited = p < 0 ? new Set<number>() : used[p]
    const picks = shape.txPicks[i].filter((t) => !inherited.has(t))
    used.push(new Set([...inherited, ...picks]))
    // Nonce i makes every block unique even with the same parent and txs.
    blocks.push(
      child(p < 0 ? g : blocks[p].header, {
        difficulty: shape.difficulty[i],
        nonce: i + 1,
        txs: picks.map((t) => pool[t]),
      }),
    )
  })
  return blocks
}

async function snapshot(tree: BlockTree, pool: Transaction[]) {
  const heights: string[] = []
  for await (const h of tree.headers(0)) heights.push(toHex(blockHash(h)))
  const locs = await Promise.all(
    pool.map(async (t) => {
      const l = await tree.getTx(txIdHex(t))
      return l ? `${toHex(l.blockHash)}:${l.height}:${l.index}` : '-'
    }),
  )
  return { head: toHex(tree.head().hash), heights, locs, txs: (await tree.stats()).txs }
}

/** The model: best tip by (work, lowest hash) over all blocks; canonical txs are those on its chain. */
function model(shape: Shape, blocks: Block[], pool: Transaction[]) {
  const work: bigint[] = []
  shape.parents.forEach((p, i) => {
    work.push((p < 0 ? 0n : work[p]) + BigInt(shape.difficulty[i] + 1))
  })
  let best = -1
  blocks.forEach((b, i) => {
    if (
      best < 0 ||
      work[i] > work[best] ||
      (work[i] === work[best] && compareBytes(blockHash(b.header), blockHash(blocks[best].header)) < 0)
    )
      best = i
  })
  const chain: number[] = []
  for (let i = best; i >= 0; i = shape.parents[i]) chain.unshift(i)
  const loc = new Map<string, string>()
  for (const i of chain) {
    blocks[i].txs.forEach((t, k) => {
      loc.set(txIdHex(t), `${toHex(blockHash(blocks[i].header))}:${blocks[i].header.height}:${k}`)
    })
  }
  return {
    head: toHex(blockHash(blocks[best].header)),
    locs: pool.map((t) => loc.get(txIdHex(t)) ?? '-'),
    txs: loc.size,
  }
}

describe('BlockTree properties', () => {
  it('any arrival order of the same blocks (forks, orphans) gives the same head and indexes', async () => {
    const pool = Array.from({ length: POOL }, (_, i) => makeTx(`pool ${i}`))
    await fc.assert(
      fc.asyncProperty(shapeArb(12), fc.infiniteStream(fc.nat()), async (shape, rand) => {
        const dir = await tempDir()
        const tree = await openTree(dir.path)
        try {
          const blocks = buildBlocks(tree, shape, pool)
          const order = blocks
            .map((b, i) => ({ b, k: rand.next().value as number, i }))
            .sort((x, y) => x.k - y.k || x.i - y.i)
          for (const { b } of order) await tree.addBlock(b, { payloads: payloadsOf(pool) })
          const snap = await snapshot(tree, pool)
          const m = model(shape, blocks, pool)
          expect(snap.head).toBe(m.head)
          expect(snap.locs).toEqual(m.locs)
          expect(snap.txs).toBe(m.txs)
          expect(snap.heights.length).toBe(tree.head().height + 1)
          // Mempool holds exactly the pool txs that are not canonical but were once canonical (reorged out).
          const canon = new Set(
            m.locs.map((l, i) => (l === '-' ? undefined : txIdHex(pool[i]))).filter(Boolean),
          )
          for (const tx of await tree.mempool.select(1e9)) expect(canon.has(txIdHex(tx))).toBe(false)
          const audit = await tree.audit()
          expect(audit.mismatches).toEqual([])
        } finally {
          await tree.close()
          await dir.cleanup()
        }
      }),
      { numRuns: 40 },
    )
  })

  it('reorgs of depth 1..N keep the tx index exact, both ways', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 3 }),
        async (depth, extra) => {
          const dir = await tempDir()
          const tree = await openTree(dir.path)
          try {
            const n = 8
            const aTxs: Transaction[][] = []
            let parent = tree.head().header
            const a: Block[] = []
            for (let h = 1; h <= n; h++) {
              const txs = [makeTx(), makeTx()]
              aTxs.push(txs)
              const b = child(parent, { txs, nonce: 1 })
              await tree.addBlock(b, { payloads: payloadsOf(txs) })
              a.push(b)
              parent = b.header
            }
            // Fork below the tip by `depth`, one block longer plus `extra`.
            const forkHeight = n - depth
            let fp = forkHeight === 0 ? (await tree.getHeaderByHeight(0))! : a[forkHeight - 1].header
            const bTxs: Transaction[] = []
            for (let h = forkHeight + 1; h <= n + 1 + extra; h++) {
              const txs = [makeTx()]
              // Re-include a tx of the abandoned branch at the same height when there is one.
              if (h <= n) txs.push(aTxs[h - 1][0])
              bTxs.push(...txs)
              const b = child(fp, { txs, nonce: 2 })
              await tree.addBlock(b, { payloads: payloadsOf(txs) })
              fp = b.header
            }
            expect(tree.head().height).toBe(n + 1 + extra)
            const expectCanon = new Set([...aTxs.slice(0, forkHeight).flat(), ...bTxs].map(txIdHex))
            for (const t of [...aTxs.flat(), ...bTxs]) {
              const loc = await tree.getTx(txIdHex(t))
              expect(loc !== undefined).toBe(expectCanon.has(txIdHex(t)))
              if (loc) expect(toHex((await tree.getHashAtHeight(loc.height))!)).toBe(toHex(loc.blockHash))
            }
            expect((await tree.stats()).txs).toBe(expectCanon.size)
            // The abandoned txs not re-included wait in the mempool.
            const back = aTxs.slice(forkHeight).map((t) => t[1])
            const pending = new Set((await tree.mempool.select(1e9)).map(txIdHex))
            for (const t of back) expect(pending.has(txIdHex(t))).toBe(true)
            expect((await tree.audit()).mismatches).toEqual([])
          } finally {
            await tree.close()
            await dir.cleanup()
          }
        },
      ),
      { numRuns: 20 },
    )
  })

  it('quorum finality forbids reorgs below the final block', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 5 }),
        async (finalAt, forkAt) => {
          const dir = await tempDir()
          const genesis = makeGenesis()
          const tree = await openTree(dir.path, { consensus: testConsensus(genesis, 2) })
          try {
            let parent = tree.head().header
            for (let h = 1; h <= 6; h++) {
              const b = child(parent, { nonce: 1, cosigners: h === finalAt ? [seedKey(9)] : [] })
              await tree.addBlock(b)
              parent = b.header
            }
            expect(tree.finalHeight()).toBe(finalAt)
            const headBefore = toHex(tree.head().hash)
            let fp =
              forkAt === 0 ? (await tree.getHeaderByHeight(0))! : (await tree.getHeaderByHeight(forkAt))!
            for (let h = forkAt + 1; h <= forkAt + 2; h++) {
              const b = child(fp, { nonce: 2, difficulty: 10 })
              await tree.addBlock(b)
              fp = b.header
            }
            if (forkAt < finalAt) {
              expect(toHex(tree.head().hash)).toBe(headBefore)
            } else {
              expect(toHex(tree.head().hash)).toBe(toHex(blockHash(fp)))
            }
            expect(tree.finalHeight()).toBe(finalAt)
            // Finality survives a restart.
            await tree.close()
            const again = await openTree(dir.path, { consensus: testConsensus(genesis, 2) })
            expect(again.finalHeight()).toBe(finalAt)
            await again.close()
          } finally {
            await tree.close()
            await dir.cleanup()
          }
        },
      ),
      { numRuns: 20 },
    )
  })
})
