import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Bucket, GlobalBucket, LAYOUT_VERSION, StoreError } from '../src/index.js'
import { META, openSublevels, PayloadBucket, readU64, u64 } from '../src/keys.js'
import { child, openTree, tempDir } from './helpers.js'

let dir: { path: string; cleanup: () => Promise<void> }

beforeEach(async () => {
  dir = await tempDir()
})

afterEach(async () => {
  await dir.cleanup()
})

/** Read or change the raw DB with the store closed. */
async function raw<T>(path: string, fn: (meta: ReturnType<typeof openSublevels>['meta']) => Promise<T>): Promise<T> {
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    return await fn(openSublevels(db).meta)
  } finally {
    await db.close()
  }
}

describe('on-disk layout', () => {
  it('keeps the bucket prefixes of layout 1 in layouts 2 and 3 (docs/storage.md)', () => {
    expect(LAYOUT_VERSION).toBe(3)
    expect(PayloadBucket).toEqual({ payloadPin: 'P' })
    expect(GlobalBucket).toEqual({ logNode: 'g', logMeta: 'G', witnessState: 'w', witnessEvidence: 'W' })
    expect(Bucket).toEqual({
      header: 'h',
      strippedTx: 'x',
      leaves: 'l',
      blockMeta: 'm',
      canonical: 'c',
      txIndex: 'i',
      payloadIndex: 'p',
      payload: 'd',
      outbox: 'o',
      outboxOrder: 'O',
      dedupe: 'k',
      originSeq: 'q',
      mempool: 't',
      deferredReceipt: 'r',
      meta: 'z',
    })
  })

  it('writes layout version 3 under meta "schema" when it creates a store', async () => {
    const tree = await openTree(dir.path)
    await tree.close()
    const v = await raw(dir.path, (meta) => meta.get(new Uint8Array(Buffer.from('schema'))))
    expect(v).toBeDefined()
    expect(readU64(v as Uint8Array)).toBe(3)
  })

  it('refuses a store of another layout version with ERR_STORE_LAYOUT, and releases the DB', async () => {
    const tree = await openTree(dir.path)
    await tree.close()
    await raw(dir.path, (meta) => meta.put(META.layout, u64(4)))
    const err = await openTree(dir.path).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect(StoreError.is(err, 'ERR_STORE_LAYOUT')).toBe(true)
    const e = err as StoreError<'ERR_STORE_LAYOUT'>
    expect(e.meta).toMatchObject({ path: dir.path, found: 4, expected: 3 })
    expect(e.message).toMatch(/layout version 4/)
    expect(e.message).toMatch(/reads layout 3 \(and upgrades layout 2\) only/)
    // Not locked: the refused open closed the DB, and nothing was rewritten.
    expect(readU64((await raw(dir.path, (meta) => meta.get(META.layout))) as Uint8Array)).toBe(4)
  })

  it('refuses an unreadable layout version', async () => {
    const tree = await openTree(dir.path)
    await tree.close()
    await raw(dir.path, (meta) => meta.put(META.layout, new Uint8Array([1, 2, 3])))
    await expect(openTree(dir.path)).rejects.toMatchObject({
      code: 'ERR_STORE_LAYOUT',
      meta: { found: null, expected: 3 },
    })
  })

  it('refuses an old data dir (layout 1, no version stored) and says what to do, rewriting nothing', async () => {
    const tree = await openTree(dir.path)
    await tree.addBlock(child(tree.head().header))
    await tree.close()
    await raw(dir.path, (meta) => meta.del(META.layout))
    const err = await openTree(dir.path).catch((e: unknown) => e)
    expect(StoreError.is(err, 'ERR_STORE_LAYOUT')).toBe(true)
    const e = err as StoreError<'ERR_STORE_LAYOUT'>
    expect(e.meta).toMatchObject({ found: 1, expected: 3 })
    expect(e.message).toMatch(/layout version 1/)
    expect(e.message).toMatch(/fresh data dir/)
    expect(e.message).toMatch(/profichain init/)
    expect(await raw(dir.path, (meta) => meta.get(META.layout))).toBeUndefined()
    // Layout 1 again: still refused (the refusal closed the DB).
    await raw(dir.path, (meta) => meta.put(META.layout, u64(1)))
    await expect(openTree(dir.path)).rejects.toMatchObject({ code: 'ERR_STORE_LAYOUT', meta: { found: 1 } })
  })
})
