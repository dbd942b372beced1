import type { Consensus, Genesis } from '@profichain/consensus'
import { blockHash, decodeHeader, fromHex, type NativeReceipt, signHeader, signVote, toHex, txIdHex } from '@profichain/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BlockTree } from '../src/index.js'
import { child, makeGenesis, makeTx, NETWORK, openTree, producer, seedKey, tempDir, testConsensus } from './helpers.js'

// Four validators (the test producer and three more), threshold 3: the test consensus counts signatures,
// typed 'quorum' so the store keeps only validators' signatures.
const validators = [producer, seedKey(11), seedKey(12), seedKey(13)]
const stranger = seedKey(99)

function quorumGenesis(): Genesis {
  const g = makeGenesis()
  return {
    ...g,
    members: [...g.members, ...validators.slice(1).map((k, i) => ({ name: `v${i}`, publicKey: toHex(k.publicKey), roles: ['validator' as const] }))],
    validators: validators.map((k) => toHex(k.publicKey)),
  }
}

function quorumConsensus(genesis: Genesis): Consensus {
  return { ...testConsensus(genesis, 3), type: 'quorum' }
}

let dir: Awaited<ReturnType<typeof tempDir>>
let tree: BlockTree
const genesis = quorumGenesis()
const open = () => openTree(dir.path, { genesis, consensus: quorumConsensus(genesis) })

beforeEach(async () => {
  dir = await tempDir()
  tree = await open()
})
afterEach(async () => {
  await tree.close()
  await dir.cleanup()
})

describe('vote guard', () => {
  it('never allows two different blocks at one height, across a reopen', async () => {
    const a = new Uint8Array(32).fill(1)
    const b = new Uint8Array(32).fill(2)
    expect(await tree.guardVote(5, a)).toBe(true)
    expect(await tree.guardVote(5, a)).toBe(true)
    expect(await tree.guardVote(5, b)).toBe(false)
    await tree.close()
    tree = await open()
    expect(await tree.ownVote(5)).toEqual(a)
    expect(await tree.guardVote(5, b)).toBe(false)
    expect(await tree.guardVote(5, a)).toBe(true)
    expect(await tree.guardVote(6, b)).toBe(true)
  })
})

describe('the quorum vote rule\'s reads', () => {
  it('ownVotesAbove lists the persisted own votes above a height, lowest first, across a reopen', async () => {
    const h = (n: number) => new Uint8Array(32).fill(n)
    for (const n of [7, 3, 5, 300]) expect(await tree.guardVote(n, h(n))).toBe(true)
    await tree.close()
    tree = await open()
    expect(await tree.ownVotesAbove(3)).toEqual([
      { height: 5, hash: h(5) },
      { height: 7, hash: h(7) },
      { height: 300, hash: h(300) },
    ])
    expect(await tree.ownVotesAbove(300)).toEqual([])
  })

  it('votesAt gives the first recorded vote of each asked validator at that height only', async () => {
    const a = signVote(NETWORK, 4, new Uint8Array(32).fill(1), validators[1])
    const b = signVote(NETWORK, 4, new Uint8Array(32).fill(2), validators[2])
    const other = signVote(NETWORK, 5, new Uint8Array(32).fill(3), validators[1])
    for (const v of [a, b, other]) await tree.recordVote(v)
    const got = await tree.votesAt(4, validators.map((k) => k.publicKey))
    expect(got.map((v) => [toHex(v.signer), v.height, toHex(v.blockHash)])).toEqual(
      [a, b].map((v) => [toHex(v.signer), 4, toHex(v.blockHash)]),
    )
    expect(await tree.votesAt(4, [validators[3].publicKey])).toEqual([])
  })
})

