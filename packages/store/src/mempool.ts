import { type Genesis, isAllowedOrigin, isMemberKey, OriginCheck, type OriginView } from '@profichain/consensus'
import {
  checkDeviceTx,
  CodecError,
  decodeTransaction,
  encodeStrippedTx,
  encodeTransaction,
  originHex,
  type Transaction,
  txId,
  txIdHex,
  validateTx,
} from '@profichain/core'
import type { DeviceRegistry } from './devices.js'
import type { StoreOutbox } from './outbox.js'
import { type Batch, del, put, type StoreContext, writeBatch } from './context.js'
import { readU64, u64 } from './keys.js'
import type { Mempool, MempoolAddOptions } from './types.js'

interface Entry {
  order: number
  tx: Transaction
  /** Encoded stripped size (what the tx adds to a block). */
  size: number
  /** Written to the mempool bucket (false: durable elsewhere, in the outbox). */
  persisted: boolean
}

/**
 * Producer mempool: persisted in the store's DB (a restart loses nothing), indexed in memory in arrival
 * order. Block application removes included txs in the block's own batch; reorgs give txs back. Txs whose
 * origin may not originate records (isAllowedOrigin: genesis members) are refused and counted, never stored.
 */
export class StoreMempool implements Mempool {
  private readonly entries = new Map<string, Entry>()
  private nextOrder = 0
  private refused = 0
  /**
   * Pending device txs by origin hex, then seq → txId hex (replays are refused against these too). Nested
   * maps, not an "origin:seq" string key: a device record is looked up here by the gateway's check, the
   * mempool's add and the producer's filter, and tracked on and off once each (a 70-character key string
   * built and hashed per lookup was ~1.5 % of the ingest API node's main thread).
   */
  private readonly pendingSeq = new Map<string, Map<number, string>>()

  constructor(
    private readonly ctx: StoreContext,
    private readonly genesis: Genesis,
    private readonly devices?: DeviceRegistry,
    /** The outbox's in-memory mirror answers "canonical?" for own records without a read. */
    private readonly outbox?: Pick<StoreOutbox, 'canonicalState'>,
  ) {}

  /**
   * The origin rule as of the canonical head plus the pending txs (issue 14): registered, not revoked
   * devices, and no (origin, seq) of another tx on the chain or pending.
   */
  originView(): OriginView {
    const head = this.devices?.headView()
    return {
      device: (key) => head?.device(key),
      seqTx: (origin, seq) => this.pendingSeq.get(origin)?.get(seq) ?? head?.seqTx(origin, seq),
    }
  }

  private trackSeq(tx: Transaction, id: string, on: boolean): void {
    const o = originHex(tx)
    if (isMemberKey(this.genesis, o)) return
    const seq = tx.body.seq
    let seqs = this.pendingSeq.get(o)
    if (on) {
      if (seqs === undefined) this.pendingSeq.set(o, (seqs = new Map()))
      seqs.set(seq, id)
    } else if (seqs !== undefined && seqs.get(seq) === id) {
      seqs.delete(seq)
      // No empty map left per origin: the outer map stays bounded by the origins with pending txs.
      if (seqs.size === 0) this.pendingSeq.delete(o)
    }
  }

  /** Load the persisted entries (called once on open); drops any whose origin is no longer allowed. */
  async load(): Promise<void> {
    const stale: Uint8Array[] = []
    for await (const [k, v] of this.ctx.subs.mempool.iterator()) {
      const tx = decodeTransaction(v)
      const order = readU64(k)
      this.nextOrder = order + 1
      if (!isAllowedOrigin(this.genesis, tx.body.origin) && !(this.devices?.known(tx.body.origin) ?? false)) {
        stale.push(k)
        this.refused++
        continue
      }
      const id = txIdHex(tx)
      this.entries.set(id, { order, tx, size: sizeOf(tx), persisted: true })
      this.trackSeq(tx, id, true)
    }
    if (stale.length === 0) return
    const b = this.ctx.db.batch()
    for (const k of stale) del(b, this.ctx.subs.mempool, k)
    await writeBatch(b, 'dropping mempool txs of unknown origins')
  }

  /** Drop pending txs (e.g. a device's records after its key was revoked); durable. */
  async evict(ids: Iterable<string>): Promise<void> {
    await this.ctx.serial.run(async () => {
      const b = this.ctx.db.batch()
      const commit = this.stageRemove(b, ids)
      // Own records are in memory only: nothing to write, but they leave all the same.
      if (b.length === 0) await b.close()
      else await writeBatch(b, 'mempool evict')
      commit()
    })
  }

  /** Txs refused by the origin rule (not a member, unknown or revoked device, replay), since open. */
  refusedOrigins(): number {
    return this.refused
  }

