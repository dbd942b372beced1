import { execFileSync } from 'node:child_process'
import { appendFile, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { toHex, txIdHex, verifyTxSignature } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { readLineReceipts } from '../src/index.js'
import { ingestHarness, listFiles, MemoryOutbox, waitFor } from './helpers.js'

const { key, setup, cleanup } = ingestHarness()
afterEach(cleanup)

const meta = (outbox: MemoryOutbox) => outbox.txs.map((t) => t.body.metadata)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

describe('file ingest', () => {
  it('records complete files with their metadata and moves them to processed/', async () => {
    const { inbox, outbox, make, dir } = await setup()
    await mkdir(join(inbox, 'sub/dir'), { recursive: true })
    await writeFile(join(inbox, 'a.json'), '{"t":1}')
    await writeFile(join(inbox, 'sub/dir/b.csv'), 'x,y\n1,2\n')
    await writeFile(join(inbox, 'part.STP'), 'ISO-10303-21;')
    const ingest = make()
    const accepted: number[] = []
    await ingest.start()
    // Dropped while running, by atomic rename of a .tmp file.
    await writeFile(join(inbox, 'late.xml.tmp'), '<a/>')
    await rename(join(inbox, 'late.xml.tmp'), join(inbox, 'late.xml'))
    await waitFor(() => ingest.stats().accepted === 4, '4 files accepted')
    accepted.push(ingest.stats().accepted)

    expect(await listFiles(dir('processed'))).toEqual(['a.json', 'late.xml', 'part.STP', 'sub/dir/b.csv'])
    expect(await listFiles(inbox)).toEqual([])
    expect(outbox.txs).toHaveLength(4)
    const byPath = new Map(outbox.txs.map((t) => [t.body.metadata.path, t]))
    const b = byPath.get('sub/dir/b.csv')!
    expect(b.body.metadata).toMatchObject({
      source: 'file',
      path: 'sub/dir/b.csv',
      size: '8',
      contentType: 'text/csv',
    })
    expect(Number(b.body.metadata.mtime)).toBeGreaterThan(0)
    expect(text(b.payload)).toBe('x,y\n1,2\n')
    expect(byPath.get('a.json')!.body.metadata.contentType).toBe('application/json')
    expect(byPath.get('part.STP')!.body.metadata.contentType).toBe('model/step')
    expect(byPath.get('late.xml')!.body.metadata.contentType).toBe('application/xml')
    for (const t of outbox.txs) {
      expect(verifyTxSignature(t)).toBe(true)
      expect(t.body.network).toBe('testnet')
      expect(toHex(t.body.origin)).toBe(toHex(key.publicKey))
    }
    expect(outbox.txs.map((t) => t.body.seq).sort()).toEqual([0, 1, 2, 3])
    // The watch events of the ingest's own unlinks may count a name as pending for a moment: wait them out.
    await waitFor(() => ingest.stats().pending === 0, 'nothing pending')
    expect(ingest.stats()).toMatchObject({ accepted: 4, rejected: 0, records: 4, pending: 0, retaken: 0 })

    // Same name again, other content: recorded again, kept beside the first under a suffix.
    await writeFile(join(inbox, 'a.json'), '{"t":2}')
    await waitFor(() => ingest.stats().accepted === 5, 'second a.json accepted')
    expect(await listFiles(dir('processed'))).toContain('a~1.json')
    expect(await readFile(join(dir('processed'), 'a~1.json'), 'utf8')).toBe('{"t":2}')
  })

  it('ignores dotfiles, .tmp and excluded files; rejects oversize files and non-files with a reason', async () => {
    const { inbox, outbox, make, dir } = await setup({
      maxFileBytes: 100,
      exclude: ['skip/**'],
      include: ['**/*'],
    })
    await mkdir(join(inbox, '.hidden-dir'), { recursive: true })
    await mkdir(join(inbox, 'skip'), { recursive: true })
    await writeFile(join(inbox, '.dotfile'), 'x')
    await writeFile(join(inbox, '.hidden-dir/in.json'), '{}')
    await writeFile(join(inbox, 'upload.tmp'), 'partial')
    await writeFile(join(inbox, 'skip/excluded.json'), '{}')
    await writeFile(join(inbox, 'big.bin'), Buffer.alloc(200))
    await writeFile(join(inbox, 'ok.txt'), 'fine')
    execFileSync('mkfifo', [join(inbox, 'pipe.json')])
    await symlink(join(inbox, 'does-not-exist'), join(inbox, 'dangling.json'))
    const ingest = make()
    await ingest.start()
    await waitFor(() => {
      const s = ingest.stats()
      return s.accepted === 1 && s.rejected === 3 && s.pending === 0
    }, 'ok.txt accepted and 3 files rejected')

    expect(meta(outbox).map((m) => m.path)).toEqual(['ok.txt'])
    expect(await listFiles(dir('rejected'))).toEqual([
      'big.bin',
      'big.bin.reason',
      'dangling.json',
      'dangling.json.reason',
      'pipe.json',
      'pipe.json.reason',
    ])
    expect(await readFile(join(dir('rejected'), 'big.bin.reason'), 'utf8')).toBe(
      'ERR_INGEST_TOO_LARGE: 200 bytes exceeds the 100-byte limit\npath: big.bin\nrejected: big.bin\n',
    )
    expect(await readFile(join(dir('rejected'), 'pipe.json.reason'), 'utf8')).toMatch(
      /^ERR_INGEST_NOT_A_FILE: /,
    )
    expect(await readFile(join(dir('rejected'), 'dangling.json.reason'), 'utf8')).toMatch(
      /^ERR_INGEST_SYMLINK: /,
    )
    expect(await listFiles(inbox)).toEqual([
      '.dotfile',
      '.hidden-dir/in.json',
      'skip/excluded.json',
      'upload.tmp',
    ])
  })

  it('takes a growing file only once it is complete', async () => {
    const { inbox, outbox, make } = await setup({ stableMs: 300 })
    const ingest = make()
    await ingest.start()
    const path = join(inbox, 'growing.log')
    let expected = ''
    for (let i = 0; i < 12; i++) {
      const chunk = `line ${i} ${'x'.repeat(100)}\n`
      expected += chunk
      await appendFile(path, chunk)
      await new Promise((r) => setTimeout(r, 50))
    }
    await waitFor(() => ingest.stats().accepted >= 1 && ingest.stats().pending === 0, 'growing file accepted')
    expect(outbox.txs).toHaveLength(1)
    expect(text(outbox.txs[0].payload)).toBe(expected)
    expect(outbox.txs[0].body.metadata.size).toBe(String(expected.length))
  })

  it('line mode: one record per JSONL line and per CSV row', async () => {
    const { inbox, outbox, make, dir } = await setup({ lineMode: { patterns: ['**/*.jsonl', '**/*.csv'] } })
    await mkdir(join(inbox, 'plc'), { recursive: true })
    await writeFile(join(inbox, 'plc/events.jsonl'), '{"a":1}\r\n\n{"a":2}\n  \n{"a":3}')
    await writeFile(join(inbox, 'quality.csv'), '\uFEFFpart,result,note\nP1,ok,"multi\nline"\n\nP2,fail,x\n')
    await writeFile(join(inbox, 'whole.json'), '{"whole":true}')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 3, '3 files accepted')

    const jsonl = outbox.txs.filter((t) => t.body.metadata.path === 'plc/events.jsonl')
    expect(jsonl.map((t) => [t.body.metadata.line, text(t.payload)])).toEqual([
      ['1', '{"a":1}'],
      ['3', '{"a":2}'],
      ['5', '{"a":3}'],
    ])
    for (const t of jsonl) {
      expect(t.body.metadata).toMatchObject({
        source: 'file',
        lines: '3',
        contentType: 'application/x-ndjson',
      })
    }
    const csv = outbox.txs.filter((t) => t.body.metadata.path === 'quality.csv')
    expect(csv.map((t) => [t.body.metadata.line, text(t.payload)])).toEqual([
      ['2', 'P1,ok,"multi\nline"'],
      ['5', 'P2,fail,x'],
    ])
    for (const t of csv) expect(t.body.metadata).toMatchObject({ csvHeader: 'part,result,note', lines: '2' })
    const whole = outbox.txs.filter((t) => t.body.metadata.path === 'whole.json')
    expect(whole).toHaveLength(1)
    expect(whole[0].body.metadata.line).toBeUndefined()
    expect(outbox.txs.map((t) => t.body.seq).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5])
    expect(ingest.stats().records).toBe(6)
    expect(await listFiles(dir('processed'))).toEqual(['plc/events.jsonl', 'quality.csv', 'whole.json'])
  })

  it('line mode: malformed JSONL rejects the whole file with the line number', async () => {
    const { inbox, outbox, make, dir } = await setup({ lineMode: { patterns: ['**/*.jsonl'] } })
    await writeFile(join(inbox, 'bad.jsonl'), '{"a":1}\n{"a":\n{"a":3}\n')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().rejected === 1, 'bad.jsonl rejected')
    expect(outbox.txs).toHaveLength(0)
    expect(await readFile(join(dir('rejected'), 'bad.jsonl.reason'), 'utf8')).toMatch(
      /^ERR_INGEST_BAD_JSONL: line 2 is not valid JSON/,
    )
  })

  it('a restart after a crash between the outbox commit and the move records nothing twice', async () => {
    const outbox = new MemoryOutbox()
    const { inbox, make, dir } = await setup({ lineMode: { patterns: ['**/*.jsonl'] } }, outbox)
    await writeFile(join(inbox, 'one.json'), '{"n":1}')
    await writeFile(join(inbox, 'many.jsonl'), '{"n":1}\n{"n":2}\n')
    // First run "dies" right after each commit: the records are stored, the files never move.
    outbox.afterAddMany = () => {
      throw new Error('simulated crash after addMany')
    }
    const first = make()
    await first.start()
    await waitFor(
      () => outbox.txs.length === 3 && first.stats().pending === 0,
      'first run committed 3 records',
    )
    await first.stop()
    expect(await listFiles(inbox)).toEqual(['many.jsonl', 'one.json'])

    outbox.afterAddMany = undefined
    const second = make()
    await second.start()
    await waitFor(() => second.stats().accepted === 2, 'second run moved both files')
    expect(outbox.txs).toHaveLength(3)
    expect(second.stats().records).toBe(0)
    expect(await listFiles(dir('processed'))).toEqual(['many.jsonl', 'one.json'])
    expect(new Set(outbox.keys.keys()).size).toBe(3)
  })

  it('writes a receipt per file and one append-only receipt file per line-mode file', async () => {
    const { inbox, outbox, make, dir } = await setup({ lineMode: { patterns: ['**/*.jsonl'] } })
    await mkdir(join(inbox, 'sub'), { recursive: true })
    await writeFile(join(inbox, 'sub/doc.pdf'), '%PDF-1.7')
    await writeFile(join(inbox, 'ev.jsonl'), '{"i":1}\n{"i":2}\n{"i":3}\n')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 2, 'both files accepted')

    const receiptFor = async (txId: string) => {
      const tx = outbox.txs.find((t) => txIdHex(t) === txId)
      return (
        tx && {
          '@context': 'https://w3id.org/chainpoint/v5',
          type: 'Chainpoint',
          hash: toHex(tx.body.payloadHash),
          txId,
        }
      )
    }
    const committed = outbox.txs.map((t) => ({ txId: txIdHex(t), metadata: t.body.metadata }))
    const lines = committed
      .filter((c) => c.metadata.line !== undefined)
      .sort((a, b) => Number(b.metadata.line) - Number(a.metadata.line))
    const pdf = committed.find((c) => c.metadata.path === 'sub/doc.pdf')!
    // Receipts arrive over several calls, out of order; one record has no proof yet.
    expect(await ingest.writeReceipts([pdf, lines[0]], receiptFor)).toEqual({
      written: [pdf.txId, lines[0].txId],
      skipped: [],
      failed: [],
    })
    const partial = await ingest.writeReceipts([lines[1], lines[2]], async (id) =>
      id === lines[2].txId ? undefined : receiptFor(id),
    )
    expect(partial.written).toEqual([lines[1].txId])
    expect(partial.failed).toMatchObject([{ txId: lines[2].txId, code: 'ERR_INGEST_NO_PROOF' }])
    await ingest.writeReceipts([lines[2], lines[1]], receiptFor)

    expect(await listFiles(dir('receipts'))).toEqual(['ev.jsonl.chp.jsonl', 'sub/doc.pdf.chp.json'])
    const pdfReceipt = JSON.parse(await readFile(join(dir('receipts'), 'sub/doc.pdf.chp.json'), 'utf8'))
    expect(pdfReceipt).toEqual(await receiptFor(pdf.txId))
    const lineFile = join(dir('receipts'), 'ev.jsonl.chp.jsonl')
    const entries = await readLineReceipts(lineFile)
    expect(entries.map((e) => e.line)).toEqual([1, 2, 3])
    for (const e of entries) expect(e.receipt).toEqual(await receiptFor(e.txId))
    // Append-only: the same call again (a re-issue) appends; reading it gives the same receipts.
    await ingest.writeReceipts(committed, receiptFor)
    expect(await readLineReceipts(lineFile)).toEqual(entries)
    // Records from elsewhere are skipped; paths leaving the folder fail; neither writes a file.
    const other = await ingest.writeReceipts(
      [
        { txId: 'aa', metadata: { source: 'api', path: 'x.json' } },
        { txId: 'bb', metadata: { source: 'file', path: '../escape.json' } },
      ],
      async () => ({ hash: 'x' }),
    )
    expect(other.skipped).toEqual(['aa'])
    expect(other.failed).toMatchObject([{ txId: 'bb', code: 'ERR_INGEST_UNSAFE_PATH' }])
    expect(await listFiles(dir('receipts'))).toEqual(['ev.jsonl.chp.jsonl', 'sub/doc.pdf.chp.json'])
  })
})
