import { encodeStrippedTx, encodeTransaction, toHex, type Transaction, txIdHex } from '@profichain/core'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BlockTree } from '../src/index.js'
import type { Subs } from '../src/keys.js'
import { isWholeTx } from '../src/layout.js'
import type { RetentionPolicy } from '../src/types.js'
import { addChild, makeTx, openTree, seedKey, tempDir } from './helpers.js'

// Layout 3: an own record's payload is written once, to `payload`, in the synced batch of its outbox entry;
// its block finds it there. The stored counts (payloads, payloadBytes) stay exact through add, block, reorg,
// putPayload and ack, and a payload the retention policy does not keep leaves at the ack.

let dir: { path: string; cleanup: () => Promise<void> }

beforeEach(async () => {
  dir = await tempDir()
})

afterEach(async () => {
  await dir.cleanup()
})

function subsOf(tree: BlockTree): Subs {
  return (tree as unknown as { subs: Subs }).subs
}

/** A full recount of the `payload` bucket against the stored counts (stats). */
async function expectExactCounts(tree: BlockTree): Promise<Set<string>> {
  let payloads = 0
  let payloadBytes = 0
  const ids = new Set<string>()
  for await (const [k, v] of subsOf(tree).payload.iterator()) {
    payloads++
    payloadBytes += v.byteLength
    ids.add(toHex(k))
  }
  const s = await tree.stats()
  expect({ payloads: s.payloads, payloadBytes: s.payloadBytes }).toEqual({ payloads, payloadBytes })
  return ids
}

/** Ack every outbox entry confirmed at depth 1 (as the node does after writing receipts). */
async function ackConfirmed(tree: BlockTree): Promise<string[]> {
  const locs = await tree.outbox.confirmed(1)
  await tree.outbox.ack(
    locs.map((l) => l.txId),
    { blockHashes: locs.map((l) => l.blockHash) },
  )
  return locs.map((l) => l.txId)
}

const KEEP: RetentionPolicy = { mode: 'rules', rules: [{ metadata: { keep: 'yes' } }] }

