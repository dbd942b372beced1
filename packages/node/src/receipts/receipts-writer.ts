import { EventEmitter } from 'node:events'
import { type Block, equalBytes, toHex, txId } from '@profichain/core'
import type { FileIngest, ReceiptSource } from '@profichain/ingest'
import type { AckPoint, BlockTree, Outbox, TxLocation } from '@profichain/store'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { HealthMonitor } from '../health.js'
import type { Startable } from '../types.js'

export interface ReceiptsEvents {
  /** Own records confirmed: receipts written (or parked for a retry) and the outbox entries cleared. */
  committed: [{ txIds: string[] }]
}

export interface ReceiptsInit {
  /** Blocks on top of a record before its receipt is written (1 = in the head block). */
  confirmations: number
  /** Base URL for Chainpoint anchor URIs. */
  anchorBase: () => string
  /** A receipt that failed is retried alone after this delay, doubling per attempt up to the max. */
  retryMinMs?: number
  retryMaxMs?: number
  /**
   * Between blocks, only the txs of the blocks that were connected are looked up in the outbox (O(block), not
   * O(outbox)); the whole outbox is scanned at start, after a reorg, at stop and at least this often (ms) as a
   * safety net for records that reached the outbox after their block. Default 30000.
   */
  fullScanMs?: number
  /** Noted txIds waiting for their confirmations, at most (beyond: one outbox scan instead). Default 250,000. */
  maxNotedTxs?: number
}

/** Connected blocks whose txs wait for their confirmations (beyond this, the next flush scans the whole outbox). */
const MAX_PENDING_TXS = 250_000

export type ReceiptsStore = Pick<BlockTree, 'receiptAt' | 'receipt' | 'getTx' | 'acknowledge' | 'head'> &
  Partial<Pick<BlockTree, 'chainpointJsonsAt'>> & {
    readonly outbox: Outbox
  }

export interface ReceiptsComponents {
  store: ReceiptsStore
  /** Where receipt files go (file ingest); without it, confirmed records are only cleared from the outbox. */
  ingest?: Pick<FileIngest, 'writeReceipts'>
  /** This node's key: only its own records have receipt files (device records get theirs pushed over the ingest API). */
  ownOrigin?: Uint8Array
  health: Pick<HealthMonitor, 'raise' | 'clear'>
  logger: Logger
  registry?: Registry
}

export interface ReceiptsWriter extends Startable, EventEmitter<ReceiptsEvents> {
  /**
   * Write receipts for confirmed own records; serialised, reruns once if called meanwhile. It looks at the txs
   * of the blocks given to `noteBlocks`, or (`full`, at start, after a reorg, periodically) at the whole outbox.
   */
  flush(opts?: { full?: boolean }): Promise<void>
  /** Blocks that became canonical: their txs are the candidates of the next flushes (once confirmed). */
  noteBlocks(blocks: Block[]): void
  /** Retry parked receipts whose back-off has passed (the timer calls it; tests may too). */
  retry(): Promise<void>
}

class Receipts extends EventEmitter<ReceiptsEvents> implements ReceiptsWriter {
  private busy = false
  private again = false
  private retryBusy = false
  private stopping = false
  private timer?: NodeJS.Timeout
  private lastAck?: AckPoint
  /** Connected blocks (height order) whose txs are looked up once `confirmations` deep. */
  private pending: Array<{ height: number; ids: Uint8Array[] }> = []
  private pendingTxs = 0
  private needFull = true
  /** Highest height of noted blocks dropped over the bound: a whole-outbox scan is due once it is confirmed. */
  private dropped?: number
  private lastFull = 0
  private readonly fullScanMs: number
  private readonly minMs: number
  private readonly maxMs: number
  private readonly written?: Counter
  private readonly failedCount?: Counter
  private readonly deferred?: Gauge

  constructor(
    private readonly init: ReceiptsInit,
    private readonly components: ReceiptsComponents,
  ) {
    super()
    this.minMs = init.retryMinMs ?? 1000
    this.maxMs = init.retryMaxMs ?? 30_000
    this.fullScanMs = init.fullScanMs ?? 30_000
    const registry = components.registry
    if (registry) {
      const registers = [registry]
      const store = components.store
      this.written = new Counter({ name: 'profichain_receipts_written_total', help: 'Receipt files written', registers })
      this.failedCount = new Counter({ name: 'profichain_receipts_failed_total', help: 'Receipt file writes that failed (each is retried alone)', registers })
      this.deferred = new Gauge({ name: 'profichain_receipts_deferred', help: 'Receipts waiting for a retry after a failed write', registers })
      const lag = () => (this.lastAck ? Math.max(0, store.head().height - this.lastAck.height) : 0)
      new Gauge({
        name: 'profichain_receipts_lag_blocks',
        help: 'Canonical head height minus the highest block this node issued receipts for (since start)',
        registers,
        collect() {
          this.set(lag())
        },
      })
    }
  }

