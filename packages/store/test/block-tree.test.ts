import { blockHash, evaluateChainpoint, toHex, txIdHex, verifyNativeReceipt } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { StoreError } from '../src/index.js'
import {
  child,
  makeGenesis,
  makeTx,
  openTree,
  payloadsOf,
  producer,
  seedKey,
  testConsensus,
  useTree,
} from './helpers.js'

const t = useTree()

describe('BlockTree basics', () => {
  it('starts at genesis and extends the canonical chain with lookups by hash, height, txId and payload hash', async () => {
    const g = t.tree.head()
    expect(g.height).toBe(0)
    const txs = [makeTx('a'), makeTx('b'), makeTx('a')]
    const b1 = child(g.header, { txs })
    const r = await t.tree.addBlock(b1, { payloads: payloadsOf(txs) })
    expect(r.status).toBe('added')
    expect(r.newCanonical.map((b) => b.header.height)).toEqual([1])
    expect(t.tree.head().height).toBe(1)
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(b1.header)))
    expect(toHex((await t.tree.getHashAtHeight(1)) as Uint8Array)).toBe(toHex(blockHash(b1.header)))
    expect((await t.tree.getBlockByHeight(1))?.txs.length).toBe(3)
    const loc = await t.tree.getTx(txIdHex(txs[1]))
    expect(loc?.height).toBe(1)
    expect(loc?.index).toBe(1)
    expect(await t.tree.getPayload(txIdHex(txs[1]))).toEqual(txs[1].payload)
    const same = await t.tree.txIdsByPayloadHash(txs[0].body.payloadHash)
    expect(same.sort()).toEqual([txIdHex(txs[0]), txIdHex(txs[2])].sort())
    const hs = []
    for await (const h of t.tree.headers(0, 5)) hs.push(h.height)
    expect(hs).toEqual([0, 1])
    const st = await t.tree.stats()
    expect(st).toMatchObject({ blocks: 2, txs: 3, payloads: 3, headHeight: 1 })
  })

  it('reports duplicates, keeps orphans and links them when the parent arrives', async () => {
    const g = t.tree.head().header
    const b1 = child(g, { txs: [makeTx()] })
    const b2 = child(b1.header, { txs: [makeTx()] })
    const b3 = child(b2.header)
    expect((await t.tree.addBlock(b3)).status).toBe('orphan')
    expect((await t.tree.addBlock(b2)).status).toBe('orphan')
    expect((await t.tree.addBlock(b2)).status).toBe('duplicate')
    const r = await t.tree.addBlock(b1)
    expect(r.status).toBe('added')
    expect(r.connected.map(toHex)).toEqual([b1, b2, b3].map((b) => toHex(blockHash(b.header))))
    expect(r.newCanonical.map((b) => b.header.height)).toEqual([1, 2, 3])
    expect(t.tree.head().height).toBe(3)
    expect((await t.tree.addBlock(b1)).status).toBe('duplicate')
  })

  it('bounds the orphan pool', async () => {
    await t.tree.close()
    t.tree = await openTree(t.dir.path, { maxOrphans: 2 })
    let parent = t.tree.head().header
    const chain = []
    for (let i = 0; i < 5; i++) {
      const b = child(parent)
      chain.push(b)
      parent = b.header
    }
    for (const b of chain.slice(1)) await t.tree.addBlock(b)
    expect((await t.tree.stats()).orphans).toBe(2)
    await t.tree.addBlock(chain[0])
    expect(t.tree.head().height).toBe(1)
  })

  it('rejects invalid blocks with the validation or consensus error, untouched', async () => {
    const g = t.tree.head().header
    const bad = child(g, { txs: [makeTx()] })
    bad.header.merkleRoot = new Uint8Array(32)
    await expect(t.tree.addBlock(bad)).rejects.toMatchObject({ name: 'ValidationError' })
    await expect(t.tree.addBlock(child(g, { nonce: 666 }))).rejects.toMatchObject({ code: 'ERR_HEADER_NONCE' })
    expect(t.tree.head().height).toBe(0)
    expect((await t.tree.stats()).blocks).toBe(1)
  })

  it('rejects a tx replayed from an ancestor block', async () => {
    const tx = makeTx()
    const b1 = child(t.tree.head().header, { txs: [tx] })
    await t.tree.addBlock(b1)
    await expect(t.tree.addBlock(child(b1.header, { txs: [tx] }))).rejects.toMatchObject({
      code: 'ERR_BLOCK_TX_REPLAY',
    })
  })

  it('chooses the fork with most work, then the lowest hash, and reorgs the tx index', async () => {
    const g = t.tree.head().header
    const shared = makeTx('shared')
    const aTx = makeTx('a1')
    const a2Tx = makeTx('a2')
    const a1 = child(g, { txs: [aTx, shared] })
    const a2 = child(a1.header, { txs: [a2Tx] })
    await t.tree.addBlock(a1, {
      payloads: new Map(a1.txs.map((t, i) => [txIdHex(t), [aTx, shared][i].payload])),
    })
    await t.tree.addBlock(a2, { payloads: payloadsOf([a2Tx]) })
    expect(t.tree.head().height).toBe(2)
    const bOnly = makeTx('b1')
    const b1 = child(g, { txs: [bOnly, shared], difficulty: 5 })
    const r = await t.tree.addBlock(b1)
    expect(r.reorg?.depth).toBe(2)
    expect(t.tree.head().height).toBe(1)
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(b1.header)))
    expect(await t.tree.getHashAtHeight(2)).toBeUndefined()
    expect(await t.tree.getTx(txIdHex(a1.txs[0]))).toBeUndefined()
    expect((await t.tree.getTx(txIdHex(shared)))?.blockHash).toEqual(blockHash(b1.header))
    expect((await t.tree.getTx(txIdHex(bOnly)))?.index).toBe(0)
    expect(r.reorg?.removedTxIds.sort()).toEqual([txIdHex(a1.txs[0]), txIdHex(a2.txs[0])].sort())
    expect(r.reorg?.addedTxIds).toEqual([txIdHex(bOnly)])
    // Txs that left the chain return to the mempool (their payloads were kept).
    expect(t.tree.mempool.size()).toBe(2)
    expect((await t.tree.stats()).txs).toBe(2)
    // Equal work: lowest hash wins.
    const c1 = child(g, { difficulty: 5, nonce: 1 })
    await t.tree.addBlock(c1)
    const lower = [blockHash(b1.header), blockHash(c1.header)].map(toHex).sort()[0]
    expect(toHex(t.tree.head().hash)).toBe(lower)
  })

  it('keeps its head across restarts', async () => {
    const b1 = child(t.tree.head().header)
    await t.tree.addBlock(b1)
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.head().height).toBe(1)
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(b1.header)))
  })

  it('refuses a DB of another network with ERR_STORE_NETWORK', async () => {
    await t.tree.close()
    const other = makeGenesis('other-net')
    await expect(
      openTree(t.dir.path, { genesis: other, consensus: testConsensus(other) }),
    ).rejects.toMatchObject({ code: 'ERR_STORE_NETWORK' })
    t.tree = await openTree(t.dir.path)
  })

  it('refuses a DB in use with ERR_STORE_LOCKED', async () => {
    const err = await openTree(t.dir.path).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect(err).toMatchObject({ code: 'ERR_STORE_LOCKED' })
    expect((err as Error).message).toMatch(/in use by another profichain process/)
  })

  it('builds receipts from the stored leaves', async () => {
    const txs = Array.from({ length: 7 }, (_, i) => makeTx(`r${i}`))
    const b1 = child(t.tree.head().header, { txs })
    await t.tree.addBlock(b1)
    const native = await t.tree.receipt(txIdHex(txs[5]), 'native', 'http://127.0.0.1:1')
    expect(native).toBeDefined()
    const v = verifyNativeReceipt(native as NonNullable<typeof native>, {
      payload: txs[5].payload,
      validators: [producer.publicKey],
    })
    expect(v.height).toBe(1)
    const cp = await t.tree.receipt(txIdHex(txs[2]), 'chainpoint', 'http://127.0.0.1:1')
    expect(evaluateChainpoint(cp as NonNullable<typeof cp>)[0].expected).toBe(toHex(blockHash(b1.header)))
  })

  it('merges later signatures and tracks quorum finality', async () => {
    await t.tree.close()
    const genesis = makeGenesis()
    t.tree = await openTree(t.dir.path, { consensus: testConsensus(genesis, 2) })
    const g = t.tree.head().header
    const b1 = child(g)
    await t.tree.addBlock(b1)
    expect(t.tree.finalHeight()).toBe(0)
    const signed = child(g, { cosigners: [seedKey(9)] })
    expect(toHex(blockHash(signed.header))).toBe(toHex(blockHash(b1.header)))
    expect((await t.tree.addBlock(signed)).status).toBe('duplicate')
    expect(t.tree.finalHeight()).toBe(1)
    expect((await t.tree.getHeader(blockHash(b1.header)))?.signatures.length).toBe(2)
  })
})

