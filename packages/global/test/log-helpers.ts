import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type KeyPair, keyPairFromSeed, sha256 } from '@profichain/core'
import { Level } from 'level'
import type { BlockLogChain, LogBucket, LogKv } from '../src/log/index.js'

/** LogKv over a real LevelDB on disk (one sublevel per bucket), like the store's global buckets. */
export async function openKv(path: string): Promise<{ kv: LogKv; close: () => Promise<void> }> {
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  const subs = new Map<LogBucket, ReturnType<typeof db.sublevel<Uint8Array, Uint8Array>>>()
  for (const [b, p] of [['logNode', 'g'], ['logMeta', 'G'], ['witnessState', 'w'], ['witnessEvidence', 'W']] as const)
    subs.set(b, db.sublevel<Uint8Array, Uint8Array>(p, { keyEncoding: 'view', valueEncoding: 'view' }))
  const sub = (b: LogBucket) => subs.get(b) as NonNullable<ReturnType<typeof subs.get>>
  const u8 = (v: Uint8Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
  const kv: LogKv = {
    get: async (b, k) => {
      const v = await sub(b).get(k)
      return v === undefined ? undefined : u8(v)
    },
    getMany: async (b, ks) => (await sub(b).getMany(ks)).map((v) => (v === undefined ? undefined : u8(v))),
    entries: async (b, range = {}, limit = -1) => {
      const out: Array<[Uint8Array, Uint8Array]> = []
      for await (const [k, v] of sub(b).iterator({ ...range, limit })) out.push([u8(k), u8(v)])
      return out
    },
    write: async (ops) => {
      const batch = db.batch()
      for (const op of ops) {
        if (op.value === undefined) batch.del(op.key, { sublevel: sub(op.bucket) })
        else batch.put(op.key, op.value, { sublevel: sub(op.bucket) })
      }
      await batch.write({ sync: true })
    },
  }
  return { kv, close: () => db.close() }
}

export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'pc-log-'))
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) }
}

export function seedKey(n: number): KeyPair {
  const seed = new Uint8Array(32)
  seed[0] = n
  seed[31] = 9
  return keyPairFromSeed(seed)
}

/** A chain of fake block hashes (height i → SHA-256("block i" + fork tag)); the head and final height are settable. */
export class FakeChain implements BlockLogChain {
  head = 0
  final?: number
  floors: number[] = []
  tag = ''
  hashOf(h: number): Uint8Array {
    return sha256(new Uint8Array(Buffer.from(`block ${h}${h > 0 ? this.tag : ''}`)))
  }
  headHeight(): number {
    return this.head
  }
  get finalHeight(): (() => number) | undefined {
    return this.final === undefined ? undefined : () => this.final as number
  }
  async hashAtHeight(h: number): Promise<Uint8Array | undefined> {
    return h <= this.head ? this.hashOf(h) : undefined
  }
  async setFloor(h: number): Promise<void> {
    this.floors.push(h)
  }
}
