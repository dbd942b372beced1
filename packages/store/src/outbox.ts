import {
  type CborValue,
  decodeCbor,
  decodeStrippedTx,
  encodeCbor,
  encodeStrippedTx,
  equalBytes,
  fromHex,
  originHex,
  type Transaction,
  toHex,
  read,
  rememberTxId,
  type StrippedTx,
  txId,
  txIdHex,
  validateTx,
} from '@profichain/core'
import { type Batch, del, put, type StoreContext, writeBatch } from './context.js'
import { type Counts, decodeTxIndex, encodeCounts, META, readU64, type TxIndexEntry, u64 } from './keys.js'
import { retains } from './retention.js'
import { type DeferredReceipt, type Outbox, type OutboxIndex, type OutboxIndexOp, type RetentionPolicy, StoreError, type TxLocation } from './types.js'

/** What the outbox shares with the block tree beyond the context: the retention policy and the stored counts. */
export interface OutboxShared {
  retention: RetentionPolicy
  /**
   * Payloads kept although the retention policy does not keep them: the block tree's answer is device records
   * (origin not a genesis member), which the ingest gateway keeps anyway (`putPayload` right after the ack);
   * deleting one at the ack only for it to be written again cost a tombstone and a second synced write.
   */
  keptAnyway?: (tx: StrippedTx) => boolean
  /** The block tree's chain state: `counts` is read and replaced inside the write queue, written in each batch. */
  state: { counts: Counts }
}

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
   * Every outbox entry, decoded, by order (ascending: insertion order), with its canonical location — an
   * exact in-memory mirror of the outbox and of the tx index restricted to it. `confirmed()` runs after
   * every block, `confirmedAmong()` per block and `uncommitted()` every few seconds: decoding and
   * re-hashing each pending record on every scan cost a fifth of the node's main thread, and looking every
   * entry up in the tx index again 4 % of it. Built from the outbox at open; entries join after their synced
   * add and leave after their synced ack; locations change only with the canonical chain, in the same
   * step as the block's synced write (`stageSwitch`, called by fork choice). Bounded by the outbox itself.
   */
  private readonly entries = new Map<number, OutboxEntry>()
  private readonly byId = new Map<string, OutboxEntry>()

  /**
   * Outbox entries (hex txId) whose payload stays at their ack although the retention policy does not keep it
   * (bucket `payloadPin`; rare: a payload stored before its entry, or one `putPayload` asked to keep).
   */
  private readonly pins = new Set<string>()

  constructor(
    private readonly ctx: StoreContext,
    private readonly shared: OutboxShared = { retention: { mode: 'all' }, state: { counts: { blocks: 0, txs: 0, payloads: 0, payloadBytes: 0 } } },
  ) {}

  /** Load the persisted entries and their locations (called once on open). */
  async load(): Promise<void> {
    this.entries.clear()
    this.byId.clear()
    this.pins.clear()
    for await (const k of this.ctx.subs.payloadPin.keys()) this.pins.add(toHex(k))
    // The retired `outboxOrder` bucket (written by stores before session 6, read by none): its entries of
    // records still in the outbox are dropped here, so none outlives its record. Idempotent; a store
    // written by this version has the bucket empty, and older code reading it does not miss it.
    await this.ctx.subs.outboxOrder.clear()
    // Layout 3: an entry is its stripped tx, its payload in `payload` (joined here, one read per chunk).
    let chunk: Array<{ order: number; stripped: StrippedTx; id: Uint8Array }> = []
    const join = async (): Promise<void> => {
      const ids = chunk.map((c) => c.id)
      const [locs, payloads] = await Promise.all([this.ctx.subs.txIndex.getMany(ids), this.ctx.subs.payload.getMany(ids)])
      chunk.forEach((c, i) => {
        const payload = payloads[i]
        if (payload === undefined)
          throw new StoreError('ERR_STORE_CORRUPT', `outbox entry ${c.order} (tx ${toHex(c.id)}) has no payload stored`)
        const tx: Transaction = { ...c.stripped, payload }
        rememberTxId(tx, c.id)
        const v = locs[i]
        const e: OutboxEntry = { order: c.order, tx, id: c.id, hex: toHex(c.id), loc: v === undefined ? undefined : decodeTxIndex(v) }
        this.entries.set(e.order, e)
        this.byId.set(e.hex, e)
      })
      chunk = []
    }
    for await (const [k, v] of this.ctx.subs.outbox.iterator()) {
      const stripped = decodeStrippedTx(v)
      const order = readU64(k)
      chunk.push({ order, stripped, id: txId(stripped) })
      this.nextOrder = order + 1
      if (chunk.length >= SCAN_CHUNK) await join()
    }
    if (chunk.length > 0) await join()
    this.count = this.entries.size
    let d = 0
    for await (const _ of this.ctx.subs.deferredReceipt.keys()) d++
    this.deferred = d
    this.levels()
  }

  private levels(): void {
    this.ctx.metrics.level('outboxDepth', this.count)
    this.ctx.metrics.level('deferredReceipts', this.deferred)
  }

  /**
   * Whether an outbox entry (txId hex) is on the canonical chain; undefined when it is no outbox entry. Exact
   * inside the store's write queue (entries and locations change only there).
   */
  canonicalState(idHex: string): boolean | undefined {
    const e = this.byId.get(idHex)
    return e === undefined ? undefined : e.loc !== undefined
  }

  /**
   * Whether a txId (hex) is an outbox entry: its payload is then in the `payload` bucket (layout 3), so the
   * block tree's payload staging needs no read for it. Exact inside the store's write queue.
   */
  has(idHex: string): boolean {
    return this.byId.has(idHex)
  }

  /**
   * Whether the payload of `id` is stored only for its outbox entry: deleted at its ack (the retention policy
   * does not keep it, nothing pinned it). `hasPayload` answers false for it (the node does not keep it).
   */
  transientPayload(id: Uint8Array): boolean {
    if (this.byId.size === 0) return false
    const hex = toHex(id)
    const e = this.byId.get(hex)
    return e !== undefined && !this.pins.has(hex) && !this.kept(e.tx)
  }

  /** Whether the payload of an outbox entry stays after its ack by rule (retention policy, `keptAnyway`). */
  private kept(tx: StrippedTx): boolean {
    return retains(this.shared.retention, tx) || this.shared.keptAnyway?.(tx) === true
  }

  /**
   * `putPayload` of an outbox entry's payload (already stored): keep it past the ack when the retention policy
   * would not (a synced pin). Returns false when `id` is no outbox entry. Runs inside the store's write queue.
   */
  async keepPayload(id: Uint8Array): Promise<boolean> {
    if (!this.transientPayload(id)) return this.byId.size > 0 && this.byId.has(toHex(id))
    const b = this.ctx.db.batch()
    put(b, this.ctx.subs.payloadPin, id, EMPTY)
    await writeBatch(b, 'keeping a payload', { sync: true })
    this.pins.add(toHex(id))
    return true
  }

  /**
   * Stage the outbox's side of a canonical switch (blocks leaving, then blocks joining, as the tx index is
   * changed in the same batch); the returned commit runs right after that batch's synced write.
   */
  stageSwitch(sw: {
    removed: Array<{ ids: Uint8Array[] }>
    added: Array<{ node: { hash: Uint8Array; height: number }; ids: Uint8Array[]; txs?: readonly StrippedTx[] }>
  }): () => void {
    if (this.byId.size === 0) return () => {}
    const changes: Array<[OutboxEntry, TxIndexEntry | undefined]> = []
    for (const r of sw.removed) {
      for (const id of r.ids) {
        const e = this.byId.get(toHex(id))
        if (e) changes.push([e, undefined])
      }
    }
    for (const a of sw.added) {
      const { hash, height } = a.node
      const txs = a.txs
      a.ids.forEach((id, index) => {
        // The block's tx objects carry their hex id (memoised; txId(txs[i]) is ids[i]): no conversion per record.
        const e = this.byId.get(txs === undefined ? toHex(id) : txIdHex(txs[index]))
        if (e) changes.push([e, { blockHash: hash, height, index }])
      })
    }
    return () => {
      for (const [e, loc] of changes) e.loc = loc
    }
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
      encodeStrippedTx(tx) // memoised: the value written below (and the txId's input)
    }
    const ids = items.map((it) => txId(it.tx))
    const hexes = items.map((it) => txIdHex(it.tx))
    const index = opts.index ?? []
    return this.ctx.serial.run(async () => {
      await this.ctx.beforeWrite()
      const { subs } = this.ctx
      // The in-memory entries are the outbox (exact inside the write queue): no read for presence. A new
      // entry's location is read once here (normally none: own records are added before any block has them).
      const present = hexes.map((h) => this.byId.has(h))
      const fresh = ids.filter((_, i) => !present[i])
      const keyed = items.map((it) => (it.dedupeKey === undefined ? undefined : dedupeKeyBytes(it.dedupeKey)))
      // A new entry's payload may be stored already (its tx in a stored block, `putPayload`): read with the
      // location, so the payload counts stay exact. getMany, not hasMany: classic-level's has/hasMany seek an
      // iterator, which steps over every tombstone after the key (acks delete payloads the retention policy
      // drops: ~250 µs of LevelDB thread per record measured with retention none); a point read does not.
      const [keyHits, freshLocs, freshStored] = await Promise.all([
        subs.dedupe.getMany(keyed.filter((k): k is Uint8Array => k !== undefined)),
        fresh.length > 0 ? subs.txIndex.getMany(fresh) : Promise.resolve([]),
        fresh.length > 0 ? subs.payload.getMany(fresh) : Promise.resolve([]),
      ])
      const locOf = new Map<string, Uint8Array | undefined>()
      const storedOf = new Set<string>()
      let f = 0
      hexes.forEach((h, i) => {
        if (present[i]) return
        if (freshStored[f] !== undefined) storedOf.add(h)
        locOf.set(h, freshLocs[f++])
      })
      let payloads = 0
      let payloadBytes = 0
      const pinned: string[] = []
      const b = this.ctx.db.batch()
      const out: Array<{ txId: string; duplicate: boolean }> = []
      const seenIds = new Set<string>()
      const seenKeys = new Map<string, string>()
      const seqs = new Map<string, number>()
      let order = this.nextOrder
      let hit = 0
      const added: OutboxEntry[] = []
      for (let i = 0; i < items.length; i++) {
        const id = hexes[i]
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
        // No `outboxOrder` entry (txId → order): nothing has read it since the in-memory index (load scans
        // the outbox itself), and its put and delete were 2 of a record's batch ops plus a random-keyed
        // tombstone carried through every compaction level.
        // Layout 3: the entry is the stripped tx, its payload goes to `payload` once (its block finds it there).
        put(b, subs.outbox, u64(order), encodeStrippedTx(tx))
        if (!storedOf.has(id)) {
          put(b, subs.payload, ids[i], tx.payload)
          payloads++
          payloadBytes += tx.payload.byteLength
        } else if (!this.kept(tx) && !this.pins.has(id)) {
          // Stored before this entry (not by it): its ack must not delete it.
          put(b, subs.payloadPin, ids[i], EMPTY)
          pinned.push(id)
        }
        const loc = locOf.get(id)
        added.push({ order, tx, id: ids[i], hex: id, loc: loc === undefined ? undefined : decodeTxIndex(loc) })
        order++
        if (keyed[i] !== undefined) {
          put(b, subs.dedupe, keyed[i] as Uint8Array, ids[i])
          seenKeys.set(key as string, id)
        }
        const origin = originHex(tx)
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
      const counts = this.stageCounts(b, payloads, payloadBytes)
      await writeBatch(b, 'outbox add', { sync: true })
      this.shared.state.counts = counts
      for (const h of pinned) this.pins.add(h)
      for (const e of added) {
        this.entries.set(e.order, e)
        this.byId.set(e.hex, e)
      }
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
    if (limit <= 0) return out
    for (const e of this.entries.values()) {
      if (e.loc !== undefined) continue
      out.push(e.tx)
      if (out.length >= limit) break
    }
    return out
  }

  async confirmed(confirmations: number, limit = Number.MAX_SAFE_INTEGER): Promise<TxLocation[]> {
    const maxHeight = this.ctx.head().height - Math.max(1, confirmations) + 1
    const out: TxLocation[] = []
    if (limit <= 0) return out
    for (const e of this.entries.values()) {
      if (e.loc === undefined || e.loc.height > maxHeight) continue
      out.push(located(e, e.loc))
      if (out.length >= limit) break
    }
    return out
  }

  async confirmedAmong(txIds: Uint8Array[], confirmations: number): Promise<TxLocation[]> {
    if (this.byId.size === 0 || txIds.length === 0) return []
    const maxHeight = this.ctx.head().height - Math.max(1, confirmations) + 1
    const found = new Set<OutboxEntry>()
    for (const id of txIds) {
      const e = this.byId.get(toHex(id))
      if (e?.loc !== undefined && e.loc.height <= maxHeight) found.add(e)
    }
    return [...found].sort((a, b) => a.order - b.order).map((e) => located(e, e.loc as TxIndexEntry))
  }

  async ack(txIds: string[], opts: { blockHashes?: Uint8Array[] } = {}): Promise<void> {
    await this.remove(txIds, [], 'outbox ack', opts.blockHashes)
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
    blockHashes?: Uint8Array[],
  ): Promise<void> {
    await this.ctx.serial.run(async () => {
      await this.ctx.beforeWrite()
      // Looked up by their hex (the in-memory entries hold the bytes): no hex round trip per record.
      let gone = [...new Set(txIds.map((t) => t.toLowerCase()))].map((h) => this.byId.get(h))
      if (blockHashes !== undefined) {
        // Acked for the block its receipt names: an entry a reorg moved meanwhile (its receipt was being
        // written for the abandoned block) stays, and the next flush writes its receipt for the new block.
        const expected = new Map(txIds.map((t, i) => [t.toLowerCase(), blockHashes[i]]))
        gone = gone.map((e) => {
          const want = e === undefined ? undefined : expected.get(e.hex)
          return e !== undefined && want !== undefined && e.loc !== undefined && equalBytes(e.loc.blockHash, want) ? e : undefined
        })
      }
      const deferById = new Map(defer.map((d) => [d.txId.toLowerCase(), d]))
      const deferIds = [...deferById.keys()].map(fromHex)
      const before = deferIds.length > 0 ? await this.ctx.subs.deferredReceipt.getMany(deferIds) : []
      const b = this.ctx.db.batch()
      let n = 0
      let payloads = 0
      let payloadBytes = 0
      const unpinned: string[] = []
      for (const e of gone) {
        if (e === undefined) continue
        del(b, this.ctx.subs.outbox, u64(e.order))
        n++
        // The entry's payload (stored with it) leaves with it unless the retention policy keeps it or a pin says
        // it was stored for more than this entry. Same txId, same rule: no kept tx or other entry needs it.
        if (this.pins.has(e.hex)) {
          del(b, this.ctx.subs.payloadPin, e.id)
          unpinned.push(e.hex)
        } else if (!this.kept(e.tx)) {
          del(b, this.ctx.subs.payload, e.id)
          payloads--
          payloadBytes -= e.tx.payload.byteLength
        }
      }
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
      const counts = this.stageCounts(b, payloads, payloadBytes)
      await writeBatch(b, what, { sync: true })
      this.shared.state.counts = counts
      for (const h of unpinned) this.pins.delete(h)
      for (const e of gone) {
        if (e === undefined) continue
        this.entries.delete(e.order)
        this.byId.delete(e.hex)
      }
      this.count -= n
      this.deferred += fresh
      this.ctx.metrics.count('receiptWritesDeferred', deferIds.length)
      this.levels()
    })
  }

  async size(): Promise<number> {
    return this.count
  }

  /** The stored counts after `payloads` more (or fewer) payloads of `bytes`, put in `b`; install after its write. */
  private stageCounts(b: Batch, payloads: number, bytes: number): Counts {
    const c = this.shared.state.counts
    if (payloads === 0 && bytes === 0) return c
    const next = { ...c, payloads: c.payloads + payloads, payloadBytes: c.payloadBytes + bytes }
    put(b, this.ctx.subs.meta, META.counts, encodeCounts(next))
    return next
  }
}

const EMPTY = new Uint8Array(0)

interface OutboxEntry {
  order: number
  /** Decoded once (memoised txId and encoding: receipts do not encode and hash the record again). */
  tx: Transaction
  id: Uint8Array
  hex: string
  /** Canonical location (the tx index's entry), undefined while uncommitted. */
  loc: TxIndexEntry | undefined
}

function located(e: OutboxEntry, loc: TxIndexEntry): TxLocation {
  // The outbox's own object (a Transaction is a StrippedTx): its txId and encoding are memoised.
  return { tx: e.tx, txId: e.hex, blockHash: loc.blockHash, height: loc.height, index: loc.index }
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
