import { execFileSync } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, txIdHex } from '@profichain/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFileIngest } from '../src/index.js'
import { listFiles, MemoryOutbox, tmpRoot, waitFor } from './helpers.js'

// Issue 10 item 5: a real full file system (a 4 MiB tmpfs) under processed/, rejected/ and receipts/.
let root: string
let out: string

beforeAll(async () => {
  root = await tmpRoot()
  out = join(root, 'out')
  await mkdir(out)
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', out], { stdio: 'pipe' })
  } catch (err) {
    throw new Error(
      `the disk-full test mounts a tmpfs and must run as root (it does here and in CI): ${String((err as { stderr?: Buffer }).stderr ?? err)}`,
    )
  }
})

afterAll(async () => {
  try {
    execFileSync('umount', [out], { stdio: 'pipe' })
  } catch {}
  await rm(root, { recursive: true, force: true })
})

/** Fill the file system under `dir` until it refuses more (ENOSPC). */
async function fill(dir: string): Promise<string> {
  const filler = join(dir, 'filler.bin')
  try {
    await writeFile(filler, Buffer.alloc(8 * 1024 * 1024, 1))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  }
  return filler
}

describe('ingest on a full disk (issue 10 item 5)', () => {
  it('keeps files in the inbox, reports DISK_FULL, and recovers by itself once space is back', async () => {
    const inbox = join(root, 'inbox')
    const outbox = new MemoryOutbox()
    const ingest = createFileIngest({
      inbox,
      processedDir: join(out, 'processed'),
      rejectedDir: join(out, 'rejected'),
      receiptsDir: join(out, 'receipts'),
      stableMs: 50,
      rescanMs: 0,
      lineMode: { patterns: ['**/*.csv'] },
    }, { network: 'testnet', key: generateKeyPair(), outbox })
    await ingest.start()
    try {
      await writeFile(join(inbox, 'first.json'), '{"ok":true}')
      await waitFor(() => ingest.stats().accepted === 1, 'first file accepted')
      expect(ingest.health()).toEqual({ ok: true })

      const filler = await fill(out)
      await writeFile(join(inbox, 'report.json'), JSON.stringify({ pad: 'x'.repeat(64 * 1024) }))
      await writeFile(join(inbox, 'bad.csv'), 'only,a,header\n') // would be rejected: needs space too
      await waitFor(() => !ingest.health().ok, 'health reports the full disk')
      expect(ingest.health()).toMatchObject({ ok: false, code: 'DISK_FULL' })
      expect(ingest.health().message).toMatch(/ENOSPC.*free space/)
      // A receipt that cannot be written fails alone, with its code.
      const [first] = outbox.txs
      const outcome = await ingest.writeReceipts(
        [{ txId: txIdHex(first), metadata: first.body.metadata }],
        async () => ({ hash: 'ab'.repeat(32), pad: 'y'.repeat(16 * 1024) }),
      )
      expect(outcome.failed).toMatchObject([{ txId: txIdHex(first), code: 'ENOSPC' }])
      // Nothing is lost or rejected meanwhile: the files wait in the inbox and are retried.
      const retriedBefore = outbox.txs.length
      await waitFor(async () => (await listFiles(inbox)).length === 2 && ingest.stats().pending > 0, 'files wait in the inbox')
      expect(ingest.stats()).toMatchObject({ accepted: 1, rejected: 0 })
      expect(await listFiles(join(out, 'rejected'))).toEqual([])

      await rm(filler)
      await waitFor(() => ingest.stats().accepted === 2 && ingest.stats().rejected === 1, 'recovered', 15_000)
      expect(await listFiles(inbox)).toEqual([])
      expect(await readFile(join(out, 'processed', 'report.json'), 'utf8')).toMatch(/^\{"pad"/)
      expect(await readFile(join(out, 'rejected', 'bad.csv.reason'), 'utf8')).toMatch(/only its header/)
      expect(outbox.txs.length).toBeGreaterThanOrEqual(retriedBefore)
      const again = await ingest.writeReceipts(
        [{ txId: txIdHex(first), metadata: first.body.metadata }],
        async () => ({ hash: 'ab'.repeat(32) }),
      )
      expect(again.written).toEqual([txIdHex(first)])
      expect(ingest.health()).toEqual({ ok: true })
    } finally {
      await ingest.stop()
    }
  })
})