describe('an own record payload written once (layout 3)', () => {
  for (const retention of [{ mode: 'all' }, { mode: 'none' }, KEEP] as RetentionPolicy[]) {
    it(`keeps the payload counts exact through add, block, reorg, ack and reopen (retention ${JSON.stringify(retention)})`, async () => {
      let tree = await openTree(dir.path, { retention })
      const kept = (tx: Transaction) => retention.mode === 'all' || (retention.mode === 'rules' && tx.body.metadata.keep === 'yes')
      const own = [makeTx('own a', { keep: 'yes' }), makeTx('own b'), makeTx('own c', { keep: 'yes' }), makeTx('own d')]
      const gossip = [makeTx('gossip e', { keep: 'yes' }), makeTx('gossip f')]
      await tree.outbox.addMany(own.map((tx) => ({ tx })))
      let ids = await expectExactCounts(tree)
      // Stored with the entry, whatever the retention policy: readable while the entry exists.
      expect(ids).toEqual(new Set(own.map(txIdHex)))
      for (const tx of own) expect(await tree.getPayload(txIdHex(tx))).toEqual(tx.payload)
      // Not kept by this node (hasPayload) when the policy drops it at the ack.
      for (const tx of own) expect(await tree.hasPayload(txIdHex(tx))).toBe(kept(tx))

      // A block with own records and gossip; a side branch that wins with other records (reorg).
      const g = tree.head().header
      const b1 = await addChild(tree, g, [own[0], own[1], gossip[0]])
      expect(b1.status).toBe('added')
      await expectExactCounts(tree)
      const s1 = await addChild(tree, g, [own[1], own[2], gossip[1]], 0)
      await expectExactCounts(tree)
      const s2 = await addChild(tree, s1.block.header, [own[3], gossip[0]])
      expect(tree.head().height).toBe(2)
      expect(s2.status).toBe('added')
      ids = await expectExactCounts(tree)
      for (const tx of gossip) expect(ids.has(txIdHex(tx))).toBe(kept(tx))

      // Ack: the payloads the policy does not keep leave with their entries, the kept ones stay.
      const acked = await ackConfirmed(tree)
      expect(new Set(acked)).toEqual(new Set([own[1], own[2], own[3]].map(txIdHex)))
      ids = await expectExactCounts(tree)
      for (const tx of [own[1], own[2], own[3]]) expect(ids.has(txIdHex(tx))).toBe(kept(tx))
      // own[0] is on the abandoned branch, still an outbox entry: its payload is there (a resend needs it).
      expect(ids.has(txIdHex(own[0]))).toBe(true)
      expect((await tree.outbox.uncommitted()).map((t) => [txIdHex(t), t.payload])).toEqual([[txIdHex(own[0]), own[0].payload]])

      // Reopen: the outbox entry loads with its payload, the counts are the stored ones.
      await tree.close()
      tree = await openTree(dir.path, { retention })
      await expectExactCounts(tree)
      const [back] = await tree.outbox.uncommitted()
      expect(txIdHex(back)).toBe(txIdHex(own[0]))
      expect(back.payload).toEqual(own[0].payload)
      await addChild(tree, s2.block.header, [own[0]])
      await ackConfirmed(tree)
      ids = await expectExactCounts(tree)
      expect(ids.has(txIdHex(own[0]))).toBe(kept(own[0]))
      expect(await tree.outbox.size()).toBe(0)
      expect((await tree.audit()).mismatches).toEqual([])
      await tree.close()
    })
  }

  it('keeps a payload stored before its outbox entry, or one putPayload asked to keep, past the ack (retention none)', async () => {
    let tree = await openTree(dir.path, { retention: { mode: 'none' } })
    const [early, late, plain] = [makeTx('stored first'), makeTx('kept by putPayload'), makeTx('plain')]
    // `early` is canonical (another node's block) and archived before this node adds it to its outbox.
    const b1 = await addChild(tree, tree.head().header, [early])
    await tree.putPayload(txIdHex(early), early.payload)
    await expectExactCounts(tree)
    await tree.outbox.addMany([early, late, plain].map((tx) => ({ tx })))
    await expectExactCounts(tree)
    expect(await tree.hasPayload(txIdHex(early))).toBe(true)
    expect(await tree.hasPayload(txIdHex(late))).toBe(false)
    await addChild(tree, b1.block.header, [late, plain])
    // The device gateway's call after commit: keep this one (a pin, the payload is there already).
    await tree.putPayload(txIdHex(late), late.payload)
    expect(await tree.hasPayload(txIdHex(late))).toBe(true)
    expect(await tree.hasPayload(txIdHex(plain))).toBe(false)
    await tree.close()
    tree = await openTree(dir.path, { retention: { mode: 'none' } })
    expect(await tree.hasPayload(txIdHex(late))).toBe(true)
    expect(await ackConfirmed(tree)).toHaveLength(3)
    const ids = await expectExactCounts(tree)
    expect(ids).toEqual(new Set([txIdHex(early), txIdHex(late)]))
    expect(await tree.getPayload(txIdHex(plain))).toBeUndefined()
    // No pin outlives its entry.
    const pins: string[] = []
    for await (const k of subsOf(tree).payloadPin.keys()) pins.push(toHex(k))
    expect(pins).toEqual([])
    await tree.close()
  })

  it('deletes the dropped payload of an entry whose receipt is deferred, keeps the counts exact', async () => {
    const tree = await openTree(dir.path, { retention: { mode: 'none' } })
    const txs = [makeTx('deferred 1'), makeTx('deferred 2')]
    await tree.outbox.addMany(txs.map((tx) => ({ tx })))
    await addChild(tree, tree.head().header, txs)
    await tree.outbox.deferReceipts([{ txId: txIdHex(txs[0]), code: 'X', message: 'later' }])
    const ids = await expectExactCounts(tree)
    expect(ids).toEqual(new Set([txIdHex(txs[1])]))
    await tree.close()
  })

  it('keeps the payload of a device record (origin not a member) past its entry, as the ingest gateway would (retention none)', async () => {
    const tree = await openTree(dir.path, { retention: { mode: 'none' } })
    const device = makeTx('device record', {}, seedKey(9))
    const member = makeTx('member record')
    await tree.outbox.addMany([device, member].map((tx) => ({ tx })))
    expect(await tree.hasPayload(txIdHex(device))).toBe(true)
    expect(await tree.hasPayload(txIdHex(member))).toBe(false)
    await tree.outbox.deferReceipts([device, member].map((tx) => ({ txId: txIdHex(tx), code: 'X', message: 'later' })))
    expect(await tree.outbox.size()).toBe(0)
    expect(await expectExactCounts(tree)).toEqual(new Set([txIdHex(device)]))
    await tree.close()
  })

  it('writes the stripped tx as the outbox value (no second copy of the payload)', async () => {
    const tree = await openTree(dir.path)
    const tx = makeTx('x'.repeat(1000), {}, seedKey(2))
    await tree.outbox.add(tx)
    const values: Uint8Array[] = []
    for await (const v of subsOf(tree).outbox.values()) values.push(v)
    expect(values).toEqual([encodeStrippedTx(tx)])
    expect(await subsOf(tree).payload.get(await tree.outbox.add(tx).then((r) => new Uint8Array(Buffer.from(r.txId, 'hex'))))).toEqual(tx.payload)
    await tree.close()
  })
})

describe('outbox entry form (layout 2 whole tx, layout 3 stripped tx)', () => {
  it('tells the two forms apart for any tx', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        fc.nat({ max: 2 ** 40 }),
        (payload, metadata, seq) => {
          const tx = makeTx(undefined, metadata)
          const t = { ...tx, payload, body: { ...tx.body, seq } }
          // Hash and size need not match the payload for the form: only the encodings' shape matters.
          expect(isWholeTx(encodeTransaction(t))).toBe(true)
          expect(isWholeTx(encodeStrippedTx(t))).toBe(false)
        },
      ),
      { numRuns: 200 },
    )
  })
})
