import { rm, stat } from 'node:fs/promises'
import { equalBytes, fromHex, originKeyHex, toHex } from '@profichain/core'
import type { OutboxIndex, OutboxIndexOp } from '@profichain/store'
import { Level } from 'level'

/**
 * Receipts owed to devices (docs/ingest-protocol.md §3.3): for each record accepted over the ingest API, the
 * device that sent it, until the device has receipt-acked the record's receipt. Kept in the store's DB, in
 * the outbox's side index (bucket `ingestOwed`): the entries of a group of accepted records are written in
 * the same synced batch as the records' outbox entries (`add(pairs, write)`), so an acked record always has
 * its entry and a group costs one fsync. (Nodes before this kept them in a LevelDB of their own,
 * `<data>/ingest-api/owed`: `migrateOwed` moves it into the store at start; a path still opens one, for tests.)
 * Layout (binary keys, both written and deleted together):
 *   "d" ‖ origin(32) ‖ txId(32) → empty   (by device: what to push after a hello)
 *   "t" ‖ txId(32) → origin(32) ‖ tx      (by tx: who to push a fresh commit to; a tx has one origin; tx =
 *                                          encodeTransaction, kept so the node can store the payload once committed)
 */
export class OwedReceipts {
  private readonly index: OutboxIndex
  /** Its own LevelDB (a path was given): its entries are written apart from the outbox's batch. */
  private readonly db?: Level<Uint8Array, Uint8Array>
  private count = 0
  /** Mutations one at a time, so `count` stays exact. */
  private tail: Promise<unknown> = Promise.resolve()
  /**
   * Entries written here lately and not removed since, without a tx copy (hex txId → txId, origin): a fresh
   * commit (devicesOfHex) and a receipt-ack (remove) find them here instead of reading the index, the common
   * case by far (a device record is committed and receipt-acked seconds after it was added): two reads per
   * record less. Exact for what it holds, as every write of the entries goes through this object (the
   * migration of an older DB runs before it opens); bounded, oldest dropped first; a miss reads the index.
   */
  private readonly recent = new Map<string, { id: Uint8Array; origin: Uint8Array; originHex: string }>()
  private readonly recentMax: number

  /** `recentMax`: entries remembered at most (default 65,536: ~20–30 MB at most, hex key and id bytes each; 0: none). */
  constructor(where: string | OutboxIndex, opts: { recentMax?: number } = {}) {
    this.recentMax = opts.recentMax ?? 65_536
    if (typeof where === 'string') {
      const db = (this.db = new Level<Uint8Array, Uint8Array>(where, { keyEncoding: 'view', valueEncoding: 'view' }))
      this.index = levelIndex(db)
    } else this.index = where
  }

  async open(): Promise<void> {
    await this.db?.open()
    this.count = await countKeys(this.index, D, Uint8Array.of(0x65))
  }

  async close(): Promise<void> {
    await this.db?.close()
  }

  /** Entries (one per device and record). */
  get size(): number {
    return this.count
  }

  /**
   * Owe these receipts. With `write`, the caller writes the entries' ops durably in its own batch (the
   * outbox's: `write(ops)` is called even when there are none, and its result returned); then they count
   * once it resolves. Entries already owed are not written again.
   */
  async add<T = void>(pairs: Array<{ origin: Uint8Array; txId: Uint8Array; tx?: Uint8Array; txIdHex?: string }>, write?: (ops: OutboxIndexOp[] | undefined) => Promise<T>): Promise<T | undefined> {
    return this.serial(async () => {
      const ops: OutboxIndexOp[] = []
      // Entries without a tx copy that this call writes: remembered once written.
      const written: Array<{ hex: string; id: Uint8Array; origin: Uint8Array }> = []
      let fresh = 0
      if (pairs.length > 0) {
        const keys = byDeviceKeys(pairs)
        const present = await this.index.getMany(keys)
        const seen = new Set<string>()
        pairs.forEach((p, i) => {
          if (present[i] !== undefined) return
          // A txId has one origin (the tx names it): the txId alone tells a repeat within `pairs`.
          const hex = p.txIdHex ?? toHex(p.txId)
          if (seen.has(hex)) return
          seen.add(hex)
          ops.push({ key: keys[i], value: EMPTY }, { key: byTx(p.txId), value: p.tx ? concat(p.origin, p.tx) : p.origin })
          if (!p.tx) written.push({ hex, id: p.txId, origin: p.origin })
          fresh++
        })
      }
      let out: T | undefined
      if (write && !this.db) out = await write(ops)
      else {
        // Its own DB: the entries first (synced), then the caller's write.
        if (ops.length > 0) await this.index.write(ops)
        if (write) out = await write(undefined)
      }
      this.count += fresh
      for (const w of written) this.remember(w.hex, w.id, w.origin)
      return out
    })
  }

