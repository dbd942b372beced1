import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Consensus, Genesis } from '@profichain/consensus'
import {
  type Block,
  type BlockHeader,
  blockHash,
  createBlock,
  decodeBlock,
  decodeHeader,
  generateKeyPair,
  type KeyPair,
  signHeader,
  signVote,
  toHex,
  type Vote,
} from '@profichain/core'
import { type BlockTree, createBlockTree, genesisBlockOf } from '@profichain/store'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSyncHandlers } from '../src/sync/index.js'
import { createVotes, guardSealing } from '../src/votes/index.js'
import { quorumGenesis, silent } from './fakes.js'

const NET = 'votenet'
const keys = Array.from({ length: 4 }, () => generateKeyPair())
const [v0, v1, v2, v3] = keys
const genesis: Genesis = quorumGenesis(NET, keys)
/** Quorum finality by signature count (the store keeps only validators' valid signatures); no production rules. */
const consensus: Consensus = {
  type: 'quorum',
  genesis,
  seal: async (b: Block) => b,
  validateHeader: async () => {},
  work: (h: BlockHeader) => BigInt(h.difficulty + 1),
  producerDelay: async () => 0,
  isFinal: (h: BlockHeader) => h.signatures.length >= 3,
}

function blockOn(parent: BlockHeader, producer: KeyPair, difficulty = 0): Block {
  const b = createBlock({
    network: NET,
    height: parent.height + 1,
    timestamp: parent.timestamp + 1000,
    prevHash: blockHash(parent),
    producer: producer.publicKey,
    difficulty,
    txs: [],
  })
  b.header.signatures.push(signHeader(b.header, producer))
  return b
}

let dir: string
let tree: BlockTree
const open = () => createBlockTree({ path: join(dir, 'db'), genesis, consensus })
const g0 = genesisBlockOf(genesis).header

function votesOf(key: KeyPair, registry = new Registry()) {
  const published: Vote[] = []
  const votes = createVotes({ genesis }, { store: tree, key, publish: (v) => published.push(v), logger: silent, registry })
  return { votes, published, registry }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pc-votes-'))
  tree = await open()
})
afterEach(async () => {
  await tree.close()
  await rm(dir, { recursive: true, force: true })
})

