import { statSync, utimesSync, writeFileSync } from 'node:fs'
import { appendFile, mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { toHex, txIdHex } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createFileIngest } from '../src/index.js'
import { ingestHarness, listFiles, MemoryOutbox, waitFor } from './helpers.js'

const { key, setup, cleanup, track } = ingestHarness()
afterEach(cleanup)

const committedOf = (outbox: MemoryOutbox) =>
  outbox.txs.map((t) => ({ txId: txIdHex(t), metadata: t.body.metadata }))

function fakeReceipts(outbox: MemoryOutbox) {
  return async (txId: string) => {
    const tx = outbox.txs.find((t) => txIdHex(t) === txId)
    return tx && { '@context': 'https://w3id.org/chainpoint/v5', type: 'Chainpoint', hash: toHex(tx.body.payloadHash), txId }
  }
}

const bytes = (s: string) => Buffer.byteLength(s)

describe('issue 10 item 1: names are always writable', () => {
  it('writes receipts for 250-byte names under a bounded name, and one failing receipt blocks no other', async () => {
    const { inbox, outbox, make, dir } = await setup()
    const long = `${'r'.repeat(246)}.pdf` // 250 bytes: fine in the inbox, too long with `.chp.json`
    await writeFile(join(inbox, long), '%PDF long')
    await writeFile(join(inbox, 'short.pdf'), '%PDF short')
    await writeFile(join(inbox, 'broken.pdf'), '%PDF broken')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 3, '3 files accepted')
    const committed = committedOf(outbox)
    const broken = committed.find((c) => c.metadata.path === 'broken.pdf')!
    const receiptFor = fakeReceipts(outbox)
    const out = await ingest.writeReceipts(committed, async (id) => {
      if (id === broken.txId) throw Object.assign(new Error('proof store unavailable'), { code: 'EXAMPLE' })
      return receiptFor(id)
    })
    expect(out.failed).toEqual([{ txId: broken.txId, code: 'EXAMPLE', message: 'proof store unavailable' }])
    expect(out.written.sort()).toEqual(committed.filter((c) => c !== broken).map((c) => c.txId).sort())
    const names = (await listFiles(dir('receipts'))).filter((n) => !n.startsWith('.'))
    expect(names).toHaveLength(2)
    expect(names).toContain('short.pdf.chp.json')
    const shortened = names.find((n) => n !== 'short.pdf.chp.json')!
    expect(bytes(shortened)).toBeLessThanOrEqual(255)
    expect(shortened).toMatch(/^r+~[0-9a-f]{16}\.pdf\.chp\.json$/)
    // The full name stays recoverable from the names index.
    const index = (await readFile(join(dir('receipts'), '.names.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    expect(index).toEqual([{ name: shortened, path: `${long}.chp.json` }])
    expect(ingest.stats().receiptsFailed).toBe(1)
  })

  it('moves a second 255-byte name to a bounded ~1 name, and writes .reason files for long names', async () => {
    const { inbox, outbox, make, dir } = await setup({ maxFileBytes: 100 })
    const long = `${'n'.repeat(251)}.txt` // 255 bytes: the longest name the file system takes
    await writeFile(join(inbox, long), 'first')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 1, 'first accepted')
    await writeFile(join(inbox, long), 'second, other content')
    await waitFor(() => ingest.stats().accepted === 2, 'second accepted')
    const processed = await listFiles(dir('processed'))
    expect(processed).toHaveLength(2)
    expect(processed).toContain(long)
    const second = processed.find((p) => p !== long)!
    expect(bytes(second)).toBeLessThanOrEqual(255)
    expect(await readFile(join(dir('processed'), second), 'utf8')).toBe('second, other content')
    expect(outbox.txs.map((t) => t.body.metadata.processed)).toEqual([long, second])

    // Too large → rejected; the .reason name is bounded and the reason names the full path.
    await writeFile(join(inbox, long), Buffer.alloc(200))
    await waitFor(() => ingest.stats().rejected === 1, 'big file rejected')
    const rejected = await listFiles(dir('rejected'))
    expect(rejected).toContain(long)
    const reason = rejected.find((r) => r.endsWith('.reason'))!
    expect(bytes(reason)).toBeLessThanOrEqual(255)
    const text = await readFile(join(dir('rejected'), reason), 'utf8')
    expect(text).toMatch(/^ERR_INGEST_TOO_LARGE: /)
    expect(text).toContain(`path: ${long}\n`)
  })

  it('rejects a file whose name is not UTF-8 under a lossless escaped name, with a log line and a counter', async () => {
    const { inbox, dir } = await setup()
    const raw = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from('%.csv')]) // Latin-1 "café%.csv"
    await writeFile(Buffer.concat([Buffer.from(`${inbox}/`), raw]), 'a,b\n1,2\n')
    const warnings: string[] = []
    const logger = {
      info() {},
      debug() {},
      error() {},
      warn(_o: object, msg?: string) {
        warnings.push(msg ?? '')
      },
      child() {
        return logger
      },
    }
    const ingest = createFileIngest({ inbox: join(dir('inbox')), stableMs: 100, rescanMs: 0 }, {
      network: 'testnet',
      key,
      outbox: new MemoryOutbox(),
      logger,
    })
    track(ingest)
    await ingest.start()
    await waitFor(() => ingest.stats().rejected === 1, 'non-UTF-8 name rejected')
    // One dropped while running is found too (no rescan configured).
    await writeFile(Buffer.concat([Buffer.from(`${inbox}/`), Buffer.from([0xff, 0x41])]), 'x')
    await waitFor(() => ingest.stats().rejected === 2, 'second non-UTF-8 name rejected')
    expect(await readdir(inbox)).toEqual([])
    expect(await listFiles(dir('rejected'))).toEqual(['%FFA', '%FFA.reason', 'caf%E9%25.csv', 'caf%E9%25.csv.reason'])
    expect(await readFile(join(dir('rejected'), 'caf%E9%25.csv'), 'utf8')).toBe('a,b\n1,2\n')
    expect(await readFile(join(dir('rejected'), 'caf%E9%25.csv.reason'), 'utf8')).toMatch(/^ERR_INGEST_BAD_NAME: file name is not valid UTF-8/)
    expect(ingest.stats().badNames).toBe(2)
    expect(warnings.some((w) => /not valid UTF-8/.test(w))).toBe(true)
  })
})

