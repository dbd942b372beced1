// The quorum stall found in the 2|2 partition test's network (4 validators, threshold 3), rebuilt block by block
// with the real QuorumConsensus (in-turn difficulty, signer limit), the real block tree on LevelDB and the votes
// subsystem. Every validator started at once and sealed its own height-1 block; the chains then settled so that:
//   canonical  B1 (v3, out of turn) ─ B2 (v2, in turn)                work 1 + 2 = 3
//   side       B1 ─ B2' (v0, out of turn) ─ B3' (v1, out of turn)      work 1 + 1 + 1 = 3, lost on the hash
// B3' collected v1's, v0's and v3's signatures (the quorum), but only after it had lost fork choice. On B2 the
// next block had no producer left: v2 and v3 sealed the last two blocks (signer limit) and v0 and v1 had
// co-signed B3' at height 3, so their vote guard refuses to seal another height-3 block, for good.
// The fix: a block that carries the quorum above the final block wins over a branch without one.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Consensus, createConsensus, type Genesis } from '@profichain/consensus'
import { type Block, type BlockHeader, blockHash, compareBytes, createBlock, generateKeyPair, type KeyPair, signVote, toHex } from '@profichain/core'
import { type AddBlockResult, type BlockTree, createBlockTree, genesisBlockOf } from '@profichain/store'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSyncHandlers } from '../src/sync/index.js'
import { createVotes, guardSealing } from '../src/votes/index.js'
import { silent } from './fakes.js'

const NET = 'qstall'
const keys = Array.from({ length: 4 }, () => generateKeyPair())
const [v0, v1, v2, v3] = keys
const genesis: Genesis = {
  version: 1,
  network: NET,
  timestamp: Date.now() - 3_600_000,
  members: keys.map((k, i) => ({ name: `v${i}`, publicKey: toHex(k.publicKey), roles: ['validator'] })),
  validators: keys.map((k) => toHex(k.publicKey)),
  consensus: { type: 'quorum', threshold: 3, backoffMs: 500 },
  blockTimeMs: 500,
  maxBlockBytes: 1024 * 1024,
  maxTxBytes: 1024,
}
const consensus: Consensus = createConsensus(genesis)
const g0 = genesisBlockOf(genesis).header

let dir: string
const trees: BlockTree[] = []
async function openTree(name: string): Promise<BlockTree> {
  const t = await createBlockTree({ path: join(dir, name), genesis, consensus })
  trees.push(t)
  return t
}

/** A block sealed by `key` on `parent` under the real quorum rules (difficulty from the turn, producer's signature). */
async function seal(parent: BlockHeader, key: KeyPair, ancestors: BlockHeader[], dt = 10_000): Promise<Block> {
  const draft = createBlock({ network: NET, height: parent.height + 1, timestamp: parent.timestamp + dt, prevHash: blockHash(parent), producer: key.publicKey, txs: [] })
  const byHash = new Map([parent, ...ancestors].map((h) => [toHex(blockHash(h)), h]))
  const ctx = {
    ancestors: async (hash: Uint8Array, n: number) => {
      const out: BlockHeader[] = []
      for (let h = byHash.get(toHex(hash)); h && out.length < n; h = byHash.get(toHex(h.prevHash))) out.push(h)
      return out
    },
  }
  return consensus.seal(draft, parent, key, ctx)
}

/** The stalled network's blocks; B2 is sealed until it wins the work tie against B3' on the hash, as it did there. */
async function stalledBlocks() {
  const b1 = await seal(g0, v3, [])
  const b2s = await seal(b1.header, v0, [g0])
  const b3s = await seal(b2s.header, v1, [b1.header, g0])
  for (let dt = 10_000; ; dt++) {
    const b2 = await seal(b1.header, v2, [g0], dt)
    if (compareBytes(blockHash(b2.header), blockHash(b3s.header)) < 0) return { b1, b2, b2s, b3s }
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-qstall-'))
})
afterEach(async () => {
  for (const t of trees.splice(0)) await t.close().catch(() => {})
  await rm(dir, { recursive: true, force: true })
})

