import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readLineReceipts, writeReceiptFiles } from '../src/receipts.js'
import type { IngestLogger, ReceiptSource } from '../src/types.js'
import { tmpRoot } from './helpers.js'

// Issue 12: the line-mode receipt files of one flush are appended in parallel (each its own fdatasync);
// one that fails fails alone, and `written` keeps the input order.
const quiet: IngestLogger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet }
const roots: string[] = []
afterEach(async () => {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })))
})

describe('line receipt files of one flush (issue 12)', () => {
  it('every file gets its lines, a failing file fails alone, written is in input order', async () => {
    const root = await tmpRoot()
    roots.push(root)
    const dir = join(root, 'receipts')
    // A folder where bad.jsonl's receipt file should be: appending to it fails (EISDIR).
    await mkdir(join(dir, 'bad.jsonl.chp.jsonl'), { recursive: true })
    const committed: ReceiptSource[] = []
    const files = ['a.jsonl', 'bad.jsonl', 'c.jsonl', 'd.jsonl', 'e.jsonl']
    for (let line = 1; line <= 3; line++)
      for (const f of files) committed.push({ txId: `${f}#${line}`, metadata: { source: 'file', path: f, processed: f, line: String(line) } })
    const out = await writeReceiptFiles(dir, committed, async (txId) => ({ hash: txId }), quiet)
    const expected = files.filter((f) => f !== 'bad.jsonl').flatMap((f) => [1, 2, 3].map((l) => `${f}#${l}`))
    expect(out.written).toEqual(expected)
    expect(out.failed.map((f) => f.txId).sort()).toEqual(['bad.jsonl#1', 'bad.jsonl#2', 'bad.jsonl#3'])
    for (const f of files.filter((x) => x !== 'bad.jsonl')) {
      const entries = await readLineReceipts(join(dir, `${f}.chp.jsonl`))
      expect(entries.map((e) => [e.line, e.txId, e.receipt])).toEqual([1, 2, 3].map((l) => [l, `${f}#${l}`, { hash: `${f}#${l}` }]))
    }
  })
})
