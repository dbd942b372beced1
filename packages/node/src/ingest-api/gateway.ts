import {
  type AckEntry,
  encodeStrippedTx,
  equalBytes,
  decodeTransaction,
  encodeTransaction,
  type IngestCode,
  originKeyHex,
  rememberTxPayloadHash,
  rememberTxId,
  type StrippedTx,
  toHex,
  type Transaction,
  txId,
  txIdHex,
  txPayloadHash,
  ZERO_TX_ID,
} from '@profichain/core'
import type { DeviceIdentity, GatewayItem, IngestGateway, PushedReceipt, ReceiptFrame } from '@profichain/ingest'
import type { BlockTree, OutboxIndexOp, TxLocation } from '@profichain/store'
import type { OwedReceipts } from './owed.js'

export type OriginCheckResult = { ok: true; duplicate?: true } | { ok: false; code: string; message?: string }
/**
 * The origin rule for a tx arriving from outside (the store's `checkIncomingTx`): duplicate = already on the
 * chain or pending. Synchronous when it can be (the store's is): a group is checked in one pass, no await per tx.
 */
export type OriginCheck = (tx: Transaction) => OriginCheckResult | Promise<OriginCheckResult>

interface SubmitJob {
  items: GatewayItem[]
  out: AckEntry[]
  /** The live indexes after the stateless checks and signatures. */
  ready: Promise<number[]>
  done(acks: AckEntry[]): void
}

export interface GatewayInit {
  network: string
  /** Genesis maxTxBytes. */
  maxTxBytes: number
  /** Depth at which a record counts as committed (store.confirmations). */
  confirmations: number
  anchorBase: () => string
  /**
   * Whether the store keeps this record's payload by itself once committed (its retention policy). Then the
   * owed entry carries no copy of the tx (1 KiB more per record written otherwise). Default: never.
   */
  payloadKept?: (tx: StrippedTx) => boolean
}

export interface GatewayComponents {
  tree: Pick<BlockTree, 'getTxs' | 'getTx' | 'head' | 'receiptAt' | 'hasPayload' | 'putPayload' | 'getPayload'> & {
    /** Receipts of many records at once as JSON text (each block read and its header ops built once); else per record. */
    chainpointJsonsAt?: BlockTree['chainpointJsonsAt']
    outbox: Pick<BlockTree['outbox'], 'nextSeq'>
  }
  /** chain.submitOwn: into the durable outbox (synced, with `index` ops in the same batch), then mempool and gossip. */
  submitOwn(items: Array<{ tx: Transaction }>, opts?: { index?: OutboxIndexOp[] }): Promise<Array<{ txId: string; duplicate: boolean }>>
  verifier: Verifier
  owed: OwedReceipts
  /** Who the key is (member, device, unknown, revoked). */
  identify(publicKey: Uint8Array): Promise<DeviceIdentity>
  checkOrigin: OriginCheck
  /** Genesis members: their seqs are not subject to the device replay rule. */
  isMember(origin: Uint8Array): boolean
  logger?: { warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void }
}

/**
 * The signature check. verifyFreshTxs when there (the pool's): the whole record is checked off the main thread
 * (payload hash and signature; no verified-set lookup; one task per small call), and the txIds the worker
 * hashed come back, so the main thread hashes neither the payload nor the tx again. Else verifyStrippedTxs,
 * the payload hash checked here.
 */
export interface Verifier {
  verifyStrippedTxs(encoded: Uint8Array[]): Promise<boolean[]>
  verifyFreshTxs?(encoded: Uint8Array[]): Promise<Required<Verified>>
}

/**
 * Results of a call. ok: all checks passed; badPayload: the payload is not the body's (signature unchecked);
 * ids: 32 bytes per item (the txId where ok). The last two only from verifyFreshTxs.
 */
interface Verified {
  ok: boolean[]
  badPayload?: boolean[]
  ids?: Uint8Array
}

const PROTOCOL_CODES: Record<string, IngestCode> = {
  INVALID: 'BAD_TX',
  BAD_DEVICE_TX: 'BAD_TX',
  UNKNOWN_DEVICE: 'UNKNOWN_DEVICE',
  REVOKED: 'REVOKED',
  REPLAY: 'REPLAY',
  NOT_MEMBER: 'NOT_MEMBER',
}

/**
 * The node's side of every submit (TLS and HTTP): per-tx checks, duplicates, the durable outbox, and the
 * receipts owed to devices. One bad tx never blocks the others; the answer has one entry per tx, in order.
 */
