import { createHash } from 'node:crypto'
import { link, lstat, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeJobs, encodeJobs, type FileJob, FileIo, type FileSig } from '../src/file-io.js'
import { tmpRoot } from './helpers.js'

// Issue 12: the per-file lstat/read/link/unlink of the file ingest run on a worker thread.
const roots: string[] = []
const ios: FileIo[] = []
afterEach(async () => {
  await Promise.all(ios.splice(0).map((io) => io.close()))
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })))
})

async function root(): Promise<string> {
  const r = await tmpRoot()
  roots.push(r)
  return r
}

const sha = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest()

/** Takes, reserves and finishes files through `io` exactly as the ingest does, checking every outcome. */
async function exercise(io: FileIo, r: string): Promise<void> {
  const inbox = join(r, 'inbox')
  const processed = join(r, 'processed')
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(inbox, 'd'), { recursive: true })
  await mkdir(join(processed, 'd'), { recursive: true })
  const n = 40
  for (let i = 0; i < n; i++) await writeFile(join(inbox, 'd', `f${i}.json`), `{"i":${i}}`)
  const { utimes } = await import('node:fs/promises')
  await utimes(join(inbox, 'd', 'f3.json'), 1_700_000_000, 1_700_000_000) // its replacement gets the same
  // Another file already holds the processed/ name of f0: never replaced, f0 gets f0~1.
  await writeFile(join(processed, 'd', 'f0.json'), 'other')
  await symlink(join(inbox, 'd', 'f1.json'), join(inbox, 'link.json'))
  await writeFile(join(inbox, 'big.bin'), Buffer.alloc(100))

  const taken = await Promise.all(
    Array.from({ length: n }, (_, i) => io.take({ abs: join(inbox, 'd', `f${i}.json`), maxBytes: 1000, reserve: { root: processed, rel: `d/f${i}.json` } })),
  )
  expect(await io.take({ abs: join(inbox, 'none.json'), maxBytes: 1000 })).toBe('gone')
  expect(await io.take({ abs: join(inbox, 'link.json'), maxBytes: 1000 })).toBe('slow') // the caller rejects it
  expect(await io.take({ abs: join(inbox, 'big.bin'), maxBytes: 50 })).toBe('slow')
  const sigs: FileSig[] = []
  for (let i = 0; i < n; i++) {
    const t = taken[i]
    if (typeof t !== 'object') throw new Error(`f${i}: ${t}`)
    expect(Buffer.from(t.data).toString()).toBe(`{"i":${i}}`)
    expect(t.reserved).toBe(i === 0 ? 'd/f0~1.json' : `d/f${i}.json`)
    const st = await lstat(join(inbox, 'd', `f${i}.json`))
    expect(t.st).toEqual({ size: st.size, mtimeMs: st.mtimeMs, dev: st.dev, ino: st.ino })
    expect((await lstat(join(processed, t.reserved as string))).ino).toBe(st.ino) // a hard link to the file
    sigs.push(t.st)
  }
  expect(await readFile(join(processed, 'd', 'f0.json'), 'utf8')).toBe('other')
  // Taken again (a run killed before the move): our own link is reused, no second name.
  const again = await io.take({ abs: join(inbox, 'd', 'f0.json'), maxBytes: 1000, reserve: { root: processed, rel: 'd/f0.json' } })
  expect(typeof again === 'object' && again.reserved).toBe('d/f0~1.json')

  // f2 changed after it was recorded, f3 was replaced by a newer file: neither is moved.
  await writeFile(join(inbox, 'd', 'f2.json'), '{"i":"changed!"}')
  // (same size and mtime: only the inode tells them apart)
  await writeFile(join(inbox, 'd', 'f3.new'), '{"i":3}')
  await utimes(join(inbox, 'd', 'f3.new'), 1_700_000_000, 1_700_000_000)
  const { rename } = await import('node:fs/promises')
  await rename(join(inbox, 'd', 'f3.new'), join(inbox, 'd', 'f3.json'))
  await rm(join(inbox, 'd', 'f4.json')) // gone
  const finished = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const t = taken[i] as { data: Uint8Array; reserved: string }
      return io.finish({ abs: join(inbox, 'd', `f${i}.json`), st: sigs[i], digest: sha(t.data), dest: join(processed, t.reserved) })
    }),
  )
  for (let i = 0; i < n; i++) {
    const want = i === 2 ? 'changed' : i === 3 ? 'replaced' : i === 4 ? 'gone' : 'moved'
    expect(finished[i], `f${i}`).toBe(want)
    const inInbox = await lstat(join(inbox, 'd', `f${i}.json`)).then(() => true, () => false)
    expect(inInbox, `f${i} in the inbox`).toBe(i === 2 || i === 3)
  }
  expect(await readFile(join(inbox, 'd', 'f3.json'), 'utf8')).toBe('{"i":3}')
  // A reservation that is not our link (removed behind our back): the caller moves it the old way.
  await writeFile(join(inbox, 'x.json'), 'x')
  const tx = await io.take({ abs: join(inbox, 'x.json'), maxBytes: 10, reserve: { root: processed, rel: 'x.json' } })
  if (typeof tx !== 'object') throw new Error(String(tx))
  await rm(join(processed, 'x.json'))
  await link(join(inbox, 'big.bin'), join(processed, 'x.json'))
  expect(await io.finish({ abs: join(inbox, 'x.json'), st: tx.st, digest: sha(tx.data), dest: join(processed, 'x.json') })).toBe('other')
  expect(await readFile(join(inbox, 'x.json'), 'utf8')).toBe('x')
}

