// The block log over LevelDB (DESIGN §11): leaves = final canonical block hashes, complete subtree hashes on
// disk, proofs between any two sizes that verify with the tlog library; signed checkpoints.
import { toHex } from '@profichain/core'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createBlockLog,
  createCheckpointStore,
  LogError,
  logNodeKey,
  networkVkeys,
} from '../src/log/index.js'
import {
  cosign,
  cosignerVerifier,
  leafHash,
  openNote,
  parseCheckpoint,
  parseVkey,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../src/tlog/index.js'
import { FakeChain, openKv, seedKey, tempDir } from './log-helpers.js'

let dir: { path: string; cleanup: () => Promise<void> }
let db: Awaited<ReturnType<typeof openKv>>

beforeEach(async () => {
  dir = await tempDir()
  db = await openKv(dir.path)
})
afterEach(async () => {
  await db.close()
  await dir.cleanup()
})

const leavesOf = (chain: FakeChain, n: number) => Array.from({ length: n }, (_, i) => leafHash(chain.hashOf(i)))

describe('block log', () => {
  it('appends blocks `depth` deep (authority/work) and raises the floor before reading them; roots match rootOf', async () => {
    const chain = new FakeChain()
    const log = await createBlockLog({ depth: 3, batch: 7 }, { kv: db.kv, chain })
    expect(log.size()).toBe(0)
    expect(toHex(await log.root())).toBe(toHex(rootOf([])))
    chain.head = 2
    expect(await log.sync()).toBe(0) // nothing 3 deep yet
    chain.head = 3
    expect(await log.sync()).toBe(1) // genesis
    chain.head = 40
    expect(await log.sync()).toBe(38)
    expect(chain.floors).toEqual([0, 37])
    for (const n of [1, 2, 3, 5, 8, 17, 38]) expect(toHex(await log.root(n))).toBe(toHex(rootOf(leavesOf(chain, n))))
    expect(toHex(await log.leaf(5))).toBe(toHex(leafHash(chain.hashOf(5))))
  })

  it('uses finality instead of depth when the chain has it (quorum)', async () => {
    const chain = new FakeChain()
    chain.head = 10
    chain.final = 8
    const log = await createBlockLog({ depth: 3 }, { kv: db.kv, chain })
    expect(await log.sync()).toBe(9)
  })

  it('survives a reopen: size, border and proofs from the stored subtree hashes', async () => {
    const chain = new FakeChain()
    chain.head = 23
    let log = await createBlockLog({ depth: 0, batch: 4 }, { kv: db.kv, chain })
    await log.sync()
    const root = await log.root()
    log = await createBlockLog({ depth: 0 }, { kv: db.kv, chain })
    expect(log.size()).toBe(24)
    expect(toHex(await log.root())).toBe(toHex(root))
    chain.head = 70
    await log.sync()
    expect(toHex(await log.root())).toBe(toHex(rootOf(leavesOf(chain, 71))))
    // One complete subtree is one stored node.
    expect(await db.kv.get('logNode', logNodeKey(6, 0))).toBeDefined()
    expect(await db.kv.get('logNode', logNodeKey(6, 1))).toBeUndefined()
  })

  it('inclusion and consistency proofs between any two sizes verify (property); mutations do not', async () => {
    const chain = new FakeChain()
    chain.head = 99
    const log = await createBlockLog({ depth: 0 }, { kv: db.kv, chain })
    await log.sync()
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }), fc.nat(), async (a, b, salt) => {
        const [m, n] = a <= b ? [a, b] : [b, a]
        const proof = await log.consistencyProof(m, n)
        const oldRoot = await log.root(m)
        const newRoot = await log.root(n)
        expect(verifyConsistency(m, n, oldRoot, newRoot, proof)).toBe(true)
        const i = salt % n
        const inc = await log.inclusionProof(i, n)
        expect(verifyInclusion(i, n, leafHash(chain.hashOf(i)), inc, newRoot)).toBe(true)
        if (proof.length > 0) {
          const bad = proof.map((p) => p.slice())
          bad[salt % bad.length][salt % 32] ^= 1
          expect(verifyConsistency(m, n, oldRoot, newRoot, bad)).toBe(false)
        }
        if (inc.length > 0) {
          const bad = inc.map((p) => p.slice())
          bad[salt % bad.length][0] ^= 0x80
          expect(verifyInclusion(i, n, leafHash(chain.hashOf(i)), bad, newRoot)).toBe(false)
        }
      }),
      { numRuns: 60 },
    )
  })

  it('refuses proofs for sizes it does not have with a typed error', async () => {
    const chain = new FakeChain()
    chain.head = 9
    const log = await createBlockLog({ depth: 0 }, { kv: db.kv, chain })
    await log.sync()
    for (const f of [
      () => log.consistencyProof(0, 5),
      () => log.consistencyProof(6, 5),
      () => log.consistencyProof(1, 11),
      () => log.inclusionProof(10, 10),
      () => log.inclusionProof(-1, 10),
      () => log.subtree(3, 3),
    ])
      await expect(f()).rejects.toMatchObject({ code: 'ERR_LOG_RANGE' })
    await expect(log.inclusionProof(1.5, 10)).rejects.toBeInstanceOf(LogError)
  })
})

