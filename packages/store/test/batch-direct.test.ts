import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { del, put, writeBatch } from '../src/context.js'
import { type BinaryDb, openSublevels } from '../src/keys.js'
import { tempDir } from './helpers.js'

// The store's batch helpers hand ops after a batch's first straight to classic-level's native batch (the
// public put/del cost ~1 µs of JS per op): the same bytes must land, and every op must still take the public
// path where abstract-level has work to do per op (a prewrite hook, a 'write' listener).

const key = (i: number): Uint8Array => Uint8Array.from([i >> 8, i & 0xff, 7])
const value = (i: number): Uint8Array => new Uint8Array(50).fill(i & 0xff)

async function withDb(fn: (db: BinaryDb) => Promise<void>): Promise<void> {
  const dir = await tempDir()
  const db: BinaryDb = new Level<Uint8Array, Uint8Array>(dir.path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    await fn(db)
  } finally {
    await db.close()
    await dir.cleanup()
  }
}

describe('batch helpers (put/del)', () => {
  it('write every op (puts, overwrites, deletes, across buckets) through one public op per batch, durably across a reopen', async () => {
    const dir = await tempDir()
    let db: BinaryDb = new Level<Uint8Array, Uint8Array>(dir.path, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    try {
      let subs = openSublevels(db)
      const b = db.batch()
      let publicOps = 0
      const { put: publicPut, del: publicDel } = b
      b.put = (...args: Parameters<typeof b.put>) => {
        publicOps++
        return publicPut.apply(b, args)
      }
      b.del = (...args: Parameters<typeof b.del>) => {
        publicOps++
        return publicDel.apply(b, args)
      }
      expect(b.length).toBe(0)
      for (let i = 0; i < 300; i++) put(b, i % 2 === 0 ? subs.payload : subs.txIndex, key(i), value(i))
      for (let i = 0; i < 300; i += 3) del(b, i % 2 === 0 ? subs.payload : subs.txIndex, key(i))
      put(b, subs.payload, key(0), value(99))
      expect(publicOps).toBe(1)
      expect(b.length).toBeGreaterThan(0)
      await writeBatch(b, 'test batch', { sync: true })
      await db.close()
      db = new Level<Uint8Array, Uint8Array>(dir.path, { keyEncoding: 'view', valueEncoding: 'view' })
      await db.open()
      subs = openSublevels(db)
      for (let i = 0; i < 300; i++) {
        const got = await (i % 2 === 0 ? subs.payload : subs.txIndex).get(key(i))
        if (i === 0) expect(got).toEqual(value(99))
        else if (i % 3 === 0) expect(got).toBeUndefined()
        else expect(got).toEqual(value(i))
      }
      // Nothing landed outside its bucket: exactly the keys put and not deleted, under the two prefixes.
      let n = 0
      for await (const _ of db.keys()) n++
      expect(n).toBe(300 - 100 + 1)
    } finally {
      await db.close()
      await dir.cleanup()
    }
  })

  it('a batch with only a first op is written (its length is not 0)', async () => {
    await withDb(async (db) => {
      const subs = openSublevels(db)
      const b = db.batch()
      del(b, subs.payload, key(1))
      expect(b.length).toBe(1)
      put(b, subs.payload, key(2), value(2))
      await writeBatch(b, 'test batch', { sync: true })
      expect(await subs.payload.get(key(2))).toEqual(value(2))
    })
  })

  it('take the public path for every op when the DB has a prewrite hook or a write listener', async () => {
    await withDb(async (db) => {
      const subs = openSublevels(db)
      const hooked: number[] = []
      const hook = (op: { key: Uint8Array }): void => {
        hooked.push(op.key.byteLength)
      }
      db.hooks.prewrite.add(hook)
      const b = db.batch()
      for (let i = 0; i < 10; i++) put(b, subs.payload, key(i), value(i))
      await writeBatch(b, 'hooked batch')
      expect(hooked).toHaveLength(10)
      db.hooks.prewrite.delete(hook)
      const seen: number[] = []
      const listener = (ops: unknown[]): void => {
        seen.push(ops.length)
      }
      db.on('write', listener)
      const b2 = db.batch()
      for (let i = 0; i < 10; i++) del(b2, subs.payload, key(i))
      await writeBatch(b2, 'listened batch')
      db.off('write', listener)
      expect(seen).toEqual([10])
      for (let i = 0; i < 10; i++) expect(await subs.payload.get(key(i))).toBeUndefined()
    })
  })
})
