import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTransaction, decodeTransaction, encodeTransaction, toHex, type Transaction, txId } from '@profichain/core'
import { createTxVerifier } from '@profichain/processing'
import { BlockTree, checkIncomingTx, type OutboxIndexOp } from '@profichain/store'
import { afterEach, describe, expect, it } from 'vitest'
import { makeGenesis, NETWORK, origin, testConsensus } from '../../store/test/helpers.js'
import { migrateOwed, NodeIngestGateway, OwedReceipts } from '../src/index.js'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

const rec = (seq: number, text = `record ${seq}`): Transaction =>
  createTransaction(origin, { network: NETWORK, seq, timestamp: 1_700_000_001_000 + seq, payload: new Uint8Array(Buffer.from(text)) })

async function openTree(dir: string) {
  const genesis = makeGenesis()
  return BlockTree.open({ path: join(dir, 'db'), genesis, consensus: testConsensus(genesis) })
}

type GatewayParts = ConstructorParameters<typeof NodeIngestGateway>
type Tree = Awaited<ReturnType<typeof openTree>>

/**
 * A gateway on a real store and owed index in a fresh temp dir, treating every origin as a device (the (origin,
 * seq) replay rule applies). `init` and `parts` replace the defaults (signatures all pass; outbox writes direct).
 */
async function gatewayOnDisk(
  init: Partial<GatewayParts[0]> = {},
  parts: (tree: Tree) => Partial<GatewayParts[1]> = () => ({}),
): Promise<{ dir: string; tree: Tree; owed: OwedReceipts; gw: NodeIngestGateway }> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-gw-'))
  dirs.push(dir)
  const tree = await openTree(dir)
  const owed = new OwedReceipts(tree.outbox.index as NonNullable<typeof tree.outbox.index>)
  await owed.open()
  const gw = new NodeIngestGateway(
    { network: NETWORK, maxTxBytes: 1024 * 1024, confirmations: 1, anchorBase: () => 'http://anchor', ...init },
    {
      tree,
      submitOwn: (items, opts) => tree.outbox.addMany(items, opts),
      verifier: { verifyStrippedTxs: async (txs) => txs.map(() => true) },
      owed,
      identify: async () => ({ status: 'device', deviceId: 'd', nextSeq: 0 }),
      checkOrigin: (tx) => checkIncomingTx(tx, { store: tree, signatureChecked: true }),
      isMember: () => false,
      ...parts(tree),
    },
  )
  return { dir, tree, owed, gw }
}