export class NodeIngestGateway implements IngestGateway {
  /**
   * (device origin, seq) → txId of records accepted lately: a different tx with one of these is a replay even
   * before the first reaches the mempool (the store's rule sees only the chain and the mempool). Bounded.
   */
  private readonly recent = new Map<string, string>()
  private static readonly RECENT_MAX = 200_000
  /** Most txs in one group commit (a larger backlog is written in several groups, in order). */
  private static readonly GROUP_MAX_TXS = 8192
  /**
   * Submits waiting for the next group commit, in arrival order; each is checked statelessly and verified as it
   * arrives (concurrently), then joins the group being collected.
   */
  private readonly waiting: SubmitJob[] = []
  private committing = false
  /**
   * Signature checks of submits handed to the worker pool, at most VERIFY_CALLS calls at once: a submit of a few
   * txs was one call of its own (two pool tasks, each a message round trip on the main thread: ~1 s of piscina
   * bookkeeping for 44,000 records in the bench). A submit goes out at once while fewer calls are in flight;
   * those arriving while they are wait, and go out together as one call when one returns.
   */
  private readonly toVerify: Array<{ encoded: Uint8Array[]; resolve(v: Verified): void; reject(err: unknown): void }> = []
  private verifying = 0
  private static readonly VERIFY_CALLS = 2
  private static readonly VERIFY_MAX_TXS = 4096

  constructor(
    private readonly init: GatewayInit,
    private readonly c: GatewayComponents,
  ) {}

  identify(publicKey: Uint8Array): Promise<DeviceIdentity> {
    return this.c.identify(publicKey)
  }

  /**
   * Check and store `items`; resolves once the accepted ones are durable. Submits of every connection (and of
   * HTTP) that arrive while one group is being written go into the next group together: one duplicate lookup,
   * one pass of origin checks and one synced write of owed entries and outbox entries for all of them, so
   * the cost of fsync is paid once per group, not once per submit.
   */
  submit(items: GatewayItem[]): Promise<AckEntry[]> {
    const out: AckEntry[] = new Array(items.length)
    const ready = this.prepare(items, out).catch((err: unknown) => {
      this.c.logger?.error({ err }, 'checking device records failed; the device is told INTERNAL and resends later')
      items.forEach((it, i) => {
        if (out[i] === undefined) out[i] = { txId: it.tx ? txId(it.tx) : ZERO_TX_ID, status: 'rejected', code: 'INTERNAL' }
      })
      return []
    })
    const job: SubmitJob = { items, out, ready, done: undefined as unknown as (a: AckEntry[]) => void }
    const p = new Promise<AckEntry[]>((res) => {
      job.done = res
    })
    this.waiting.push(job)
    void this.commitLoop()
    return p
  }

  /** Stateless checks and signatures (worker pool): the indexes of `items` still live afterwards. */
  private async prepare(items: GatewayItem[], out: AckEntry[]): Promise<number[]> {
    const reject = (i: number, code: string, tx?: Transaction) => {
      out[i] = { txId: tx ? txId(tx) : ZERO_TX_ID, status: 'rejected', code }
    }
    const fresh = this.c.verifier.verifyFreshTxs !== undefined
    const live: number[] = []
    items.forEach((it, i) => {
      if (it.refused !== undefined) return reject(i, it.refused, it.tx)
      const code = this.stateless(it.tx, !fresh)
      if (code) return reject(i, code, it.tx)
      live.push(i)
    })
    if (live.length === 0) return live
    const tx = (i: number) => items[i].tx as Transaction
    let v: Verified
    try {
      // encodeTransaction / encodeStrippedTx: memoised per tx (a decoded record keeps the bytes it came in).
      v = await this.verify(live.map((i) => (fresh ? encodeTransaction(tx(i)) : encodeStrippedTx(tx(i)))))
    } catch (err) {
      this.c.logger?.error({ err }, 'checking device record signatures failed; the device is told INTERNAL and resends later')
      for (const i of live) reject(i, 'INTERNAL', tx(i))
      return []
    }
    const { ok, badPayload, ids } = v
    return live.filter((i, k) => {
      const t = tx(i)
      if (ok[k]) {
        // The worker hashed the exact bytes it checked (the memoised encoding of this tx): its txId, and its
        // payload's SHA-256 is the body's payloadHash.
        if (ids) {
          rememberTxId(t, ids.slice(32 * k, 32 * k + 32))
          rememberTxPayloadHash(t, t.body.payloadHash)
        }
        return true
      }
      reject(i, badPayload?.[k] ? 'BAD_TX' : 'BAD_SIGNATURE', t)
      return false
    })
  }

