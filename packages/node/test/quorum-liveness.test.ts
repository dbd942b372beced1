// Quorum stalls found in the 2|2 partition test's network (4 validators, threshold 3), rebuilt block by block
// with the real QuorumConsensus (in-turn difficulty, signer limit), the real block tree on LevelDB and the votes
// subsystem. A validator never co-signs two blocks at one height (vote guard) and a producer's seal is its vote,
// so a validator that co-signed a block at height h on one branch may never seal height h on another. When every
// validator the signer limit allows on the head has co-signed a block at the next height elsewhere, nobody can
// ever extend the head: the network stalls for good. Two ways in, both seen in the test's network:
// - the heal of a 2|2 partition: side A sealed one in-turn block (work 2) at height 5, side B two out-of-turn ones
//   (work 2) at 5 and 6. Equal work, and the lower hash picked A's shorter branch: on it height 6 needs v2 or v3,
//   who co-signed B's block at 6. Fix: quorum fork choice prefers the longer branch on equal work.
// - a block that got the quorum after it had lost fork choice (its votes came late) on a side branch: its
//   signers may never seal its height on the head's branch. Fix: a block carrying the quorum above the final
//   block wins (connect), and a side-branch block that reaches the quorum is adopted (votes → adoptQuorum).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Consensus, createConsensus, type Genesis, signerLimitLiftMs } from '@profichain/consensus'
import { type Block, type BlockHeader, blockHash, compareBytes, createBlock, decodeBlock, decodeHeader, generateKeyPair, type KeyPair, type SyncKind, type SyncRequestOf, type SyncResponses, signVote, toHex } from '@profichain/core'
import { type AddBlockResult, type BlockTree, createBlockTree, genesisBlockOf } from '@profichain/store'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSync, createSyncHandlers, type SyncNet } from '../src/sync/index.js'
import { createVotes, guardSealing, VoteRule } from '../src/votes/index.js'
import { quorumGenesis, silent } from './fakes.js'

const NET = 'qstall'
const keys = Array.from({ length: 4 }, () => generateKeyPair())
const [v0, v1, v2, v3] = keys
const genesis: Genesis = quorumGenesis(NET, keys, { timestamp: Date.now() - 3_600_000, blockTimeMs: 500 })
const consensus: Consensus = createConsensus(genesis)
const g0 = genesisBlockOf(genesis).header
const hex = (b: Block) => toHex(blockHash(b.header))

let dir: string
const trees: BlockTree[] = []
async function openTree(name: string): Promise<BlockTree> {
  const t = await createBlockTree({ path: join(dir, name), genesis, consensus })
  trees.push(t)
  return t
}

/** Headers by hash, for the consensus's ancestor lookups while sealing. */
const known = new Map<string, BlockHeader>([[toHex(blockHash(g0)), g0]])

/** A block sealed by `key` on `parent` under the real quorum rules (difficulty from the turn, producer's signature). */
async function seal(parent: Block | BlockHeader, key: KeyPair, dt = 1_000): Promise<Block> {
  const p = 'header' in parent ? parent.header : parent
  const draft = createBlock({ network: NET, height: p.height + 1, timestamp: p.timestamp + dt, prevHash: blockHash(p), producer: key.publicKey, txs: [] })
  const ctx = {
    ancestors: async (hash: Uint8Array, n: number) => {
      const out: BlockHeader[] = []
      for (let h = known.get(toHex(hash)); h && out.length < n; h = known.get(toHex(h.prevHash))) out.push(h)
      return out
    },
  }
  const b = await consensus.seal(draft, p, key, ctx)
  known.set(hex(b), b.header)
  return b
}

/** `key`'s vote for `b` as a header signature. */
const sig = (b: Block, key: KeyPair) => signVote(NET, b.header.height, blockHash(b.header), key)

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-qstall-'))
})
afterEach(async () => {
  for (const t of trees.splice(0)) await t.close().catch(() => {})
  await rm(dir, { recursive: true, force: true })
})

