import { txIdHex } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { child, makeTx, openTree, payloadsOf, useTree } from './helpers.js'

// Own records reach the mempool from the outbox (checked and synced there): the mempool keeps them in memory
// only, and the node's requeue at start puts them back after a restart.
const OWN = { checked: true, durableElsewhere: true } as const

describe('mempool: own records durable in the outbox', () => {
  const t = useTree()

  it('are pending in memory only, come back from the outbox after a reopen, and leave with their block', async () => {
    const own = [makeTx(), makeTx(), makeTx()]
    await t.tree.outbox.addMany(own.map((tx) => ({ tx })))
    expect(await t.tree.mempool.add(own, OWN)).toBe(3)
    const gossiped = makeTx()
    expect(await t.tree.mempool.add([gossiped])).toBe(1)
    expect(t.tree.mempool.size()).toBe(4)
    expect(await t.tree.mempool.add(own, OWN)).toBe(0)

    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    // Only the gossiped tx was written to the mempool bucket; the outbox still has the own records.
    expect(t.tree.mempool.size()).toBe(1)
    const back = await t.tree.outbox.uncommitted()
    expect(back.map(txIdHex).sort()).toEqual(own.map(txIdHex).sort())
    expect(await t.tree.mempool.add(back, OWN)).toBe(3)

    const pending = await t.tree.mempool.select(1 << 20)
    expect(pending).toHaveLength(4)
    const r = await t.tree.addBlock(child(t.tree.head().header, { txs: pending }), { payloads: payloadsOf(pending), signaturesChecked: true })
    expect(r.status).toBe('added')
    expect(t.tree.mempool.size()).toBe(0)
    for (const tx of pending) expect(await t.tree.getPayload(txIdHex(tx))).toEqual(tx.payload)

    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.mempool.size()).toBe(0)
    expect((await t.tree.stats()).payloads).toBe(4)
  })

  it('evicting own records removes them although nothing was written for them', async () => {
    const own = [makeTx(), makeTx()]
    await t.tree.outbox.addMany(own.map((tx) => ({ tx })))
    await t.tree.mempool.add(own, OWN)
    const gossiped = makeTx()
    await t.tree.mempool.add([gossiped])
    await t.tree.mempool.evict([txIdHex(own[0])])
    expect(t.tree.mempool.has(txIdHex(own[0]))).toBe(false)
    expect(t.tree.mempool.size()).toBe(2)
    await t.tree.mempool.evict([txIdHex(own[1]), txIdHex(gossiped)])
    expect(t.tree.mempool.size()).toBe(0)
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(t.tree.mempool.size()).toBe(0)
  })

  it('payloads handed with a block are checked unless they are the mempool own bytes', async () => {
    const [a, b, c] = [makeTx(), makeTx(), makeTx()]
    await t.tree.mempool.add([a, b, c])
    const payloads = new Map([
      [txIdHex(a), a.payload], // the mempool's own object: trusted
      [txIdHex(b), new Uint8Array(b.payload)], // a copy with the right bytes: hashed, kept
      [txIdHex(c), new Uint8Array(c.payload.byteLength).fill(1)], // wrong bytes: hashed, refused
    ])
    await t.tree.addBlock(child(t.tree.head().header, { txs: [a, b, c] }), { payloads, signaturesChecked: true })
    expect(await t.tree.getPayload(txIdHex(a))).toEqual(a.payload)
    expect(await t.tree.getPayload(txIdHex(b))).toEqual(b.payload)
    expect(await t.tree.getPayload(txIdHex(c))).toBeUndefined()
  })

  it('without `checked` a tx whose payload does not match its hash is refused', async () => {
    const tx = makeTx()
    const bad = { ...tx, payload: new Uint8Array(tx.payload.byteLength).fill(9) }
    await expect(t.tree.mempool.add([bad])).rejects.toMatchObject({ code: 'ERR_TX_PAYLOAD_HASH' })
    expect(t.tree.mempool.size()).toBe(0)
  })
})
