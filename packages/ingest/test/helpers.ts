import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mkdir, rm } from 'node:fs/promises'
import { generateKeyPair, type Transaction, txIdHex } from '@profichain/core'
import { createFileIngest, type FileIngest, type IngestInit } from '../src/index.js'

/** In-memory stand-in for the store's Outbox (atomic addMany, dedupe by key and txId). */
export class MemoryOutbox {
  readonly txs: Transaction[] = []
  readonly keys = new Map<string, string>()
  readonly keyOf = new Map<string, string>()
  /** Called after a batch is stored (e.g. to simulate a crash right after the commit). */
  afterAddMany?: () => void

  async addMany(
    items: Array<{ tx: Transaction; dedupeKey?: string }>,
  ): Promise<Array<{ txId: string; duplicate: boolean }>> {
    const out: Array<{ txId: string; duplicate: boolean }> = []
    for (const { tx, dedupeKey } of items) {
      const id = txIdHex(tx)
      const prev = dedupeKey !== undefined ? this.keys.get(dedupeKey) : undefined
      if (prev !== undefined || this.txs.some((t) => txIdHex(t) === id)) {
        out.push({ txId: prev ?? id, duplicate: true })
        continue
      }
      this.txs.push(tx)
      if (dedupeKey !== undefined) {
        this.keys.set(dedupeKey, id)
        this.keyOf.set(id, dedupeKey)
      }
      out.push({ txId: id, duplicate: false })
    }
    this.afterAddMany?.()
    return out
  }

  async lookup(dedupeKey: string): Promise<string | undefined> {
    return this.keys.get(dedupeKey)
  }

  async nextSeq(_origin: Uint8Array): Promise<number> {
    return this.txs.reduce((m, t) => Math.max(m, t.body.seq + 1), 0)
  }
}

/** Poll `fn` until it returns true or the deadline passes (then throw with `what`). */
export async function waitFor(
  fn: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await fn()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export async function tmpRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'profichain-ingest-'))
}

/** Relative paths of every file below `dir` (sorted, '/' separators). */
export async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true })
    return entries
      .filter((e) => !e.isDirectory())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
      .sort()
  } catch {
    return []
  }
}

/**
 * One test file's ingest harness: `setup()` makes a temp root with an inbox and returns a factory for
 * watchers on it (fast stability, no rescan); `cleanup()` (afterEach) stops them and removes the roots.
 */
export function ingestHarness() {
  const key = generateKeyPair()
  const running: FileIngest[] = []
  const roots: string[] = []
  async function setup(init: Partial<IngestInit> = {}, outbox = new MemoryOutbox()) {
    const root = await tmpRoot()
    roots.push(root)
    const inbox = join(root, 'inbox')
    await mkdir(inbox, { recursive: true })
    const make = () => {
      const ingest = createFileIngest({ inbox, stableMs: 100, rescanMs: 0, ...init }, { network: 'testnet', key, outbox })
      running.push(ingest)
      return ingest
    }
    return { root, inbox, outbox, make, dir: (name: string) => join(root, name) }
  }
  async function cleanup(): Promise<void> {
    await Promise.all(running.splice(0).map((i) => i.stop()))
    await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })))
  }
  /** Stop this watcher too at cleanup (one made by hand, not by `setup().make`). */
  const track = (ingest: FileIngest): void => {
    running.push(ingest)
  }
  return { key, setup, cleanup, track }
}