describe('ingest gateway: group commit (real store, LevelDB on disk)', () => {
  it('submits waiting while a group is written go into the next one: owed and outbox entries in one synced batch, one ack per tx', async () => {
    const writes: Array<{ txs: number; index: number }> = []
    const verifier = createTxVerifier({ threads: 0 })
    const made = await gatewayOnDisk({}, (tree) => ({
      submitOwn: (items: Array<{ tx: Transaction }>, opts?: { index?: OutboxIndexOp[] }) => {
        writes.push({ txs: items.length, index: opts?.index?.length ?? 0 })
        return tree.outbox.addMany(items, opts)
      },
      verifier,
    }))
    const { dir, gw } = made
    let tree = made.tree
    const [a0, a1, a2] = [rec(0), rec(1), rec(2)]
    const replay = rec(2, 'another record with seq 2')
    const forged = { ...rec(3), signature: new Uint8Array(64) }
    // Issued together: the first starts a group at once, the other four wait and go into the next one.
    const acks = await Promise.all([
      gw.submit([{ tx: a0 }]),
      gw.submit([{ tx: a1 }, { tx: a2 }]),
      gw.submit([{ tx: a1 }]),
      gw.submit([{ tx: replay }, { refused: 'BAD_TX' }]),
      gw.submit([{ tx: forged }]),
    ])
    expect(acks.map((a) => a.map((e) => [e.status, e.code]))).toEqual([
      [['accepted', '']],
      [
        ['accepted', ''],
        ['accepted', ''],
      ],
      [['duplicate', '']],
      [
        ['rejected', 'REPLAY'],
        ['rejected', 'BAD_TX'],
      ],
      [['rejected', 'BAD_SIGNATURE']],
    ])
    expect(acks[1].map((e) => toHex(e.txId))).toEqual([a1, a2].map((t) => toHex(txId(t))))
    // Two groups, each one outbox batch carrying its owed entries (2 keys per record owed).
    expect(writes).toEqual([
      { txs: 1, index: 2 },
      { txs: 3, index: 4 },
    ])
    await verifier.close?.()
    await tree.close()
    // Durable together: after a reopen both the outbox entries and the receipts owed are there.
    tree = await openTree(dir)
    expect(await tree.outbox.size()).toBe(3)
    const again = new OwedReceipts(tree.outbox.index as NonNullable<typeof tree.outbox.index>)
    await again.open()
    expect(again.size).toBe(3)
    const by = await again.devicesOf([a0, a1, a2, replay].map((t) => txId(t)))
    expect([...by.values()].map((v) => toHex(v.origin))).toEqual([toHex(origin.publicKey), toHex(origin.publicKey), toHex(origin.publicKey)])
    expect(by.has(toHex(txId(replay)))).toBe(false)
    // No retention hint: each entry keeps the record, so its payload can be stored once committed.
    expect([...by.values()].every((v) => v.tx !== undefined)).toBe(true)
    await tree.close()
  })

  it('an owed entry keeps no copy of a record whose payload the store keeps by its retention policy', async () => {
    const kept = rec(10, 'kept by retention')
    const { tree, owed, gw } = await gatewayOnDisk({ payloadKept: (tx) => tx.body.seq === 10 })
    const other = rec(11)
    expect((await gw.submit([{ tx: kept }, { tx: other }])).map((e) => e.status)).toEqual(['accepted', 'accepted'])
    const by = await owed.devicesOf([txId(kept), txId(other)])
    expect(by.get(toHex(txId(kept)))?.tx).toBeUndefined()
    expect(by.get(toHex(txId(other)))?.tx).toBeDefined()
    await tree.close()
  })

  it('a failed signature check answers that submit INTERNAL; the submits beside it and after it go on', async () => {
    let calls = 0
    const { tree, gw } = await gatewayOnDisk({}, () => ({
      // The second call fails (a worker died): only that submit is affected.
      verifier: {
        verifyStrippedTxs: async (txs) => {
          if (++calls === 2) throw new Error('worker exited')
          return txs.map(() => true)
        },
      },
    }))
    const [a, b, c] = [rec(20), rec(21), rec(22)]
    const acks = await Promise.all([gw.submit([{ tx: a }]), gw.submit([{ tx: b }, { refused: 'BAD_TX' }])])
    expect(acks.map((x) => x.map((e) => [e.status, e.code]))).toEqual([
      [['accepted', '']],
      [
        ['rejected', 'INTERNAL'],
        ['rejected', 'BAD_TX'],
      ],
    ])
    expect((await gw.submit([{ tx: b }, { tx: c }])).map((e) => e.status)).toEqual(['accepted', 'accepted'])
    expect(await tree.outbox.size()).toBe(3)
    await tree.close()
  })

  it('signature checks: two pool calls at a time, the submits arriving meanwhile go out as one call; a failed joint call is retried per submit', async () => {
    const real = createTxVerifier({ threads: 0 })
    const calls: number[] = []
    let open!: () => void
    const gate = new Promise<void>((r) => {
      open = r
    })
    let failJoint = false
    const { tree, gw } = await gatewayOnDisk({}, () => ({
      verifier: {
        verifyStrippedTxs: async (txs) => {
          calls.push(txs.length)
          await gate
          if (failJoint && txs.length > 1) throw new Error('worker exited')
          return real.verifyStrippedTxs(txs)
        },
      },
    }))
    const forged = { ...rec(44), signature: new Uint8Array(64) }
    const first = [gw.submit([{ tx: rec(40) }]), gw.submit([{ tx: rec(41) }]), gw.submit([{ tx: rec(42) }, { tx: rec(43) }]), gw.submit([{ tx: forged }, { tx: rec(45) }]), gw.submit([{ tx: rec(46) }])]
    // Two calls in flight; the other three submits wait.
    expect(calls).toEqual([1, 1])
    open()
    const acks = await Promise.all(first)
    expect(calls).toEqual([1, 1, 5])
    expect(acks.map((a) => a.map((e) => e.code || e.status))).toEqual([['accepted'], ['accepted'], ['accepted', 'accepted'], ['BAD_SIGNATURE', 'accepted'], ['accepted']])
    // A joint call that fails: each of its submits is checked again alone, so none is answered INTERNAL for it.
    failJoint = true
    calls.length = 0
    const second = await Promise.all([gw.submit([{ tx: rec(50) }]), gw.submit([{ tx: rec(51) }]), gw.submit([{ tx: rec(52) }]), gw.submit([{ tx: rec(53) }])])
    expect(calls).toEqual([1, 1, 2, 1, 1])
    expect(second.flat().map((e) => e.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted'])
    expect(await tree.outbox.size()).toBe(10)
    await tree.close()
  })

  it('with the pool: the record is checked in its worker (payload hash, signature) and the txIds it hashed are the records’ ids (acks, outbox, owed); no verified-set lookup', async () => {
    const pool = createTxVerifier({ threads: 2 })
    const used: string[] = []
    const { tree, owed, gw } = await gatewayOnDisk({}, () => ({
      verifier: {
        verifyStrippedTxs: (txs) => {
          used.push('lookup')
          return pool.verifyStrippedTxs(txs)
        },
        verifyFreshTxs: (txs) => {
          used.push('fresh')
          return pool.verifyFreshTxs(txs)
        },
      },
    }))
    const swapped = rec(64)
    const txs = [rec(60), rec(61), { ...rec(62), signature: new Uint8Array(64) }, rec(63), { ...swapped, payload: new Uint8Array(swapped.payload).reverse() }]
    // The ids as hashed anew from the bytes, on objects the gateway never saw.
    const want = txs.map((t) => toHex(txId(decodeTransaction(encodeTransaction(t)))))
    const acks = await Promise.all([gw.submit(txs.slice(0, 2).map((tx) => ({ tx }))), gw.submit(txs.slice(2).map((tx) => ({ tx })))])
    expect(acks.flat().map((e) => [toHex(e.txId), e.status, e.code])).toEqual([
      [want[0], 'accepted', ''],
      [want[1], 'accepted', ''],
      [want[2], 'rejected', 'BAD_SIGNATURE'],
      [want[3], 'accepted', ''],
      [want[4], 'rejected', 'BAD_TX'],
    ])
    expect(used.length > 0 && used.every((u) => u === 'fresh')).toBe(true)
    expect((await tree.outbox.uncommitted()).map((t) => toHex(txId(decodeTransaction(encodeTransaction(t)))))).toEqual([want[0], want[1], want[3]])
    expect([...(await owed.devicesOfHex(want)).keys()]).toEqual([want[0], want[1], want[3]])
    await pool.close()
    await tree.close()
  })

  it('moves an older node’s owed-receipts DB into the store once, then deletes it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pc-gw-'))
    dirs.push(dir)
    const old = new OwedReceipts(join(dir, 'owed'))
    await old.open()
    const dev = new Uint8Array(32).fill(7)
    await old.add([
      { origin: dev, txId: new Uint8Array(32).fill(1), tx: Uint8Array.of(1, 2, 3) },
      { origin: dev, txId: new Uint8Array(32).fill(2) },
    ])
    await old.close()
    let tree = await openTree(dir)
    const index = tree.outbox.index as NonNullable<typeof tree.outbox.index>
    expect(await migrateOwed(join(dir, 'owed'), index)).toBe(4)
    expect(await stat(join(dir, 'owed')).catch(() => undefined)).toBeUndefined()
    expect(await migrateOwed(join(dir, 'owed'), index)).toBe(0)
    await tree.close()
    tree = await openTree(dir)
    const owed = new OwedReceipts(tree.outbox.index as NonNullable<typeof tree.outbox.index>)
    await owed.open()
    expect(owed.size).toBe(2)
    expect((await owed.forDevice(dev, 10)).map(toHex)).toEqual([toHex(new Uint8Array(32).fill(1)), toHex(new Uint8Array(32).fill(2))])
    expect(toHex((await owed.devicesOf([new Uint8Array(32).fill(1)])).get(toHex(new Uint8Array(32).fill(1)))?.tx as Uint8Array)).toBe('010203')
    await owed.remove(dev, [new Uint8Array(32).fill(1)])
    expect(owed.size).toBe(1)
    await tree.close()
  })
})