describe('retention', () => {
  it('keeps payloads per rules and always keeps stripped txs and leaves', async () => {
    await t.tree.close()
    t.tree = await openTree(t.dir.path, { retention: { mode: 'rules', rules: [{ metadata: { keep: 'yes' } }] } })
    const keep = makeTx('k', { keep: 'yes' })
    const drop = makeTx('d', { keep: 'no' })
    const b1 = child(t.tree.head().header, { txs: [keep, drop] })
    await t.tree.addBlock(b1, { payloads: payloadsOf([keep, drop]) })
    expect(await t.tree.hasPayload(txIdHex(keep))).toBe(true)
    expect(await t.tree.hasPayload(txIdHex(drop))).toBe(false)
    expect((await t.tree.getTx(txIdHex(drop)))?.tx.body.payloadHash).toEqual(drop.body.payloadHash)
    expect((await t.tree.leaves(blockHash(b1.header)))?.length).toBe(2)
    expect(await t.tree.receipt(txIdHex(drop), 'native', 'http://x')).toBeDefined()
    // An archive fetching the missed payload later: verified against the signed hash.
    await expect(t.tree.putPayload(txIdHex(drop), new Uint8Array([1]))).rejects.toMatchObject({
      code: 'ERR_TX_PAYLOAD_HASH',
    })
    await t.tree.putPayload(txIdHex(drop), drop.payload)
    expect(await t.tree.getPayload(txIdHex(drop))).toEqual(drop.payload)
  })

  it('mode none keeps no payloads; wrong payloads from peers are never stored', async () => {
    const tx = makeTx('x')
    const wrong = new Map([[txIdHex(tx), new Uint8Array([9, 9])]])
    await t.tree.addBlock(child(t.tree.head().header, { txs: [tx] }), { payloads: wrong })
    expect(await t.tree.hasPayload(txIdHex(tx))).toBe(false)
    await t.tree.close()
    t.tree = await openTree(t.dir.path, { retention: { mode: 'none' } })
    const t2 = makeTx('y')
    await t.tree.addBlock(child(t.tree.head().header, { txs: [t2] }), { payloads: payloadsOf([t2]) })
    expect(await t.tree.hasPayload(txIdHex(t2))).toBe(false)
  })
})

