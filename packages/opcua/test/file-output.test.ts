import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createFileOutput, parseBridgeLine } from '../src/index.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'profichain-opcua-out-'))
  return { root, inbox: join(root, 'inbox'), state: join(root, 'state') }
}

/** Read the finished files in name order and check the header chain; returns their data lines. */
async function chain(inbox: string): Promise<{ files: string[]; lines: string[] }> {
  const files = (await readdir(inbox)).filter((f) => f.endsWith('.jsonl')).sort()
  let prev = ''
  const lines: string[] = []
  for (const [i, f] of files.entries()) {
    const b = await readFile(join(inbox, f))
    const ls = b.toString('utf8').split('\n')
    expect(ls.pop()).toBe('')
    const h = parseBridgeLine(ls[0])
    expect(h.kind).toBe('file')
    if (h.kind === 'file') expect([h.header.fileSeq, h.header.prevFileHash]).toEqual([i + 1, prev])
    lines.push(...ls.slice(1))
    prev = sha(b)
  }
  return { files, lines }
}

const line = (i: number) => JSON.stringify({ i })

describe('file output', () => {
  it('rotates by line count and by size, chains every file to the previous one, and writes nothing visible before the rename', async () => {
    const d = await setup()
    const out = createFileOutput({ dir: d.inbox, stateDir: d.state, publisherId: 'p/1', rotate: { maxLines: 3, maxMs: 60_000 } })
    await out.start()
    await out.write([line(1), line(2)])
    expect((await readdir(d.inbox)).filter((f) => !f.startsWith('.'))).toEqual([])
    await out.write([line(3), line(4), line(5), line(6), line(7)])
    await out.stop()
    const c = await chain(d.inbox)
    expect(c.files).toEqual(['opcua-p_1-0000000001.jsonl', 'opcua-p_1-0000000002.jsonl', 'opcua-p_1-0000000003.jsonl'])
    expect(c.lines).toEqual([1, 2, 3, 4, 5, 6, 7].map(line))
    // Size: each line alone exceeds 100 bytes → one data line per file.
    const big = createFileOutput({ dir: d.inbox, stateDir: d.state, publisherId: 'p/1', rotate: { maxBytes: 100, maxMs: 60_000 } })
    await big.start()
    expect(big.resumed).toBe(true)
    await big.write([JSON.stringify({ x: 'y'.repeat(120) }), JSON.stringify({ x: 'z'.repeat(120) })])
    await big.stop()
    expect((await chain(d.inbox)).files.length).toBe(5)
  })

  it('rotates by time', async () => {
    const d = await setup()
    const out = createFileOutput({ dir: d.inbox, stateDir: d.state, publisherId: 'p', rotate: { maxMs: 50 } })
    await out.start()
    await out.write([line(1)])
    const deadline = Date.now() + 10_000
    while ((await readdir(d.inbox)).filter((f) => f.endsWith('.jsonl')).length === 0) {
      if (Date.now() > deadline) throw new Error('no file after the rotation time')
      await new Promise((r) => setTimeout(r, 20))
    }
    await out.stop()
    expect((await chain(d.inbox)).lines).toEqual([line(1)])
  })

  it('after a kill: a torn part is cut at its last full line and finished, a recorded part renamed, a stale one dropped', async () => {
    const d = await setup()
    const out = createFileOutput({ dir: d.inbox, stateDir: d.state, publisherId: 'p', rotate: { maxLines: 2, maxMs: 60_000 } })
    await out.start()
    await out.write([line(1), line(2)])
    await out.write([line(3)]) // file 2 is open: header + line 3
    // Simulate the kill: file 2 stays a part; add a torn line as a half-finished write would leave.
    const part = join(d.inbox, '.opcua-p-0000000002.jsonl.part')
    await writeFile(part, Buffer.concat([await readFile(part), Buffer.from('{"i":4')]))
    await writeFile(join(d.inbox, '.opcua-p-0000000009.jsonl.part'), 'junk')
    const again = createFileOutput({ dir: d.inbox, stateDir: d.state, publisherId: 'p', rotate: { maxLines: 2, maxMs: 60_000 } })
    await again.start()
    expect(again.resumed).toBe(true)
    expect((await readdir(d.inbox)).filter((f) => f.startsWith('.'))).toEqual([])
    await again.write([line(5)])
    await again.stop()
    const c = await chain(d.inbox)
    expect(c.lines).toEqual([line(1), line(2), line(3), line(5)])

    // A part whose hash the state already records (killed between the state write and the rename) is renamed as is.
    const st = JSON.parse(await readFile(join(d.state, 'opcua-p.file-chain.json'), 'utf8')) as { lastSeq: number }
    const last = `opcua-p-${String(st.lastSeq).padStart(10, '0')}.jsonl`
    const { rename } = await import('node:fs/promises')
    await rename(join(d.inbox, last), join(d.inbox, `.${last}.part`))
    const third = createFileOutput({ dir: d.inbox, stateDir: d.state, publisherId: 'p' })
    await third.start()
    await third.stop()
    expect((await chain(d.inbox)).lines).toEqual([line(1), line(2), line(3), line(5)])
  })

  it('a part with only its header is dropped, not handed over', async () => {
    const d = await setup()
    const out = createFileOutput({ dir: d.inbox, stateDir: d.state, publisherId: 'p', rotate: { maxMs: 60_000 } })
    await out.start()
    await out.write([line(1)])
    const part = join(d.inbox, '.opcua-p-0000000001.jsonl.part')
    const b = await readFile(part)
    await writeFile(part, b.subarray(0, b.indexOf(0x0a) + 1))
    const again = createFileOutput({ dir: d.inbox, stateDir: d.state, publisherId: 'p' })
    await again.start()
    await again.stop()
    expect(await readdir(d.inbox)).toEqual([])
  })
})
