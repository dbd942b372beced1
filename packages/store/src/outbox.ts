import {
  type CborValue,
  decodeCbor,
  decodeTransaction,
  encodeCbor,
  encodeTransaction,
  fromHex,
  type Transaction,
  toHex,
  read,
  txId,
  txIdHex,
  validateTx,
} from '@profichain/core'
import { del, put, type StoreContext, writeBatch } from './context.js'
import { decodeTxIndex, readU64, type TxIndexEntry, u64 } from './keys.js'
import type { DeferredReceipt, Outbox, OutboxIndex, OutboxIndexOp, TxLocation } from './types.js'

const SCAN_CHUNK = 512

/**
 * Durable outbox of this node's own txs, in the store's DB: a tx leaves only through `ack`, so nothing
 * ingested is lost across crashes. Dedupe keys are written in the same batch as their tx and never deleted.
 */
export class StoreOutbox implements Outbox {
  private count = 0
  private deferred = 0
  private nextOrder = 0
  /**
   * Decoded entries by order. `confirmed()` runs after every block and `uncommitted()` every few seconds;
   * decoding and re-hashing each pending record on every scan cost a fifth of the node's main thread.
   * Entries leave with `ack`; after a restart they are decoded once on first scan.
   */
  private readonly decoded = new Map<number, { tx: Transaction; id: Uint8Array }>()

  constructor(private readonly ctx: StoreContext) {}

  /** Count the persisted entries (called once on open). */
  async load(): Promise<void> {
    let n = 0
    for await (const _ of this.ctx.subs.outboxOrder.keys()) n++
    this.count = n
    for await (const k of this.ctx.subs.outbox.keys({ reverse: true, limit: 1 })) this.nextOrder = readU64(k) + 1
    let d = 0
    for await (const _ of this.ctx.subs.deferredReceipt.keys()) d++
    this.deferred = d
    this.levels()
  }

  private levels(): void {
    this.ctx.metrics.level('outboxDepth', this.count)
    this.ctx.metrics.level('deferredReceipts', this.deferred)
  }

  /** Payloads of outbox txs by txId (undefined: not in the outbox), for the block tree's retention. */
  async payloads(ids: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    if (this.count === 0 || ids.length === 0) return ids.map(() => undefined)
    const orders = await this.ctx.subs.outboxOrder.getMany(ids)
    const present = orders.filter((o): o is Uint8Array => o !== undefined)
    const vals = await this.ctx.subs.outbox.getMany(present)
    let k = 0
    return orders.map((o) => {
      if (o === undefined) return undefined
      const v = vals[k++]
      return v === undefined ? undefined : decodeTransaction(v).payload
    })
  }

  async add(
    tx: Transaction,
    opts: { dedupeKey?: string } = {},
  ): Promise<{ txId: string; duplicate: boolean }> {
    const [r] = await this.addMany([{ tx, dedupeKey: opts.dedupeKey }])
    return r
  }

  /**
   * The side index (bucket `ingestOwed`): its entries of a group of device records are written in the
   * same synced batch as their outbox entries (`addMany(items, { index })`).
   */
  readonly index: OutboxIndex = {
    getMany: (keys) => this.ctx.subs.ingestOwed.getMany(keys),
    keys: async ({ gte, lt, limit = -1 }) => {
      const out: Uint8Array[] = []
      for await (const k of this.ctx.subs.ingestOwed.keys({ gte, lt, limit })) out.push(k)
      return out
    },
    write: (ops) =>
      this.ctx.serial.run(async () => {
        if (ops.length === 0) return
        await this.ctx.beforeWrite()
        const b = this.ctx.db.batch()
        this.putIndex(b, ops)
        await writeBatch(b, 'writing the outbox index', { sync: true })
      }),
  }

  private putIndex(b: ReturnType<StoreContext['db']['batch']>, ops: OutboxIndexOp[]): void {
    for (const op of ops) {
      if (op.value === undefined) del(b, this.ctx.subs.ingestOwed, op.key)
      else put(b, this.ctx.subs.ingestOwed, op.key, op.value)
    }
  }

