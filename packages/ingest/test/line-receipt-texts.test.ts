import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { writeReceiptFiles } from '../src/receipts.js'
import type { IngestLogger, ReceiptSource } from '../src/types.js'
import { tmpRoot } from './helpers.js'

// Issue 12: line-mode receipts may come as JSON texts for a whole batch (jsonsFor, the store's chainpointJsonsAt):
// the files must hold exactly the bytes the per-record objects gave, and a failing batch falls back to them.
const quiet: IngestLogger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet }
const roots: string[] = []
afterEach(async () => {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })))
})

const receiptOf = (txId: string) => ({ hash: txId, ops: [{ l: `00${txId.length}` }, { op: 'sha-256' }], n: txId.length, nested: { ok: true } })

function committedOf(files: string[], lines: number, extra: ReceiptSource[] = []): ReceiptSource[] {
  const out: ReceiptSource[] = []
  for (let line = 1; line <= lines; line++)
    for (const f of files) out.push({ txId: `${f}#${line}`, metadata: { source: 'file', path: f, processed: f, line: String(line) } })
  return [...out, ...extra]
}

async function filesOf(dir: string, files: string[]): Promise<string[]> {
  return Promise.all(files.map((f) => readFile(join(dir, `${f}.chp.jsonl`), 'utf8')))
}

describe('line receipts from a batch of JSON texts (jsonsFor)', () => {
  it('write the same bytes as the per-record receipts, and a record without proof fails alone', async () => {
    const root = await tmpRoot()
    roots.push(root)
    const files = ['a.jsonl', 'b.jsonl', 'c.jsonl']
    const whole: ReceiptSource = { txId: 'whole', metadata: { source: 'file', path: 'w.pdf', processed: 'w.pdf' } }
    const committed = committedOf(files, 4, [whole])
    const missing = 'b.jsonl#3'
    const receiptFor = async (id: string) => (id === missing ? undefined : receiptOf(id))
    const asked: string[][] = []
    const jsonsFor = async (ids: string[]) => {
      asked.push(ids)
      return ids.map((id) => (id === missing ? undefined : JSON.stringify(receiptOf(id))))
    }
    const one = await writeReceiptFiles(join(root, 'one'), committed, receiptFor, quiet)
    const batch = await writeReceiptFiles(join(root, 'batch'), committed, receiptFor, quiet, undefined, undefined, jsonsFor)
    expect(batch).toEqual(one)
    expect(batch.failed.map((f) => [f.txId, f.code])).toEqual([[missing, one.failed[0].code]])
    expect(batch.written).toContain('whole')
    expect(await filesOf(join(root, 'batch'), files)).toEqual(await filesOf(join(root, 'one'), files))
    // One call for all line records of the flush (the whole-file record is not in it).
    expect(asked).toHaveLength(1)
    expect(asked[0].sort()).toEqual(committed.filter((c) => c !== whole).map((c) => c.txId).sort())
  })

  it('a batch call that fails or answers the wrong count falls back to receiptFor per record', async () => {
    const root = await tmpRoot()
    roots.push(root)
    const files = ['x.jsonl', 'y.jsonl']
    const committed = committedOf(files, 3)
    const receiptFor = async (id: string) => receiptOf(id)
    const want = await writeReceiptFiles(join(root, 'want'), committed, receiptFor, quiet)
    const failing = await writeReceiptFiles(join(root, 'f'), committed, receiptFor, quiet, undefined, undefined, async () => {
      throw new Error('store closed')
    })
    const short = await writeReceiptFiles(join(root, 's'), committed, receiptFor, quiet, undefined, undefined, async (ids) =>
      ids.slice(1).map((id) => JSON.stringify(receiptOf(id))),
    )
    for (const [out, dir] of [
      [failing, 'f'],
      [short, 's'],
    ] as const) {
      expect(out).toEqual(want)
      expect(await filesOf(join(root, dir), files)).toEqual(await filesOf(join(root, 'want'), files))
    }
  })
})
