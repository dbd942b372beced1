import { blockHash, txIdHex, verifyChainpointReceipt } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import type { TxLocation } from '../src/index.js'
import { child, makeTx, useTree } from './helpers.js'

// receiptsAt builds the receipts of many records at once (each block's header and tree read once): the
// same receipts as receiptAt one by one, in the same order, undefined where the block is unknown.

const t = useTree()

describe('receiptsAt', () => {
  it('equals receiptAt per record (objects and JSON text), across blocks, in the given order; unknown blocks give undefined', async () => {
    const txs = Array.from({ length: 7 }, (_, i) => makeTx(`many ${i}`))
    const b1 = child(t.tree.head().header, { txs: txs.slice(0, 5) })
    await t.tree.addBlock(b1)
    const b2 = child(b1.header, { txs: txs.slice(5) })
    await t.tree.addBlock(b2)
    const order = [6, 0, 3, 5, 4, 1, 2]
    const locs = (await t.tree.getTxs(order.map((i) => txIdHex(txs[i])))) as TxLocation[]
    const unknown: TxLocation = { ...locs[0], blockHash: new Uint8Array(32) }
    const asked = [...locs.slice(0, 3), unknown, ...locs.slice(3)]
    for (const form of ['chainpoint', 'native'] as const) {
      const many = form === 'chainpoint' ? await t.tree.receiptsAt(asked, form, 'http://n') : await t.tree.receiptsAt(asked, form, 'http://n')
      const one = await Promise.all(asked.map((l) => (form === 'chainpoint' ? t.tree.receiptAt(l, form, 'http://n') : t.tree.receiptAt(l, form, 'http://n'))))
      expect(many).toEqual(one)
      expect(many[3]).toBeUndefined()
      expect(many.filter((r) => r !== undefined)).toHaveLength(7)
    }
    // As JSON text: what JSON.stringify gives for the same receipts (twice: the second from the cached t.tree).
    for (let round = 0; round < 2; round++) {
      const jsons = await t.tree.chainpointJsonsAt(asked, 'http://n')
      const want = (await t.tree.receiptsAt(asked, 'chainpoint', 'http://n')).map((p) => p && JSON.stringify(p))
      expect(jsons).toEqual(want)
    }
    const proofs = await t.tree.receiptsAt(locs, 'chainpoint', 'http://n')
    proofs.forEach((p, i) => {
      if (!p) throw new Error('missing receipt')
      const v = verifyChainpointReceipt(p, { payload: txs[order[i]].payload })
      const at = locs[i].height === 1 ? b1 : b2
      expect(v.blockHash).toBe(Buffer.from(blockHash(at.header)).toString('hex'))
      expect(v.txId).toBe(txIdHex(txs[order[i]]))
    })
  })

  it('receiptAt one after another (the last block header and tree reused by hash object) equals receiptsAt, alternating blocks', async () => {
    const txs = Array.from({ length: 6 }, (_, i) => makeTx(`seq ${i}`))
    const b1 = child(t.tree.head().header, { txs: txs.slice(0, 3) })
    await t.tree.addBlock(b1)
    const b2 = child(b1.header, { txs: txs.slice(3) })
    await t.tree.addBlock(b2)
    const order = [0, 1, 3, 4, 2, 5, 0]
    const locs = (await t.tree.getTxs(order.map((i) => txIdHex(txs[i])))) as TxLocation[]
    const unknown: TxLocation = { ...locs[0], blockHash: new Uint8Array(32) }
    const asked = [...locs, unknown, locs[1]]
    const one = []
    for (const l of asked) one.push(await t.tree.receiptAt(l, 'chainpoint', 'http://n'))
    expect(one).toEqual(await t.tree.receiptsAt(asked, 'chainpoint', 'http://n'))
    expect(one[locs.length]).toBeUndefined()
    one.forEach((p, i) => {
      if (i === locs.length) return
      if (!p) throw new Error('missing receipt')
      const idx = i < locs.length ? order[i] : order[1]
      const v = verifyChainpointReceipt(p, { payload: txs[idx].payload })
      expect(v.blockHash).toBe(Buffer.from(blockHash((idx < 3 ? b1 : b2).header)).toString('hex'))
      expect(v.txId).toBe(txIdHex(txs[idx]))
    })
  })

  it('a location holding a copy of the tx (the outbox’s object, not the block’s) gives the same valid receipt; another tx at that index none', async () => {
    const txs = Array.from({ length: 9 }, (_, i) => makeTx(`copy ${i}`))
    const b1 = child(t.tree.head().header, { txs })
    await t.tree.addBlock(b1)
    const hash = blockHash(b1.header)
    // Fresh objects with the same content (decoded elsewhere): the block's tree knows their ids, not their objects.
    const copies = txs.map((tx) => ({ body: { ...tx.body }, signature: tx.signature.slice(), payload: tx.payload }))
    const locs: TxLocation[] = copies.map((tx, index) => ({ tx, txId: txIdHex(tx), blockHash: hash, height: 1, index }))
    const stored = (await t.tree.getTxs(txs.map((tx) => txIdHex(tx)))) as TxLocation[]
    const fromCopies = await t.tree.receiptsAt(locs, 'chainpoint', 'http://n')
    expect(fromCopies).toEqual(await t.tree.receiptsAt(stored, 'chainpoint', 'http://n'))
    expect(await t.tree.chainpointJsonsAt(locs, 'http://n')).toEqual(fromCopies.map((p) => JSON.stringify(p)))
    fromCopies.forEach((p, i) => {
      if (!p) throw new Error('missing receipt')
      expect(verifyChainpointReceipt(p, { payload: txs[i].payload }).txId).toBe(txIdHex(txs[i]))
    })
    // A location naming the wrong tx for its index: the shortcut does not apply, the builder finds the path wrong.
    const wrong: TxLocation = { ...locs[2], tx: copies[3], txId: txIdHex(copies[3]) }
    await expect(t.tree.receiptAt(wrong, 'chainpoint', 'http://n')).rejects.toThrow(/audit path/)
    await expect(t.tree.chainpointJsonsAt([wrong], 'http://n')).rejects.toThrow(/audit path/)
  })
})
