import { equalBytes, type StrippedTx, txIdHex } from '@profichain/core'
import type { TxLocation } from './types.js'

/** Canonical txs kept in memory at most (whole blocks, oldest dropped first). */
export const RECENT_TXS_MAX = 50_000

interface RecentBlock {
  hash: Uint8Array
  entries: TxLocation[]
}

/**
 * The canonical locations of the txs of the latest canonical blocks, in memory: receipts are built right
 * after a block is applied, and reading each record back from LevelDB (tx index + stripped tx, decoded and
 * hashed again) was 5 % of the ingest API node's main thread. Exact like the outbox's locations: changed
 * only by a canonical switch, in the commit step right after its synced write (blocks leaving are dropped,
 * blocks joining added), so a hit is where the tx index says the tx is; a miss says nothing (the caller
 * reads the DB). Bounded by `max` txs (whole blocks, oldest first).
 */
export class RecentTxs {
  private readonly byId = new Map<string, TxLocation>()
  private readonly blocks: RecentBlock[] = []
  private count = 0
  /**
   * TxIds the tx index was read without a hit (a new record is looked up as "already on the chain?" by the
   * gateway's batch and again by `checkIncomingTx`). Stays true until a switch puts the id: its commit
   * deletes the ids of the blocks joining the chain. Only absence is cached; bounded (cleared when full).
   */
  private readonly absent = new Set<string>()
  private version_ = 0

  constructor(
    private readonly max = RECENT_TXS_MAX,
    private readonly maxAbsent = 2 * RECENT_TXS_MAX,
  ) {}

  /** The canonical location of a tx (lower-case hex id), if it is in one of the latest blocks. */
  get(idHex: string): TxLocation | undefined {
    return this.byId.get(idHex)
  }

  /** Whether a tx is canonical, when known here (in a latest block: true; read absent since: false). */
  canonical(idHex: string): boolean | undefined {
    if (this.byId.has(idHex)) return true
    return this.absent.has(idHex) ? false : undefined
  }

  /**
   * Changes when a switch is staged and when it commits. A read of the tx index that started and ended at
   * one version saw no switch's write: its misses may be noted (`noteAbsent`).
   */
  version(): number {
    return this.version_
  }

  /** The tx index had no entry for this id (read at an unchanged `version`, or synchronously). */
  noteAbsent(idHex: string): void {
    if (this.absent.size >= this.maxAbsent) this.absent.clear()
    this.absent.add(idHex)
  }

  /** Stage a switch's change (blocks leaving, then blocks joining); the returned commit applies it. */
  stage(sw: {
    removed: Array<{ node: { hash: Uint8Array } }>
    added: Array<{ node: { hash: Uint8Array; height: number }; txs: StrippedTx[] }>
  }): () => void {
    const removed = sw.removed.map((r) => r.node.hash)
    const added = sw.added.map((a) => ({ node: a.node, txs: a.txs }))
    this.version_++
    return () => {
      this.version_++
      for (const hash of removed) this.drop(hash)
      for (const { txs } of added) if (this.absent.size > 0) for (const tx of txs) this.absent.delete(txIdHex(tx))
      for (const { node, txs } of added) {
        if (txs.length === 0 || txs.length > this.max) continue
        const entries: TxLocation[] = new Array(txs.length)
        for (let i = 0; i < txs.length; i++) {
          const tx = txs[i]
          // Memoised on the tx object (block import computed it; a tx loaded for a reorg hashes once).
          const hex = txIdHex(tx)
          const loc: TxLocation = { tx, txId: hex, blockHash: node.hash, height: node.height, index: i }
          entries[i] = loc
          this.byId.set(hex, loc)
        }
        this.blocks.push({ hash: node.hash, entries })
        this.count += entries.length
        while (this.count > this.max && this.blocks.length > 0) this.evict(this.blocks.shift() as RecentBlock)
      }
    }
  }

  /** Txs held (for tests and metrics). */
  size(): number {
    return this.byId.size
  }

  private drop(hash: Uint8Array): void {
    const i = this.blocks.findIndex((b) => b.hash === hash || equalBytes(b.hash, hash))
    if (i < 0) return
    const [b] = this.blocks.splice(i, 1)
    this.evict(b)
  }

  private evict(b: RecentBlock): void {
    this.count -= b.entries.length
    // Only this block's entries: a tx of it that a later block holds now keeps that location.
    for (const loc of b.entries) if (this.byId.get(loc.txId) === loc) this.byId.delete(loc.txId)
  }
}
