import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { getCrypto, type Transaction, verifyTxSignature } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createFileIngest } from '../src/index.js'
import { ingestHarness, listFiles, MemoryOutbox, waitFor } from './helpers.js'

// Issue 12: group commit — the records of the files that are ready while one outbox batch is written go
// into the next batch together (one atomic batch, one fsync for many files); the files move after it.
const { key, setup, cleanup, track } = ingestHarness()
afterEach(cleanup)

/** MemoryOutbox that remembers how many records each addMany batch held. */
class CountingOutbox extends MemoryOutbox {
  readonly batches: number[] = []
  /** Fail the next n batches before storing anything (e.g. the store's disk is full). */
  failNext = 0
  /** Lookups find nothing (a run that never gets past the batch: every retry reaches addMany again). */
  hideKeys = false

  override async lookup(dedupeKey: string): Promise<string | undefined> {
    return this.hideKeys ? undefined : super.lookup(dedupeKey)
  }

  override async addMany(items: Array<{ tx: Transaction; dedupeKey?: string }>) {
    if (this.failNext > 0) {
      this.failNext--
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    }
    this.batches.push(items.length)
    return super.addMany(items)
  }
}

const FILES = 150

async function dropFiles(inbox: string, n: number): Promise<Map<string, string>> {
  const content = new Map<string, string>()
  for (let i = 0; i < n; i++) {
    const name = `f${String(i).padStart(3, '0')}.json`
    content.set(name, JSON.stringify({ i, pad: 'x'.repeat(i) }))
    await writeFile(join(inbox, name), content.get(name) as string)
  }
  return content
}