describe('votes subsystem', () => {
  it('co-signs a canonical block once per height, persisted before publishing, across a reopen', async () => {
    const { votes, published, registry } = votesOf(v1)
    expect(votes.voting).toBe(true)
    const a = blockOn(g0, v0)
    await tree.addBlock(a)
    await votes.onBlock(a)
    expect(published).toHaveLength(1)
    expect(toHex(published[0].blockHash)).toBe(toHex(blockHash(a.header)))
    expect(toHex((await tree.ownVote(1)) as Uint8Array)).toBe(toHex(blockHash(a.header)))
    expect((await tree.getHeader(blockHash(a.header)))?.signatures).toHaveLength(2)
    // Another block at height 1 (heavier fork): canonical now, but this node already co-signed height 1.
    const b = blockOn(g0, v2, 3)
    await tree.addBlock(b)
    await votes.onBlock(b)
    expect(published).toHaveLength(1)
    expect(await registry.getSingleMetricAsString('profichain_votes_guard_refused_total')).toMatch(/ 1$/m)
    // Across a restart: still refused.
    await votes.stop()
    await tree.close()
    tree = await open()
    const again = votesOf(v1)
    await again.votes.onBlock(b)
    expect(again.published).toHaveLength(0)
    expect((await tree.getHeader(blockHash(b.header)))?.signatures).toHaveLength(1)
  })

  it('keeps votes for unknown blocks pending and applies them when the block arrives; finality follows', async () => {
    const { votes } = votesOf(v3)
    const finals: number[] = []
    votes.on('final', (f) => finals.push(f.height))
    const a = blockOn(g0, v0)
    const h = blockHash(a.header)
    expect(await votes.onVote(signVote(NET, 1, h, v1), 'p1')).toBe('accept')
    expect(await votes.onVote(signVote(NET, 1, h, v2), 'p2')).toBe('accept')
    expect(votes.pending().votes).toBe(2)
    expect(tree.finalHeight()).toBe(0)
    await tree.addBlock(a)
    await votes.onBlock(a)
    expect(votes.pending()).toEqual({ votes: 0, bytes: 0 })
    // Producer + v1 + v2 (+ v3's own vote) ≥ 3: final.
    expect(tree.finalHeight()).toBe(1)
    expect(finals).toEqual([1])
    expect((await tree.getHeader(h))?.signatures.length).toBe(4)
    // Sync serves the co-signatures: headers and blocks come from the stored header.
    const handlers = createSyncHandlers({ genesisHash: blockHash(g0) }, { store: tree })
    const [served] = await handlers.headers(1, 1)
    expect(decodeHeader(served).signatures).toHaveLength(4)
    const [servedBlock] = await handlers.blocks(1, 1)
    expect(decodeBlock(servedBlock).header.signatures).toHaveLength(4)
    // A heavier branch from genesis would drop the final block: refused.
    const f1 = blockOn(g0, v2, 5)
    await tree.addBlock(f1)
    await tree.addBlock(blockOn(f1.header, v3, 5))
    expect(toHex(tree.head().hash)).toBe(toHex(h))
  })

  it('bounds the pending pool by count', async () => {
    const votes = createVotes({ genesis, maxPending: 2 }, { store: tree, key: v3, logger: silent })
    for (let i = 0; i < 3; i++) await votes.onVote(signVote(NET, 1, new Uint8Array(32).fill(i + 1), v1))
    expect(votes.pending().votes).toBe(2)
  })

  it('catches an equivocating validator: evidence kept, metric, its later votes ignored', async () => {
    const { votes, registry } = votesOf(v3)
    const evidence: string[] = []
    votes.on('equivocation', (e) => evidence.push(e.signer))
    const a = blockOn(g0, v0)
    const b = blockOn(g0, v1, 1)
    await tree.addBlock(a)
    await tree.addBlock(b)
    expect(await votes.onVote(signVote(NET, 1, blockHash(a.header), v2))).toBe('accept')
    expect(await votes.onVote(signVote(NET, 1, blockHash(b.header), v2))).toBe('accept')
    expect(evidence).toEqual([toHex(v2.publicKey)])
    expect(await registry.getSingleMetricAsString('profichain_votes_equivocations_total')).toMatch(/ 1$/m)
    const stored = await tree.evidence()
    expect(stored.map((e) => [e.signer, e.height])).toEqual([[toHex(v2.publicKey), 1]])
    const c = blockOn(a.header, v0)
    await tree.addBlock(c)
    expect(await votes.onVote(signVote(NET, 2, blockHash(c.header), v2))).toBe('ignore')
    expect((await tree.getHeader(blockHash(c.header)))?.signatures).toHaveLength(1)
  })

  it('applies a pending vote for a side-branch block once the chain passes its height (equivocation caught)', async () => {
    const { votes } = votesOf(v3)
    const a = blockOn(g0, v0, 2)
    const side = blockOn(g0, v1)
    await tree.addBlock(a)
    expect(await votes.onVote(signVote(NET, 1, blockHash(a.header), v2))).toBe('accept')
    expect(await votes.onVote(signVote(NET, 1, blockHash(side.header), v2))).toBe('accept')
    expect(votes.pending().votes).toBe(1)
    await tree.addBlock(side)
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(a.header)))
    const c = blockOn(a.header, v0)
    await tree.addBlock(c)
    await votes.onBlock(c)
    expect(votes.pending().votes).toBe(0)
    expect((await tree.evidence()).map((e) => e.signer)).toEqual([toHex(v2.publicKey)])
  })

  it('rejects forged, non-validator and relabelled votes', async () => {
    const { votes } = votesOf(v3)
    const a = blockOn(g0, v0)
    const h = blockHash(a.header)
    await tree.addBlock(a)
    const forged = { ...signVote(NET, 1, h, v1), signature: signVote(NET, 1, new Uint8Array(32), v1).signature }
    expect(await votes.onVote(forged)).toBe('reject')
    expect(await votes.onVote(signVote(NET, 1, h, generateKeyPair()))).toBe('reject')
    expect(await votes.onVote(signVote(NET, 2, h, v1))).toBe('reject')
    expect((await tree.getHeader(h))?.signatures).toHaveLength(1)
    expect(await tree.evidence()).toEqual([])
  })
})

describe('guardSealing (producers obey the vote guard)', () => {
  it('does not produce where this validator co-signed another block; guards the sealed hash before it leaves', async () => {
    const guarded = guardSealing(consensus, tree)
    const ctx = tree.chain
    expect(await guarded.producerDelay(g0, v0.publicKey, ctx, Date.now())).toBe(0)
    await tree.guardVote(1, new Uint8Array(32).fill(9))
    expect(await guarded.producerDelay(g0, v0.publicKey, ctx, Date.now())).toBeNull()
    const a = blockOn(g0, v0)
    const b2 = blockOn(a.header, v0)
    const sealed = await guarded.seal(b2, a.header, v0, ctx)
    expect(toHex((await tree.ownVote(2)) as Uint8Array)).toBe(toHex(blockHash(sealed.header)))
    const other = blockOn(a.header, v0, 1)
    await expect(guarded.seal(other, a.header, v0, ctx)).rejects.toMatchObject({ code: 'ERR_VOTE_GUARD' })
    // Other consensus types are returned as they are.
    expect(guardSealing({ ...consensus, type: 'authority' }, tree).seal).toBe(consensus.seal)
  })
})