  async addMany(
    items: Array<{ tx: Transaction; dedupeKey?: string }>,
    opts: { index?: OutboxIndexOp[] } = {},
  ): Promise<Array<{ txId: string; duplicate: boolean }>> {
    // Stateless work before taking the store's write queue (one queue for outbox, mempool and blocks): the
    // queue then holds only the reads and the synced write, and a block's write overlaps this CPU work.
    for (const { tx } of items) {
      validateTx(tx, this.ctx.rules, { skipSignature: true })
      encodeTransaction(tx) // memoised: the value written below
    }
    const ids = items.map((it) => txId(it.tx))
    const index = opts.index ?? []
    return this.ctx.serial.run(async () => {
      await this.ctx.beforeWrite()
      const { subs } = this.ctx
      const present = await subs.outboxOrder.hasMany(ids)
      const keyed = items.map((it) => (it.dedupeKey === undefined ? undefined : dedupeKeyBytes(it.dedupeKey)))
      const keyHits = await subs.dedupe.getMany(keyed.filter((k): k is Uint8Array => k !== undefined))
      const b = this.ctx.db.batch()
      const out: Array<{ txId: string; duplicate: boolean }> = []
      const seenIds = new Set<string>()
      const seenKeys = new Map<string, string>()
      const seqs = new Map<string, number>()
      let order = this.nextOrder
      let hit = 0
      const added: Array<[number, { tx: Transaction; id: Uint8Array }]> = []
      for (let i = 0; i < items.length; i++) {
        const id = txIdHex(items[i].tx)
        const key = items[i].dedupeKey
        if (keyed[i] !== undefined) {
          const stored = keyHits[hit++]
          if (stored !== undefined) {
            out.push({ txId: toHex(stored), duplicate: true })
            continue
          }
          const earlier = seenKeys.get(key as string)
          if (earlier !== undefined) {
            out.push({ txId: earlier, duplicate: true })
            continue
          }
        }
        if (present[i] || seenIds.has(id)) {
          out.push({ txId: id, duplicate: true })
          continue
        }
        seenIds.add(id)
        const tx = items[i].tx
        put(b, subs.outbox, u64(order), encodeTransaction(tx))
        put(b, subs.outboxOrder, ids[i], u64(order))
        added.push([order, { tx, id: ids[i] }])
        order++
        if (keyed[i] !== undefined) {
          put(b, subs.dedupe, keyed[i] as Uint8Array, ids[i])
          seenKeys.set(key as string, id)
        }
        const origin = toHex(tx.body.origin)
        seqs.set(origin, Math.max(seqs.get(origin) ?? 0, tx.body.seq + 1))
        out.push({ txId: id, duplicate: false })
      }
      if (seenIds.size === 0) {
        if (index.length === 0) {
          await b.close()
          return out
        }
        this.putIndex(b, index)
        await writeBatch(b, 'outbox index', { sync: true })
        return out
      }
      this.putIndex(b, index)
      const origins = [...seqs.keys()]
      const stored = await subs.originSeq.getMany(origins.map(fromHex))
      origins.forEach((o, i) => {
        const prev = stored[i] === undefined ? 0 : readU64(stored[i] as Uint8Array)
        put(b, subs.originSeq, fromHex(o), u64(Math.max(prev, seqs.get(o) as number)))
      })
      await writeBatch(b, 'outbox add', { sync: true })
      for (const [o, e] of added) this.decoded.set(o, e)
      this.nextOrder = order
      this.count += seenIds.size
      this.levels()
      return out
    })
  }

  async lookup(dedupeKey: string): Promise<string | undefined> {
    const v = await this.ctx.subs.dedupe.get(dedupeKeyBytes(dedupeKey))
    return v === undefined ? undefined : toHex(v)
  }

  async lookupMany(dedupeKeys: string[]): Promise<Array<string | undefined>> {
    const vals = await this.ctx.subs.dedupe.getMany(dedupeKeys.map(dedupeKeyBytes))
    return vals.map((v) => (v === undefined ? undefined : toHex(v)))
  }

