import type { Block, BlockHeader, ChainpointProof, NativeReceipt, StrippedTx, Transaction, TxKind } from '@profichain/core'
import { ProfichainError } from '@profichain/core'
import type { Consensus, Genesis } from '@profichain/consensus'
import type { Registry } from 'prom-client'

/** Which payloads a node keeps. Headers, stripped txs and Merkle leaves are always kept. */
export type RetentionPolicy =
  | { mode: 'all' }
  | { mode: 'none' }
  | { mode: 'rules'; rules: RetentionRule[] }

/** A rule matches when every field it sets matches (origin hex key, kind, metadata key=value pairs). */
export interface RetentionRule {
  origin?: string
  kind?: TxKind
  metadata?: Record<string, string>
}

export interface HeadInfo {
  hash: Uint8Array
  height: number
  header: BlockHeader
  totalWork: bigint
}

/** Where a tx sits on the canonical chain. */
export interface TxLocation {
  tx: StrippedTx
  txId: string
  blockHash: Uint8Array
  height: number
  index: number
}

export interface ReorgInfo {
  depth: number
  oldHead: Uint8Array
  newHead: Uint8Array
  /** txIds (hex) no longer canonical / newly canonical. */
  removedTxIds: string[]
  addedTxIds: string[]
}

export interface AddBlockResult {
  status: 'added' | 'orphan' | 'duplicate'
  head: HeadInfo
  /** Hashes of every block this call connected (the block itself plus orphans it unlocked), in order. */
  connected: Uint8Array[]
  /** Blocks that became canonical (extension or reorg), in height order. */
  newCanonical: Block[]
  reorg?: ReorgInfo
}

export interface AddBlockOptions {
  /** Payloads that arrived with the block, by txId hex; kept per the retention policy. */
  payloads?: Map<string, Uint8Array>
  /** The tx signatures were already checked (e.g. in the worker pool). */
  signaturesChecked?: boolean
}

export interface BlockTreeInit {
  /** Directory of the LevelDB database. */
  path: string
  genesis: Genesis
  consensus: Consensus
  retention?: RetentionPolicy
  /** Bounded orphan pool size (blocks). Default 256. */
  maxOrphans?: number
  /** Bounded orphan pool size (summed encoded block bytes). Default 32 MiB. */
  maxOrphanBytes?: number
  /** Canonical txs of the latest blocks kept in memory for getTx/getTxs (whole blocks; default 50,000; 0: none). */
  recentTxs?: number
  /** Where the genesis came from (file path), named in a GENESIS_MISMATCH error. */
  genesisSource?: string
  /** Info lines (e.g. the genesis digest stored into an older DB). */
  log?: (message: string, fields?: Record<string, unknown>) => void
}

/** What the store is given rather than configured with. */
export interface BlockTreeComponents {
  /** Where the store registers its prom-client metrics (`profichain_store_*`, docs/storage.md); none: not counted. */
  registry?: Registry
}

/** The acknowledged watermark (`BlockTree.acknowledge`). */
export interface AckPoint {
  height: number
  /** Block hash, hex. */
  hash: string
}

export type AckCheck =
  | { ok: true }
  | {
      ok: false
      code: 'HEAD_BEHIND_ACK' | 'ACK_BLOCK_REPLACED'
      message: string
      acknowledged: AckPoint
      head: AckPoint
    }

export interface AuditMismatch {
  /** 'header' | 'link' | 'merkle' | 'tx' | 'payload' | 'signature' | 'leaf' | 'index' */
  kind: string
  height?: number
  blockHash?: string
  txId?: string
  message: string
}

export interface AuditReport {
  blocks: number
  txs: number
  payloads: number
  mismatches: AuditMismatch[]
  /**
   * Equivocation evidence kept by the store (quorum): validators that co-signed two blocks at one height.
   * Not a mismatch of the store, but what an auditor must see.
   */
  evidence?: Array<{ signer: string; height: number; blockHashes: [string, string] }>
}

