import {
  type AckEntry,
  encodeStrippedTx,
  decodeTransaction,
  encodeTransaction,
  equalBytes,
  fromHex,
  type IngestCode,
  sha256,
  type StrippedTx,
  toHex,
  type Transaction,
  txId,
  ZERO_TX_ID,
} from '@profichain/core'
import type { DeviceIdentity, GatewayItem, IngestGateway, ReceiptFrame } from '@profichain/ingest'
import type { BlockTree, TxLocation } from '@profichain/store'
import type { OwedReceipts } from './owed.js'

/** The origin rule for a tx arriving from outside (the store's `checkIncomingTx`): duplicate = already on the chain or pending. */
export type OriginCheck = (tx: Transaction) => Promise<{ ok: true; duplicate?: true } | { ok: false; code: string; message?: string }>

export interface GatewayInit {
  network: string
  /** Genesis maxTxBytes. */
  maxTxBytes: number
  /** Depth at which a record counts as committed (store.confirmations). */
  confirmations: number
  anchorBase: () => string
}

export interface GatewayComponents {
  tree: Pick<BlockTree, 'getTxs' | 'getTx' | 'head' | 'receiptAt' | 'hasPayload' | 'putPayload' | 'getPayload'> & {
    outbox: Pick<BlockTree['outbox'], 'nextSeq'>
  }
  /** chain.submitOwn: into the durable outbox (synced), then mempool and gossip. */
  submitOwn(items: Array<{ tx: Transaction }>): Promise<Array<{ txId: string; duplicate: boolean }>>
  verifier: { verifyStrippedTxs(encoded: Uint8Array[]): Promise<boolean[]> }
  owed: OwedReceipts
  /** Who the key is (member, device, unknown, revoked). */
  identify(publicKey: Uint8Array): Promise<DeviceIdentity>
  checkOrigin: OriginCheck
  /** Genesis members: their seqs are not subject to the device replay rule. */
  isMember(origin: Uint8Array): boolean
  logger?: { warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void }
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

  constructor(
    private readonly init: GatewayInit,
    private readonly c: GatewayComponents,
  ) {}

  identify(publicKey: Uint8Array): Promise<DeviceIdentity> {
    return this.c.identify(publicKey)
  }

  async submit(items: GatewayItem[]): Promise<AckEntry[]> {
    const out: AckEntry[] = new Array(items.length)
    const reject = (i: number, code: string, tx?: Transaction) => {
      out[i] = { txId: tx ? txId(tx) : ZERO_TX_ID, status: 'rejected', code }
    }
    // 1. stateless checks
    let live: number[] = []
    items.forEach((it, i) => {
      if (it.refused !== undefined) return reject(i, it.refused, it.tx)
      const code = this.stateless(it.tx)
      if (code) return reject(i, code, it.tx)
      live.push(i)
    })
    const tx = (i: number) => items[i].tx as Transaction
    // 2. signatures (worker pool)
    if (live.length > 0) {
      const ok = await this.c.verifier.verifyStrippedTxs(live.map((i) => encodeStrippedTx(tx(i))))
      live = live.filter((i, k) => {
        if (ok[k]) return true
        reject(i, 'BAD_SIGNATURE', tx(i))
        return false
      })
    }
    // 3. already in the chain: duplicate (idempotent resend); its receipt is still owed if not acked.
    const owe: Array<{ origin: Uint8Array; txId: Uint8Array; tx: Uint8Array }> = []
    if (live.length > 0) {
      const locs = await this.c.tree.getTxs(live.map((i) => txId(tx(i))))
      live = live.filter((i, k) => {
        if (locs[k] === undefined) return true
        out[i] = { txId: txId(tx(i)), status: 'duplicate', code: '' }
        owe.push({ origin: tx(i).body.origin, txId: txId(tx(i)), tx: encodeTransaction(tx(i)) })
        return false
      })
    }
    // 4. origin rule (members; registered devices, replays: h14-dev's checkIncomingTx)
    const checked: number[] = []
    for (const i of live) {
      const t = tx(i)
      const r = await this.c.checkOrigin(t)
      if (!r.ok) {
        reject(i, PROTOCOL_CODES[r.code] ?? (/^[A-Z][A-Z0-9_]*$/.test(r.code) ? r.code : 'UNKNOWN_DEVICE'), t)
        continue
      }
      const id = txId(t)
      if (r.duplicate) {
        out[i] = { txId: id, status: 'duplicate', code: '' }
        owe.push({ origin: t.body.origin, txId: id, tx: encodeTransaction(t) })
        continue
      }
      if (!this.c.isMember(t.body.origin)) {
        const key = `${toHex(t.body.origin)}:${t.body.seq}`
        const prev = this.recent.get(key)
        if (prev !== undefined && prev !== toHex(id)) {
          reject(i, 'REPLAY', t)
          continue
        }
        if (prev === undefined) {
          if (this.recent.size >= NodeIngestGateway.RECENT_MAX) this.recent.delete(this.recent.keys().next().value as string)
          this.recent.set(key, toHex(id))
        }
      }
      checked.push(i)
    }
    // 5. durable: owed entries first (synced), then the outbox (synced); ack only after both.
    if (checked.length > 0) {
      for (const i of checked) owe.push({ origin: tx(i).body.origin, txId: txId(tx(i)), tx: encodeTransaction(tx(i)) })
    }
    try {
      await this.c.owed.add(owe)
      if (checked.length > 0) {
        const r = await this.c.submitOwn(checked.map((i) => ({ tx: tx(i) })))
        checked.forEach((i, k) => {
          out[i] = { txId: txId(tx(i)), status: r[k].duplicate ? 'duplicate' : 'accepted', code: '' }
        })
      }
    } catch (err) {
      this.c.logger?.error({ err }, 'storing device records failed; the device is told INTERNAL and resends later')
      for (const i of checked) reject(i, 'INTERNAL', tx(i))
    }
    return out
  }