describe('signed checkpoints', () => {
  const origin = 'acme.example/profichain/plant-1'
  const k1 = seedKey(1)

  it('signs the log head as a C2SP checkpoint that verifies with the network vkeys, only when the log grew', async () => {
    const chain = new FakeChain()
    chain.head = 5
    const log = await createBlockLog({ depth: 0 }, { kv: db.kv, chain })
    const store = createCheckpointStore({ origin }, { kv: db.kv, log })
    expect(await store.latest()).toBeUndefined()
    expect(await store.served()).toBeUndefined()
    await log.sync()
    const s1 = await store.signIfGrown([{ keyPair: k1 }])
    expect(s1?.checkpoint).toMatchObject({ origin, size: 6 })
    const vkeys = networkVkeys(origin, [k1.publicKey])
    const opened = openNote(s1?.note as string, vkeys.map(parseVkey))
    expect(parseCheckpoint(opened.text)).toMatchObject({ origin, size: 6 })
    expect(toHex(parseCheckpoint(opened.text).root)).toBe(toHex(rootOf(leavesOf(chain, 6))))
    expect(await store.signIfGrown([{ keyPair: k1 }])).toBeUndefined()
    chain.head = 9
    await log.sync()
    const s2 = await store.signIfGrown([{ keyPair: k1 }])
    expect(s2?.checkpoint.size).toBe(10)
    // Persisted: a new store over the same DB serves it.
    const again = createCheckpointStore({ origin }, { kv: db.kv, log })
    expect((await again.latest())?.note).toBe(s2?.note)
  })

  it('never signs a checkpoint inconsistent with the last one signed', async () => {
    const chain = new FakeChain()
    chain.head = 5
    const log = await createBlockLog({ depth: 0 }, { kv: db.kv, chain })
    const store = createCheckpointStore({ origin }, { kv: db.kv, log })
    await log.sync()
    await store.signIfGrown([{ keyPair: k1 }])
    // Someone rewrote a stored subtree hash (the DB was edited): the log at size 6 has another root now.
    await db.kv.write([{ bucket: 'logNode', key: logNodeKey(2, 0), value: new Uint8Array(32) }])
    chain.head = 9
    await log.sync()
    await expect(store.signIfGrown([{ keyPair: k1 }])).rejects.toMatchObject({ code: 'ERR_LOG_INCONSISTENT' })
    expect((await store.latest())?.checkpoint.size).toBe(6)
  })

  it('keeps only valid cosignatures on the latest checkpoint and serves them with it', async () => {
    const chain = new FakeChain()
    chain.head = 3
    const log = await createBlockLog({ depth: 0 }, { kv: db.kv, chain })
    const store = createCheckpointStore({ origin }, { kv: db.kv, log })
    await log.sync()
    const s = await store.signIfGrown([{ keyPair: k1 }])
    const w = seedKey(7)
    const verifier = cosignerVerifier('witness.example/w1', w.publicKey)
    const line = cosign(s?.text as string, 'witness.example/w1', w, 1_700_000_000)
    expect(await store.addCosignature(s?.text as string, line, verifier)).toBe(true)
    const forged = cosign(s?.text as string, 'witness.example/w1', seedKey(8), 1_700_000_000)
    expect(await store.addCosignature(s?.text as string, forged, verifier)).toBe(false)
    const served = await store.served()
    expect(served).toContain(line)
    expect(served).not.toContain(forged)
    expect(openNote(served as string, [verifier]).verified).toHaveLength(1)
    // A new checkpoint: the old cosignature is not served with it.
    chain.head = 6
    await log.sync()
    await store.signIfGrown([{ keyPair: k1 }])
    expect(await store.served()).not.toContain(line)
  })
})

