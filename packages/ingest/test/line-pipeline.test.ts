import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, type Transaction, txIdHex } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createFileIngest, type FileIngest } from '../src/index.js'
import { ingestHarness, listFiles, MemoryOutbox, waitFor } from './helpers.js'

// Issue 12, JSONL front end: a big line file's batches are pipelined (batch n+1 built and signed while
// batch n is written, written only after it), and the decoder check of one record covers a file's lines.
const { setup, cleanup, track } = ingestHarness()
afterEach(cleanup)

/** Fails the n-th addMany (1-based) once, before storing anything; remembers batch sizes in order. */
class FlakyOutbox extends MemoryOutbox {
  readonly batches: number[] = []
  calls = 0
  constructor(private readonly failAt: number) {
    super()
  }
  override async addMany(items: Array<{ tx: Transaction; dedupeKey?: string }>) {
    this.calls++
    // Slow writes: the next batch is prepared meanwhile.
    await new Promise((r) => setTimeout(r, 20))
    if (this.calls === this.failAt) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
    this.batches.push(items.length)
    // MemoryOutbox's own addMany scans every stored tx per item (quadratic over 5,500 lines): by key here.
    return items.map(({ tx, dedupeKey }) => {
      const prev = dedupeKey !== undefined ? this.keys.get(dedupeKey) : undefined
      if (prev !== undefined) return { txId: prev, duplicate: true }
      const id = txIdHex(tx)
      this.txs.push(tx)
      if (dedupeKey !== undefined) this.keys.set(dedupeKey, id)
      return { txId: id, duplicate: false }
    })
  }

  override async nextSeq(): Promise<number> {
    return this.txs.length === 0 ? 0 : this.txs[this.txs.length - 1].body.seq + 1
  }
}

const LINES = 5_500 // three batches of at most 2,000 (batchRecords)

describe('line-mode front end (issue 12)', () => {
  it('a big file whose 2nd batch fails: the stored batches are a prefix, the retry adds each line once with contiguous seqs', async () => {
    const outbox = new FlakyOutbox(2)
    const { inbox, make, dir } = await setup({ lineMode: { patterns: ['**/*.jsonl'] }, batchRecords: 2_000 }, outbox)
    await writeFile(join(inbox, 'big.jsonl'), `${Array.from({ length: LINES }, (_, i) => JSON.stringify({ i })).join('\n')}\n`)
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 1, 'big.jsonl accepted after the retry', 30_000)
    // First attempt: batch 1 stored, batch 2 failed, batch 3 never written; the retry stores 2 and 3.
    expect(outbox.batches).toEqual([2000, 2000, 1500])
    const lines = outbox.txs.map((t) => Number(t.body.metadata.line))
    expect(lines).toEqual(Array.from({ length: LINES }, (_, i) => i + 1))
    expect(outbox.txs.map((t) => t.body.seq)).toEqual(Array.from({ length: LINES }, (_, i) => i))
    expect(outbox.txs.every((t) => t.body.metadata.processed === 'big.jsonl' && t.body.metadata.lines === String(LINES))).toBe(true)
    expect(await listFiles(dir('processed'))).toEqual(['big.jsonl'])
  })

  it('records that break the decoder rules are never signed: line files (small and big) and whole files are rejected on their own', async () => {
    const { root, inbox, dir } = await setup()
    const outbox = new MemoryOutbox()
    // A network name over the format's limit makes every body invalid.
    const ingest: FileIngest = createFileIngest(
      { inbox, stableMs: 100, rescanMs: 0, lineMode: { patterns: ['**/*.jsonl'] } },
      { network: 'n'.repeat(65), key: generateKeyPair(), outbox },
    )
    track(ingest)
    await mkdir(join(root, 'inbox', 'sub'), { recursive: true })
    await writeFile(join(inbox, 'small.jsonl'), '{"a":1}\n{"a":2}\n')
    await writeFile(join(inbox, 'sub', 'big.jsonl'), `${Array.from({ length: 2_500 }, (_, i) => `{"i":${i}}`).join('\n')}\n`)
    await writeFile(join(inbox, 'whole.bin'), 'bytes')
    await ingest.start()
    await waitFor(() => ingest.stats().rejected === 3, 'three files rejected', 20_000)
    expect(outbox.txs).toHaveLength(0)
    const rejected = await listFiles(dir('rejected'))
    expect(rejected.filter((n) => !n.endsWith('.reason'))).toEqual(['small.jsonl', 'sub/big.jsonl', 'whole.bin'])
    expect(await listFiles(dir('processed'))).toEqual([])
  })
})
