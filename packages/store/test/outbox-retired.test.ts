import { txIdHex } from '@profichain/core'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSublevels, u64 } from '../src/keys.js'
import { child, makeTx, openTree, payloadsOf, tempDir } from './helpers.js'

// The `outboxOrder` bucket (txId → u64 outbox order) is retired: nothing read it, and its put and delete
// were two batch ops per own record. Stores written before keep entries for records still in their outbox:
// the store empties the bucket at open, and the outbox itself (bucket `outbox`) is all it needs.

let dir: { path: string; cleanup: () => Promise<void> }

beforeEach(async () => {
  dir = await tempDir()
})

afterEach(async () => {
  await dir.cleanup()
})

/** The raw `outboxOrder` bucket, with the store closed: entries as [txId hex, order]. */
async function outboxOrder(path: string, write?: Array<[Uint8Array, number]>): Promise<Array<[string, number]>> {
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    const sub = openSublevels(db).outboxOrder
    if (write) await sub.batch(write.map(([k, order]) => ({ type: 'put' as const, key: k, value: u64(order) })))
    const out: Array<[string, number]> = []
    for await (const [k, v] of sub.iterator()) out.push([Buffer.from(k).toString('hex'), Buffer.from(v).readUInt32BE(4)])
    return out
  } finally {
    await db.close()
  }
}

describe('retired outboxOrder bucket', () => {
  it('is not written by outbox add or ack', async () => {
    const tree = await openTree(dir.path)
    const txs = [makeTx('r0'), makeTx('r1'), makeTx('r2')]
    await tree.outbox.addMany(txs.map((tx) => ({ tx })))
    await tree.close()
    expect(await outboxOrder(dir.path)).toEqual([])
  })

  it('entries a store written before left are emptied at open; its outbox entries stay and are acked as before', async () => {
    const tree = await openTree(dir.path)
    const txs = [makeTx('old 0'), makeTx('old 1'), makeTx('old 2')]
    await tree.outbox.addMany(txs.map((tx) => ({ tx })))
    await tree.close()
    // What the previous version wrote beside each outbox entry (orders 0, 1, 2), plus a stale one.
    const stale = new Uint8Array(32).fill(9)
    const written = await outboxOrder(dir.path, [...txs.map((tx, i): [Uint8Array, number] => [Buffer.from(txIdHex(tx), 'hex'), i]), [stale, 7]])
    expect(written).toHaveLength(4)

    const again = await openTree(dir.path)
    try {
      expect((await again.outbox.uncommitted()).map(txIdHex)).toEqual(txs.map(txIdHex))
      expect(await again.outbox.size()).toBe(3)
      const block = child(again.head().header, { txs })
      await again.addBlock(block, { payloads: payloadsOf(txs) })
      expect((await again.outbox.confirmed(1)).map((l) => l.txId)).toEqual(txs.map(txIdHex))
      await again.outbox.ack([txIdHex(txs[0]), txIdHex(txs[1])])
      expect(await again.outbox.size()).toBe(1)
    } finally {
      await again.close()
    }
    expect(await outboxOrder(dir.path)).toEqual([])

    const third = await openTree(dir.path)
    try {
      expect((await third.outbox.confirmed(1)).map((l) => l.txId)).toEqual([txIdHex(txs[2])])
      expect(await third.outbox.size()).toBe(1)
    } finally {
      await third.close()
    }
  })
})