/** What adding co-signatures to a stored block did (`BlockTree.addSignatures`). */
export interface AddSignaturesResult {
  /** Valid validator signatures that were new. */
  added: number
  /** Signatures now on the stored header. */
  signatures: number
  /** This block became the latest final block. */
  becameFinal: boolean
  /** The latest final block after the change. */
  finalHeight: number
  finalHash: Uint8Array
}

export interface AuditProgress {
  height: number
  headHeight: number
}

/** Durable outbox of this node's own txs: kept until k confirmations deep, across crashes. */
export interface Outbox {
  /** Store a tx (atomically with its dedupe key, if any). A txId or dedupe key seen before is not stored twice. */
  add(tx: Transaction, opts?: { dedupeKey?: string }): Promise<{ txId: string; duplicate: boolean }>
  /**
   * Many txs in one atomic batch (same rules as add). `index`: entries of the outbox's side index written in
   * the same synced batch (even when every tx is a duplicate).
   */
  addMany(items: Array<{ tx: Transaction; dedupeKey?: string }>, opts?: { index?: OutboxIndexOp[] }): Promise<Array<{ txId: string; duplicate: boolean }>>
  /** The side index written with the outbox (the ingest API's owed receipts); absent on test doubles. */
  readonly index?: OutboxIndex
  /** txId (hex) stored under a dedupe key, if any. */
  lookup(dedupeKey: string): Promise<string | undefined>
  /** Many lookups in one read, in order. */
  lookupMany(dedupeKeys: string[]): Promise<Array<string | undefined>>
  /** Next sequence number for this origin (one past the highest stored). */
  nextSeq(origin: Uint8Array): Promise<number>
  /** Txs not yet in the canonical chain (to gossip / hand to the mempool again), in insertion order. */
  uncommitted(limit?: number): Promise<Transaction[]>
  /** Txs at least `confirmations` deep in the canonical chain (1 = in the head block). */
  confirmed(confirmations: number, limit?: number): Promise<TxLocation[]>
  /**
   * `confirmed` restricted to these txIds (e.g. the txs of the blocks just connected): the ones still in the
   * outbox and at least `confirmations` deep, in outbox order. Costs O(txIds), not O(outbox).
   */
  confirmedAmong?(txIds: Uint8Array[], confirmations: number): Promise<TxLocation[]>
  /**
   * Remove txs for good (after their receipts were written). With `blockHashes` (one per txId: the block its
   * receipt names), an entry whose canonical block is no longer that one (a reorg moved it while the receipt
   * was written) is kept, so its receipt is written again for the new block.
   */
  ack(txIds: string[], opts?: { blockHashes?: Uint8Array[] }): Promise<void>
  /**
   * Receipts that could not be written: remove these txs from the outbox (like `ack`) and record them for
   * a retry, in one synced batch; `attempts` counts up when a txId is deferred again.
   */
  deferReceipts(items: Array<{ txId: string; code: string; message: string }>): Promise<void>
  /** Receipts waiting for a retry, by txId order. */
  deferredReceipts(limit?: number): Promise<DeferredReceipt[]>
  /** Forget deferred receipts (written at last). */
  clearDeferred(txIds: string[]): Promise<void>
  deferredCount(): Promise<number>
  size(): Promise<number>
}

/** A put (value set) or delete of the outbox's side index. */
export interface OutboxIndexOp {
  key: Uint8Array
  value?: Uint8Array
}