  async add(txs: Transaction[], opts: MempoolAddOptions = {}): Promise<number> {
    return this.ctx.serial.run(async () => {
      // Signatures are the caller's job (worker pool / gossip validator); format and payload hash are checked
      // here unless the caller did (own records: by the outbox's add; gossip: in the worker pool).
      if (opts.checked !== true) for (const tx of txs) validateTx(tx, this.ctx.rules, { skipSignature: true })
      const fresh = new Map<string, Transaction>()
      const check = new OriginCheck(this.genesis, this.originView())
      for (const tx of txs) {
        const id = txIdHex(tx)
        if (this.entries.has(id) || fresh.has(id)) continue
        // The origin rule (members; registered, unrevoked devices; no replays): refuse (count, never store) the others.
        const refusal = check.check(tx)
        if (refusal !== undefined) {
          this.refused++
          const other = (refusal.meta as { otherTxId?: string }).otherTxId
          this.devices?.noteRefusal(refusal, tx, other === undefined ? undefined : this.entries.get(other)?.tx)
          continue
        }
        try {
          checkDeviceTx(tx)
        } catch (err) {
          if (!(err instanceof CodecError)) throw err
          this.refused++
          continue
        }
        fresh.set(id, tx)
      }
      if (fresh.size === 0) return 0
      const list = [...fresh.values()]
      const canonical = await this.canonicalAmong(list)
      const b = this.ctx.db.batch()
      const commit = this.stageAdd(
        b,
        list.filter((_, i) => !canonical[i]),
        opts.durableElsewhere !== true,
      )
      // Own records live in the outbox (synced) until their receipt: a second copy here, written and then
      // deleted again with the block, held the store's write queue for a third of a burst's commit work.
      if (opts.durableElsewhere === true) {
        await b.close()
        return commit()
      }
      if (b.length === 0) {
        await b.close()
        return 0
      }
      await writeBatch(b, 'mempool add')
      return commit()
    })
  }

  /**
   * Whether each tx is on the canonical chain. Own records are the outbox's entries, whose canonical
   * locations it mirrors exactly (inside the write queue, where this runs): no tx index read for them.
   */
  private async canonicalAmong(list: Transaction[]): Promise<boolean[]> {
    const out: boolean[] = new Array(list.length)
    const ask: number[] = []
    for (let i = 0; i < list.length; i++) {
      const known = this.outbox?.canonicalState(txIdHex(list[i]))
      if (known === undefined) ask.push(i)
      else out[i] = known
    }
    if (ask.length > 0) {
      const hits = await this.ctx.subs.txIndex.hasMany(ask.map((i) => txId(list[i])))
      ask.forEach((i, k) => {
        out[i] = hits[k]
      })
    }
    return out
  }

  async select(maxBytes: number, maxCount = Number.MAX_SAFE_INTEGER, maxPayloadBytes = Number.MAX_SAFE_INTEGER): Promise<Transaction[]> {
    const out: Transaction[] = []
    let bytes = 0
    let payloadBytes = 0
    for (const e of this.entries.values()) {
      if (out.length >= maxCount) break
      // Skip (rather than stop at) a tx that does not fit, so one large tx cannot stall the others.
      if (bytes + e.size > maxBytes || payloadBytes + e.tx.payload.byteLength > maxPayloadBytes) continue
      out.push(e.tx)
      bytes += e.size
      payloadBytes += e.tx.payload.byteLength
    }
    return out
  }

  size(): number {
    return this.entries.size
  }

  /** The pending tx with this id, if any. */
  get(id: string): Transaction | undefined {
    return this.entries.get(id)?.tx
  }

  has(id: string): boolean {
    return this.entries.has(id)
  }

  /** Stage removal of txs into `b`; call the returned function once the batch is written. */
  stageRemove(b: Batch, ids: Iterable<string>): () => void {
    const gone: string[] = []
    for (const id of ids) {
      const e = this.entries.get(id)
      if (e) {
        if (e.persisted) del(b, this.ctx.subs.mempool, u64(e.order))
        gone.push(id)
      }
    }
    return () => {
      for (const id of gone) {
        const e = this.entries.get(id)
        if (e) this.trackSeq(e.tx, id, false)
        this.entries.delete(id)
      }
    }
  }

  /**
   * Stage new txs into `b` (caller ensured they are not canonical); the returned function commits memory.
   * `persist` false: memory only (the txs are durable elsewhere).
   */
  stageAdd(b: Batch, txs: Transaction[], persist = true): () => number {
    const added: Array<[string, Entry]> = []
    const seen = new Set<string>()
    let order = this.nextOrder
    for (const tx of txs) {
      const id = txIdHex(tx)
      if (this.entries.has(id) || seen.has(id)) continue
      seen.add(id)
      const entry = { order: order++, tx, size: sizeOf(tx), persisted: persist }
      if (persist) put(b, this.ctx.subs.mempool, u64(entry.order), encodeTransaction(tx))
      added.push([id, entry])
    }
    const next = order
    return () => {
      for (const [id, e] of added) {
        this.entries.set(id, e)
        this.trackSeq(e.tx, id, true)
      }
      this.nextOrder = Math.max(this.nextOrder, next)
      return added.length
    }
  }
}

/** What a tx adds to a block: its stripped encoding (payloads travel outside blocks, DESIGN §3). */
function sizeOf(tx: Transaction): number {
  return encodeStrippedTx(tx).byteLength
}