describe('equivocation', () => {
  it('keeps both votes as durable evidence and ignores the validator from then on', async () => {
    const v = validators[2]
    const a = signVote(NETWORK, 3, new Uint8Array(32).fill(1), v)
    const b = signVote(NETWORK, 3, new Uint8Array(32).fill(2), v)
    expect(await tree.recordVote(a)).toEqual({ status: 'new' })
    expect(await tree.recordVote(a)).toEqual({ status: 'duplicate' })
    const r = await tree.recordVote(b)
    expect(r.status).toBe('equivocation')
    expect(tree.isEquivocator(v.publicKey)).toBe(true)
    expect(await tree.recordVote(signVote(NETWORK, 4, new Uint8Array(32).fill(3), v))).toEqual({ status: 'ignored' })
    // Another validator is unaffected.
    expect(await tree.recordVote(signVote(NETWORK, 3, new Uint8Array(32).fill(2), validators[1]))).toEqual({ status: 'new' })
    await tree.close()
    tree = await open()
    expect(tree.isEquivocator(toHex(v.publicKey))).toBe(true)
    const ev = await tree.evidence()
    expect(ev).toHaveLength(1)
    expect(ev[0]).toMatchObject({ signer: toHex(v.publicKey), height: 3 })
    expect(ev[0].votes.map((x) => toHex(x.blockHash))).toEqual([toHex(a.blockHash), toHex(b.blockHash)])
    const report = await tree.audit()
    expect(report.mismatches).toEqual([])
    expect(report.evidence).toEqual([
      { signer: toHex(v.publicKey), height: 3, blockHashes: [toHex(a.blockHash), toHex(b.blockHash)] },
    ])
  })
})

describe('co-signatures and finality', () => {
  it('adds validator signatures to the stored header, becomes final at the threshold, refuses a reorg below it', async () => {
    const g = tree.head().header
    const b1 = child(g)
    await tree.addBlock(b1)
    const h1 = blockHash(b1.header)
    expect(await tree.addSignatures(new Uint8Array(32), [signHeader(b1.header, validators[1])])).toBeUndefined()
    // A stranger's signature is not kept; a forged one (signature of another block) neither.
    const forged = { signer: validators[2].publicKey, signature: signHeader(g, validators[2]).signature }
    const r0 = await tree.addSignatures(h1, [signHeader(b1.header, stranger), forged])
    expect(r0).toMatchObject({ added: 0, signatures: 1, becameFinal: false, finalHeight: 0 })
    const r1 = await tree.addSignatures(h1, [signHeader(b1.header, validators[1])])
    expect(r1).toMatchObject({ added: 1, signatures: 2, becameFinal: false, finalHeight: 0 })
    const r2 = await tree.addSignatures(h1, [signHeader(b1.header, validators[1]), signHeader(b1.header, validators[2])])
    expect(r2).toMatchObject({ added: 1, signatures: 3, becameFinal: true, finalHeight: 1 })
    expect(toHex(r2?.finalHash as Uint8Array)).toBe(toHex(h1))
    expect(tree.finalHeight()).toBe(1)
    expect((await tree.getHeaderByHeight(1))?.signatures).toHaveLength(3)
    // A heavier branch from genesis would drop the final block: stored, never canonical.
    const f1 = child(g, { difficulty: 5 })
    const f2 = child(f1.header, { difficulty: 5 })
    await tree.addBlock(f1)
    await tree.addBlock(f2)
    expect(toHex(tree.head().hash)).toBe(toHex(h1))
    // Finality survives a reopen.
    await tree.close()
    tree = await open()
    expect(tree.finalHeight()).toBe(1)
    expect(toHex(tree.finalHash())).toBe(toHex(h1))
  })

  it('a native receipt carries the signatures votes added after an earlier receipt of the same block', async () => {
    const g = tree.head().header
    const tx = makeTx('voted later')
    const b1 = child(g, { txs: [tx] })
    await tree.addBlock(b1)
    const id = txIdHex(tx)
    const first = (await tree.receipt(id, 'native', 'http://node')) as NativeReceipt | undefined
    expect(decodeHeader(fromHex(first?.header ?? '')).signatures).toHaveLength(1)
    await tree.addSignatures(blockHash(b1.header), [signHeader(b1.header, validators[1]), signHeader(b1.header, validators[2])])
    const again = (await tree.receipt(id, 'native', 'http://node')) as NativeReceipt
    expect(decodeHeader(fromHex(again.header)).signatures).toHaveLength(3)
  })
})
