import { cp } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTransaction, encodeStrippedTx, toHex, type Transaction, txIdHex } from '@profichain/core'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BlockTree } from '../src/index.js'
import { isWholeTx, upgradeLayout2 } from '../src/layout.js'
import { META, openSublevels, readU64, type Subs } from '../src/keys.js'
import type { RetentionPolicy } from '../src/types.js'
import { addChild, makeGenesis, NETWORK, openTree, origin, tempDir } from './helpers.js'

// fixtures/layout2-db was written by the layout-2 store (main before layout 3) with fixtures/layout2-gen.mjs:
// 9 own records, 0–3 in block 1 (payloads stored by the block, retention all), 0 acknowledged; 1–8 pending
// in the outbox as whole txs (4 with dedupe key "file-4"). Counts then: 4 payloads, 180 bytes.
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'layout2-db')

/** The records of the fixture, rebuilt (same key, seq, timestamp, payload: the same txs). */
const records: Transaction[] = Array.from({ length: 9 }, (_, s) =>
  createTransaction(origin, {
    network: NETWORK,
    seq: s,
    timestamp: 1_700_000_001_000 + s,
    payload: new Uint8Array(Buffer.from(`layout-2 record ${s} `.repeat(s + 1))),
    metadata: s % 2 === 0 ? { keep: 'yes' } : {},
  }),
)
const bytesOf = (ss: number[]) => ss.reduce((n, s) => n + records[s].payload.byteLength, 0)

let dir: { path: string; cleanup: () => Promise<void> }
let db: string

beforeEach(async () => {
  dir = await tempDir()
  db = join(dir.path, 'db')
  await cp(FIXTURE, db, { recursive: true })
})

afterEach(async () => {
  await dir.cleanup()
})

async function withRaw<T>(fn: (db: Level<Uint8Array, Uint8Array>, subs: Subs) => Promise<T>): Promise<T> {
  const level = new Level<Uint8Array, Uint8Array>(db, { keyEncoding: 'view', valueEncoding: 'view' })
  await level.open()
  try {
    return await fn(level, openSublevels(level))
  } finally {
    await level.close()
  }
}

/** Outbox values by form, and the stored layout version. */
async function rawState(): Promise<{ whole: number; stripped: number; layout: number }> {
  return withRaw(async (_, subs) => {
    let whole = 0
    let stripped = 0
    for await (const v of subs.outbox.values()) {
      if (isWholeTx(v)) whole++
      else stripped++
    }
    return { whole, stripped, layout: readU64((await subs.meta.get(META.layout)) as Uint8Array) }
  })
}

async function recount(tree: BlockTree): Promise<{ payloads: number; payloadBytes: number; ids: string[] }> {
  const subs = (tree as unknown as { subs: Subs }).subs
  let payloads = 0
  let payloadBytes = 0
  const ids: string[] = []
  for await (const [k, v] of subs.payload.iterator()) {
    payloads++
    payloadBytes += v.byteLength
    ids.push(toHex(k))
  }
  const s = await tree.stats()
  expect({ payloads: s.payloads, payloadBytes: s.payloadBytes }).toEqual({ payloads, payloadBytes })
  return { payloads, payloadBytes, ids: ids.sort() }
}

const idsOf = (ss: number[]) => ss.map((s) => txIdHex(records[s])).sort()