describe('per-file fs work on a worker thread (issue 12)', () => {
  it('jobs cross to the worker as one string and come back exactly (odd names, float mtimes, big inodes)', () => {
    const jobs: FileJob[] = [
      { kind: 'take', abs: '/in/a b\nc/ü€😀.json', maxBytes: 16 * 2 ** 20, reserve: { root: '/p', rel: 'a b\nc/ü€😀.json' } },
      { kind: 'take', abs: '/in/x', maxBytes: 1 },
      { kind: 'finish', abs: '/in/t\tab', st: { size: 0, mtimeMs: 1764427512345.25, dev: 2049, ino: 2 ** 52 + 1 }, digest: new Uint8Array(32).fill(7), dest: '/p/t\tab~1' },
    ]
    const back = decodeJobs(encodeJobs(jobs))
    expect(back.map((j) => (j.kind === 'finish' ? { ...j, digest: new Uint8Array(j.digest) } : j))).toEqual(jobs)
  })

  it('takes, reserves and moves files in the worker with every check of the main-thread code', async () => {
    const io = new FileIo()
    ios.push(io)
    await exercise(io, await root())
  })

  it('a worker that cannot start: the same jobs run on this thread, the fault reported once', async () => {
    const r = await root()
    const faults: unknown[] = []
    const io = new FileIo((err) => faults.push(err), pathToFileURL(join(r, 'no-such-worker.js')))
    ios.push(io)
    await exercise(io, r)
    expect(faults).toHaveLength(1)
  })

  it('a worker that dies holding jobs: they run again on this thread (each is idempotent), later ones too', async () => {
    const r = await root()
    const faults: unknown[] = []
    const io = new FileIo((err) => faults.push(err), new URL('./fixtures/dying-worker.mjs', import.meta.url))
    ios.push(io)
    await exercise(io, r)
    expect(faults).toHaveLength(1)
  })

  it('more jobs in one tick than one message holds: each comes back with its own answer', async () => {
    // The jobs of a tick go in messages of at most 64 (answered as each is done, not all at once).
    const r = await root()
    const io = new FileIo()
    ios.push(io)
    const n = 200
    const names = Array.from({ length: n }, (_, i) => join(r, `f${i}.json`))
    await Promise.all(names.map((abs, i) => writeFile(abs, `{"i":${i}}`)))
    // Every third name does not exist: 'gone' must land on exactly those jobs.
    await Promise.all(names.filter((_, i) => i % 3 === 0).map((abs) => rm(abs)))
    const results = await Promise.all(names.map((abs) => io.take({ abs, maxBytes: 1024 })))
    results.forEach((res, i) => {
      if (i % 3 === 0) expect(res).toBe('gone')
      else {
        expect(typeof res).toBe('object')
        if (typeof res === 'object') expect(Buffer.from(res.data).toString()).toBe(`{"i":${i}}`)
      }
    })
  })
})