  private remember(hex: string, id: Uint8Array, origin: Uint8Array): void {
    if (this.recentMax === 0) return
    if (this.recent.size >= this.recentMax) this.recent.delete(this.recent.keys().next().value as string)
    // Own copies when they are views into something larger (a decoded frame must not be kept alive by 32 bytes).
    const o = ownBytes(origin)
    // The origin's hex memoised per bytes object (a connection's records share one).
    this.recent.set(hex, { id: ownBytes(id), origin: o, originHex: originKeyHex(o) })
  }

  /** Up to `limit` txIds owed to `origin`. */
  async forDevice(origin: Uint8Array, limit: number): Promise<Uint8Array[]> {
    const keys = await this.index.keys({ gte: concat(D, origin), lt: concat(D, next(origin)), limit })
    return keys.map((k) => k.slice(33))
  }

  /** The device owed the receipt of each txId, for those owed (hex txId → origin and, when kept, the tx). */
  async devicesOf(txIds: Uint8Array[]): Promise<Map<string, { origin: Uint8Array; tx?: Uint8Array }>> {
    const out = new Map<string, { origin: Uint8Array; tx?: Uint8Array }>()
    if (this.count === 0 || txIds.length === 0) return out
    const vals = await this.index.getMany(txIds.map(byTx))
    txIds.forEach((id, i) => {
      const v = vals[i]
      if (v !== undefined) out.set(toHex(id), { origin: v.subarray(0, 32), ...(v.byteLength > 32 ? { tx: v.subarray(32) } : {}) })
    })
    return out
  }

  /**
   * devicesOf for txIds in lower-case hex (the chain's committed event): the map is keyed by the hex given,
   * each entry carries the txId's bytes (and the origin's hex when remembered); no hex is made again per record.
   */
  async devicesOfHex(txIds: readonly string[]): Promise<Map<string, { id: Uint8Array; origin: Uint8Array; originHex?: string; tx?: Uint8Array }>> {
    const out = new Map<string, { id: Uint8Array; origin: Uint8Array; originHex?: string; tx?: Uint8Array }>()
    if (this.count === 0 || txIds.length === 0) return out
    // Those remembered need no read; the others are read (in the order given, which the map keeps).
    const missed: string[] = []
    for (const hex of txIds) {
      const r = this.recent.get(hex)
      if (r !== undefined) out.set(hex, r)
      else {
        out.set(hex, MISSING)
        missed.push(hex)
      }
    }
    if (missed.length === 0) return out
    const keys = missed.map((hex) => {
      const k = new Uint8Array(33)
      k[0] = T[0]
      if (hex.length !== 64 || Buffer.from(k.buffer, 1, 32).write(hex, 'hex') !== 32) throw new TypeError(`not a 32-byte hex txId: ${hex.slice(0, 80)}`)
      return k
    })
    const vals = await this.index.getMany(keys)
    missed.forEach((hex, i) => {
      const v = vals[i]
      if (v !== undefined) out.set(hex, { id: keys[i].subarray(1), origin: v.subarray(0, 32), ...(v.byteLength > 32 ? { tx: v.subarray(32) } : {}) })
      else out.delete(hex)
    })
    return out
  }

  /** Stop owing these receipts (`hexes`: the txIds' lower-case hex when the caller has it, in the same order). */
  async remove(origin: Uint8Array, ids: Uint8Array[], hexes?: readonly string[]): Promise<void> {
    const txIds = new Map(ids.map((id, i) => [hexes?.[i] ?? toHex(id), id]))
    if (txIds.size === 0) return
    await this.serial(async () => {
      // Remembered entries of this origin are present; only the others are read.
      const all = byDeviceKeys([...txIds.values()].map((txId) => ({ origin, txId })))
      const keys: Uint8Array[] = []
      const ops: OutboxIndexOp[] = []
      const gone: string[] = []
      const read: Uint8Array[] = []
      const readHex: string[] = []
      let k = 0
      for (const [hex, id] of txIds) {
        const r = this.recent.get(hex)
        const key = all[k++]
        if (r !== undefined && equalBytes(r.origin, origin)) {
          ops.push({ key }, { key: byTx(id) })
          gone.push(hex)
        } else {
          read.push(id)
          readHex.push(hex)
          keys.push(key)
        }
      }
      if (keys.length > 0) {
        const present = await this.index.getMany(keys)
        read.forEach((id, i) => {
          if (present[i] === undefined) return
          ops.push({ key: keys[i] }, { key: byTx(id) })
          gone.push(readHex[i])
        })
      }
      if (ops.length === 0) return
      await this.index.write(ops)
      this.count -= ops.length / 2
      for (const hex of gone) this.recent.delete(hex)
    })
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn)
    this.tail = run.catch(() => undefined)
    return run
  }
}

