import { renameSync, writeFileSync } from 'node:fs'
import { link, lstat, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { moveOnto, reserveName } from '../src/fs-util.js'
import { ingestHarness, listFiles, MemoryOutbox, waitFor } from './helpers.js'

// Issue 12: a processed/ name is reserved with ONE directory operation — a hard link to the file itself
// (no new inode: creating one waits on the journal LevelDB's fsyncs keep busy), or one exclusive create
// of a token file where links are impossible — and the move after the commit is then one unlink.
const { setup, cleanup } = ingestHarness()
afterEach(cleanup)

describe('processed/ name reservations (issue 12)', () => {
  it('reserves with a hard link, reuses it for the same file, never takes a name holding another file', async () => {
    const { root } = await setup()
    const src = join(root, 'inbox-a.json')
    await writeFile(src, 'A')
    await mkdir(join(root, 'processed'))
    await writeFile(join(root, 'processed', 'a.json'), 'an earlier file')
    const st = await lstat(src)
    const r = await reserveName(join(root, 'processed'), 'a.json', 'token-a\n', undefined, { path: src, st })
    expect(r).toEqual({ name: 'a~1.json', linked: true })
    expect((await lstat(join(root, 'processed', 'a~1.json'))).ino).toBe(st.ino)
    // Again for the same file (a run killed before the move): the same name.
    expect(await reserveName(join(root, 'processed'), 'a.json', 'token-a\n', undefined, { path: src, st })).toEqual(r)
    // Another file of the same name gets the next one; the earlier file is untouched.
    const other = join(root, 'inbox-a2.json')
    await writeFile(other, 'A2')
    const r2 = await reserveName(join(root, 'processed'), 'a.json', 'token-a2\n', undefined, { path: other, st: await lstat(other) })
    expect(r2.name).toBe('a~2.json')
    expect(await readFile(join(root, 'processed', 'a.json'), 'utf8')).toBe('an earlier file')
    // The move is the unlink of the inbox name: the processed name holds the file.
    await moveOnto(src, join(root, 'processed'), r, st)
    expect(await listFiles(root)).toEqual(['inbox-a2.json', 'processed/a.json', 'processed/a~1.json', 'processed/a~2.json'])
    expect(await readFile(join(root, 'processed', 'a~1.json'), 'utf8')).toBe('A')
  })

  it('token reservations: one exclusive create, reused for the same token; an empty leftover is not a reservation', async () => {
    const { root } = await setup()
    const dir = join(root, 'processed')
    await mkdir(dir)
    // A kill between the create and the write leaves an empty file: never reused, never replaced.
    await writeFile(join(dir, 'b.json'), '')
    const r = await reserveName(dir, 'b.json', 'profichain-reserved k\n')
    expect(r).toEqual({ name: 'b~1.json', linked: false })
    expect(await readFile(join(dir, 'b~1.json'), 'utf8')).toBe('profichain-reserved k\n')
    expect(await reserveName(dir, 'b.json', 'profichain-reserved k\n')).toEqual(r)
    expect((await reserveName(dir, 'b.json', 'profichain-reserved other\n')).name).toBe('b~2.json')
    expect(await readFile(join(dir, 'b.json'), 'utf8')).toBe('')
    expect((await listFiles(root)).filter((n) => n.includes('.tmp'))).toEqual([])
  })

  it('a file killed after its link reservation is ingested once under that name, and leaves the inbox', async () => {
    const outbox = new MemoryOutbox()
    const { inbox, make, dir } = await setup({}, outbox)
    await mkdir(dir('processed'), { recursive: true })
    await writeFile(join(dir('processed'), 'r.csv'), 'an earlier drop')
    await writeFile(join(inbox, 'r.csv'), 'id\n1\n')
    // What a run killed right after reserving leaves behind: processed/r~1.csv linked to the inbox file.
    await link(join(inbox, 'r.csv'), join(dir('processed'), 'r~1.csv'))
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 1, 'accepted')
    expect(outbox.txs.map((t) => t.body.metadata.processed)).toEqual(['r~1.csv'])
    expect(await listFiles(inbox)).toEqual([])
    expect(await listFiles(dir('processed'))).toEqual(['r.csv', 'r~1.csv'])
    expect(await readFile(join(dir('processed'), 'r~1.csv'), 'utf8')).toBe('id\n1\n')
    expect(await readFile(join(dir('processed'), 'r.csv'), 'utf8')).toBe('an earlier drop')
  })

  it('a newer file renamed onto the inbox name after the commit is neither lost nor moved under the old record', async () => {
    const outbox = new MemoryOutbox()
    const { inbox, make, dir } = await setup({}, outbox)
    const file = join(inbox, 'm.txt')
    let replaced = false
    outbox.afterAddMany = () => {
      if (!replaced) {
        replaced = true
        writeFileSync(join(inbox, '.m.tmp'), 'NEW')
        renameSync(join(inbox, '.m.tmp'), file)
      }
    }
    await writeFile(file, 'OLD')
    const ingest = make()
    await ingest.start()
    await waitFor(() => ingest.stats().accepted === 2, 'both versions accepted')
    expect(outbox.txs.map((t) => [t.body.metadata.processed, new TextDecoder().decode(t.payload)])).toEqual([
      ['m.txt', 'OLD'],
      ['m~1.txt', 'NEW'],
    ])
    expect(await readFile(join(dir('processed'), 'm.txt'), 'utf8')).toBe('OLD')
    expect(await readFile(join(dir('processed'), 'm~1.txt'), 'utf8')).toBe('NEW')
    expect(await listFiles(inbox)).toEqual([])
  })
})