describe('group commit (issue 12)', () => {
  it('records many files in few outbox batches, each once, with contiguous seqs, then moves them', async () => {
    const outbox = new CountingOutbox()
    const { inbox, make, dir } = await setup({}, outbox)
    const content = await dropFiles(inbox, FILES)
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === FILES, `${FILES} files accepted`, 30_000)

    expect(outbox.txs).toHaveLength(FILES)
    expect(outbox.txs.map((t) => t.body.seq).sort((a, b) => a - b)).toEqual([...Array(FILES).keys()])
    // Fewer batches than files: several files shared one batch.
    expect(outbox.batches.reduce((a, b) => a + b, 0)).toBe(FILES)
    expect(outbox.batches.length).toBeLessThan(FILES)
    expect(Math.max(...outbox.batches)).toBeGreaterThan(1)
    expect(await listFiles(inbox)).toEqual([])
    expect(await listFiles(dir('processed'))).toEqual([...content.keys()].sort())
    // Each record names the processed file that holds exactly its payload.
    for (const tx of outbox.txs) {
      const processed = tx.body.metadata.processed
      expect(await readFile(join(dir('processed'), processed))).toEqual(Buffer.from(tx.payload))
    }
  })

  it('a crash after a group batch and before the moves: the restart moves every file and records nothing twice', async () => {
    const outbox = new CountingOutbox()
    const { inbox, make, dir } = await setup({}, outbox)
    const content = await dropFiles(inbox, FILES)
    // First run "dies" right after every batch is stored: no file of any group is moved (its in-process
    // retries find no key and reach the failing batch again, as a process killed there would).
    outbox.hideKeys = true
    outbox.afterAddMany = () => {
      throw new Error('simulated crash after addMany')
    }
    const first = make()
    await first.start()
    await waitFor(() => outbox.txs.length === FILES, `first run recorded ${FILES} files`, 30_000)
    await first.stop()
    expect(Math.max(...outbox.batches)).toBeGreaterThan(1)
    expect(await listFiles(inbox)).toEqual([...content.keys()].sort())
    expect(first.stats().accepted).toBe(0)

    outbox.afterAddMany = undefined
    outbox.hideKeys = false
    const batchesBefore = outbox.batches.length
    const second = make()
    await second.start()
    await waitFor(() => second.stats().accepted === FILES, 'second run moved every file', 30_000)
    expect(outbox.txs).toHaveLength(FILES)
    expect(second.stats().records).toBe(0)
    // Every dedupe key was found: the second run wrote no batch.
    expect(outbox.batches.length).toBe(batchesBefore)
    expect(await listFiles(inbox)).toEqual([])
    expect(await listFiles(dir('processed'))).toEqual([...content.keys()].sort())
  })

  it('a batch the outbox refuses (disk full) keeps all its files in the inbox; they are retried and recorded once', async () => {
    const outbox = new CountingOutbox()
    outbox.failNext = 2
    const { inbox, make, dir } = await setup({}, outbox)
    const content = await dropFiles(inbox, 40)
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 40, '40 files accepted after the retries', 30_000)
    expect(outbox.failNext).toBe(0)
    expect(outbox.txs).toHaveLength(40)
    expect(new Set(outbox.txs.map((t) => t.body.metadata.path)).size).toBe(40)
    expect(outbox.txs.map((t) => t.body.seq).sort((a, b) => a - b)).toEqual([...Array(40).keys()])
    expect(await listFiles(dir('processed'))).toEqual([...content.keys()].sort())
    expect(ingest.health()).toEqual({ ok: true })
  })

  it("signs through the given signer (the node's worker pool) for big batches: every signature verifies", async () => {
    const outbox = new CountingOutbox()
    const { inbox, dir } = await setup({}, outbox)
    await dropFiles(inbox, 60)
    await writeFile(join(inbox, 'lines.jsonl'), `${Array.from({ length: 500 }, (_, i) => JSON.stringify({ i })).join('\n')}\n`)
    const signed: number[] = []
    const ingest = createFileIngest(
      { inbox, stableMs: 100, rescanMs: 0, lineMode: { patterns: ['**/*.jsonl'] } },
      {
        network: 'testnet',
        key,
        outbox,
        signer: async (msgs) => {
          signed.push(msgs.length)
          return msgs.map((m) => getCrypto().sign(key.seed, m))
        },
      },
    )
    track(ingest)
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 61, '61 files accepted', 30_000)
    expect(outbox.txs).toHaveLength(560)
    for (const tx of outbox.txs) expect(verifyTxSignature(tx)).toBe(true)
    expect(outbox.txs.map((t) => t.body.seq).sort((a, b) => a - b)).toEqual([...Array(560).keys()])
    // The 500 lines went through the signer; batches under 16 records may have been signed inline.
    expect(signed.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(500)
    expect(Math.min(...signed)).toBeGreaterThanOrEqual(16)
    expect((await listFiles(dir('processed'))).length).toBe(61)
  })

  it('more files than may be in flight, and one bigger than the byte budget: each recorded once, groups of at most groupFiles, bytes held within the budget', async () => {
    // 16 in flight, 4 files per group at most (as 1,024 of the default 4,096); a take counts 64 KiB until the size is known, so at most
    // three takes fit the 192 KiB budget at once; the 256 KiB file runs only when nothing else is held.
    const budget = 3 * 64 * 1024
    const outbox = new CountingOutbox()
    const { inbox, make, dir } = await setup({ concurrency: 16, groupFiles: 4, maxInflightBytes: budget }, outbox)
    const content = await dropFiles(inbox, FILES)
    const big = 'y'.repeat(256 * 1024)
    await writeFile(join(inbox, 'big.json'), JSON.stringify({ big }))
    const ingest = make()
    const held = ingest as unknown as { inflightBytes: number }
    let peak = 0
    let peakWithBig = 0
    const sample = setInterval(() => {
      if (held.inflightBytes > budget) peakWithBig = Math.max(peakWithBig, held.inflightBytes)
      else peak = Math.max(peak, held.inflightBytes)
    }, 1)
    try {
      await ingest.start()
      await waitFor(() => ingest.stats().accepted === FILES + 1, `${FILES + 1} files accepted`, 30_000)
    } finally {
      clearInterval(sample)
    }
    expect(held.inflightBytes).toBe(0)
    expect(peak).toBeLessThanOrEqual(budget)
    // Above the budget only the big file, alone.
    if (peakWithBig > 0) expect(peakWithBig).toBe(JSON.stringify({ big }).length)
    expect(outbox.txs).toHaveLength(FILES + 1)
    expect(outbox.txs.map((t) => t.body.seq).sort((a, b) => a - b)).toEqual([...Array(FILES + 1).keys()])
    expect(Math.max(...outbox.batches)).toBeLessThanOrEqual(4)
    expect((await listFiles(dir('processed'))).filter((f) => f !== 'big.json')).toEqual([...content.keys()].sort())
    expect(await listFiles(inbox)).toEqual([])
  })
})
