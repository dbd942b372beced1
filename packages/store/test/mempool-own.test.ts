import { txIdHex } from '@profichain/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BlockTree } from '../src/index.js'
import { child, makeTx, openTree, payloadsOf, tempDir } from './helpers.js'

// Own records reach the mempool from the outbox (checked and synced there): the mempool keeps them in memory
// only, and the node's requeue at start puts them back after a restart.
const OWN = { checked: true, durableElsewhere: true } as const

describe('mempool: own records durable in the outbox', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let tree: BlockTree
  beforeEach(async () => {
    dir = await tempDir()
    tree = await openTree(dir.path)
  })
  afterEach(async () => {
    await tree.close()
    await dir.cleanup()
  })

  it('are pending in memory only, come back from the outbox after a reopen, and leave with their block', async () => {
    const own = [makeTx(), makeTx(), makeTx()]
    await tree.outbox.addMany(own.map((tx) => ({ tx })))
    expect(await tree.mempool.add(own, OWN)).toBe(3)
    const gossiped = makeTx()
    expect(await tree.mempool.add([gossiped])).toBe(1)
    expect(tree.mempool.size()).toBe(4)
    expect(await tree.mempool.add(own, OWN)).toBe(0)

    await tree.close()
    tree = await openTree(dir.path)
    // Only the gossiped tx was written to the mempool bucket; the outbox still has the own records.
    expect(tree.mempool.size()).toBe(1)
    const back = await tree.outbox.uncommitted()
    expect(back.map(txIdHex).sort()).toEqual(own.map(txIdHex).sort())
    expect(await tree.mempool.add(back, OWN)).toBe(3)

    const pending = await tree.mempool.select(1 << 20)
    expect(pending).toHaveLength(4)
    const r = await tree.addBlock(child(tree.head().header, { txs: pending }), { payloads: payloadsOf(pending), signaturesChecked: true })
    expect(r.status).toBe('added')
    expect(tree.mempool.size()).toBe(0)
    for (const tx of pending) expect(await tree.getPayload(txIdHex(tx))).toEqual(tx.payload)

    await tree.close()
    tree = await openTree(dir.path)
    expect(tree.mempool.size()).toBe(0)
    expect((await tree.stats()).payloads).toBe(4)
  })

  it('evicting own records removes them although nothing was written for them', async () => {
    const own = [makeTx(), makeTx()]
    await tree.outbox.addMany(own.map((tx) => ({ tx })))
    await tree.mempool.add(own, OWN)
    const gossiped = makeTx()
    await tree.mempool.add([gossiped])
    await tree.mempool.evict([txIdHex(own[0])])
    expect(tree.mempool.has(txIdHex(own[0]))).toBe(false)
    expect(tree.mempool.size()).toBe(2)
    await tree.mempool.evict([txIdHex(own[1]), txIdHex(gossiped)])
    expect(tree.mempool.size()).toBe(0)
    await tree.close()
    tree = await openTree(dir.path)
    expect(tree.mempool.size()).toBe(0)
  })

  it('payloads handed with a block are checked unless they are the mempool own bytes', async () => {
    const [a, b, c] = [makeTx(), makeTx(), makeTx()]
    await tree.mempool.add([a, b, c])
    const payloads = new Map([
      [txIdHex(a), a.payload], // the mempool's own object: trusted
      [txIdHex(b), new Uint8Array(b.payload)], // a copy with the right bytes: hashed, kept
      [txIdHex(c), new Uint8Array(c.payload.byteLength).fill(1)], // wrong bytes: hashed, refused
    ])
    await tree.addBlock(child(tree.head().header, { txs: [a, b, c] }), { payloads, signaturesChecked: true })
    expect(await tree.getPayload(txIdHex(a))).toEqual(a.payload)
    expect(await tree.getPayload(txIdHex(b))).toEqual(b.payload)
    expect(await tree.getPayload(txIdHex(c))).toBeUndefined()
  })

  it('without `checked` a tx whose payload does not match its hash is refused', async () => {
    const tx = makeTx()
    const bad = { ...tx, payload: new Uint8Array(tx.payload.byteLength).fill(9) }
    await expect(tree.mempool.add([bad])).rejects.toMatchObject({ code: 'ERR_TX_PAYLOAD_HASH' })
    expect(tree.mempool.size()).toBe(0)
  })
})