describe('outbox', () => {
  it('is durable, dedupes by txId and key, tracks seq and confirmations', async () => {
    const t1 = makeTx('o1')
    const t2 = makeTx('o2')
    expect(await t.tree.outbox.add(t1, { dedupeKey: 'file-1' })).toEqual({
      txId: txIdHex(t1),
      duplicate: false,
    })
    expect((await t.tree.outbox.add(t1)).duplicate).toBe(true)
    expect(await t.tree.outbox.add(t2, { dedupeKey: 'file-1' })).toEqual({ txId: txIdHex(t1), duplicate: true })
    const many = await t.tree.outbox.addMany([
      { tx: t2, dedupeKey: 'file-2' },
      { tx: t2, dedupeKey: 'file-3' },
    ])
    expect(many.map((m) => m.duplicate)).toEqual([false, true])
    expect(await t.tree.outbox.lookup('file-2')).toBe(txIdHex(t2))
    expect(await t.tree.outbox.nextSeq(t1.body.origin)).toBe(t2.body.seq + 1)
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(await t.tree.outbox.size()).toBe(2)
    expect((await t.tree.outbox.uncommitted()).map(txIdHex)).toEqual([txIdHex(t1), txIdHex(t2)])
    // t1 goes into a block; the payload comes from the outbox copy.
    const b1 = child(t.tree.head().header, { txs: [t1] })
    await t.tree.addBlock(b1)
    expect(await t.tree.getPayload(txIdHex(t1))).toEqual(t1.payload)
    expect((await t.tree.outbox.uncommitted()).map(txIdHex)).toEqual([txIdHex(t2)])
    expect((await t.tree.outbox.confirmed(1)).map((l) => l.txId)).toEqual([txIdHex(t1)])
    expect(await t.tree.outbox.confirmed(2)).toEqual([])
    await t.tree.addBlock(child(b1.header))
    expect((await t.tree.outbox.confirmed(2)).map((l) => l.height)).toEqual([1])
    await t.tree.outbox.ack([txIdHex(t1)])
    expect(await t.tree.outbox.size()).toBe(1)
    // The dedupe key outlives the ack: re-ingesting the same file is still a duplicate.
    expect((await t.tree.outbox.add(makeTx('again'), { dedupeKey: 'file-1' })).duplicate).toBe(true)
  })
})

describe('mempool', () => {
  it('persists, ignores pending and canonical txs, selects oldest first and drops included txs', async () => {
    const txs = [makeTx('m1'), makeTx('m2'), makeTx('m3')]
    expect(await t.tree.mempool.add(txs)).toBe(3)
    expect(await t.tree.mempool.add([txs[0]])).toBe(0)
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.mempool.size()).toBe(3)
    const sel = await t.tree.mempool.select(1_000_000, 2)
    expect(sel.map(txIdHex)).toEqual(txs.slice(0, 2).map(txIdHex))
    await t.tree.addBlock(child(t.tree.head().header, { txs: sel }))
    expect(t.tree.mempool.size()).toBe(1)
    expect(await t.tree.getPayload(txIdHex(txs[0]))).toEqual(txs[0].payload)
    expect(await t.tree.mempool.add([txs[0]])).toBe(0)
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.mempool.size()).toBe(1)
  })
})