describe('quorum liveness: no branch the network cannot extend', () => {
  it('the heal of a 2|2 partition: on equal work the longer branch wins, and it can be extended and finalised', async () => {
    // Before the cut (as in the test's network): P1 v0, P2 v2 (in turn), P3 v3 (in turn), P4 v0 (in turn).
    const p1 = await seal(g0, v0)
    const p2 = await seal(p1, v2)
    const p3 = await seal(p2, v3)
    const p4 = await seal(p3, v0)
    // Cut: side A {v0, v1}, side B {v2, v3}. B seals B5 (v2) and B6 (v3) out of turn, each co-signed by the other.
    const b5 = await seal(p4, v2)
    const b6 = await seal(b5, v3)
    // A seals A5 (v1, in turn), co-signed by v0; sealed until its hash is the lower one, as it was there.
    let a5 = await seal(p4, v1)
    for (let dt = 1_001; compareBytes(blockHash(a5.header), blockHash(b6.header)) > 0; dt++) a5 = await seal(p4, v1, dt)
    // Validator v2's node, side B: it sealed B5 and co-signed B6.
    const tree = await openTree('v2')
    const votes = createVotes({ genesis }, { store: tree, key: v2, publish: () => {}, logger: silent, registry: new Registry() })
    for (const b of [p1, p2, p3, p4, b5, b6]) {
      await tree.addBlock(b)
      await votes.onBlock(b)
    }
    expect(await votes.onVote(sig(b5, v3), 'v3')).toBe('accept')
    expect(toHex((await tree.ownVote(6)) as Uint8Array)).toBe(hex(b6))
    // The heal: A5 arrives (work equal to B5-B6, lower hash). Lowest hash alone would make A5 the head, where
    // height 6 needs v2 or v3 (v1 and v0 sealed A5 and P4), who both co-signed B6: a stall for good.
    const guarded = guardSealing(consensus, tree)
    expect(await guarded.producerDelay(a5.header, v2.publicKey, tree.chain, Date.now())).toBeNull()
    await tree.addBlock(a5)
    expect(tree.head().hash).toEqual(blockHash(b6.header))
    // On B6, v0 and v1 may seal height 7 (v1 is in turn), and they never co-signed height 6: B6 becomes final.
    expect(await consensus.producerDelay(b6.header, v1.publicKey, tree.chain, Date.now())).not.toBeNull()
    expect(await consensus.producerDelay(b6.header, v0.publicKey, tree.chain, Date.now())).not.toBeNull()
    for (const k of [v0, v1]) expect(await votes.onVote(sig(b6, k), 'a')).toBe('accept')
    await votes.idle()
    expect(tree.finalHeight()).toBe(6)
    const b7 = await seal(b6, v1)
    await tree.addBlock(b7)
    expect(tree.head().height).toBe(7)
  })

  it('a side-branch block that reaches the quorum late becomes the head (votes → adoptQuorum → chain), durably', async () => {
    // Heavier canonical branch B1 (v1) B2 (v2) B3 (v3), all in turn (work 6); side branch B1 B2' (v0) B3' (v2),
    // out of turn (work 4). B3' gets v2's seal and v0's and v1's votes: the quorum, on the lighter branch.
    const b1 = await seal(g0, v1)
    const b2 = await seal(b1, v2)
    const b3 = await seal(b2, v3)
    const s2 = await seal(b1, v0)
    const s3 = await seal(s2, v2)
    // Validator v0's node: it sealed B2' and co-signed B3' while that branch was its head.
    let tree = await openTree('v0')
    const applied: AddBlockResult[] = []
    const registry = new Registry()
    const votes = createVotes({ genesis }, { store: tree, key: v0, publish: () => {}, applied: (r) => applied.push(r), logger: silent, registry })
    for (const b of [b1, s2, s3]) {
      await tree.addBlock(b)
      await votes.onBlock(b)
    }
    for (const b of [b2, b3]) await tree.addBlock(b)
    expect(tree.head().hash).toEqual(blockHash(b3.header))
    expect(tree.finalHeight()).toBe(0)
    // v1's vote for B3' arrives: the quorum on a block off the canonical chain.
    expect(await votes.onVote(sig(s3, v1), 'v1')).toBe('accept')
    await votes.idle()
    expect(tree.head().hash).toEqual(blockHash(s3.header))
    expect(tree.finalHeight()).toBe(3)
    // The chain service gets the switch like any other: B2' and B3' canonical, B2 and B3 abandoned.
    expect(applied).toHaveLength(1)
    expect(applied[0].newCanonical.map(hex)).toEqual([hex(s2), hex(s3)])
    expect(applied[0].reorg).toMatchObject({ depth: 2 })
    expect(await registry.getSingleMetricAsString('profichain_votes_quorum_adopted_total')).toMatch(/ 1$/m)
    // A heavier block on the abandoned branch never takes the head back below the final block.
    await tree.addBlock(await seal(b3, v0))
    expect(tree.head().hash).toEqual(blockHash(s3.header))
    // Durable: the same head and final block after a reopen.
    await votes.stop()
    await tree.close()
    tree = await openTree('v0')
    expect(tree.head().hash).toEqual(blockHash(s3.header))
    expect(tree.finalHeight()).toBe(3)
    expect((await tree.audit()).mismatches).toEqual([])
  })

  /**
   * v0 sealed F3, then G3 (another branch, lower hash) became its head. Votes are locked by the quorum vote
   * rule: v0 neither seals nor co-signs above height 3 on G's branch until F3 is provably dead.
   */
  async function lockedOnF3() {
    const p1 = await seal(g0, v2)
    const p2 = await seal(p1, v3)
    const f3 = await seal(p2, v0)
    let g3 = await seal(p2, v1)
    for (let dt = 1_001; compareBytes(blockHash(g3.header), blockHash(f3.header)) > 0; dt++) g3 = await seal(p2, v1, dt)
    const tree = await openTree('v0')
    const rule = new VoteRule(genesis, tree)
    const registry = new Registry()
    const votes = createVotes({ genesis }, { store: tree, key: v0, publish: () => {}, applied: () => {}, rule, logger: silent, registry })
    for (const b of [p1, p2, f3]) {
      await tree.addBlock(b)
      await votes.onBlock(b)
    }
    await tree.addBlock(g3)
    expect(tree.head().hash).toEqual(blockHash(g3.header))
    // v0 is in turn at height 4 on G3: without the rule it could seal G4 at once.
    const guarded = guardSealing(consensus, tree, rule)
    const at = g3.header.timestamp + 1000
    expect(await guardSealing(consensus, tree).producerDelay(g3.header, v0.publicKey, tree.chain, at)).toBe(0)
    expect(await guarded.producerDelay(g3.header, v0.publicKey, tree.chain, at)).toBeNull()
    const g4 = await seal(g3, v0)
    await expect(guarded.seal(g4, g3.header, v0, tree.chain)).rejects.toMatchObject({ code: 'ERR_VOTE_GUARD' })
    // It does not co-sign above F3 on G either (a G4 by another validator), however long it waits.
    const g4b = await seal(g3, v2)
    await tree.addBlock(g4b)
    await votes.onBlock(g4b)
    await votes.idle()
    expect(await registry.getSingleMetricAsString('profichain_votes_locked_total')).toMatch(/ 1$/m)
    expect(await registry.getSingleMetricAsString('profichain_votes_lock_height')).toMatch(/ 3$/m)
    expect(await registry.getSingleMetricAsString('profichain_votes_lock_missing')).toMatch(/ 1$/m)
    expect(await tree.ownVote(4)).toBeUndefined()
    return { p2, f3, g3, g4b, tree, rule, votes, registry, guarded }
  }

  it('vote rule: a validator that sealed F3 does not seal or co-sign above it on a branch without it; F3\'s quorum then brings its branch', async () => {
    // In the test's network v0 sealed F3, then (F3's votes not yet in) sealed G4 on the other branch; F3 and
    // G4 both got a quorum: two conflicting final blocks. With the rule v0 waits, F3's votes arrive, F3's
    // branch is adopted.
    const { f3, tree, rule, votes } = await lockedOnF3()
    // The start-up courtesy wait: a fresh producer waits before its first seal, then seals (rule permitting).
    const t0 = f3.header.timestamp + 1000
    const plain = await guardSealing(consensus, tree, rule).producerDelay(f3.header, v0.publicKey, tree.chain, t0)
    expect(plain).not.toBeNull()
    const fresh = guardSealing(consensus, tree, rule, 60_000)
    expect(await fresh.producerDelay(f3.header, v0.publicKey, tree.chain, t0)).toBe(Math.max(plain as number, 60_000))
    for (const k of [v2, v3]) await votes.onVote(sig(f3, k), 'x')
    await votes.idle()
    expect(tree.head().hash).toEqual(blockHash(f3.header))
    expect(tree.finalHeight()).toBe(3)
    // On F3's branch v0 may seal height 4 (the rule; the turn is the consensus's business).
    expect(await rule.check({ height: 4 }, blockHash(f3.header))).toEqual({ ok: true })
  })

  it('vote rule: dead-proof votes unlock a validator; its persisted votes keep it locked across a restart until then', async () => {
    const { f3, g3, g4b, rule } = await lockedOnF3()
    // A restart: a new rule on the reopened store starts from the persisted own votes and is still locked.
    await trees[0].close()
    trees.splice(0)
    const tree = await openTree('v0')
    expect(tree.head().hash).toEqual(blockHash(g4b.header))
    const fresh = new VoteRule(genesis, tree)
    expect(await fresh.check({ height: 4, hash: blockHash(g4b.header) }, blockHash(g3.header))).toMatchObject({ ok: false, reason: 'locked', height: 3, missing: 1 })
    void rule
    const registry = new Registry()
    const votes = createVotes({ genesis }, { store: tree, key: v0, publish: () => {}, applied: () => {}, rule: fresh, logger: silent, registry })
    // F3's own co-signers are no proof (v0 itself): still locked. v2's vote for G3 is: with v1's seal, two
    // validators (> n − k = 1) signed another block at 3 — F3 can never reach 3 of 4.
    await votes.onVote(sig(f3, v0), 'x')
    await votes.idle()
    expect(await tree.ownVote(4)).toBeUndefined()
    expect(await votes.onVote(sig(g3, v2), 'x')).toBe('accept')
    await votes.idle()
    // The late vote: v0 co-signs G4 now, and may seal on G's branch.
    expect(await tree.ownVote(4)).toEqual(blockHash(g4b.header))
    expect((await tree.getHeader(blockHash(g4b.header)))?.signatures.map((s) => toHex(s.signer))).toContain(toHex(v0.publicKey))
    expect(await fresh.check({ height: 5 }, blockHash(g4b.header))).toEqual({ ok: true })
    expect(await registry.getSingleMetricAsString('profichain_votes_lock_missing')).toMatch(/ 0$/m)
    expect(fresh.lock).toBeUndefined()
  })

  it('vote rule: the seal on a block off the chain counts as a dead-proof once the block is stored (chain stored event)', async () => {
    const { p2, g3, g4b, tree, rule, votes } = await lockedOnF3()
    // v2 had sealed its own H3 at height 3; it reaches v0 late, as a side block (G4 is longer).
    const h3 = await seal(p2, v2, signerLimitLiftMs(genesis)) // past the signer limit (v2 sealed P1)
    await tree.addBlock(h3)
    expect(tree.head().hash).toEqual(blockHash(g4b.header))
    // Stored, but its seal is not evidence until the votes subsystem records it: still locked.
    expect(await rule.check({ height: 4, hash: blockHash(g4b.header) }, blockHash(g3.header))).toMatchObject({ reason: 'locked' })
    await votes.onStored([blockHash(h3.header)])
    await votes.idle()
    // v1's seal on G3 and v2's on H3: two validators signed other blocks at 3. v0 co-signs G4 (late vote).
    expect(await tree.ownVote(4)).toEqual(blockHash(g4b.header))
  })

  it('vote rule: while finality stalls, a validator gossips its off-chain blocks again (their seals are others\' dead-proofs)', async () => {
    const { f3, g4b, tree, rule } = await lockedOnF3()
    const sent: string[] = []
    const votes = createVotes({ genesis }, { store: tree, key: v0, publish: () => {}, applied: () => {}, rule, republish: (b) => sent.push(hex(b)), logger: silent })
    votes.start()
    try {
      const deadline = Date.now() + 15_000
      while (!sent.includes(hex(f3)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      // F3 (sealed by v0, off the chain G3-G4) goes out again; canonical blocks never do (sync serves them).
      expect(sent).toContain(hex(f3))
      expect(sent).not.toContain(hex(g4b))
      expect(tree.finalHeight()).toBe(0)
    } finally {
      await votes.stop()
    }
  })

  it('a node that gets the quorum-signed block with its signatures (sync serves them) takes it as head', async () => {
    const b1 = await seal(g0, v1)
    const b2 = await seal(b1, v2)
    const b3 = await seal(b2, v3)
    const s2 = await seal(b1, v0)
    const s3 = await seal(s2, v2)
    // A node where B3' has its quorum serves B2' and B3' with their stored signatures.
    const server = await openTree('server')
    for (const b of [b1, s2, s3]) await server.addBlock(b)
    await server.addSignatures(blockHash(s3.header), [sig(s3, v0), sig(s3, v1)])
    expect(server.finalHeight()).toBe(3)
    const handlers = createSyncHandlers({ genesisHash: blockHash(g0) }, { store: server })
    const served = (await handlers.blocks(1, 3)).map((e) => decodeBlock(e))
    expect(served[2].header.signatures).toHaveLength(3)
    // v3's node, on the heavier B1-B2-B3: B2' and then B3' (lighter, but with the quorum) arrive.
    const tree = await openTree('v3')
    for (const b of [b1, b2, b3]) await tree.addBlock(b)
    await tree.addBlock(served[1])
    expect(tree.head().hash).toEqual(blockHash(b3.header))
    const r = await tree.addBlock(served[2])
    expect(r.reorg?.depth).toBe(2)
    expect(tree.head().hash).toEqual(blockHash(s3.header))
    expect(tree.finalHeight()).toBe(3)
  })

  it('after the heal, a block final on the other side reaches us through sync (signatures of known headers), and a head nobody may extend is extended after the lift delay', async () => {
    // Before the cut: P1 (v0), P2 (v2), P3 (v3). A4 (v0, in turn) was relayed to side B with v0's seal only.
    const p1 = await seal(g0, v0)
    const p2 = await seal(p1, v2)
    const p3 = await seal(p2, v3)
    const a4 = await seal(p3, v0)
    // One side made A4 final (v1's and v2's votes); the other node never got those votes and follows a second
    // branch B4 (v1), B5 (v2): equal work, longer, so its head.
    const server = await openTree('side-a')
    for (const b of [p1, p2, p3, a4]) await server.addBlock(b)
    await server.addSignatures(blockHash(a4.header), [sig(a4, v1), sig(a4, v2)])
    expect(server.finalHeight()).toBe(4)
    const b4 = await seal(p3, v1)
    const b5 = await seal(b4, v2)
    const tree = await openTree('side-b')
    for (const b of [p1, p2, p3, a4, b4, b5]) await tree.addBlock(b)
    expect(tree.head().hash).toEqual(blockHash(b5.header))
    expect(tree.finalHeight()).toBe(0)
    // Side A refuses B's branch (it forks below A's final block); B has A4 already, so block sync fetches
    // nothing: only A4's signatures can bring B over. The sync client asks for them.
    const handlers = createSyncHandlers({ genesisHash: blockHash(g0) }, { store: server })
    const asked: SyncKind[] = []
    const net: SyncNet = {
      peers: () => [{ peerId: 'side-a' }],
      request: async <K extends SyncKind>(_peer: string, req: SyncRequestOf<K>): Promise<SyncResponses[K]> => {
        asked.push(req.kind)
        const r = req as SyncRequestOf<SyncKind>
        if (r.kind === 'status') return (await handlers.status()) as SyncResponses[K]
        if (r.kind === 'headers') return (await handlers.headers(r.from, r.count)).map((h) => decodeHeader(h)) as SyncResponses[K]
        throw new Error(`unexpected ${r.kind}`)
      },
    }
    const applied: AddBlockResult[] = []
    const votes = createVotes({ genesis }, { store: tree, key: v3, publish: () => {}, applied: (r) => applied.push(r), logger: silent })
    const sync = createSync({ genesisHash: blockHash(g0) }, { net, store: tree, chain: { addBlock: async () => ({ status: 'known' }) }, votes, logger: silent })
    await sync.sync()
    expect(asked).toEqual(['status', 'headers'])
    expect(tree.head().hash).toEqual(blockHash(a4.header))
    expect(tree.finalHeight()).toBe(4)
    expect(applied.map((r) => r.reorg?.depth)).toEqual([2])
    // On A4 height 5 needs v1 or v2 (v0 and v3 sealed A4 and P3): say both co-signed a block at 5 on side B.
    // v0 (signer limit) may seal once A4 is signerLimitLiftMs old, and such a block is valid; an earlier one not.
    const guarded = guardSealing(consensus, server)
    const lift = signerLimitLiftMs(genesis)
    expect(await consensus.producerDelay(a4.header, v0.publicKey, server.chain, a4.header.timestamp)).toBeNull()
    expect(await guarded.producerDelay(a4.header, v0.publicKey, server.chain, a4.header.timestamp + 1000)).toBe(lift - 1000)
    expect(await guarded.producerDelay(a4.header, v0.publicKey, server.chain, a4.header.timestamp + lift)).toBe(0)
    await expect(seal(a4, v0, lift - 1)).rejects.toMatchObject({ code: 'ERR_PRODUCER_RECENT' })
    const late = await seal(a4, v0, lift)
    await tree.addBlock(late)
    expect(tree.head().hash).toEqual(blockHash(late.header))
    // Not under authority: the signer limit there has no lift (unchanged rules).
    const auth = createConsensus({ ...genesis, consensus: { type: 'authority', backoffMs: 500 } })
    await expect(auth.validateHeader({ ...late.header, signatures: late.header.signatures.slice(0, 1) }, a4.header, server.chain)).rejects.toMatchObject({ code: 'ERR_PRODUCER_RECENT' })
  })
})