describe('quorum liveness: a quorum-signed block that lost fork choice', () => {
  it('becomes the head when its last vote arrives (votes → adoptQuorum → chain), and stays final', async () => {
    const { b1, b2, b2s, b3s } = await stalledBlocks()
    // Validator v0's node: it sealed B2' and co-signed B3' while that branch was its head.
    let tree = await openTree('v0')
    const applied: AddBlockResult[] = []
    const registry = new Registry()
    const votes = createVotes({ genesis }, { store: tree, key: v0, publish: () => {}, applied: (r) => applied.push(r), logger: silent, registry })
    for (const b of [b1, b2s, b3s]) {
      await tree.addBlock(b)
      await votes.onBlock(b)
    }
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(b3s.header)))
    // The in-turn B2 ties B1-B2'-B3' in work and wins on the hash: the head falls back to height 2.
    const r = await tree.addBlock(b2)
    expect(r.reorg?.depth).toBe(2)
    expect(tree.head().height).toBe(2)
    // On B2 nobody may seal height 3: v2 and v3 sealed the last two blocks, v0 co-signed B3' (its guard), and
    // v1 sealed B3' (its own guard on its node, as v0's is here).
    const guarded = guardSealing(consensus, tree)
    for (const k of [v0, v2, v3]) expect(await guarded.producerDelay(b2.header, k.publicKey, tree.chain, Date.now())).toBeNull()
    expect(tree.finalHeight()).toBe(0)
    // v3's vote for B3' arrives: B3' carries the quorum (v1 sealed it, v0 and v3 co-signed it).
    expect(await votes.onVote(signVote(NET, 3, blockHash(b3s.header), v3), 'v3')).toBe('accept')
    await votes.idle()
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(b3s.header)))
    expect(tree.finalHeight()).toBe(3)
    // The chain service gets the switch like any other: B2' and B3' canonical, B2 abandoned.
    expect(applied).toHaveLength(1)
    expect(applied[0].newCanonical.map((b) => b.header.height)).toEqual([2, 3])
    expect(applied[0].reorg).toMatchObject({ depth: 1 })
    expect(await registry.getSingleMetricAsString('profichain_votes_quorum_adopted_total')).toMatch(/ 1$/m)
    // On B3' the chain goes on: v2 and v3 may seal height 4.
    for (const k of [v2, v3]) expect(await guarded.producerDelay(b3s.header, k.publicKey, tree.chain, Date.now())).not.toBeNull()
    // A heavier block on the abandoned branch never takes the head back below the final block.
    const b3 = await seal(b2.header, v1, [b1.header, g0])
    await tree.addBlock(b3)
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(b3s.header)))
    // Durable: the same head and final block after a reopen.
    await votes.stop()
    await tree.close()
    tree = await openTree('v0')
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(b3s.header)))
    expect(tree.finalHeight()).toBe(3)
    expect((await tree.audit()).mismatches).toEqual([])
  })

  it('a node that gets the quorum-signed block with its signatures (sync serves them) takes it as head', async () => {
    const { b1, b2, b2s, b3s } = await stalledBlocks()
    // A node where B3' has its quorum: serves B2' and B3' with their stored signatures.
    const server = await openTree('server')
    for (const b of [b1, b2s, b3s]) await server.addBlock(b)
    for (const k of [v0, v3]) await server.addSignatures(blockHash(b3s.header), [signVote(NET, 3, blockHash(b3s.header), k)])
    expect(server.finalHeight()).toBe(3)
    const handlers = createSyncHandlers({ genesisHash: blockHash(g0) }, { store: server })
    const { decodeBlock } = await import('@profichain/core')
    const served = (await handlers.blocks(1, 3)).map((e) => decodeBlock(e))
    expect(served[2].header.signatures).toHaveLength(3)
    // v2's node, on B1-B2 (work 3, lowest hash): B2' and then B3' (work 3 too, but the quorum) arrive.
    const tree = await openTree('v2')
    for (const b of [b1, b2]) await tree.addBlock(b)
    expect(tree.head().height).toBe(2)
    await tree.addBlock(served[1])
    expect(tree.head().height).toBe(2)
    const r = await tree.addBlock(served[2])
    expect(r.reorg?.depth).toBe(1)
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(b3s.header)))
    expect(tree.finalHeight()).toBe(3)
  })
})
