import { join } from 'node:path'
import { toHex, txIdHex } from '@profichain/core'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type BlockTree, StoreError } from '../src/index.js'
import { child, makeGenesis, makeTx, openTree, payloadsOf, tempDir } from './helpers.js'

let dir: { path: string; cleanup: () => Promise<void> }
let dbPath: string
let tree: BlockTree | undefined

beforeEach(async () => {
  dir = await tempDir()
  dbPath = join(dir.path, 'db')
})

afterEach(async () => {
  await tree?.close()
  tree = undefined
  await dir.cleanup()
})

type Write = { what: string; sync: boolean }

/** Record the options of every batch write the store makes on its LevelDB handle. */
function spyWrites(t: BlockTree): Write[] {
  const db = (t as unknown as { db: { batch: () => { write: (o?: { sync?: boolean }) => Promise<void> } } }).db
  const writes: Write[] = []
  const batch = db.batch.bind(db)
  db.batch = () => {
    const b = batch()
    const write = b.write.bind(b)
    b.write = (o?: { sync?: boolean }) => {
      writes.push({ what: new Error().stack ?? '', sync: o?.sync === true })
      return write(o)
    }
    return b
  }
  return writes
}

describe('synced writes (power cut)', () => {
  it('every block, payload, outbox add/ack/defer/clear batch is written with sync', async () => {
    tree = await openTree(dbPath)
    const writes = spyWrites(tree)
    const txs = [makeTx('a'), makeTx('b'), makeTx('c')]
    await tree.outbox.addMany(txs.map((tx) => ({ tx })))
    const fetched = makeTx('d') // not in the outbox: its payload arrives later (archive fetch)
    const b1 = child(tree.head().header, { txs: [...txs, fetched] })
    await tree.addBlock(b1, { payloads: new Map() })
    await tree.putPayload(txIdHex(fetched), fetched.payload)
    await tree.outbox.ack([txIdHex(txs[1])])
    await tree.outbox.deferReceipts([{ txId: txIdHex(txs[2]), code: 'ENAMETOOLONG', message: 'x' }])
    await tree.outbox.clearDeferred([txIdHex(txs[2])])
    expect(writes.length).toBe(6)
    expect(writes.filter((w) => !w.sync)).toEqual([])
  })
})

describe('acknowledged watermark', () => {
  it('is monotonic, survives reopen, and a replaced acknowledged block fails ackCheck and audit', async () => {
    tree = await openTree(dbPath)
    expect(tree.ackCheck()).toEqual({ ok: true })
    const b1 = child(tree.head().header, { txs: [makeTx()] })
    await tree.addBlock(b1)
    const h1 = toHex(tree.head().hash)
    await tree.acknowledge({ height: 1, hash: h1 })
    await tree.acknowledge({ height: 0, hash: '00'.repeat(32) }) // lower: ignored
    await tree.close()
    tree = await openTree(dbPath)
    expect(tree.ackCheck()).toEqual({ ok: true })
    expect((await tree.audit()).mismatches).toEqual([])
    // Claim a different block was acknowledged at height 1.
    await tree.acknowledge({ height: 1, hash: 'ab'.repeat(32) }) // same height: ignored
    await tree.close()
    tree = await openTree(dbPath)
    expect(tree.ackCheck().ok).toBe(true)
    await tree.close()
    // A store whose chain is shorter than what was acknowledged.
    tree = await openTree(dbPath)
    await tree.acknowledge({ height: 5, hash: 'cd'.repeat(32) })
    await tree.close()
    tree = await openTree(dbPath)
    const c = tree.ackCheck()
    expect(c.ok).toBe(false)
    if (!c.ok) {
      expect(c.code).toBe('HEAD_BEHIND_ACK')
      expect(c.acknowledged).toEqual({ height: 5, hash: 'cd'.repeat(32) })
      expect(c.head).toEqual({ height: 1, hash: h1 })
      expect(c.message).toMatch(/behind block 5/)
    }
    const report = await tree.audit()
    expect(report.mismatches.map((m) => m.kind)).toEqual(['ack'])
    // The chain grows past the acknowledged height with other blocks: the acknowledged block was replaced.
    let h = tree.head().header
    for (let i = 0; i < 5; i++) {
      const b = child(h)
      await tree.addBlock(b)
      h = b.header
    }
    await tree.close()
    tree = await openTree(dbPath)
    const r = tree.ackCheck()
    expect(r.ok ? undefined : r.code).toBe('ACK_BLOCK_REPLACED')
    expect((await tree.audit()).mismatches.map((m) => m.kind)).toEqual(['ack'])
  })
})

