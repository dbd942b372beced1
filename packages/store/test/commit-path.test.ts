import {
  type Block,
  type BlockHeader,
  blockHash,
  createDeviceRevokeTx,
  createDeviceTx,
  createTransaction,
  encodeCbor,
  encodeStrippedTx,
  type KeyPair,
  toHex,
  type Transaction,
  txId,
  txIdHex,
} from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { checkIncomingTx, type TxLocation } from '../src/index.js'
import { encodeSeqValue } from '../src/devices.js'
import { RecentTxs } from '../src/recent-txs.js'
import { addChild, makeTx, NETWORK, openTree, origin, refusedChild, seedKey, useTree } from './helpers.js'

// Session 5, the shared commit path: work done once instead of per stage must give the answers of the
// full path (real LevelDB; the reference is the same store reopened, i.e. read back from disk).
const sensor = seedKey(80)
const t = useTree()
let memberSeq = 5000

function register(key: KeyPair): Transaction {
  return createDeviceTx(origin, { network: NETWORK, seq: memberSeq++, device: { deviceId: `dev-${memberSeq}`, publicKey: key.publicKey, model: 'T' } })
}

function revoke(key: KeyPair): Transaction {
  return createDeviceRevokeTx(origin, { network: NETWORK, seq: memberSeq++, revoke: { publicKey: key.publicKey } })
}

function rec(seq: number, text = `r${seq}`): Transaction {
  return createTransaction(sensor, { network: NETWORK, seq, timestamp: 1_700_000_003_000 + seq, payload: new Uint8Array(Buffer.from(text)) })
}

async function add(parent: BlockHeader, txs: Transaction[], difficulty = 0): Promise<Block> {
  const { block, status } = await addChild(t.tree, parent, txs, difficulty)
  expect(status).toBe('added')
  return block
}

const refused = async (parent: BlockHeader, txs: Transaction[]): Promise<string> => (await refusedChild(t.tree, parent, txs)).code