/** Open the upgraded fixture and check everything the layout-2 store held, then commit and ack the rest. */
async function checkUpgraded(retention: RetentionPolicy): Promise<void> {
  expect(await rawState()).toEqual({ whole: 0, stripped: 8, layout: 3 })
  const tree = await openTree(db, { retention })
  try {
    // Every pending entry loads with its payload; each payload stored once, the counts exact.
    expect(await tree.outbox.size()).toBe(8)
    const pending = await tree.outbox.uncommitted()
    expect(pending.map(txIdHex)).toEqual([4, 5, 6, 7, 8].map((s) => txIdHex(records[s])))
    pending.forEach((tx, i) => expect(tx.payload).toEqual(records[4 + i].payload))
    expect(await recount(tree)).toEqual({ payloads: 9, payloadBytes: bytesOf([0, 1, 2, 3, 4, 5, 6, 7, 8]), ids: idsOf([0, 1, 2, 3, 4, 5, 6, 7, 8]) })
    expect(await tree.outbox.lookup('file-4')).toBe(txIdHex(records[4]))
    // Receipts and acks of the committed entries (block 1).
    const locs = await tree.outbox.confirmed(1)
    expect(locs.map((l) => l.txId)).toEqual([1, 2, 3].map((s) => txIdHex(records[s])))
    for (const loc of locs) expect((await tree.receiptAt(loc, 'native', 'test'))?.txId).toBe(loc.txId)
    await tree.outbox.ack(
      locs.map((l) => l.txId),
      { blockHashes: locs.map((l) => l.blockHash) },
    )
    // 1–3 were stored by their block before the upgrade (pinned): they stay whatever the policy.
    expect((await recount(tree)).ids).toEqual(idsOf([0, 1, 2, 3, 4, 5, 6, 7, 8]))
    const head = tree.head().header
    await addChild(tree, head, pending)
    const more = await tree.outbox.confirmed(1)
    await tree.outbox.ack(
      more.map((l) => l.txId),
      { blockHashes: more.map((l) => l.blockHash) },
    )
    expect(await tree.outbox.size()).toBe(0)
    const kept = retention.mode === 'none' ? [0, 1, 2, 3] : retention.mode === 'rules' ? [0, 1, 2, 3, 4, 6, 8] : [0, 1, 2, 3, 4, 5, 6, 7, 8]
    expect((await recount(tree)).ids).toEqual(idsOf(kept))
    expect((await tree.audit()).mismatches).toEqual([])
  } finally {
    await tree.close()
  }
}

describe('layout 2 → 3 upgrade at open', () => {
  it('the fixture is a layout-2 store with whole-tx outbox entries', async () => {
    expect(await rawState()).toEqual({ whole: 8, stripped: 0, layout: 2 })
  })

  for (const retention of [{ mode: 'all' }, { mode: 'none' }, { mode: 'rules', rules: [{ metadata: { keep: 'yes' } }] }] as RetentionPolicy[]) {
    it(`rewrites every outbox entry as stripped tx + payload, then writes version 3 (retention ${retention.mode})`, async () => {
      // The open upgrades; checkUpgraded reopens (nothing left to do).
      await (await openTree(db, { retention })).close()
      await checkUpgraded(retention)
    })
  }

  it('resumes an upgrade stopped after k batches (as by SIGKILL): both forms on disk, the next open completes it', async () => {
    const first = await withRaw((level, subs) => upgradeLayout2(level, subs, { batchEntries: 3, stopAfterBatches: 2 }))
    expect(first).toEqual({ batches: 2, entries: 6, done: false })
    // Stopped: version 2 still, entries of both forms, the counts those batches wrote.
    expect(await rawState()).toEqual({ whole: 2, stripped: 6, layout: 2 })
    const again = await withRaw((level, subs) => upgradeLayout2(level, subs, { batchEntries: 3, stopAfterBatches: 1 }))
    expect(again).toEqual({ batches: 1, entries: 2, done: false })
    expect(await rawState()).toEqual({ whole: 0, stripped: 8, layout: 2 })
    // The open finds nothing left to rewrite and writes the version; nothing counted twice.
    await (await openTree(db)).close()
    await checkUpgraded({ mode: 'all' })
  })

  it('leaves a layout-2 store of another network unchanged when it refuses it', async () => {
    const err = await openTree(db, { genesis: makeGenesis('another-network') }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_STORE_NETWORK' })
    expect(await rawState()).toEqual({ whole: 8, stripped: 0, layout: 2 })
  })

  it('rewrites an entry into exactly the layout-3 value of its tx', async () => {
    await (await openTree(db)).close()
    const values = await withRaw(async (_, subs) => {
      const out: string[] = []
      for await (const v of subs.outbox.values()) out.push(toHex(v))
      return out
    })
    expect(values).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((s) => toHex(encodeStrippedTx(records[s]))))
  })
})
