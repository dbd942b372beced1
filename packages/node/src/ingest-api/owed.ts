import { fromHex, toHex } from '@profichain/core'
import { Level } from 'level'

/**
 * Receipts owed to devices (docs/ingest-protocol.md §3.3): for each record accepted over the ingest API, the
 * device that sent it, until the device has receipt-acked the record's receipt. Its own LevelDB beside the
 * store (`<data>/ingest-api/owed`), written synced *before* the record enters the outbox, so an acked record
 * always has its entry. Layout (binary keys, both written and deleted together):
 *   "d" ‖ origin(32) ‖ txId(32) → empty   (by device: what to push after a hello)
 *   "t" ‖ txId(32) → origin(32) ‖ tx      (by tx: who to push a fresh commit to; a tx has one origin; tx =
 *                                          encodeTransaction, kept so the node can store the payload once committed)
 */
export class OwedReceipts {
  private readonly db: Level<Uint8Array, Uint8Array>
  private count = 0

  constructor(path: string) {
    this.db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  }

  async open(): Promise<void> {
    await this.db.open()
    let n = 0
    for await (const _ of this.db.keys({ gte: Uint8Array.of(0x64), lt: Uint8Array.of(0x65) })) n++
    this.count = n
  }

  async close(): Promise<void> {
    await this.db.close()
  }

  /** Entries (one per device and record). */
  get size(): number {
    return this.count
  }

  async add(pairs: Array<{ origin: Uint8Array; txId: Uint8Array; tx?: Uint8Array }>): Promise<void> {
    if (pairs.length === 0) return
    const keys = pairs.map((p) => byDevice(p.origin, p.txId))
    const present = await this.db.getMany(keys)
    const b = this.db.batch()
    const seen = new Set<string>()
    let fresh = 0
    pairs.forEach((p, i) => {
      const hex = toHex(keys[i])
      if (present[i] !== undefined || seen.has(hex)) return
      seen.add(hex)
      b.put(keys[i], EMPTY)
      b.put(byTx(p.txId), p.tx ? concat(p.origin, p.tx) : p.origin)
      fresh++
    })
    if (fresh === 0) return b.close()
    await b.write({ sync: true })
    this.count += fresh
  }

  /** Up to `limit` txIds owed to `origin`. */
  async forDevice(origin: Uint8Array, limit: number): Promise<Uint8Array[]> {
    const prefix = concat(D, origin)
    const out: Uint8Array[] = []
    for await (const k of this.db.keys({ gte: prefix, lt: concat(D, next(origin)), limit })) out.push(k.slice(33))
    return out
  }

  /** The device owed the receipt of each txId, for those owed (hex txId → origin and, when kept, the tx). */
  async devicesOf(txIds: Uint8Array[]): Promise<Map<string, { origin: Uint8Array; tx?: Uint8Array }>> {
    const out = new Map<string, { origin: Uint8Array; tx?: Uint8Array }>()
    if (this.count === 0 || txIds.length === 0) return out
    const vals = await this.db.getMany(txIds.map(byTx))
    txIds.forEach((id, i) => {
      const v = vals[i]
      if (v !== undefined) out.set(toHex(id), { origin: v.subarray(0, 32), ...(v.byteLength > 32 ? { tx: v.subarray(32) } : {}) })
    })
    return out
  }

  async remove(origin: Uint8Array, ids: Uint8Array[]): Promise<void> {
    const txIds = [...new Map(ids.map((id) => [toHex(id), id])).values()]
    if (txIds.length === 0) return
    const keys = txIds.map((id) => byDevice(origin, id))
    const present = await this.db.getMany(keys)
    const b = this.db.batch()
    let n = 0
    txIds.forEach((id, i) => {
      if (present[i] === undefined) return
      b.del(keys[i])
      b.del(byTx(id))
      n++
    })
    if (n === 0) return b.close()
    await b.write({ sync: true })
    this.count -= n
  }
}

const EMPTY = new Uint8Array(0)
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

const byDevice = (origin: Uint8Array, id: Uint8Array) => concat(D, origin, id)
const byTx = (id: Uint8Array) => concat(T, id)

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