describe("the producer's filtered txs are not origin-checked again only when nothing differs", () => {
  it('a block of exactly the filtered txs on that head is stored; any other block is checked in full', async () => {
    const b1 = await add(t.tree.head().header, [register(sensor)])
    const r1 = rec(1)
    const r1b = rec(1, 'another reading with seq 1')
    // Filtered on b1: r1 passes. A block on b1 holding r1 and a replay of its seq is not the filtered list.
    expect(t.tree.filterOrigins([r1])).toEqual([r1])
    expect(await refused(b1.header, [r1, r1b])).toBe('ERR_ORIGIN_REPLAY')
    // Neither is one whose head moved: the device is revoked in b2, and the same tx objects on b2 are refused.
    expect(t.tree.filterOrigins([r1])).toEqual([r1])
    const b2 = await add(b1.header, [revoke(sensor)])
    expect(await refused(b2.header, [r1])).toBe('ERR_ORIGIN_REVOKED')
    expect(t.tree.filterOrigins([r1])).toEqual([])
  })

  it('the filtered block itself: stored with its seqs indexed, as a full check would', async () => {
    const b1 = await add(t.tree.head().header, [register(sensor)])
    const txs = [rec(2), makeTx('member'), rec(7)]
    const passed = t.tree.filterOrigins(txs)
    expect(passed).toEqual(txs)
    const b2 = await add(b1.header, passed)
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(b2.header)))
    // Its device seqs are on the chain now: another tx with seq 7 is a replay everywhere.
    const replay = rec(7, 'replayed')
    expect(checkIncomingTx(replay, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    expect(await refused(b2.header, [replay])).toBe('ERR_ORIGIN_REPLAY')
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect(checkIncomingTx(replay, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
  })
})

describe('device seqs and txIds looked up absent are not cached past the switch that puts them', () => {
  it.each([undefined, 0])('absent, then put by a block, then gone again with a reorg (recentTxs %s)', async (recentTxs) => {
    if (recentTxs !== undefined) {
      // No locations in memory: "canonical?" rests on the absence cache and the tx index alone.
      await t.tree.close()
      t.tree = await openTree(t.dir.path, { recentTxs })
    }
    const g = t.tree.head().header
    const b1 = await add(g, [register(sensor)])
    const o = toHex(sensor.publicKey)
    const first = rec(4, 'first')
    const second = rec(4, 'second')
    // Looked up (absent) at every stage before the block.
    expect(t.tree.devices.headView().seqTx(o, 4)).toBeUndefined()
    expect(checkIncomingTx(first, { store: t.tree })).toEqual({ ok: true })
    expect(t.tree.filterOrigins([first])).toEqual([first])
    // Its txId looked up too (absent), by the batch read and the single one.
    expect(await t.tree.getTxs([txIdHex(first)])).toEqual([undefined])
    expect(t.tree.hasCanonicalTx(txId(first))).toBe(false)
    const b2 = await add(b1.header, [first])
    expect(t.tree.devices.headView().seqTx(o, 4)).toBe(txIdHex(first))
    expect(t.tree.hasCanonicalTx(txIdHex(first))).toBe(true)
    expect(t.tree.hasCanonicalTx(txId(second))).toBe(false)
    expect(checkIncomingTx(first, { store: t.tree })).toEqual({ ok: true, duplicate: true })
    expect(checkIncomingTx(second, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    expect(await t.tree.mempool.add([second])).toBe(0)
    expect(t.tree.filterOrigins([second])).toEqual([])
    // A heavier branch from b1 without it: seq 4 is free again on the canonical chain.
    const c2 = await add(b1.header, [makeTx('c2')], 5)
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(c2.header)))
    expect(t.tree.devices.headView().seqTx(o, 4)).toBeUndefined()
    expect(t.tree.hasCanonicalTx(txId(first))).toBe(false)
    expect(await t.tree.getTxs([txIdHex(first)])).toEqual([undefined])
    // (first is pending again, back from the abandoned block: second is a replay of a pending tx now)
    expect(t.tree.mempool.has(txIdHex(first))).toBe(true)
    expect(checkIncomingTx(second, { store: t.tree })).toMatchObject({ ok: false, code: 'REPLAY' })
    // And back (b2's branch heavier): taken again.
    await add(b2.header, [], 10)
    expect(t.tree.devices.headView().seqTx(o, 4)).toBe(txIdHex(first))
    expect(t.tree.hasCanonicalTx(txId(first))).toBe(true)
    expect((await t.tree.getTxs([txIdHex(first)]))[0]).toMatchObject({ height: 2, index: 0 })
  })

  it('encodeSeqValue is encodeCbor([txId, height]) byte for byte', () => {
    const id = txId(makeTx('x'))
    for (const h of [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      expect(toHex(encodeSeqValue(id, h))).toBe(toHex(encodeCbor([id, h])))
    }
  })
})

/** A location as plain values (tx by its encoding). */
function plain(l: TxLocation | undefined): unknown {
  return l && { tx: toHex(encodeStrippedTx(l.tx)), txId: l.txId, blockHash: toHex(l.blockHash), height: l.height, index: l.index }
}

describe('getTxs / getTx from the latest canonical blocks in memory', () => {
  it('answer as the tx index on disk does, across a reorg; receipts built from the import-time tree equal the rebuilt ones', async () => {
    const g = t.tree.head().header
    const a1txs = [makeTx('a1-0'), makeTx('a1-1'), makeTx('a1-2')]
    const a1 = await add(g, a1txs)
    const a2txs = [makeTx('a2-0'), makeTx('a2-1')]
    const a2 = await add(a1.header, a2txs)
    // A heavier branch from a1 takes a2's place; one of a2's txs is in it again, at another index.
    const b2txs = [makeTx('b2-0'), a2txs[1]]
    const b2 = await add(a1.header, b2txs, 4)
    expect(toHex(t.tree.head().hash)).toBe(toHex(blockHash(b2.header)))
    const b3 = await add(b2.header, [makeTx('b3-0')])
    const all = [...a1txs, ...a2txs, ...b2txs, ...b3.txs]
    const ids = [...all.map((x) => txIdHex(x)), txIdHex(makeTx('never'))]
    const mem = (await t.tree.getTxs(ids)).map(plain)
    const memOne = await Promise.all(ids.map(async (id, i) => plain(await t.tree.getTx(i % 2 === 0 ? id.toUpperCase() : txId(all[i] ?? makeTx('n'))))))
    const locs = (await t.tree.getTxs(ids)).filter((l): l is TxLocation => l !== undefined)
    const jsons = await t.tree.chainpointJsonsAt(locs, 'http://x')
    expect(mem.filter((m) => m === undefined)).toHaveLength(2) // a2-0 (abandoned) and the unknown one
    expect(mem[ids.indexOf(txIdHex(a2txs[1]))]).toMatchObject({ height: 2, index: 1, blockHash: toHex(blockHash(b2.header)) })
    await t.tree.close()
    t.tree = await openTree(t.dir.path)
    expect((await t.tree.getTxs(ids)).map(plain)).toEqual(mem)
    expect(memOne.slice(0, all.length)).toEqual(mem.slice(0, all.length))
    const disk = (await t.tree.getTxs(ids)).filter((l): l is TxLocation => l !== undefined)
    expect(await t.tree.chainpointJsonsAt(disk, 'http://x')).toEqual(jsons)
    void a2
  })

  it('keeps whole blocks up to its bound, oldest dropped first, and drops blocks leaving the chain', () => {
    const recent = new RecentTxs(5)
    const block = (h: number, n: number) => {
      const txs = Array.from({ length: n }, (_, i) => makeTx(`blk${h}-${i}`))
      return { node: { hash: new Uint8Array(32).fill(h), height: h }, txs }
    }
    const b = [block(1, 2), block(2, 2), block(3, 2)]
    recent.stage({ removed: [], added: [b[0], b[1]] })()
    expect(recent.size()).toBe(4)
    recent.stage({ removed: [], added: [b[2]] })()
    // 6 > 5: block 1 is dropped whole.
    expect(recent.size()).toBe(4)
    expect(recent.get(txIdHex(b[0].txs[0]))).toBeUndefined()
    expect(recent.get(txIdHex(b[2].txs[1]))).toMatchObject({ height: 3, index: 1 })
    // Block 3 leaves the chain; block 4 holds one of its txs.
    const b4 = { node: { hash: new Uint8Array(32).fill(4), height: 3 }, txs: [b[2].txs[1]] }
    const commit = recent.stage({ removed: [b[2]], added: [b4] })
    expect(recent.get(txIdHex(b[2].txs[0]))).toBeDefined() // nothing changes before the commit
    commit()
    expect(recent.get(txIdHex(b[2].txs[0]))).toBeUndefined()
    expect(recent.get(txIdHex(b[2].txs[1]))).toMatchObject({ height: 3, index: 0, blockHash: b4.node.hash })
  })
})