  start(): void {
    this.timer = setInterval(() => {
      void this.retry()
      if (Date.now() - this.lastFull >= this.fullScanMs) void this.flush({ full: true })
    }, this.minMs)
    void this.flush({ full: true })
  }

  /** Stops the retry timer and writes what is confirmed one last time. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.flush({ full: true })
    this.stopping = true
  }

  noteBlocks(blocks: Block[]): void {
    for (const b of blocks) {
      if (b.txs.length === 0) continue
      const entry = { height: b.header.height, ids: b.txs.map((t) => txId(t)) }
      // Kept in height order (a reorg connects lower heights again).
      let i = this.pending.length
      while (i > 0 && this.pending[i - 1].height > entry.height) i--
      this.pending.splice(i, 0, entry)
      this.pendingTxs += entry.ids.length
    }
    if (this.pendingTxs > (this.init.maxNotedTxs ?? MAX_PENDING_TXS)) {
      // Far behind (e.g. many confirmations over huge blocks): one scan of the outbox, once they are confirmed.
      for (const p of this.pending) this.dropped = Math.max(this.dropped ?? 0, p.height)
      this.pending = []
      this.pendingTxs = 0
    }
  }

  async flush(opts: { full?: boolean } = {}): Promise<void> {
    if (opts.full) this.needFull = true
    if (this.busy) {
      this.again = true
      return
    }
    this.busy = true
    try {
      do {
        this.again = false
        if (this.dropped !== undefined && this.confirmedHeight() >= this.dropped) {
          this.dropped = undefined
          this.needFull = true
        }
        if (this.needFull) {
          this.needFull = false
          this.lastFull = Date.now()
          // Everything in the outbox is looked at: the noted blocks need no second look.
          this.dropPending(this.confirmedHeight())
          for (;;) {
            const done = await this.components.store.outbox.confirmed(this.init.confirmations, 10_000)
            if (done.length === 0) break
            await this.commit(done)
          }
        } else {
          await this.flushNoted()
        }
      } while (this.again || this.needFull)
    } catch (err) {
      if (!this.stopping) this.components.logger.error({ err }, 'writing receipts failed; will retry')
      this.needFull = true // whatever was taken from the noted blocks is looked at again
    } finally {
      this.busy = false
    }
  }

  /** The txs of noted blocks that are now `confirmations` deep: the ones still in the outbox get receipts. */
  private async flushNoted(): Promise<void> {
    const outbox = this.components.store.outbox
    if (!outbox.confirmedAmong) {
      this.needFull = true
      return
    }
    for (;;) {
      const ids = this.dropPending(this.confirmedHeight(), 10_000)
      if (ids.length === 0) return
      const done = await outbox.confirmedAmong(ids, this.init.confirmations)
      if (done.length > 0) await this.commit(done)
    }
  }

  /** Blocks at or below this height are `confirmations` deep. */
  private confirmedHeight(): number {
    return this.components.store.head().height - Math.max(1, this.init.confirmations) + 1
  }

  /** Take the txIds of noted blocks up to `maxHeight` (whole blocks, about `limit` txs; all when no limit). */
  private dropPending(maxHeight: number, limit = Number.MAX_SAFE_INTEGER): Uint8Array[] {
    const ids: Uint8Array[] = []
    let n = 0
    while (n < this.pending.length && this.pending[n].height <= maxHeight && (ids.length === 0 || ids.length + this.pending[n].ids.length <= limit)) {
      for (const id of this.pending[n].ids) ids.push(id)
      n++
    }
    if (n > 0) this.pending.splice(0, n)
    this.pendingTxs -= ids.length
    return ids
  }