  /** The signature check of one submit's txs (joined with those of the submits waiting beside it). */
  private verify(encoded: Uint8Array[]): Promise<Verified> {
    return new Promise<Verified>((resolve, reject) => {
      this.toVerify.push({ encoded, resolve, reject })
      this.flushVerify()
    })
  }

  private flushVerify(): void {
    while (this.toVerify.length > 0 && this.verifying < NodeIngestGateway.VERIFY_CALLS) {
      const batch = [this.toVerify.shift() as (typeof this.toVerify)[number]]
      let n = batch[0].encoded.length
      while (this.toVerify.length > 0 && n + this.toVerify[0].encoded.length <= NodeIngestGateway.VERIFY_MAX_TXS) {
        const next = this.toVerify.shift() as (typeof this.toVerify)[number]
        batch.push(next)
        n += next.encoded.length
      }
      this.verifying++
      const call = (encoded: Uint8Array[]): Promise<Verified> => {
        try {
          const v = this.c.verifier
          return v.verifyFreshTxs ? v.verifyFreshTxs(encoded) : v.verifyStrippedTxs(encoded).then((ok) => ({ ok }))
        } catch (err) {
          return Promise.reject(err)
        }
      }
      const done =
        batch.length === 1
          ? call(batch[0].encoded).then(batch[0].resolve, batch[0].reject)
          : call(batch.flatMap((b) => b.encoded)).then(
              ({ ok, badPayload, ids }) => {
                let at = 0
                for (const b of batch) {
                  const end = at + b.encoded.length
                  b.resolve({ ok: ok.slice(at, end), ...(badPayload ? { badPayload: badPayload.slice(at, end) } : {}), ...(ids ? { ids: ids.subarray(32 * at, 32 * end) } : {}) })
                  at = end
                }
              },
              // A failed call (a worker died) fails no submit that would not have failed alone: each is tried again by itself.
              () => Promise.all(batch.map((b) => call(b.encoded).then(b.resolve, b.reject))),
            )
      void done.finally(() => {
        this.verifying--
        this.flushVerify()
      })
    }
  }

  /** One group at a time: everything waiting (verified, in arrival order) is checked and stored together. */
  private async commitLoop(): Promise<void> {
    if (this.committing) return
    this.committing = true
    try {
      while (this.waiting.length > 0) {
        const group: SubmitJob[] = []
        let n = 0
        while (this.waiting.length > 0 && (group.length === 0 || n + this.waiting[0].items.length <= NodeIngestGateway.GROUP_MAX_TXS)) {
          const j = this.waiting.shift() as SubmitJob
          group.push(j)
          n += j.items.length
        }
        const lives = await Promise.all(group.map((j) => j.ready))
        try {
          await this.commitGroup(group, lives)
        } catch (err) {
          // Never left unanswered: whatever was not decided yet is INTERNAL (the device resends later).
          this.c.logger?.error({ err }, 'storing device records failed; the device is told INTERNAL and resends later')
          group.forEach((j, g) => {
            for (const i of lives[g]) if (j.out[i] === undefined) j.out[i] = { txId: txId(j.items[i].tx as Transaction), status: 'rejected', code: 'INTERNAL' }
          })
        }
        for (const j of group) j.done(j.out)
      }
    } finally {
      this.committing = false
    }
  }