  async nextSeq(origin: Uint8Array): Promise<number> {
    const v = await this.ctx.subs.originSeq.get(origin)
    return v === undefined ? 0 : readU64(v)
  }

  async uncommitted(limit = Number.MAX_SAFE_INTEGER): Promise<Transaction[]> {
    const out: Transaction[] = []
    for await (const chunk of this.scan()) {
      for (const { tx, loc } of chunk) {
        if (loc === undefined) out.push(tx)
        if (out.length >= limit) return out
      }
    }
    return out
  }

  async confirmed(confirmations: number, limit = Number.MAX_SAFE_INTEGER): Promise<TxLocation[]> {
    const maxHeight = this.ctx.head().height - Math.max(1, confirmations) + 1
    const out: TxLocation[] = []
    for await (const chunk of this.scan()) {
      for (const { tx, loc, id } of chunk) {
        if (loc !== undefined && loc.height <= maxHeight) {
          out.push({
            tx, // memoised txId and encoding (see confirmedAmong)
            txId: id,
            blockHash: loc.blockHash,
            height: loc.height,
            index: loc.index,
          })
          if (out.length >= limit) return out
        }
      }
    }
    return out
  }

  async confirmedAmong(txIds: Uint8Array[], confirmations: number): Promise<TxLocation[]> {
    if (this.count === 0 || txIds.length === 0) return []
    const maxHeight = this.ctx.head().height - Math.max(1, confirmations) + 1
    const orderBytes = await this.ctx.subs.outboxOrder.getMany(txIds)
    const orders = [...new Set(orderBytes.filter((o): o is Uint8Array => o !== undefined).map(readU64))].sort((a, b) => a - b)
    if (orders.length === 0) return []
    const out: TxLocation[] = []
    for (const { tx, loc, id } of await this.locate(orders)) {
      if (loc !== undefined && loc.height <= maxHeight) {
        // The outbox's own object (a Transaction is a StrippedTx): its txId and encoding are memoised, so the
        // receipt builder does not encode and hash each record again.
        out.push({ tx, txId: id, blockHash: loc.blockHash, height: loc.height, index: loc.index })
      }
    }
    return out
  }

  async ack(txIds: string[]): Promise<void> {
    await this.remove(txIds, [], 'outbox ack')
  }

  async deferReceipts(items: Array<{ txId: string; code: string; message: string }>): Promise<void> {
    await this.remove(
      items.map((it) => it.txId),
      items,
      'deferring receipts',
    )
  }

  async deferredReceipts(limit = Number.MAX_SAFE_INTEGER): Promise<DeferredReceipt[]> {
    const out: DeferredReceipt[] = []
    if (limit <= 0) return out
    for await (const [k, v] of this.ctx.subs.deferredReceipt.iterator({ limit })) out.push(decodeDeferred(toHex(k), v))
    return out
  }

  async clearDeferred(txIds: string[]): Promise<void> {
    await this.ctx.serial.run(async () => {
      const ids = [...new Set(txIds)].map(fromHex)
      if (ids.length === 0) return
      await this.ctx.beforeWrite()
      const present = await this.ctx.subs.deferredReceipt.hasMany(ids)
      const b = this.ctx.db.batch()
      let n = 0
      ids.forEach((id, i) => {
        if (!present[i]) return
        del(b, this.ctx.subs.deferredReceipt, id)
        n++
      })
      if (n === 0) return b.close()
      await writeBatch(b, 'clearing deferred receipts', { sync: true })
      this.deferred -= n
      this.levels()
    })
  }

  async deferredCount(): Promise<number> {
    return this.deferred
  }