describe('issue 10 item 3: receipts are never overwritten, named after the processed file', () => {
  it('the same file dropped twice → processed/report~1.pdf and receipts/report~1.pdf.chp.json', async () => {
    const { inbox, outbox, make, dir } = await setup()
    const ingest = make()
    await ingest.start()
    const receiptFor = fakeReceipts(outbox)
    await writeFile(join(inbox, 'report.pdf'), '%PDF same')
    await waitFor(() => ingest.stats().accepted === 1, 'first drop')
    expect((await ingest.writeReceipts(committedOf(outbox), receiptFor)).written).toHaveLength(1)
    const first = await readFile(join(dir('receipts'), 'report.pdf.chp.json'), 'utf8')

    // Same content, another mtime (a plain `cp`): another record.
    await writeFile(join(inbox, 'report.pdf'), '%PDF same')
    await utimes(join(inbox, 'report.pdf'), new Date(), new Date(Date.now() - 3_600_000))
    await waitFor(() => ingest.stats().accepted === 2, 'second drop')
    // And a changed file of the same name.
    await writeFile(join(inbox, 'report.pdf'), '%PDF changed')
    await waitFor(() => ingest.stats().accepted === 3, 'third drop')
    expect(outbox.txs).toHaveLength(3)
    await ingest.writeReceipts(committedOf(outbox).slice(1), receiptFor)

    expect(await listFiles(dir('processed'))).toEqual(['report.pdf', 'report~1.pdf', 'report~2.pdf'])
    expect(await listFiles(dir('receipts'))).toEqual(['report.pdf.chp.json', 'report~1.pdf.chp.json', 'report~2.pdf.chp.json'])
    expect(await readFile(join(dir('receipts'), 'report.pdf.chp.json'), 'utf8')).toBe(first)
    for (const t of outbox.txs) {
      const name = t.body.metadata.processed as string
      const receipt = JSON.parse(await readFile(join(dir('receipts'), `${name}.chp.json`), 'utf8'))
      expect(receipt.txId).toBe(txIdHex(t))
    }
  })

  it('keeps the reserved processed name when the move after the commit failed', async () => {
    const outbox = new MemoryOutbox()
    let fail = true
    outbox.afterAddMany = () => {
      if (fail) {
        fail = false
        throw new Error('simulated crash right after the commit')
      }
    }
    const { inbox, make, dir } = await setup({}, outbox)
    await mkdir(dir('processed'), { recursive: true })
    await writeFile(join(dir('processed'), 'report.pdf'), 'an earlier report')
    await writeFile(join(inbox, 'report.pdf'), '%PDF new')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 1, 'accepted after the retry')
    expect(outbox.txs).toHaveLength(1)
    expect(outbox.txs[0].body.metadata.processed).toBe('report~1.pdf')
    expect(await listFiles(dir('processed'))).toEqual(['report.pdf', 'report~1.pdf'])
    expect(await readFile(join(dir('processed'), 'report~1.pdf'), 'utf8')).toBe('%PDF new')
  })
})