  private async commitGroup(group: SubmitJob[], lives: number[][]): Promise<void> {
    // Every live tx of the group, in arrival order.
    let live: Array<{ out: AckEntry[]; i: number; tx: Transaction; id: Uint8Array; idHex?: string }> = []
    group.forEach((j, g) => {
      for (const i of lives[g]) {
        const t = j.items[i].tx as Transaction
        live.push({ out: j.out, i, tx: t, id: txId(t) })
      }
    })
    if (live.length === 0) return
    const reject = (e: (typeof live)[number], code: string) => {
      e.out[e.i] = { txId: e.id, status: 'rejected', code }
    }
    // 1. already in the chain: duplicate (idempotent resend); its receipt is still owed if not acked.
    const owe: Array<{ origin: Uint8Array; txId: Uint8Array; tx?: Uint8Array; txIdHex?: string }> = []
    // By hex: the store keys its memory of the latest txs and of absent ones by it, and the origin check needs it
    // too (memoised per tx): one hex per record instead of three.
    const locs = await this.c.tree.getTxs(live.map((e) => txIdHex(e.tx)))
    live = live.filter((e, k) => {
      if (locs[k] === undefined) return true
      e.out[e.i] = { txId: e.id, status: 'duplicate', code: '' }
      owe.push({ origin: e.tx.body.origin, txId: e.id, tx: this.copyOf(e.tx) })
      return false
    })
    // 2. origin rule (members; registered devices, replays: checkIncomingTx), one pass over the group
    const checked: typeof live = []
    // Whether the origin is a member, and the device key's hex: once per run of records of one origin (a
    // submit's records share it), not per record.
    let lastOrigin: Uint8Array | undefined
    let lastMember = false
    let lastOriginHex = ''
    for (const e of live) {
      const t = e.tx
      let r: OriginCheckResult
      try {
        const pending = this.c.checkOrigin(t)
        r = pending instanceof Promise ? await pending : pending
      } catch (err) {
        this.c.logger?.error({ err, txId: toHex(e.id) }, 'the origin check of a device record failed; the device is told INTERNAL')
        reject(e, 'INTERNAL')
        continue
      }
      if (!r.ok) {
        reject(e, PROTOCOL_CODES[r.code] ?? (/^[A-Z][A-Z0-9_]*$/.test(r.code) ? r.code : 'UNKNOWN_DEVICE'))
        continue
      }
      if (r.duplicate) {
        e.out[e.i] = { txId: e.id, status: 'duplicate', code: '' }
        owe.push({ origin: t.body.origin, txId: e.id, tx: this.copyOf(t) })
        continue
      }
      if (lastOrigin === undefined || !equalBytes(lastOrigin, t.body.origin)) {
        lastOrigin = t.body.origin
        lastMember = this.c.isMember(t.body.origin)
        lastOriginHex = lastMember ? '' : originKeyHex(t.body.origin)
      }
      if (!lastMember) {
        const key = `${lastOriginHex}:${t.body.seq}`
        const idHex = (e.idHex = txIdHex(t))
        const prev = this.recent.get(key)
        if (prev !== undefined && prev !== idHex) {
          reject(e, 'REPLAY')
          continue
        }
        if (prev === undefined) {
          if (this.recent.size >= NodeIngestGateway.RECENT_MAX) this.recent.delete(this.recent.keys().next().value as string)
          this.recent.set(key, idHex)
        }
      }
      checked.push(e)
    }
    // 3. durable: the owed entries and the outbox entries of the whole group in one synced batch; ack after it.
    for (const e of checked) owe.push({ origin: e.tx.body.origin, txId: e.id, tx: this.copyOf(e.tx), ...(e.idHex === undefined ? {} : { txIdHex: e.idHex }) })
    try {
      const items = checked.map((e) => ({ tx: e.tx }))
      const r =
        (await this.c.owed.add(owe, (index) =>
          items.length > 0 || (index?.length ?? 0) > 0 ? this.c.submitOwn(items, index ? { index } : undefined) : Promise.resolve([]),
        )) ?? []
      checked.forEach((e, k) => {
        e.out[e.i] = { txId: e.id, status: r[k].duplicate ? 'duplicate' : 'accepted', code: '' }
      })
    } catch (err) {
      this.c.logger?.error({ err }, 'storing device records failed; the device is told INTERNAL and resends later')
      for (const e of checked) reject(e, 'INTERNAL')
    }
  }

  /** The copy of a record an owed entry keeps, unless the store keeps its payload anyway. */
  private copyOf(tx: Transaction): Uint8Array | undefined {
    return this.init.payloadKept?.(tx) ? undefined : encodeTransaction(tx)
  }

  /** Network, size, payload hash (unless the verifier checks it: `hash` false): the checks that need no state. */
  private stateless(tx: Transaction, hash: boolean): IngestCode | undefined {
    const b = tx.body
    if (b.network !== this.init.network) return 'WRONG_NETWORK'
    if (b.kind !== 'record') return 'BAD_TX'
    if (b.payloadSize > this.init.maxTxBytes || tx.payload.byteLength > this.init.maxTxBytes) return 'TX_TOO_LARGE'
    if (tx.payload.byteLength !== b.payloadSize || (hash && !equalBytes(txPayloadHash(tx), b.payloadHash))) return 'BAD_TX'
    return undefined
  }

  /**
   * A record of an abandoned branch (reorg): whether this node answers for it (a device record it accepted:
   * owed, or its payload kept). Then its receipt is owed again, so the device gets the one of its new block.
   */
  async isOwnRecord(tx: StrippedTx): Promise<boolean> {
    if (this.c.isMember(tx.body.origin)) return false
    const id = txId(tx)
    const owed = (await this.c.owed.devicesOf([id])).get(toHex(id))
    if (owed?.tx) return true
    const payload = await this.c.tree.getPayload(id)
    if (!payload) return false
    await this.c.owed.add([{ origin: tx.body.origin, txId: id, tx: this.copyOf({ ...tx, payload }) }])
    return true
  }

