import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { listFiles, tmpRoot, waitFor } from './helpers.js'

// Runs the built package (dist/) in a child process: build first (`npx tsc -b packages/ingest`).
const child = fileURLToPath(new URL('./fixtures/crash-child.mjs', import.meta.url))
const FILES = 40
const LINE_FILES = 2
const LINES = 10

interface Entry {
  key: string
  txId: string
  seq: number
  path: string
  line: string | null
  processed: string | null
}

let root: string | undefined
let proc: ChildProcess | undefined

afterEach(async () => {
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  if (root) await rm(root, { recursive: true, force: true })
})

function spawnChild(inbox: string, log: string, seed: string): Promise<ChildProcess> {
  const p = fork(child, [inbox, log, seed], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  proc = p
  return new Promise((resolve, reject) => {
    p.once('message', () => resolve(p))
    p.once('exit', (code) => reject(new Error(`child exited early with code ${code}`)))
  })
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => p.once('exit', () => resolve()))
}

async function readLog(log: string): Promise<Entry[]> {
  const text = await readFile(log, 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => JSON.parse(l) as Entry[])
}

describe('file ingest under SIGKILL', () => {
  it('never loses a file and never commits one twice across kills and restarts', async () => {
    root = await tmpRoot()
    const inbox = join(root, 'inbox')
    const log = join(root, 'outbox.log')
    const seed = randomBytes(32).toString('hex')
    await mkdir(join(inbox, 'batch'), { recursive: true })
    const expected = new Set<string>()
    const content = new Map<string, string>()
    for (let i = 0; i < FILES; i++) {
      const rel = `batch/f${i}.json`
      content.set(rel, JSON.stringify({ i, pad: 'x'.repeat(i * 10) }))
      expected.add(`${rel}#`)
    }
    for (let f = 0; f < LINE_FILES; f++) {
      const rel = `lines${f}.jsonl`
      content.set(rel, Array.from({ length: LINES }, (_, i) => JSON.stringify({ f, i })).join('\n'))
      for (let i = 1; i <= LINES; i++) expected.add(`${rel}#${i}`)
    }
    for (const [rel, text] of content) await writeFile(join(inbox, rel), text)
    // Earlier files of the same names are already in processed/: these drops get `~1` names.
    const CLASHES = ['batch/f0.json', 'batch/f1.json', 'batch/f2.json', 'batch/f3.json', 'lines0.jsonl']
    await mkdir(join(root, 'processed/batch'), { recursive: true })
    for (const rel of CLASHES) await writeFile(join(root, 'processed', rel), 'earlier drop')
    const total = FILES + LINE_FILES + CLASHES.length

    // Kill the node at several points of the run, each time a few more files after the last kill.
    let kills = 0
    for (let round = 0; round < 8; round++) {
      const done = (await listFiles(join(root, 'processed'))).length
      if (done >= total) break
      const p = await spawnChild(inbox, log, seed)
      const target = done + 1 + Math.floor(Math.random() * 6)
      await waitFor(
        async () => (await listFiles(join(root as string, 'processed'))).length >= Math.min(target, total),
        `round ${round}: ${target} files processed`,
        20_000,
      )
      p.kill('SIGKILL')
      await exited(p)
      kills++
    }
    // Final clean run picks up whatever is left.
    const last = await spawnChild(inbox, log, seed)
    await waitFor(async () => (await listFiles(inbox)).length === 0, 'inbox drained', 20_000)
    last.kill('SIGTERM')
    await exited(last)

    const entries = await readLog(log)
    const seen = entries.map((e) => `${e.path}#${e.line ?? ''}`)
    expect(kills).toBeGreaterThan(0)
    expect(new Set(seen).size).toBe(seen.length) // nothing committed twice
    expect(new Set(seen)).toEqual(expected) // nothing lost
    expect(new Set(entries.map((e) => e.seq)).size).toBe(entries.length)
    const processed = await listFiles(join(root, 'processed'))
    expect(processed, JSON.stringify(processed)).toHaveLength(total)
    expect(processed.filter((p) => p.includes('~')).sort()).toEqual(
      ['batch/f0~1.json', 'batch/f1~1.json', 'batch/f2~1.json', 'batch/f3~1.json', 'lines0~1.jsonl'].sort(),
    )
    // Every record names (metadata.processed) the file it was made from, whatever the kills interrupted.
    for (const e of entries) {
      expect(e.processed, `${e.path}#${e.line}`).not.toBeNull()
      expect(await readFile(join(root, 'processed', e.processed as string), 'utf8')).toBe(content.get(e.path))
    }
    for (const rel of CLASHES) expect(await readFile(join(root, 'processed', rel), 'utf8')).toBe('earlier drop')
    expect(await listFiles(join(root, 'rejected'))).toEqual([])
  }, 90_000)
})