  /** Remove txIds from the outbox and (if `defer` names them) record them for a receipt retry: one synced batch. */
  private async remove(
    txIds: string[],
    defer: Array<{ txId: string; code: string; message: string }>,
    what: string,
  ): Promise<void> {
    await this.ctx.serial.run(async () => {
      await this.ctx.beforeWrite()
      const ids = [...new Set(txIds)].map(fromHex)
      const orders = await this.ctx.subs.outboxOrder.getMany(ids)
      const deferById = new Map(defer.map((d) => [d.txId.toLowerCase(), d]))
      const deferIds = [...deferById.keys()].map(fromHex)
      const before = deferIds.length > 0 ? await this.ctx.subs.deferredReceipt.getMany(deferIds) : []
      const b = this.ctx.db.batch()
      let n = 0
      ids.forEach((id, i) => {
        const o = orders[i]
        if (o === undefined) return
        del(b, this.ctx.subs.outbox, o)
        del(b, this.ctx.subs.outboxOrder, id)
        n++
      })
      const now = Date.now()
      let fresh = 0
      deferIds.forEach((id, i) => {
        const d = deferById.get(toHex(id)) as { code: string; message: string }
        const prev = before[i] === undefined ? undefined : decodeDeferred(toHex(id), before[i] as Uint8Array)
        if (prev === undefined) fresh++
        put(
          b,
          this.ctx.subs.deferredReceipt,
          id,
          encodeDeferred({
            code: d.code,
            message: d.message,
            attempts: (prev?.attempts ?? 0) + 1,
            firstFailedAt: prev?.firstFailedAt ?? now,
            lastFailedAt: now,
          }),
        )
      })
      if (n === 0 && deferIds.length === 0) return b.close()
      await writeBatch(b, what, { sync: true })
      for (const o of orders) if (o !== undefined) this.decoded.delete(readU64(o))
      this.count -= n
      this.deferred += fresh
      this.ctx.metrics.count('receiptWritesDeferred', deferIds.length)
      this.levels()
    })
  }

  async size(): Promise<number> {
    return this.count
  }

  /** Outbox entries in insertion order with their canonical location, in chunks. */
  private async *scan(): AsyncGenerator<
    Array<{ tx: Transaction; id: string; loc: TxIndexEntry | undefined }>
  > {
    let orders: number[] = []
    for await (const k of this.ctx.subs.outbox.keys()) {
      orders.push(readU64(k))
      if (orders.length >= SCAN_CHUNK) {
        yield await this.locate(orders)
        orders = []
      }
    }
    if (orders.length > 0) yield await this.locate(orders)
  }

  /** These outbox entries (by order) with their canonical location; entries acked meanwhile are left out. */
  private async locate(
    orders: number[],
  ): Promise<Array<{ tx: Transaction; id: string; loc: TxIndexEntry | undefined }>> {
    // Decode what is not cached yet (after a restart), then look every entry up in the tx index.
    const missing = orders.filter((o) => !this.decoded.has(o))
    if (missing.length > 0) {
      const vals = await this.ctx.subs.outbox.getMany(missing.map(u64))
      missing.forEach((o, i) => {
        const v = vals[i]
        if (v === undefined) return // acked meanwhile
        const tx = decodeTransaction(v)
        this.decoded.set(o, { tx, id: txId(tx) })
      })
    }
    const entries = orders.map((o) => this.decoded.get(o)).filter((e) => e !== undefined)
    const locs = await this.ctx.subs.txIndex.getMany(entries.map((e) => e.id))
    return entries.map((e, i) => ({
      tx: e.tx,
      id: toHex(e.id),
      loc: locs[i] === undefined ? undefined : decodeTxIndex(locs[i] as Uint8Array),
    }))
  }
}

function dedupeKeyBytes(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'utf8'))
}

function encodeDeferred(d: Omit<DeferredReceipt, 'txId'>): Uint8Array {
  return encodeCbor([d.code, d.message, d.attempts, d.firstFailedAt, d.lastFailedAt] as CborValue)
}

function decodeDeferred(id: string, v: Uint8Array): DeferredReceipt {
  const a = read.array(decodeCbor(v, 'deferred receipt'), 5, 'deferred receipt')
  return {
    txId: id,
    code: read.text(a[0], 'deferred.code', 1024),
    message: read.text(a[1], 'deferred.message', 1 << 20),
    attempts: read.uint(a[2], 'deferred.attempts'),
    firstFailedAt: read.uint(a[3], 'deferred.firstFailedAt'),
    lastFailedAt: read.uint(a[4], 'deferred.lastFailedAt'),
  }
}