  /** Whether a canonical tx is `confirmations` deep. */
  private committed(loc: TxLocation): boolean {
    return this.c.tree.head().height - loc.height + 1 >= this.init.confirmations
  }

  /**
   * Receipt frames of canonical records, in order (those without a receipt left out). `ids`: the records' txIds
   * when the caller has them (the locations were looked up by them), else each is hashed from its tx.
   */
  async receiptFrames(locs: TxLocation[], ids?: Uint8Array[]): Promise<ReceiptFrame[]> {
    const base = this.init.anchorBase()
    const out: ReceiptFrame[] = []
    const jsons = this.c.tree.chainpointJsonsAt
      ? await this.c.tree.chainpointJsonsAt(locs, base)
      : await Promise.all(locs.map(async (loc) => {
          const proof = await this.c.tree.receiptAt(loc, 'chainpoint', base)
          return proof && JSON.stringify(proof)
        }))
    for (let i = 0; i < locs.length; i++) {
      const loc = locs[i]
      const chainpoint = jsons[i]
      if (chainpoint === undefined) continue
      out.push({ type: 'receipt', txId: ids ? ids[i] : txId(loc.tx), height: loc.height, blockHash: loc.blockHash, chainpoint })
    }
    return out
  }

  async owedReceipts(origin: Uint8Array, limit: number, skip?: (txIdHex: string) => boolean): Promise<ReceiptFrame[]> {
    // Records not committed yet stay owed and are passed over, as are those the caller skips; the scan is bounded.
    const ids = (await this.c.owed.forDevice(origin, limit * 8)).filter((id) => !skip?.(toHex(id)))
    if (ids.length === 0) return []
    const locs = (await this.c.tree.getTxs(ids)).filter((l): l is TxLocation => l !== undefined && this.committed(l))
    return this.receiptFrames(locs.slice(0, limit))
  }

  /**
   * Freshly committed records: the device records among them get their payload stored (the node answers for
   * them as for its own: GET /tx/<id>/payload, reorg recovery), and their receipts are returned, by device,
   * for the server to push.
   */
  async committedReceipts(txIds: string[], connected?: (originHex: string) => boolean): Promise<PushedReceipt[]> {
    const byTx = await this.c.owed.devicesOfHex(txIds)
    if (byTx.size === 0) return []
    for (const [id, e] of byTx) {
      if (!e.tx || (await this.c.tree.hasPayload(id))) continue
      try {
        await this.c.tree.putPayload(id, decodeTransaction(e.tx).payload)
      } catch (err) {
        this.c.logger?.warn({ err, txId: id }, 'could not keep the payload of a committed device record')
      }
    }
    // Receipts only for devices connected now: the others get theirs from the owed page after their next hello.
    // Hex forms made once per record here (the device key, the block hash once per block), not again per push.
    const hexes: string[] = []
    const origins: string[] = []
    const ids: Uint8Array[] = []
    for (const [idHex, e] of byTx) {
      const originHex = e.originHex ?? originKeyHex(e.origin)
      if (connected && !connected(originHex)) continue
      hexes.push(idHex)
      origins.push(originHex)
      ids.push(e.id)
    }
    if (ids.length === 0) return []
    // By hex (lower-case, as the chain gave it): the latest blocks answer from memory, keyed by hex; bytes were made hex again per record.
    const found = await this.c.tree.getTxs(hexes)
    const locs: TxLocation[] = []
    const keep: number[] = []
    found.forEach((l, k) => {
      if (l === undefined) return
      locs.push(l)
      keep.push(k)
    })
    const jsonIds = keep.map((k) => ids[k])
    const frames = await this.receiptFrames(locs, jsonIds)
    const out: PushedReceipt[] = []
    let lastBlock: Uint8Array | undefined
    let lastBlockHex = ''
    let f = 0
    for (let j = 0; j < locs.length && f < frames.length; j++) {
      const frame = frames[f]
      if (frame.txId !== jsonIds[j]) continue // no receipt for this one (left out by receiptFrames)
      f++
      if (lastBlock === undefined || !equalBytes(lastBlock, frame.blockHash)) {
        lastBlock = frame.blockHash
        lastBlockHex = toHex(frame.blockHash)
      }
      out.push({ originHex: origins[keep[j]], txIdHex: hexes[keep[j]], blockHex: lastBlockHex, receipt: frame })
    }
    return out
  }

  receiptsAcked(origin: Uint8Array, txIds: Uint8Array[], txIdHexes?: string[]): Promise<void> {
    return this.c.owed.remove(origin, txIds, txIdHexes)
  }
}