  /** Network, size, payload hash: the checks that need no state. */
  private stateless(tx: Transaction): IngestCode | undefined {
    const b = tx.body
    if (b.network !== this.init.network) return 'WRONG_NETWORK'
    if (b.kind !== 'record') return 'BAD_TX'
    if (b.payloadSize > this.init.maxTxBytes || tx.payload.byteLength > this.init.maxTxBytes) return 'TX_TOO_LARGE'
    if (tx.payload.byteLength !== b.payloadSize || !equalBytes(sha256(tx.payload), b.payloadHash)) return 'BAD_TX'
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
    await this.c.owed.add([{ origin: tx.body.origin, txId: id, tx: encodeTransaction({ ...tx, payload }) }])
    return true
  }

  /** Whether a canonical tx is `confirmations` deep. */
  private committed(loc: TxLocation): boolean {
    return this.c.tree.head().height - loc.height + 1 >= this.init.confirmations
  }

  async receiptFrames(locs: TxLocation[]): Promise<ReceiptFrame[]> {
    const base = this.init.anchorBase()
    const out: ReceiptFrame[] = []
    for (const loc of locs) {
      const proof = await this.c.tree.receiptAt(loc, 'chainpoint', base)
      if (!proof) continue
      out.push({ type: 'receipt', txId: txId(loc.tx), height: loc.height, blockHash: loc.blockHash, chainpoint: JSON.stringify(proof) })
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
  async committedReceipts(txIds: string[]): Promise<Array<{ origin: Uint8Array; receipt: ReceiptFrame }>> {
    const byTx = await this.c.owed.devicesOf(txIds.map(fromHex))
    if (byTx.size === 0) return []
    for (const [id, e] of byTx) {
      if (!e.tx || (await this.c.tree.hasPayload(id))) continue
      try {
        await this.c.tree.putPayload(id, decodeTransaction(e.tx).payload)
      } catch (err) {
        this.c.logger?.warn({ err, txId: id }, 'could not keep the payload of a committed device record')
      }
    }
    const locs = (await this.c.tree.getTxs([...byTx.keys()])).filter((l): l is TxLocation => l !== undefined)
    const frames = await this.receiptFrames(locs)
    return frames.map((f) => ({ origin: (byTx.get(toHex(f.txId)) as { origin: Uint8Array }).origin, receipt: f }))
  }

  receiptsAcked(origin: Uint8Array, txIds: Uint8Array[]): Promise<void> {
    return this.c.owed.remove(origin, txIds)
  }
}