/** A key-value index in the store's DB, written in the outbox's batches (bucket `ingestOwed`). */
export interface OutboxIndex {
  getMany(keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  /** Keys in order within [gte, lt), at most `limit`. */
  keys(range: { gte: Uint8Array; lt: Uint8Array; limit?: number }): Promise<Uint8Array[]>
  /** One synced batch of ops alone. */
  write(ops: OutboxIndexOp[]): Promise<void>
}

/** A receipt that could not be written, kept for a retry (outbox.deferReceipts). */
export interface DeferredReceipt {
  txId: string
  code: string
  message: string
  attempts: number
  firstFailedAt: number
  lastFailedAt: number
}

/** Mempool for producers: txs from any member waiting for a block, in arrival order. */
/** What the caller of `Mempool.add` vouches for (the origin rule is always applied). */
export interface MempoolAddOptions {
  /**
   * Format and payload hash were checked already (the outbox's add, the worker pool's checkTransactions):
   * not checked (payload re-hashed) again.
   */
  checked?: boolean
  /**
   * The txs are durable elsewhere (this node's outbox, which the node requeues into the mempool at start):
   * kept in memory only, not written to the mempool's bucket a second time.
   */
  durableElsewhere?: boolean
}

export interface Mempool {
  /** Add txs; already pending or already canonical txs are ignored. Returns how many were new. */
  add(txs: Transaction[], opts?: MempoolAddOptions): Promise<number>
  /**
   * Oldest-first txs whose summed stripped size (what the block carries) stays within maxBytes, at most
   * maxCount of them, and whose payloads sum to at most maxPayloadBytes. Does not remove.
   */
  select(maxBytes: number, maxCount?: number, maxPayloadBytes?: number): Promise<Transaction[]>
  size(): number
  /** The pending tx with this id (hex), if any. */
  get?(id: string): Transaction | undefined
}

/** Every code a StoreError carries (a caller's `switch` over `err.code` is checked). */
export const STORE_ERROR_CODES = [
  'ERR_STORE_LOCKED',
  'ERR_STORE_IO',
  'ERR_STORE_NETWORK',
  /** The DB was written in another on-disk layout version (docs/storage.md). */
  'ERR_STORE_LAYOUT',
  'ERR_STORE_CORRUPT',
  'ERR_STORE_UNKNOWN_TX',
  'ERR_STORE_CLOSED',
  'ERR_STORE_CONFIG',
  /** The genesis file differs from the one the store was created with (any field). */
  'GENESIS_MISMATCH',
] as const
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number]

/** The metadata each code carries. */
export interface StoreErrorMeta {
  ERR_STORE_LOCKED: { path: string }
  /** The LevelDB error code and its cause's code (e.g. ENOSPC), when known. */
  ERR_STORE_IO: { levelCode?: string; causeCode?: string }
  /** Genesis block hashes (hex): the DB's and this node's. */
  ERR_STORE_NETWORK: { stored: string; expected: string }
  /** `found`: the DB's layout version (null when unreadable). */
  ERR_STORE_LAYOUT: { path: string; found: number | null; expected: number }
  ERR_STORE_CORRUPT: { path?: string }
  ERR_STORE_UNKNOWN_TX: { txId: string }
  ERR_STORE_CLOSED: Record<string, never>
  ERR_STORE_CONFIG: { field: string }
  /** Genesis config digests (hex) and the fields that differ (`field: old → new`). */
  GENESIS_MISMATCH: { source: string; stored: string; expected: string; differences: string[] }
}

type MetaArgs<C extends StoreErrorCode> =
  Record<string, never> extends StoreErrorMeta[C]
    ? [meta?: StoreErrorMeta[C], options?: { cause?: unknown }]
    : [meta: StoreErrorMeta[C], options?: { cause?: unknown }]

/** A store failure with a stable code and the metadata of that code (see `StoreErrorMeta`). */
export class StoreError<C extends StoreErrorCode = StoreErrorCode> extends ProfichainError {
  declare readonly code: C
  /** Typed per code once the code is known (`StoreError.is(err, code)`), still readable as a record. */
  declare readonly meta: StoreErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: MetaArgs<C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'StoreError'
  }

  /** Narrow `err` to a StoreError of `code` (so its `meta` is typed). */
  static is<K extends StoreErrorCode>(err: unknown, code: K): err is StoreError<K> {
    return err instanceof StoreError && err.code === code
  }
}

export type { ChainpointProof, NativeReceipt }
