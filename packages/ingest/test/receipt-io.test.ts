import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { type ReceiptJob, WorkerReceiptIo } from '../src/receipt-io.js'
import { readLineReceipts, writeReceiptFiles } from '../src/receipts.js'
import type { IngestLogger, ReceiptSource } from '../src/types.js'
import { tmpRoot } from './helpers.js'

// Issue 12: receipt files are written by a worker thread (the main thread only builds their texts).
const quiet: IngestLogger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet }
const roots: string[] = []
const ios: WorkerReceiptIo[] = []
afterEach(async () => {
  await Promise.all(ios.splice(0).map((io) => io.close()))
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })))
})

async function root(): Promise<string> {
  const r = await tmpRoot()
  roots.push(r)
  return r
}

/** Jobs for `n` receipt files in two folders, one line file appended twice, and one job that must fail. */
async function jobsIn(dir: string, n: number): Promise<ReceiptJob[]> {
  // A plain file where a folder should be: writing below it fails for that job only.
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'blocker'), 'x')
  const jobs: ReceiptJob[] = []
  for (let i = 0; i < n; i++) jobs.push({ path: join(dir, i % 2 ? 'a' : 'b/c', `f${i}.json.chp.json`), text: `{"i":${i}}\n` })
  jobs.push({ path: join(dir, 'blocker', 'x.chp.json'), text: '{}\n' })
  jobs.push({ path: join(dir, 'l.jsonl.chp.jsonl'), text: '{"line":1}\n', append: true })
  jobs.push({ path: join(dir, 'l.jsonl.chp.jsonl'), text: '{"line":2}\n', append: true })
  return jobs
}

async function expectDone(dir: string, jobs: ReceiptJob[], results: unknown[]): Promise<void> {
  expect(results).toHaveLength(jobs.length)
  jobs.forEach((j, i) => {
    if (j.path.includes('blocker')) expect(results[i]).toMatchObject({ code: 'EEXIST' }) // mkdir -p meets the file
    else expect(results[i]).toBeUndefined()
  })
  for (const j of jobs.filter((x) => !x.append && !x.path.includes('blocker'))) expect(await readFile(j.path, 'utf8')).toBe(j.text)
  const lines = (await readFile(join(dir, 'l.jsonl.chp.jsonl'), 'utf8')).split('\n').filter(Boolean).sort()
  expect(lines).toEqual(['{"line":1}', '{"line":2}'])
  // No temp file is left beside the receipts.
  for (const d of [join(dir, 'a'), join(dir, 'b/c')]) expect((await readdir(d)).filter((n) => n.startsWith('.'))).toEqual([])
}

describe('receipt files written by a worker thread (issue 12)', () => {
  it('writes every job in the worker, reports a failing job alone (EEXIST), and runs on this thread after close', async () => {
    const r = await root()
    const io = new WorkerReceiptIo(new Set())
    ios.push(io)
    const jobs = await jobsIn(join(r, 'one'), 600)
    await expectDone(join(r, 'one'), jobs, await io.run(jobs))
    await io.close()
    const after = await jobsIn(join(r, 'two'), 10)
    await expectDone(join(r, 'two'), after, await io.run(after))
  })

  it('a worker that cannot start: the jobs run on this thread, and the fault is reported once', async () => {
    const r = await root()
    const faults: unknown[] = []
    const io = new WorkerReceiptIo(new Set(), (err) => faults.push(err), pathToFileURL(join(r, 'no-such-worker.js')))
    ios.push(io)
    const jobs = await jobsIn(join(r, 'one'), 50)
    await expectDone(join(r, 'one'), jobs, await io.run(jobs))
    const again = await jobsIn(join(r, 'two'), 5)
    await expectDone(join(r, 'two'), again, await io.run(again))
    expect(faults).toHaveLength(1)
  })

  it('a worker that dies with jobs: those it was given as moved bytes fail (retried by the caller), the others are written here', async () => {
    const r = await root()
    const faults: unknown[] = []
    const io = new WorkerReceiptIo(new Set(), (err) => faults.push(err), new URL('./fixtures/dying-worker.mjs', import.meta.url))
    ios.push(io)
    const moved = Buffer.from(`${'{"line":1}'.repeat(500)}\n`) // > 4 KiB: its own memory, transferred
    expect(moved.byteOffset === 0 && moved.byteLength === moved.buffer.byteLength).toBe(true)
    const jobs: ReceiptJob[] = [
      { path: join(r, 'l.jsonl.chp.jsonl'), text: moved, append: true },
      { path: join(r, 'd', 'f.json.chp.json'), text: '{"a":1}\n' },
    ]
    const results = await io.run(jobs)
    expect(results[0]).toMatchObject({ code: 'ERR_INGEST_RECEIPT_WORKER' })
    expect(results[1]).toBeUndefined()
    expect(await readFile(join(r, 'd', 'f.json.chp.json'), 'utf8')).toBe('{"a":1}\n')
    expect(faults).toHaveLength(1)
    // Later jobs run on this thread.
    const later = await io.run([{ path: join(r, 'l.jsonl.chp.jsonl'), text: Buffer.from('{"line":2}\n'), append: true }])
    expect(later).toEqual([undefined])
    expect(await readFile(join(r, 'l.jsonl.chp.jsonl'), 'utf8')).toBe('{"line":2}\n')
  })

  it('writeReceiptFiles through the worker: same files and outcome as on this thread', async () => {
    const r = await root()
    const committed: ReceiptSource[] = []
    for (let i = 0; i < 300; i++) committed.push({ txId: `t${i}`, metadata: { source: 'file', path: `d/f${i}.json`, processed: `d/f${i}.json` } })
    for (let line = 1; line <= 3; line++) committed.push({ txId: `l${line}`, metadata: { source: 'file', path: 'e.jsonl', processed: 'e.jsonl', line: String(line) } })
    committed.push({ txId: 'nope', metadata: { source: 'file', path: 'd/none.json', processed: 'd/none.json' } })
    const receiptFor = async (txId: string) => (txId === 'nope' ? undefined : { hash: txId, n: [1, 2] })
    const io = new WorkerReceiptIo(new Set())
    ios.push(io)
    const viaWorker = await writeReceiptFiles(join(r, 'w'), committed, receiptFor, quiet, new Set(), io)
    const inline = await writeReceiptFiles(join(r, 'i'), committed, receiptFor, quiet)
    expect(viaWorker).toEqual(inline)
    expect(viaWorker.written).toHaveLength(303)
    expect(viaWorker.failed.map((f) => f.code)).toEqual(['ERR_INGEST_NO_PROOF'])
    for (let i = 0; i < 300; i += 37) {
      const w = await readFile(join(r, 'w', `d/f${i}.json.chp.json`), 'utf8')
      expect(w).toBe(await readFile(join(r, 'i', `d/f${i}.json.chp.json`), 'utf8'))
      expect(JSON.parse(w)).toEqual({ hash: `t${i}`, n: [1, 2] })
    }
    const entries = await readLineReceipts(join(r, 'w', 'e.jsonl.chp.jsonl'))
    expect(entries).toEqual([1, 2, 3].map((l) => ({ line: l, txId: `l${l}`, receipt: { hash: `l${l}`, n: [1, 2] } })))
    expect(await readFile(join(r, 'w', 'e.jsonl.chp.jsonl'), 'utf8')).toBe(await readFile(join(r, 'i', 'e.jsonl.chp.jsonl'), 'utf8'))
  })
})