  /** Acknowledge, write the receipts of these confirmed records, clear them from the outbox, emit. */
  private async commit(done: TxLocation[]): Promise<void> {
    const { store } = this.components
    // The watermark first: once a receipt file is visible it may be handed on, and a power cut right after
    // must still be detected at the next start (a receipt for a block the store no longer has).
    await this.acknowledge(done)
    const failed = await this.writeFiles(done)
    const failedIds = new Set(failed.map((f) => f.txId))
    const ok = done.filter((d) => !failedIds.has(d.txId))
    if (failed.length > 0) await store.outbox.deferReceipts(failed)
    // Only entries still in the block their receipt names (a reorg during the write moves the others).
    await store.outbox.ack(
      ok.map((d) => d.txId),
      { blockHashes: ok.map((d) => d.blockHash) },
    )
    this.emit('committed', { txIds: done.map((d) => d.txId) })
  }

  /** Write the receipt files of these confirmed txs; returns the ones that failed (logged and counted). */
  private async writeFiles(locs: TxLocation[]): Promise<Array<{ txId: string; code: string; message: string }>> {
    const { ingest, store, logger } = this.components
    if (!ingest) return []
    const byId = new Map(locs.map((d) => [d.txId, d]))
    const sources: ReceiptSource[] = locs
      .filter((d) => d.tx.body.metadata.source === 'file' && (!this.components.ownOrigin || equalBytes(d.tx.body.origin, this.components.ownOrigin)))
      .map((d) => ({ txId: d.txId, metadata: d.tx.body.metadata }))
    if (sources.length === 0) return []
    const base = this.init.anchorBase()
    // Line-mode receipts as text, a batch at once (the store writes the JSON directly: no receipt object per line).
    const jsonsAt = store.chainpointJsonsAt?.bind(store)
    const outcome = await ingest.writeReceipts(
      sources,
      (id) => {
        const loc = byId.get(id)
        return loc ? store.receiptAt(loc, 'chainpoint', base) : store.receipt(id, 'chainpoint', base)
      },
      jsonsAt && ((ids) => jsonsAt(ids.map((id) => byId.get(id) as TxLocation), base)),
    )
    if (outcome.failed.length > 0) {
      this.failedCount?.inc(outcome.failed.length)
      const first = outcome.failed[0]
      logger.error(
        { failed: outcome.failed.length, txId: first.txId, code: first.code, err: first.message },
        'receipts could not be written; they are retried alone and the others go on',
      )
    }
    this.written?.inc(outcome.written.length)
    return outcome.failed
  }

  /** Remember the highest block this node issued receipts for (checked at the next start). */
  private async acknowledge(done: TxLocation[]): Promise<void> {
    let top: TxLocation | undefined
    for (const d of done) if (!top || d.height > top.height) top = d
    if (!top) return
    const point = { height: top.height, hash: toHex(top.blockHash) }
    await this.components.store.acknowledge(point)
    this.lastAck = point
  }

  async retry(): Promise<void> {
    if (this.retryBusy || this.stopping) return
    this.retryBusy = true
    const { store, health, logger } = this.components
    try {
      const parked = await store.outbox.deferredReceipts(1000)
      this.deferred?.set(parked.length)
      if (parked.length === 0) {
        health.clear('RECEIPTS_FAILING')
        return
      }
      const now = Date.now()
      const due = parked.filter((p) => now - p.lastFailedAt >= Math.min(this.minMs * 2 ** (p.attempts - 1), this.maxMs))
      const locs: TxLocation[] = []
      const gone: string[] = []
      for (const p of due) {
        const loc = await store.getTx(p.txId)
        if (loc) locs.push(loc)
        else gone.push(p.txId) // no longer canonical: the reorg recovery tracks it again
      }
      const failed = await this.writeFiles(locs)
      const failedIds = new Set(failed.map((f) => f.txId))
      if (failed.length > 0) await store.outbox.deferReceipts(failed)
      await store.outbox.clearDeferred([...gone, ...locs.filter((l) => !failedIds.has(l.txId)).map((l) => l.txId)])
      const left = await store.outbox.deferredCount()
      this.deferred?.set(left)
      if (left === 0) health.clear('RECEIPTS_FAILING')
      else {
        const worst = failed[0] ?? parked[0]
        health.raise('RECEIPTS_FAILING', `${left} receipt(s) cannot be written (${worst.code}: ${worst.message}); retrying`)
      }
    } catch (err) {
      if (!this.stopping) logger.warn({ err }, 'retrying parked receipts failed; will retry')
    } finally {
      this.retryBusy = false
    }
  }
}

/** Create (not start) the receipts writer. */
export function createReceiptsWriter(init: ReceiptsInit, components: ReceiptsComponents): ReceiptsWriter {
  return new Receipts(init, components)
}
