import { execFileSync } from 'node:child_process'
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { txIdHex } from '@profichain/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BlockTree, StoreError } from '../src/index.js'
import { child, makeTx, openTree, payloadsOf, tempDir } from './helpers.js'

// A real full disk: a small tmpfs (tests run as root, locally and in CI).
let dir: { path: string; cleanup: () => Promise<void> }
let mnt: string
let mounted = false
let tree: BlockTree | undefined

beforeAll(async () => {
  dir = await tempDir()
  mnt = join(dir.path, 'mnt')
  await mkdir(mnt)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { stdio: 'pipe' })
    mounted = true
  } catch (err) {
    throw new Error(
      `disk-full test: cannot mount a 4 MiB tmpfs at ${mnt} (needs root or CAP_SYS_ADMIN): ${(err as Error).message}`,
    )
  }
})

afterAll(async () => {
  await tree?.close().catch(() => undefined)
  if (mounted) execFileSync('umount', [mnt])
  await dir.cleanup()
})

/** Fill the file system until `leave` bytes are free. */
async function fill(path: string, leave: number): Promise<void> {
  const s = await statfs(mnt)
  const free = s.bavail * s.bsize
  await writeFile(path, new Uint8Array(Math.max(0, free - leave)))
}

describe('disk full', () => {
  it('a write that hits ENOSPC marks the store DISK_FULL, and it writes again by itself once space is back', async () => {
    tree = await openTree(join(mnt, 'db'))
    const t = tree
    expect(t.health()).toEqual({ ok: true })
    const filler = join(mnt, 'filler')
    await fill(filler, 64 * 1024)

    const txs = [makeTx('x'.repeat(400 * 1024))]
    const b1 = child(t.head().header, { txs })
    const err = await t.addBlock(b1, { payloads: payloadsOf(txs) }).catch((e) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect(t.health()).toMatchObject({ ok: false, code: 'DISK_FULL', message: expect.stringMatching(/disk is full/) })
    expect(t.head().height).toBe(0)
    // Still full: still failing, still reported.
    await expect(t.outbox.add(makeTx('y'.repeat(300 * 1024)))).rejects.toBeInstanceOf(StoreError)
    expect(t.health()).toMatchObject({ ok: false, code: 'DISK_FULL' })

    // Space is back: the same block is stored, health clears, and later writes work too.
    await rm(filler)
    const r = await t.addBlock(b1, { payloads: payloadsOf(txs) })
    expect(r.status).toBe('added')
    expect(t.health()).toEqual({ ok: true })
    const more = makeTx('z')
    await t.outbox.add(more)
    await t.addBlock(child(b1.header, { txs: [more] }))
    expect(t.head().height).toBe(2)
    expect(await t.getPayload(txIdHex(txs[0]))).toEqual(txs[0].payload)

    await t.close()
    tree = await openTree(join(mnt, 'db'))
    expect(tree.head().height).toBe(2)
    expect((await tree.audit()).mismatches).toEqual([])
  })
})