describe('genesis drift', () => {
  it('refuses to open with a changed genesis and names the field', async () => {
    tree = await openTree(dbPath)
    await tree.close()
    tree = undefined
    const changed = { ...makeGenesis(), blockTimeMs: 2000 }
    const err = await openTree(dbPath, { genesis: changed, genesisSource: 'conf/genesis.json' }).catch((e) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect(err.code).toBe('GENESIS_MISMATCH')
    expect(err.message).toContain('conf/genesis.json')
    expect(err.message).toContain('blockTimeMs: 1000 → 2000')
    // The unchanged genesis still opens.
    tree = await openTree(dbPath)
  })

  it('stores the genesis digest into a store made by older code, with an info log, then enforces it', async () => {
    tree = await openTree(dbPath)
    await tree.close()
    tree = undefined
    // Older code stored no genesis digest: remove it.
    const raw = new Level<string, Uint8Array>(dbPath, { valueEncoding: 'view' })
    await raw.batch([
      { type: 'del', key: '!z!genesisConfig' },
      { type: 'del', key: '!z!genesisJson' },
    ])
    await raw.close()
    const logs: string[] = []
    // Layout 2: the genesis hash commits to every field, so the digest is re-stored for the same genesis only.
    tree = await openTree(dbPath, { log: (m) => logs.push(m) })
    expect(logs.join('\n')).toMatch(/genesis digest stored/)
    await tree.close()
    tree = undefined
    const err = await openTree(dbPath, { genesis: { ...makeGenesis(), blockTimeMs: 3000 } }).catch((e) => e)
    expect(err.code).toBe('GENESIS_MISMATCH')
    expect(err.message).toContain('blockTimeMs: 1000 → 3000')
  })
})

describe('orphan pool', () => {
  it('never holds more than maxOrphanBytes, evicting the oldest', async () => {
    const cap = 64 * 1024
    tree = await openTree(dbPath, { maxOrphanBytes: cap })
    const big = 'x'.repeat(1000)
    let parent = child(tree.head().header).header // never added: everything below is an orphan
    let max = 0
    for (let i = 0; i < 30; i++) {
      const txs = Array.from({ length: 20 }, () => makeTx(undefined, { note: big }))
      const b = child(parent, { txs })
      expect((await tree.addBlock(b)).status).toBe('orphan')
      parent = b.header
      const st = await tree.stats()
      expect(st.orphanBytes).toBeLessThanOrEqual(cap)
      max = Math.max(max, st.orphans)
    }
    const st = await tree.stats()
    expect(st.orphans).toBeGreaterThan(1)
    expect(st.orphans).toBeLessThan(30)
    expect(max).toBeLessThan(30)
    expect(st.orphanBytes).toBeGreaterThan(cap / 2)
  })
})

describe('deferred receipts', () => {
  it('removes txs from the outbox and keeps them for a retry, durably, counting attempts', async () => {
    tree = await openTree(dbPath)
    const txs = [makeTx('a'), makeTx('b'), makeTx('c')]
    await tree.outbox.addMany(txs.map((tx) => ({ tx })))
    await tree.addBlock(child(tree.head().header, { txs }), { payloads: payloadsOf(txs) })
    const [a, b, c] = txs.map(txIdHex)
    await tree.outbox.deferReceipts([
      { txId: a, code: 'ENAMETOOLONG', message: 'name too long' },
      { txId: b, code: 'EIO', message: 'i/o' },
    ])
    expect(await tree.outbox.size()).toBe(1)
    expect((await tree.outbox.confirmed(1)).map((l) => l.txId)).toEqual([c])
    expect(await tree.outbox.deferredCount()).toBe(2)
    await tree.outbox.deferReceipts([{ txId: a, code: 'ENAMETOOLONG', message: 'again' }])
    await tree.close()
    tree = await openTree(dbPath)
    expect(await tree.outbox.size()).toBe(1)
    expect(await tree.outbox.deferredCount()).toBe(2)
    const d = await tree.outbox.deferredReceipts()
    const byId = new Map(d.map((x) => [x.txId, x]))
    expect(byId.get(a)).toMatchObject({ code: 'ENAMETOOLONG', message: 'again', attempts: 2 })
    expect(byId.get(b)).toMatchObject({ code: 'EIO', attempts: 1 })
    const ea = byId.get(a)
    expect(ea && ea.lastFailedAt >= ea.firstFailedAt).toBe(true)
    expect(await tree.outbox.deferredReceipts(1)).toHaveLength(1)
    await tree.outbox.clearDeferred([a, 'ff'.repeat(32)])
    expect(await tree.outbox.deferredCount()).toBe(1)
    await tree.close()
    tree = await openTree(dbPath)
    expect((await tree.outbox.deferredReceipts()).map((x) => x.txId)).toEqual([b])
    expect(await tree.outbox.deferredCount()).toBe(1)
  })
})