describe('issue 10 item 6: a slow writer never gets a half file recorded or moved', () => {
  it('re-takes a file that grew while it was being recorded, with a warning and a counter', async () => {
    const outbox = new MemoryOutbox()
    const { inbox, make, dir } = await setup({}, outbox)
    const file = join(inbox, 'slow.log')
    let resumed = false
    const nextSeq = outbox.nextSeq.bind(outbox)
    // The writer resumes right while ingest is committing what it read.
    outbox.nextSeq = async (origin) => {
      if (!resumed) {
        resumed = true
        await appendFile(file, 'second half\n')
      }
      return nextSeq(origin)
    }
    await writeFile(file, 'first half\n')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 1, 'the whole file accepted')
    expect(resumed).toBe(true)
    expect(outbox.txs.map((t) => new TextDecoder().decode(t.payload))).toEqual(['first half\nsecond half\n'])
    expect(await readFile(join(dir('processed'), 'slow.log'), 'utf8')).toBe('first half\nsecond half\n')
    expect(ingest.stats().retaken).toBeGreaterThanOrEqual(1)
  })

  it('does not move a file that changed after it was recorded: the recorded bytes are kept, the file is taken again', async () => {
    const outbox = new MemoryOutbox()
    const { inbox, make, dir } = await setup({}, outbox)
    const file = join(inbox, 'late.log')
    let resumed = false
    outbox.afterAddMany = () => {
      if (!resumed) {
        resumed = true
        // Same size, same mtime: only the content hash tells.
        const st = statSync(file)
        writeFileSync(file, 'BBBB')
        utimesSync(file, st.atime, st.mtime)
      }
    }
    await writeFile(file, 'AAAA')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 2, 'both versions accepted')
    expect(await listFiles(inbox)).toEqual([])
    expect(await listFiles(dir('processed'))).toEqual(['late.log', 'late~1.log'])
    expect(outbox.txs.map((t) => [t.body.metadata.processed, new TextDecoder().decode(t.payload)])).toEqual([
      ['late.log', 'AAAA'],
      ['late~1.log', 'BBBB'],
    ])
    // Each processed file holds exactly the bytes its record signed.
    expect(await readFile(join(dir('processed'), 'late.log'), 'utf8')).toBe('AAAA')
    expect(await readFile(join(dir('processed'), 'late~1.log'), 'utf8')).toBe('BBBB')
    expect(ingest.stats().retaken).toBe(1)
  })
})

describe('watch events', () => {
  it('takes files from a folder created while running, and never takes the folder itself', async () => {
    const { inbox, make, dir } = await setup()
    const ingest = make()
    await ingest.start()
    await mkdir(join(inbox, 'new/deeper'), { recursive: true })
    await writeFile(join(inbox, 'new/deeper/a.bin'), 'a')
    await writeFile(join(inbox, 'new/b.bin'), 'b')
    await waitFor(() => ingest.stats().accepted === 2, 'both files accepted')
    expect(ingest.stats().rejected).toBe(0)
    expect(await listFiles(dir('processed'))).toEqual(['new/b.bin', 'new/deeper/a.bin'])
    expect(await listFiles(dir('rejected'))).toEqual([])
  })
})

describe('issue 10 item 17: empty line-mode files say why they are rejected', () => {
  it('names a header-only CSV, an empty and a blank file in the reason', async () => {
    const { inbox, make, dir } = await setup({ lineMode: { patterns: ['**/*.csv', '**/*.txt'] } })
    await writeFile(join(inbox, 'header.csv'), 'time,value\n')
    await writeFile(join(inbox, 'empty.csv'), '')
    await writeFile(join(inbox, 'blank.txt'), '\n  \n\n')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().rejected === 3, '3 files rejected')
    const reason = (n: string) => readFile(join(dir('rejected'), `${n}.reason`), 'utf8')
    expect(await reason('header.csv')).toMatch(/^ERR_INGEST_NO_RECORDS: the CSV has only its header line \("time,value"\) and no data lines/)
    expect(await reason('empty.csv')).toMatch(/^ERR_INGEST_NO_RECORDS: the file is empty/)
    expect(await reason('blank.txt')).toMatch(/^ERR_INGEST_NO_RECORDS: the file holds only blank lines/)
  })
})