/**
 * Move the owed receipts of an older node (a LevelDB of their own at `path`) into `into` (the store's outbox
 * index), then delete that DB. Safe to repeat after a crash: the same entries are written again.
 */
export async function migrateOwed(path: string, into: OutboxIndex): Promise<number> {
  if (!(await stat(path).catch(() => undefined))) return 0
  const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  let n = 0
  try {
    let ops: OutboxIndexOp[] = []
    for await (const [key, value] of db.iterator()) {
      ops.push({ key, value })
      if (ops.length >= 4096) {
        await into.write(ops)
        n += ops.length
        ops = []
      }
    }
    if (ops.length > 0) await into.write(ops)
    n += ops.length
  } finally {
    await db.close()
  }
  await rm(path, { recursive: true, force: true })
  return n
}

function levelIndex(db: Level<Uint8Array, Uint8Array>): OutboxIndex {
  return {
    getMany: (keys) => db.getMany(keys),
    keys: async ({ gte, lt, limit = -1 }) => {
      const out: Uint8Array[] = []
      for await (const k of db.keys({ gte, lt, limit })) out.push(k)
      return out
    },
    write: async (ops) => {
      const b = db.batch()
      for (const op of ops) {
        if (op.value === undefined) b.del(op.key)
        else b.put(op.key, op.value)
      }
      await b.write({ sync: true })
    },
  }
}

/** Keys in [gte, lt), counted in pages (the index can be large). */
async function countKeys(index: OutboxIndex, gte: Uint8Array, lt: Uint8Array): Promise<number> {
  let n = 0
  let from = gte
  for (;;) {
    const page = await index.keys({ gte: from, lt, limit: 10_000 })
    n += page.length
    if (page.length < 10_000) return n
    from = concat(page[page.length - 1], Uint8Array.of(0))
  }
}

const EMPTY = new Uint8Array(0)
/** A place kept in devicesOfHex's map (its order) until the read answers. */
const MISSING = { id: EMPTY, origin: EMPTY }

function ownBytes(b: Uint8Array): Uint8Array {
  return b.byteLength === b.buffer.byteLength ? b : b.slice()
}

const D = Uint8Array.of(0x64)
const T = Uint8Array.of(0x74)

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.byteLength
  }
  return out
}

/**
 * The "d" ‖ origin ‖ txId keys of many, as views into one buffer: a 65-byte Uint8Array is just above V8's 64-byte limit for
 * typed arrays kept on the heap, so each was a separately allocated, GC-tracked backing store.
 */
function byDeviceKeys(pairs: ReadonlyArray<{ origin: Uint8Array; txId: Uint8Array }>): Uint8Array[] {
  let size = 0
  for (const p of pairs) size += 1 + p.origin.byteLength + p.txId.byteLength
  const buf = new Uint8Array(size)
  const out: Uint8Array[] = new Array(pairs.length)
  let at = 0
  for (let i = 0; i < pairs.length; i++) {
    const { origin, txId } = pairs[i]
    const end = at + 1 + origin.byteLength + txId.byteLength
    buf[at] = D[0]
    buf.set(origin, at + 1)
    buf.set(txId, at + 1 + origin.byteLength)
    out[i] = buf.subarray(at, end)
    at = end
  }
  return out
}

function byTx(id: Uint8Array): Uint8Array {
  const k = new Uint8Array(1 + id.byteLength)
  k[0] = T[0]
  k.set(id, 1)
  return k
}

/** The smallest 32-byte key above every key starting with `k` (k is 32 bytes; all-ones never occurs in practice). */
function next(k: Uint8Array): Uint8Array {
  const out = new Uint8Array(k)
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] < 0xff) {
      out[i]++
      return out
    }
    out[i] = 0
  }
  return fromHex('ff'.repeat(33))
}