describe('checkpoints of several validators (gossip)', () => {
  const origin = 'acme.example/profichain/plant-1'
  const v1 = seedKey(1)
  const v2 = seedKey(2)

  it('co-signs a newer checkpoint its log has, merges signatures on the same head, refuses contradictions', async () => {
    const chain = new FakeChain()
    chain.head = 9
    const log = await createBlockLog({ depth: 0 }, { kv: db.kv, chain })
    await log.sync()
    const mine = createCheckpointStore({ origin }, { kv: db.kv, log })
    // A second validator's store over its own DB, same chain.
    const dir2 = await tempDir()
    const db2 = await openKv(dir2.path)
    try {
      const log2 = await createBlockLog({ depth: 0 }, { kv: db2.kv, chain })
      await log2.sync()
      const theirs = createCheckpointStore({ origin }, { kv: db2.kv, log: log2 })
      const t = await theirs.signIfGrown([{ keyPair: v2 }])
      const r = await mine.receive(t?.note as string, [{ keyPair: v1 }])
      expect(r).toMatchObject({ signed: true, changed: true })
      const both = networkVkeys(origin, [v1.publicKey, v2.publicKey]).map(parseVkey)
      expect(openNote(r?.checkpoint.note as string, both).verified).toHaveLength(2)
      // Back at the other validator: same head, signatures merged, nothing signed again.
      const back = await theirs.receive(r?.checkpoint.note as string, [{ keyPair: v2 }])
      expect(back).toMatchObject({ signed: false, changed: true })
      expect(openNote((await theirs.latest())?.note as string, both).verified).toHaveLength(2)
      expect(await theirs.receive(r?.checkpoint.note as string, [{ keyPair: v2 }])).toMatchObject({ changed: false })
      // Stale, or beyond our log: nothing kept.
      chain.head = 12
      await log2.sync()
      const newer = await theirs.signIfGrown([{ keyPair: v2 }])
      expect(await mine.receive(newer?.note as string, [{ keyPair: v1 }])).toBeUndefined() // our log is at 10
      await log.sync()
      expect((await mine.receive(newer?.note as string, [{ keyPair: v1 }]))?.checkpoint.checkpoint.size).toBe(13)
      expect(await mine.receive(t?.note as string, [{ keyPair: v1 }])).toBeUndefined()
      // Another root at a size we have: refused, our latest unchanged.
      chain.tag = 'fork'
      const dir3 = await tempDir()
      const db3 = await openKv(dir3.path)
      try {
        const log3 = await createBlockLog({ depth: 0 }, { kv: db3.kv, chain })
        await log3.sync()
        const forked = await createCheckpointStore({ origin }, { kv: db3.kv, log: log3 }).signIfGrown([{ keyPair: v2 }])
        await expect(mine.receive(forked?.note as string, [{ keyPair: v1 }])).rejects.toMatchObject({ code: 'ERR_LOG_INCONSISTENT' })
        expect((await mine.latest())?.checkpoint.size).toBe(13)
      } finally {
        await db3.close()
        await dir3.cleanup()
      }
    } finally {
      await db2.close()
      await dir2.cleanup()
    }
  })
})
