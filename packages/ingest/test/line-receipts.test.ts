import { createReadStream } from 'node:fs'
import { mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { generateKeyPair } from '@profichain/core'
import { afterAll, describe, expect, it } from 'vitest'
import { createFileIngest, type ReceiptSource, readLineReceipts } from '../src/index.js'
import { MemoryOutbox, tmpRoot } from './helpers.js'

// Issue 10 item 2: receipts of a 1,000,000-line export, written in batches as blocks confirm.
const LINES = 1_000_000
const BATCH = 10_000
let root: string | undefined

// A real collection before each heap sample, so the samples measure what is kept, not garbage.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heapUsed = () => {
  gc()
  return process.memoryUsage().heapUsed
}

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

async function countLines(path: string): Promise<number> {
  let n = 0
  for await (const chunk of createReadStream(path)) {
    for (const b of chunk as Buffer) if (b === 0x0a) n++
  }
  return n
}

describe('line-mode receipts at scale', () => {
  it('append 1,000,000 line receipts in linear time and bounded memory', async () => {
    root = await tmpRoot()
    const inbox = join(root, 'inbox')
    await mkdir(inbox)
    const ingest = createFileIngest({ inbox }, { network: 'testnet', key: generateKeyPair(), outbox: new MemoryOutbox() })
    const txId = (i: number) => i.toString(16).padStart(64, '0')
    // A cheap fake proof of realistic shape (Chainpoint-like, ~150 bytes).
    const receiptFor = async (id: string) => ({ hash: id, proof_id: id.slice(48), anchor: 5 })
    const meta = { source: 'file', path: 'big.jsonl', processed: 'big.jsonl', lines: String(LINES) }
    const heapBefore = heapUsed()
    let peak = heapBefore
    for (let from = 1; from <= LINES; from += BATCH) {
      const batch: ReceiptSource[] = []
      for (let line = from; line < from + BATCH; line++) batch.push({ txId: txId(line), metadata: { ...meta, line: String(line) } })
      const out = await ingest.writeReceipts(batch, receiptFor)
      expect(out.written.length).toBe(BATCH)
      if ((from - 1) % (10 * BATCH) === 0) peak = Math.max(peak, heapUsed())
    }
    const file = join(root, 'receipts', 'big.jsonl.chp.jsonl')
    const size = (await stat(file)).size
    expect(size).toBeGreaterThan(150 * LINES)
    expect(await countLines(file)).toBe(LINES)
    // Memory does not follow the file: the file is > 150 MB, what the heap keeps stays below 32 MB.
    peak = Math.max(peak, heapUsed())
    expect(peak - heapBefore).toBeLessThan(32 * 1024 * 1024)

    // A receipt re-issued after a reorg is appended; the later one wins when reading.
    await ingest.writeReceipts([{ txId: txId(7), metadata: { ...meta, line: '7' } }], async (id) => ({ hash: id, anchor: 6 }))
    expect(await countLines(file)).toBe(LINES + 1)
  }, 60_000)

  it('reads a line receipt file with later entries winning and a torn last line ignored', async () => {
    root ??= await tmpRoot()
    const dir = join(root, 'small')
    const inbox = join(dir, 'inbox')
    await mkdir(inbox, { recursive: true })
    const ingest = createFileIngest({ inbox }, { network: 'testnet', key: generateKeyPair(), outbox: new MemoryOutbox() })
    const meta = { source: 'file', path: 'e.jsonl', processed: 'e.jsonl' }
    const r = (tag: string) => async (id: string) => ({ hash: id, tag })
    await ingest.writeReceipts(
      [
        { txId: 'b', metadata: { ...meta, line: '2' } },
        { txId: 'a', metadata: { ...meta, line: '1' } },
      ],
      r('first'),
    )
    await ingest.writeReceipts([{ txId: 'b', metadata: { ...meta, line: '2' } }], r('reissued'))
    const file = join(dir, 'receipts', 'e.jsonl.chp.jsonl')
    const { appendFile } = await import('node:fs/promises')
    await appendFile(file, '{"line":3,"txId":"c","rec') // a crash mid-append
    expect(await readLineReceipts(file)).toEqual([
      { line: 1, txId: 'a', receipt: { hash: 'a', tag: 'first' } },
      { line: 2, txId: 'b', receipt: { hash: 'b', tag: 'reissued' } },
    ])
    // The next append starts on a fresh line, so the torn one never corrupts a good entry.
    await ingest.writeReceipts([{ txId: 'c', metadata: { ...meta, line: '3' } }], r('first'))
    expect((await readLineReceipts(file)).map((e) => e.txId)).toEqual(['a', 'b', 'c'])
  })
})
