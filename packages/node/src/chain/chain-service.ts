import { EventEmitter } from 'node:events'
import {
  type Block,
  blockHash,
  encodeStrippedTx,
  equalBytes,
  ProfichainError,
  type StrippedTx,
  stripTx,
  toHex,
  type Transaction,
  txId,
  txIdHex,
} from '@profichain/core'
import type { AddBlockResult, BlockTree, Mempool, Outbox, OutboxIndexOp, ReorgInfo } from '@profichain/store'
import { Counter, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { Startable } from '../types.js'

/**
 * The chain service: every block the node applies (produced, gossiped, synced) and every record this node
 * signs goes through it.
 * - blocks: verify the tx signatures (worker pool) → store (consensus rules, fork choice) → events;
 * - own records: outbox → mempool (local producer) + `own-txs` (gossip) → confirmed → the receipts writer;
 *   after a reorg, the own records of the abandoned branch are tracked again (re-committed, receipts rewritten).
 */
export interface ChainEvents {
  /** A block became canonical (extension or reorg), in height order. */
  block: [Block]
  /** The canonical chain switched branch. */
  reorg: [ReorgInfo]
  /** Blocks stored by one addBlock (any branch: the block and the orphans it connected), by hash. */
  stored: [Uint8Array[]]
  /** Own records were confirmed and their receipts written (or parked for a retry). */
  committed: [{ txIds: string[] }]
  /** New own records to gossip. */
  'own-txs': [Transaction[]]
  /** Own records still uncommitted (periodic requeue): gossip again those not sent for a while. */
  requeue: [Transaction[]]
}

/**
 * Records handed from the outbox to the mempool: checked by the outbox's add (format, payload hash) and
 * durable there until their receipt (the node requeues the outbox at start), so the mempool neither checks
 * nor writes them again.
 */
const OWN_RECORDS = { checked: true, durableElsewhere: true } as const

/** What `addBlock` did with a block from a peer. */
export type ApplyOutcome =
  | { status: 'known' }
  | { status: 'applied'; result: AddBlockResult }
  | { status: 'orphan' }
  | { status: 'duplicate' }
  /** The block breaks a rule (bad signature, consensus, codec): the sender is to blame. */
  | { status: 'invalid'; code: string; message: string }
  /** The block could not be applied for a reason that is not the sender's fault (e.g. disk full). */
  | { status: 'failed'; code: string; message: string }

export type ChainStore = Pick<BlockTree, 'hasBlock' | 'addBlock' | 'getBlock' | 'getPayload'> & {
  readonly outbox: Outbox
  readonly mempool: Mempool
}

export interface ChainInit {
  /** Requeue uncommitted own records this often (ms). Default 5000. */
  requeueIntervalMs?: number
}

export interface ChainComponents {
  store: ChainStore
  /** Checks tx signatures (the worker pool). */
  verifier: { verifyStrippedTxs(txs: Uint8Array[], ids?: readonly Uint8Array[]): Promise<boolean[]> }
  /** This node's public key: the origin of its own records. */
  ownOrigin: Uint8Array
  /**
   * Records of other origins this node answers for (device records it accepted over the ingest API): a reorg
   * that drops them re-submits them like own records. Absent: own records only.
   */
  isOwnRecord?: (tx: StrippedTx) => Promise<boolean>
  /**
   * Writes receipts for confirmed own records; `flush` is serialised and coalesces calls. `noteBlocks` gets every
   * block that became canonical (its txs are the candidates of the next flushes); `full` scans the whole outbox.
   */
  receipts: {
    flush(opts?: { full?: boolean }): Promise<void>
    noteBlocks?(blocks: Block[]): void
    on(event: 'committed', l: (e: { txIds: string[] }) => void): unknown
  }
  /** The local block producer, if any: gets own records in its mempool. */
  producer?: { notify(): void }
  /** Payloads seen in tx gossip, stored with their block (archive nodes). */
  payloads?: { take(ids: string[]): Map<string, Uint8Array> }
  /** Errors a block may throw that blame its sender (validation, consensus, codec). */
  isInvalidBlockError?: (err: unknown) => err is ProfichainError
  logger: Logger
  registry?: Registry
}

export interface ChainService extends Startable, EventEmitter<ChainEvents> {
  /** Verify and store a block from a peer; serialised, so blocks apply in arrival order. */
  addBlock(block: Block, opts?: { from?: string }): Promise<ApplyOutcome>
  /** A block this node applied itself (the producer): emit events, recover after a reorg, write receipts. */
  applied(result: AddBlockResult): void
  /**
   * Own records just signed: into the outbox (once), then the mempool and gossip. Returns the outbox's answer.
   * `index`: outbox side-index entries written in the same synced batch (the ingest API's owed receipts).
   */
  submitOwn(items: Array<{ tx: Transaction; dedupeKey?: string }>, opts?: { index?: OutboxIndexOp[] }): Promise<Array<{ txId: string; duplicate: boolean }>>
  /** Everything still in the outbox goes to the mempool and gossip again. */
  requeue(): Promise<void>
  /** Resolves once the block queue and the pending reorg recoveries are done (tests, shutdown). */
  idle(): Promise<void>
}

class Chain extends EventEmitter<ChainEvents> implements ChainService {
  private readonly store: ChainStore
  private readonly log: Logger
  private queue: Promise<unknown> = Promise.resolve()
  private readonly pending = new Set<Promise<unknown>>()
  private timer?: NodeJS.Timeout
  private stopped = false
  private readonly blocksApplied?: Counter
  private readonly txsCommitted?: Counter
  private readonly reorgs?: Counter
  private readonly orphans?: Counter

  constructor(
    private readonly init: ChainInit,
    private readonly components: ChainComponents,
  ) {
    super()
    this.store = components.store
    this.log = components.logger
    const registers = components.registry ? [components.registry] : []
    if (registers.length > 0) {
      this.blocksApplied = new Counter({ name: 'profichain_chain_blocks_total', help: 'Blocks that became canonical', registers })
      this.txsCommitted = new Counter({ name: 'profichain_chain_txs_total', help: 'Txs in blocks that became canonical', registers })
      this.reorgs = new Counter({ name: 'profichain_chain_reorgs_total', help: 'Canonical chain switches to another branch', registers })
      this.orphans = new Counter({ name: 'profichain_chain_orphans_total', help: 'Blocks from peers kept as orphans (parent unknown)', registers })
    }
    components.receipts.on('committed', (e) => this.emit('committed', e))
  }

  start(): void {
    this.timer = setInterval(
      () => void this.requeue().catch((err) => this.log.warn({ err }, 'requeue failed')),
      this.init.requeueIntervalMs ?? 5000,
    )
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await this.idle()
  }

  async idle(): Promise<void> {
    await this.queue.catch(() => {})
    while (this.pending.size > 0) await Promise.allSettled([...this.pending])
  }

  addBlock(block: Block, opts: { from?: string } = {}): Promise<ApplyOutcome> {
    const run = this.queue.then(() => this.apply(block, opts.from))
    this.queue = run.catch(() => {})
    return run
  }

  private async apply(block: Block, from: string | undefined): Promise<ApplyOutcome> {
    const hash = blockHash(block.header)
    if (await this.store.hasBlock(hash)) return { status: 'known' }
    // The txIds (memoised on the txs, needed below anyway) let the verifier skip txs it verified before without
    // hashing each tx a second time.
    const ok = await this.components.verifier.verifyStrippedTxs(
      block.txs.map((t) => encodeStrippedTx(t)),
      block.txs.map((t) => txId(t)),
    )
    if (ok.some((v) => !v)) {
      this.log.warn({ from, height: block.header.height }, 'rejected a block with a bad tx signature')
      return { status: 'invalid', code: 'ERR_TX_SIGNATURE', message: 'a tx signature does not verify' }
    }
    const ids = block.txs.map((t) => txIdHex(t))
    try {
      const payloads = this.components.payloads?.take(ids) ?? new Map<string, Uint8Array>()
      const result = await this.store.addBlock(block, { payloads, signaturesChecked: true })
      if (result.status === 'orphan') {
        this.orphans?.inc()
        return { status: 'orphan' }
      }
      if (result.status === 'duplicate') return { status: 'duplicate' }
      this.applied(result)
      return { status: 'applied', result }
    } catch (err) {
      // An unknown origin in a block whose parent we lack may be a device registered in that parent: an orphan.
      if (err instanceof ProfichainError && err.meta.parentUnknown === true) {
        this.orphans?.inc()
        return { status: 'orphan' }
      }
      if (this.components.isInvalidBlockError?.(err)) {
        this.log.warn({ from, code: err.code, msg: err.message, height: block.header.height }, 'rejected an invalid block')
        return { status: 'invalid', code: err.code, message: err.message }
      }
      if (err instanceof ProfichainError) {
        this.log.warn({ from, code: err.code, msg: err.message }, 'could not apply a block')
        return { status: 'failed', code: err.code, message: err.message }
      }
      throw err
    }
  }

  applied(result: AddBlockResult): void {
    if (result.connected.length > 0) this.emit('stored', result.connected)
    for (const b of result.newCanonical) {
      this.blocksApplied?.inc()
      this.txsCommitted?.inc(b.txs.length)
      this.emit('block', b)
    }
    if (result.reorg) {
      const reorg = result.reorg
      this.reorgs?.inc()
      this.log.warn({ depth: reorg.depth, removed: reorg.removedTxIds.length }, 'chain reorganised')
      this.emit('reorg', reorg)
      this.track(this.recoverOwnTxs(reorg).catch((err) => this.log.error({ err }, 'recovering records after a reorg failed')))
    }
    this.components.receipts.noteBlocks?.(result.newCanonical)
    this.flushReceipts(result.reorg !== undefined)
  }

  async submitOwn(items: Array<{ tx: Transaction; dedupeKey?: string }>, opts?: { index?: OutboxIndexOp[] }): Promise<Array<{ txId: string; duplicate: boolean }>> {
    const r = await this.store.outbox.addMany(items, opts)
    this.handOut(items.filter((_, i) => !r[i].duplicate).map((x) => x.tx))
    return r
  }

  async requeue(): Promise<void> {
    const pending = await this.store.outbox.uncommitted(100_000)
    if (pending.length === 0) return
    if (this.components.producer) {
      // Only those not pending already: after a burst most of a large outbox is still waiting in the mempool.
      const mempool = this.store.mempool
      const missing = mempool.get ? pending.filter((tx) => mempool.get?.(txIdHex(tx)) === undefined) : pending
      const added = missing.length > 0 ? await mempool.add(missing, OWN_RECORDS) : 0
      if (added > 0) this.components.producer.notify()
    }
    this.emit('requeue', pending)
  }

  /** New own records: to the local producer's mempool, and to gossip (`own-txs`). */
  private handOut(txs: Transaction[]): void {
    if (txs.length === 0 || this.stopped) return
    const producer = this.components.producer
    if (producer) {
      this.track(
        this.store.mempool
          .add(txs, OWN_RECORDS)
          .then(() => producer.notify())
          .catch((err) => this.log.warn({ err }, 'mempool add failed')),
      )
    }
    this.emit('own-txs', txs)
  }

  /**
   * A reorg can move own records that were already confirmed (receipt written, outbox entry cleared): out of
   * the chain, or into another block of the new branch (e.g. gossip that crossed a healed partition). Put
   * every own record of the abandoned branch back into the outbox: one that is already in the new chain is
   * confirmed again at once and its receipt rewritten for its new block; one that is not is gossiped and
   * committed again. Nothing accepted is ever lost, and no receipt keeps pointing at an abandoned block.
   */
  private async recoverOwnTxs(reorg: ReorgInfo): Promise<void> {
    const own = this.components.ownOrigin
    const again: Array<{ tx: Transaction }> = []
    let hash: Uint8Array | undefined = reorg.oldHead
    for (let depth = 0; hash && depth < reorg.depth; depth++) {
      const block = await this.store.getBlock(hash)
      if (!block) break
      for (const tx of block.txs) {
        if (!equalBytes(tx.body.origin, own) && !(await this.components.isOwnRecord?.(tx))) continue
        const id = toHex(txId(tx))
        const payload = await this.store.getPayload(id)
        if (!payload) {
          this.log.error({ txId: id }, 'own record left its block in a reorg and its payload is not stored: it cannot be re-sent')
          continue
        }
        again.push({ tx: { ...stripTx(tx), payload } })
      }
      hash = block.header.height > 0 ? block.header.prevHash : undefined
    }
    if (again.length === 0) return
    await this.submitOwn(again)
    this.log.warn({ records: again.length }, 'own records were in blocks a reorg abandoned: tracked again until confirmed')
    // Some of them may already be in the new branch (noted before they were back in the outbox): scan it all.
    this.flushReceipts(true)
  }

  private flushReceipts(full = false): void {
    this.track(this.components.receipts.flush(full ? { full } : undefined))
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch(() => {}).finally(() => this.pending.delete(t))
    this.pending.add(t)
  }
}

/** Create (not start) the chain service. */
export function createChainService(init: ChainInit, components: ChainComponents): ChainService {
  return new Chain(init, components)
}
