import { type ChainContext, type Consensus, type Genesis, isAllowedOrigin, OriginCheck } from '@profichain/consensus'
import {
  type Block,
  type BlockHeader,
  type BlockRules,
  type HeaderSignature,
  type Vote,
  blockHash,
  type ChainpointProof,
  decodeStrippedTx,
  equalBytes,
  fromHex,
  type NativeReceipt,
  sha256,
  toHex,
  type Transaction,
  txIdHex,
  ValidationError,
} from '@profichain/core'
import { Level } from 'level'
import { type OriginsReport, runAudit, runOriginsAudit } from './audit.js'
import { del, ioError, put, Serial, type StoreContext, type StoreHealth, trackHealth, WriteHealth, writeBatch } from './context.js'
import { checkIncomingTx, DeviceRegistry, type IncomingTxResult } from './devices.js'
import { Durability } from './durability.js'
import { ForkChoice, headInfo } from './fork-choice.js'
import { checkGenesis, genesisBlockOf } from './genesis-check.js'
import {
  BUCKETS,
  type BinaryDb,
  decodeCounts,
  decodeTxIndex,
  encodeCounts,
  type GlobalBucketName,
  META,
  openSublevels,
  readU64,
  prefixRange,
  type Subs,
  txKey,
  u64,
} from './keys.js'
import { checkLayout, upgradeLayout2 } from './layout.js'
import { StoreMempool } from './mempool.js'
import { StoreMetrics } from './metrics.js'
import { DEFAULT_MAX_ORPHAN_BYTES, DEFAULT_MAX_ORPHANS, OrphanPool } from './orphan-pool.js'
import { StoreOutbox } from './outbox.js'
import { Receipts } from './receipts.js'
import { RecentTxs } from './recent-txs.js'
import { StoreVotes, type VoteEvidence, type VoteRecord } from './votes.js'
import { type ChainState, TreeNodes } from './tree-nodes.js'
import {
  type AckCheck,
  type AckPoint,
  type AddBlockOptions,
  type AddBlockResult,
  type AddSignaturesResult,
  type AuditProgress,
  type AuditReport,
  type BlockTreeComponents,
  type BlockTreeInit,
  type HeadInfo,
  type Outbox,
  StoreError,
  type TxLocation,
} from './types.js'

/**
 * LevelDB options of the store (measured: docs/benchmarks.md, "Session 6, storage"). A 1 KiB own record is
 * written twice (outbox entry, then block payload) and its outbox entry deleted a block later; with
 * LevelDB's 4 MiB memtables a burst flushed them to level 0 before the delete came, and random-keyed txIds
 * made each level-0 compaction rewrite all of level 1: 15 KB written to disk and ~100 µs of LevelDB
 * background CPU per record (60,000 records in process). 32 MiB memtables hold several seconds of a burst
 * (put and delete meet in the first compaction, which drops both) and 8 MiB tables mean fewer, larger
 * compactions: 8.5 KB and ~75 µs. Memory: at most two memtables (64 MiB) per store, bounded. Durability
 * is unchanged (every acknowledging write is still a synced log write); a larger memtable only means a
 * longer log to replay at open after a crash.
 */
export const LEVEL_TUNING = { writeBufferSize: 32 * 1024 * 1024, maxFileSize: 8 * 1024 * 1024 } as const

export { genesisBlockOf }

/** Key-value access to the global network's buckets (`BlockTree.globalBuckets`). */
export interface GlobalBuckets {
  get(bucket: GlobalBucketName, key: Uint8Array): Promise<Uint8Array | undefined>
  getMany(bucket: GlobalBucketName, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  /** Entries in key order within the range (`gte`/`lt`/`reverse`), at most `limit` (-1: all). */
  entries(
    bucket: GlobalBucketName,
    range?: { gte?: Uint8Array; lt?: Uint8Array; reverse?: boolean },
    limit?: number,
  ): Promise<Array<[Uint8Array, Uint8Array]>>
  /** One atomic, synced batch; an op without value deletes its key. */
  write(ops: Array<{ bucket: GlobalBucketName; key: Uint8Array; value?: Uint8Array }>): Promise<void>
}

export interface StoreStats {
  /** Blocks stored (canonical and side branches, genesis included). */
  blocks: number
  headHeight: number
  finalHeight: number
  /** Txs on the canonical chain. */
  txs: number
  payloads: number
  payloadBytes: number
  orphans: number
  /** Summed encoded size of the orphan pool. */
  orphanBytes: number
  mempool: number
  outbox: number
}

/**
 * The block tree on LevelDB (DESIGN §6, docs/storage.md): every valid block is kept, the canonical chain is
 * the one with the most cumulative work (tie: lowest hash), and each block together with any canonical
 * switch it causes is written in one atomic batch, so a crash leaves either the old or the new state.
 *
 * The facade over the store's parts, one file each: fork choice and reorg staging (fork-choice.ts), the
 * orphan pool (orphan-pool.ts), receipts (receipts.ts), retention (retention.ts), durability: the ack
 * watermark and reopening after a failed write (durability.ts), the genesis identity check
 * (genesis-check.ts), the layout version (layout.ts), the outbox (outbox.ts) and the mempool (mempool.ts).
 */
export class BlockTree {
  readonly outbox: Outbox
  readonly mempool: StoreMempool
  /** Device identities and device seqs (issue 14, docs/devices.md). */
  readonly devices: DeviceRegistry
  readonly genesisHash: Uint8Array
  readonly chain: ChainContext
  private readonly ctx: StoreContext
  private readonly subs: Subs
  private readonly serial = new Serial()
  private readonly health_ = new WriteHealth()
  private readonly metrics: StoreMetrics
  private readonly nodes: TreeNodes
  private readonly orphans: OrphanPool
  private readonly durability: Durability
  private readonly receipts: Receipts
  /** Canonical txs of the latest blocks (getTx/getTxs answer from memory first). */
  private readonly recent: RecentTxs
  private readonly forkChoice: ForkChoice
  private readonly storeOutbox: StoreOutbox
  private readonly votes: StoreVotes
  /** Shared with fork choice; filled by `load` before the tree is handed out. */
  private readonly state = {} as ChainState
  private closed = false

  private constructor(
    private readonly db: BinaryDb,
    readonly genesis: Genesis,
    readonly consensus: Consensus,
    init: BlockTreeInit,
    components: BlockTreeComponents,
    genesisHash: Uint8Array,
  ) {
    this.subs = openSublevels(db)
    trackHealth(db, this.health_)
    this.genesisHash = genesisHash
    this.metrics = new StoreMetrics(components.registry)
    const metrics = this.metrics
    this.durability = new Durability(
      db,
      BUCKETS.map((n) => this.subs[n]),
      this.health_,
      init.path,
    )
    const rules: BlockRules = {
      network: genesis.network,
      maxBlockBytes: genesis.maxBlockBytes,
      maxTxBytes: genesis.maxTxBytes,
    }
    this.ctx = {
      db,
      subs: this.subs,
      serial: this.serial,
      rules,
      head: () => this.head(),
      health: this.health_,
      beforeWrite: () => this.durability.beforeWrite(),
      metrics,
    }
    this.storeOutbox = new StoreOutbox(this.ctx, {
      retention: init.retention ?? { mode: 'all' },
      state: this.state,
      // Device records in the outbox came through the ingest API, whose gateway keeps their payloads.
      keptAnyway: (tx) => !isAllowedOrigin(genesis, tx.body.origin),
    })
    this.outbox = this.storeOutbox
    this.votes = new StoreVotes(this.ctx)
    this.nodes = new TreeNodes(this.subs, this.state)
    this.devices = new DeviceRegistry({
      db,
      subs: this.subs,
      genesis,
      nodes: this.nodes,
      state: this.state,
      serial: this.serial,
      metrics,
    })
    this.mempool = new StoreMempool(this.ctx, genesis, this.devices, this.storeOutbox)
    this.chain = { ancestors: (hash, n) => this.nodes.ancestors(hash, n) }
    this.orphans = new OrphanPool(init.maxOrphans ?? DEFAULT_MAX_ORPHANS, init.maxOrphanBytes ?? DEFAULT_MAX_ORPHAN_BYTES, {
      added: () => metrics.count('orphansAdded'),
      evicted: (n) => metrics.count('orphansEvicted', n),
      level: (bytes, count) => {
        metrics.level('orphanPoolBytes', bytes)
        metrics.level('orphanPoolBlocks', count)
      },
    })
    this.receipts = new Receipts(this.subs.leaves, (hash) => this.getHeader(hash))
    this.recent = new RecentTxs(init.recentTxs)
    this.forkChoice = new ForkChoice({
      db,
      subs: this.subs,
      genesis,
      consensus,
      rules,
      chain: this.chain,
      nodes: this.nodes,
      state: this.state,
      orphans: this.orphans,
      mempool: this.mempool,
      devices: this.devices,
      outbox: this.storeOutbox,
      retention: init.retention ?? { mode: 'all' },
      metrics,
      recent: this.recent,
      storedLevels: (hash, levels, ids) => this.receipts.seedLevels(hash, levels, ids),
    })
  }

  /**
   * Open (or create) the store at `init.path`; refuses a DB in use (ERR_STORE_LOCKED), of another layout
   * version (ERR_STORE_LAYOUT), of another network (ERR_STORE_NETWORK) or genesis (GENESIS_MISMATCH).
   */
  static async open(init: BlockTreeInit, components: BlockTreeComponents = {}): Promise<BlockTree> {
    const db: BinaryDb = new Level<Uint8Array, Uint8Array>(init.path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      ...LEVEL_TUNING,
    })
    try {
      await db.open()
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code
      if (code === 'LEVEL_LOCKED') {
        throw new StoreError(
          'ERR_STORE_LOCKED',
          `data dir ${init.path} is in use by another profichain process`,
          { path: init.path },
          { cause: err },
        )
      }
      throw ioError(err, `opening the store at ${init.path}`)
    }
    try {
      const genesisBlock = genesisBlockOf(init.genesis)
      const gHash = blockHash(genesisBlock.header)
      const tree = new BlockTree(db, init.genesis, init.consensus, init, components, gHash)
      await tree.load(genesisBlock, init)
      return tree
    } catch (err) {
      await db.close().catch(() => undefined)
      throw err
    }
  }

  private async load(genesisBlock: Block, init: BlockTreeInit): Promise<void> {
    const upgrade = await checkLayout(this.db, this.subs, init.path)
    await checkGenesis(this.db, this.subs, this.genesis, genesisBlock, this.genesisHash, init)
    if (upgrade) await upgradeLayout2(this.db, this.subs)
    const [head, fin, counts, floor] = await this.subs.meta.getMany([META.head, META.final, META.counts, META.checkpointFloor])
    const headNode = head && (await this.nodes.node(head))
    const finalNode = fin && (await this.nodes.node(fin))
    if (!headNode || !finalNode || !counts)
      throw new StoreError(
        'ERR_STORE_CORRUPT',
        'store meta (head/final/counts) is missing or points to an unknown block',
      )
    Object.assign(this.state, {
      head: headNode,
      final: finalNode,
      counts: decodeCounts(counts),
      floor: floor === undefined ? 0 : readU64(floor),
    } satisfies ChainState)
    await this.storeOutbox.load()
    await this.devices.load()
    await this.mempool.load()
    await this.votes.load()
    await this.durability.checkAck(headNode, this.subs.canonical)
  }

  /** Validate and store a block; connects orphans it unlocks and switches the canonical chain if it wins. */
  async addBlock(block: Block, opts: AddBlockOptions = {}): Promise<AddBlockResult> {
    this.checkOpen()
    return this.serial.run(async () => {
      await this.durability.beforeWrite()
      return this.forkChoice.addBlock(block, opts)
    })
  }

  /**
   * The txs (in order) a block on top of the head may carry under the origin rule (members; registered,
   * unrevoked devices; no replayed device seq; registry txs valid as of the head). The producer seals only
   * these; refused txs leave the mempool (in the background).
   */
  filterOrigins<T extends Transaction>(txs: T[]): T[] {
    // Read before the check: a switch staged meanwhile changes the epoch, and the note below then never matches.
    const epoch = this.devices.epoch()
    const head = this.state.head.hash
    const check = new OriginCheck(this.genesis, this.devices.headView())
    const out: T[] = []
    const drop: string[] = []
    for (const tx of txs) {
      const refusal = check.check(tx)
      if (refusal === undefined) out.push(tx)
      else drop.push(txIdHex(tx))
    }
    if (drop.length > 0) void this.mempool.evict(drop).catch(() => undefined)
    this.forkChoice.noteFiltered(out, head, epoch)
    return out
  }

  /**
   * The first refusal of `txs` (signatures already checked, e.g. a gossiped batch) under checkIncomingTx as
   * of the canonical head, or undefined when all may go to the mempool (duplicates included).
   */
  checkOrigins(txs: readonly Transaction[]): Extract<IncomingTxResult, { ok: false }> | undefined {
    for (const tx of txs) {
      // Members' records and anchors pass the origin rule whatever the registry says (the network already
      // checked they are members): skip the format re-check the worker pool did, on the hot gossip path.
      const k = tx.body.kind
      if ((k === 'record' || k === 'anchor') && isAllowedOrigin(this.genesis, tx.body.origin)) continue
      const r = checkIncomingTx(tx, { store: this, signatureChecked: true })
      if (!r.ok) return r
    }
    return undefined
  }

  /** Whether a tx (id bytes) is on the canonical chain (synchronous read). */
  hasCanonicalTx(id: Uint8Array | string): boolean {
    const hex = typeof id === 'string' ? id.toLowerCase() : toHex(id)
    const known = this.recent.canonical(hex)
    if (known !== undefined) return known
    const found = this.subs.txIndex.getSync(typeof id === 'string' ? fromHex(id) : id) !== undefined
    if (!found) this.recent.noteAbsent(hex)
    return found
  }

  // ---------------------------------------------------------------- votes (quorum)

  /**
   * Add co-signatures to a stored block (votes gossiped after the block): the union of valid validator
   * signatures is kept on the stored header (same hash) and the final block advances when the canonical
   * block reaches the threshold (then `becameFinal`). Undefined when the block is not stored (yet).
   */
  async addSignatures(hash: Uint8Array, sigs: readonly HeaderSignature[]): Promise<AddSignaturesResult | undefined> {
    this.checkOpen()
    return this.serial.run(async () => {
      await this.durability.beforeWrite()
      return this.forkChoice.addSignatures(hash, sigs)
    })
  }

  /**
   * Quorum liveness: make a stored side-branch block that reached the threshold of signatures (its votes came
   * after it lost fork choice) the head, its branch canonical and the block final. The result is addBlock's
   * (newCanonical, reorg) for the chain service; undefined when nothing changed (see ForkChoice.adoptQuorum).
   */
  async adoptQuorum(hash: Uint8Array): Promise<AddBlockResult | undefined> {
    this.checkOpen()
    return this.serial.run(async () => {
      await this.durability.beforeWrite()
      return this.forkChoice.adoptQuorum(hash)
    })
  }

  /**
   * This node's vote guard: true when it may co-sign `blockHash` at `height`, i.e. it has not co-signed
   * another block at that height, ever (durable across restarts: the record is fsynced before this resolves
   * true for a new height, so call it BEFORE the signature leaves the node). Same block again: true.
   */
  async guardVote(height: number, blockHash: Uint8Array): Promise<boolean> {
    this.checkOpen()
    return this.serial.run(() => this.votes.guard(height, blockHash))
  }

  /** The block this node co-signed at `height`, if any. */
  async ownVote(height: number): Promise<Uint8Array | undefined> {
    return this.votes.ownVote(height)
  }

  /** This node's own votes above `height`, lowest first (the quorum vote rule's persisted record). */
  async ownVotesAbove(height: number): Promise<Array<{ height: number; hash: Uint8Array }>> {
    this.checkOpen()
    return this.votes.ownVotesAbove(height)
  }

  /** The first recorded vote of each of `signers` at `height` (blocks of verified headers only). */
  async votesAt(height: number, signers: readonly Uint8Array[]): Promise<Vote[]> {
    this.checkOpen()
    return this.votes.votesAt(height, signers)
  }

  /**
   * Remember a validator's vote (signature and validator already checked by the caller). A second vote by
   * the same validator for another block at the same height keeps both as evidence (durable) and from then
   * on that validator's votes come back `ignored`.
   */
  async recordVote(vote: Vote): Promise<VoteRecord> {
    this.checkOpen()
    return this.serial.run(() => this.votes.record(vote))
  }

  /** Has this validator (public key, bytes or hex) equivocated? */
  isEquivocator(signer: Uint8Array | string): boolean {
    return this.votes.isEquivocator(signer)
  }

  /** Every piece of equivocation evidence kept by the store. */
  async evidence(): Promise<VoteEvidence[]> {
    this.checkOpen()
    return this.votes.evidence()
  }

  // ---------------------------------------------------------------- reads

  /** The canonical head (cached). */
  head(): HeadInfo {
    return headInfo(this.state)
  }

  /** Height of the latest final block on the canonical chain (0: only genesis is final). */
  finalHeight(): number {
    return this.state.final.height
  }

  /** Height below which the canonical chain never reorganises (the block log's floor; 0: none). */
  checkpointFloor(): number {
    return this.state.floor
  }

  /**
   * Raise the checkpoint floor to `height` (a canonical height): from then on fork choice refuses any
   * branch forking below it, like quorum finality (DESIGN §11: no reorg below the last signed checkpoint).
   * Durable (synced) before it resolves; never lowered (a lower height is ignored).
   */
  async setCheckpointFloor(height: number): Promise<void> {
    this.checkOpen()
    if (!Number.isSafeInteger(height) || height < 0) throw new RangeError(`checkpoint floor ${height} is not a height`)
    await this.serial.run(async () => {
      if (height <= this.state.floor) return
      if (height > this.state.head.height)
        throw new StoreError('ERR_STORE_CONFIG', `checkpoint floor ${height} is above the head (${this.state.head.height})`, {
          field: 'checkpointFloor',
        })
      await this.durability.beforeWrite()
      const b = this.db.batch()
      put(b, this.subs.meta, META.checkpointFloor, u64(height))
      await writeBatch(b, 'raising the checkpoint floor', { sync: true })
      this.state.floor = height
    })
  }

  /**
   * The global network's buckets (block log, witness state, evidence: keys.ts `GlobalBucket`) as plain
   * key-value buckets for @profichain/global; writes are atomic batches over any of them, synced.
   */
  globalBuckets(): GlobalBuckets {
    const sub = (name: GlobalBucketName) => this.subs[name]
    return {
      get: async (bucket, key) => {
        this.checkOpen()
        return sub(bucket).get(key)
      },
      getMany: async (bucket, keys) => {
        this.checkOpen()
        return sub(bucket).getMany(keys)
      },
      entries: async (bucket, range = {}, limit = -1) => {
        this.checkOpen()
        const out: Array<[Uint8Array, Uint8Array]> = []
        for await (const e of sub(bucket).iterator({ ...range, limit })) out.push(e)
        return out
      },
      write: async (ops) => {
        this.checkOpen()
        await this.durability.beforeWrite()
        const b = this.db.batch()
        for (const op of ops) {
          if (op.value === undefined) del(b, sub(op.bucket), op.key)
          else put(b, sub(op.bucket), op.key, op.value)
        }
        await writeBatch(b, 'writing the block log / witness state', { sync: true })
      },
    }
  }

  /** Hash of the latest final block on the canonical chain. */
  finalHash(): Uint8Array {
    return this.state.final.hash
  }

  /** Whether a block is stored (any branch). */
  async hasBlock(hash: Uint8Array): Promise<boolean> {
    return (await this.nodes.node(hash)) !== undefined
  }

  async getHeader(hash: Uint8Array): Promise<BlockHeader | undefined> {
    return (await this.nodes.node(hash))?.header
  }

  /** Height and cumulative work of a stored block (any branch). */
  async getBlockMeta(
    hash: Uint8Array,
  ): Promise<{ height: number; totalWork: bigint; canonical: boolean } | undefined> {
    const n = await this.nodes.node(hash)
    return n && { height: n.height, totalWork: n.totalWork, canonical: await this.nodes.isCanonical(n) }
  }

  async getBlock(hash: Uint8Array): Promise<Block | undefined> {
    const n = await this.nodes.node(hash)
    if (!n) return undefined
    return { header: n.header, txs: (await this.nodes.loadTxs(hash)).txs }
  }

  async getHashAtHeight(height: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(height) || height < 0 || height > this.state.head.height) return undefined
    return this.subs.canonical.get(u64(height))
  }

  async getHeaderByHeight(height: number): Promise<BlockHeader | undefined> {
    const h = await this.getHashAtHeight(height)
    return h && this.getHeader(h)
  }

  async getBlockByHeight(height: number): Promise<Block | undefined> {
    const h = await this.getHashAtHeight(height)
    return h && this.getBlock(h)
  }

  /** Where a tx sits on the canonical chain (txId as hex or bytes). */
  async getTx(id: string | Uint8Array): Promise<TxLocation | undefined> {
    this.checkOpen()
    const hit = this.recent.get(typeof id === 'string' ? id.toLowerCase() : toHex(id))
    if (hit !== undefined) return { ...hit }
    const key = typeof id === 'string' ? fromHex(id) : id
    // Point reads are served synchronously (block cache / page cache): ~4x the rate of async gets.
    const v = this.subs.txIndex.getSync(key)
    if (v === undefined) return undefined
    const e = decodeTxIndex(v)
    const raw = this.subs.strippedTx.getSync(txKey(e.blockHash, e.index))
    if (raw === undefined) return undefined
    return {
      tx: decodeStrippedTx(raw),
      txId: toHex(key),
      blockHash: e.blockHash,
      height: e.height,
      index: e.index,
    }
  }

  /** Many lookups at once (one read per tx, batched). */
  async getTxs(ids: Array<string | Uint8Array>): Promise<Array<TxLocation | undefined>> {
    // The latest canonical blocks answer from memory (receipts are built right after a block is applied);
    // only the others are read: tx index, then the stripped txs.
    const out: Array<TxLocation | undefined> = new Array(ids.length).fill(undefined)
    const missIdx: number[] = []
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]
      const hit = this.recent.get(typeof id === 'string' ? id.toLowerCase() : toHex(id))
      if (hit !== undefined) out[i] = { ...hit }
      else missIdx.push(i)
    }
    if (missIdx.length === 0) return out
    const keys = missIdx.map((i) => {
      const id = ids[i]
      return typeof id === 'string' ? fromHex(id) : id
    })
    const version = this.recent.version()
    const entries = (await this.subs.txIndex.getMany(keys)).map((v) =>
      v === undefined ? undefined : decodeTxIndex(v),
    )
    // No switch staged or committed during the read: its misses are absent as of now.
    if (this.recent.version() === version) {
      entries.forEach((e, j) => {
        if (e === undefined) this.recent.noteAbsent(typeof ids[missIdx[j]] === 'string' ? (ids[missIdx[j]] as string).toLowerCase() : toHex(keys[j]))
      })
    }
    const present = entries.filter((e): e is NonNullable<typeof e> => e !== undefined)
    const raws = present.length > 0 ? await this.subs.strippedTx.getMany(present.map((e) => txKey(e.blockHash, e.index))) : []
    let k = 0
    entries.forEach((e, j) => {
      if (!e) return
      const raw = raws[k++]
      if (raw === undefined) return
      out[missIdx[j]] = { tx: decodeStrippedTx(raw), txId: toHex(keys[j]), blockHash: e.blockHash, height: e.height, index: e.index }
    })
    return out
  }

  async getPayload(id: string | Uint8Array): Promise<Uint8Array | undefined> {
    return this.subs.payload.get(typeof id === 'string' ? fromHex(id) : id)
  }

  async hasPayload(id: string | Uint8Array): Promise<boolean> {
    const key = typeof id === 'string' ? fromHex(id) : id
    // An outbox entry's payload the retention policy does not keep leaves at its ack: not kept by this node.
    if (this.storeOutbox.transientPayload(key)) return false
    // A point read: `has` seeks an iterator, which steps over the tombstones of payloads deleted at acks.
    return (await this.subs.payload.get(key)) !== undefined
  }

  /** Store a payload fetched later (archive nodes); it must match the canonical tx's signed hash and size. */
  async putPayload(id: string | Uint8Array, payload: Uint8Array): Promise<void> {
    this.checkOpen()
    await this.serial.run(async () => {
      await this.durability.beforeWrite()
      const loc = await this.getTx(id)
      if (!loc)
        throw new StoreError(
          'ERR_STORE_UNKNOWN_TX',
          `tx ${typeof id === 'string' ? id : toHex(id)} is not on the canonical chain`,
          { txId: typeof id === 'string' ? id : toHex(id) },
        )
      const body = loc.tx.body
      if (payload.byteLength !== body.payloadSize || !equalBytes(sha256(payload), body.payloadHash)) {
        throw new ValidationError('ERR_TX_PAYLOAD_HASH', 'payload does not match the signed payload hash', {
          txId: loc.txId,
        })
      }
      const key = fromHex(loc.txId)
      if (await this.storeOutbox.keepPayload(key)) return
      if ((await this.subs.payload.get(key)) !== undefined) return
      const counts = {
        ...this.state.counts,
        payloads: this.state.counts.payloads + 1,
        payloadBytes: this.state.counts.payloadBytes + payload.byteLength,
      }
      await this.durability.beforeWrite()
      const b = this.db.batch()
      put(b, this.subs.payload, key, payload)
      put(b, this.subs.meta, META.counts, encodeCounts(counts))
      await writeBatch(b, 'storing a payload', { sync: true })
      this.state.counts = counts
    })
  }

  /** Canonical txIds (hex) whose signed payload hash is `payloadHash`. */
  async txIdsByPayloadHash(payloadHash: Uint8Array | string): Promise<string[]> {
    const ph = typeof payloadHash === 'string' ? fromHex(payloadHash) : payloadHash
    const out: string[] = []
    for await (const k of this.subs.payloadIndex.keys(prefixRange(ph))) out.push(toHex(k.subarray(32)))
    return out
  }

  /** Canonical headers from `from` to `to` (inclusive, clamped to the head), in height order. */
  async *headers(from: number, to: number = this.state.head.height): AsyncGenerator<BlockHeader> {
    for await (const [, hash] of this.subs.canonical.iterator({
      gte: u64(Math.max(0, from)),
      lte: u64(Math.max(0, Math.min(to, this.state.head.height))),
    })) {
      const h = await this.getHeader(hash)
      if (h) yield h
    }
  }

  /** Canonical blocks from `from` to `to` (inclusive), in height order. */
  async *blocks(from: number, to: number = this.state.head.height): AsyncGenerator<Block> {
    for await (const [, hash] of this.subs.canonical.iterator({
      gte: u64(Math.max(0, from)),
      lte: u64(Math.max(0, Math.min(to, this.state.head.height))),
    })) {
      const b = await this.getBlock(hash)
      if (b) yield b
    }
  }

  /** The block's Merkle leaves as stored. */
  async leaves(hash: Uint8Array): Promise<Uint8Array[] | undefined> {
    return this.receipts.leaves(hash)
  }

  /** A receipt for a canonical tx, built from the stored leaves. */
  receipt(id: string | Uint8Array, form: 'chainpoint', anchorBase: string): Promise<ChainpointProof | undefined>
  receipt(id: string | Uint8Array, form: 'native', anchorBase: string): Promise<NativeReceipt | undefined>
  async receipt(
    id: string | Uint8Array,
    form: 'chainpoint' | 'native',
    anchorBase: string,
  ): Promise<ChainpointProof | NativeReceipt | undefined> {
    const loc = await this.getTx(id)
    if (!loc) return undefined
    return this.receipts.receiptAt(loc, form, anchorBase)
  }

  /** A receipt for a tx at a known location (e.g. from `outbox.confirmed`), without looking it up again. */
  receiptAt(loc: TxLocation, form: 'chainpoint', anchorBase: string): Promise<ChainpointProof | undefined>
  receiptAt(loc: TxLocation, form: 'native', anchorBase: string): Promise<NativeReceipt | undefined>
  async receiptAt(
    loc: TxLocation,
    form: 'chainpoint' | 'native',
    anchorBase: string,
  ): Promise<ChainpointProof | NativeReceipt | undefined> {
    return this.receipts.receiptAt(loc, form, anchorBase)
  }

  /** Receipts for many txs at known locations (same order): each block's header and tree read once. */
  receiptsAt(locs: TxLocation[], form: 'chainpoint', anchorBase: string): Promise<Array<ChainpointProof | undefined>>
  receiptsAt(locs: TxLocation[], form: 'native', anchorBase: string): Promise<Array<NativeReceipt | undefined>>
  async receiptsAt(
    locs: TxLocation[],
    form: 'chainpoint' | 'native',
    anchorBase: string,
  ): Promise<Array<ChainpointProof | NativeReceipt | undefined>> {
    return form === 'chainpoint' ? this.receipts.receiptsAt(locs, form, anchorBase) : this.receipts.receiptsAt(locs, form, anchorBase)
  }

  /** Chainpoint receipts of many txs as JSON text (same order; the text JSON.stringify gives). */
  chainpointJsonsAt(locs: TxLocation[], anchorBase: string): Promise<Array<string | undefined>> {
    return this.receipts.chainpointJsonsAt(locs, anchorBase)
  }

  /** Counts kept up to date in every batch (no scans). */
  async stats(): Promise<StoreStats> {
    return {
      ...this.state.counts,
      headHeight: this.state.head.height,
      finalHeight: this.state.final.height,
      orphans: this.orphans.size,
      orphanBytes: this.orphans.bytes,
      mempool: this.mempool.size(),
      outbox: await this.outbox.size(),
    }
  }

  /** Re-hash and re-check everything stored; each mismatch names its block, tx and what differs. */
  async audit(onProgress?: (p: AuditProgress) => void): Promise<AuditReport> {
    this.checkOpen()
    const report = await runAudit(this.ctx, this.genesisHash, onProgress)
    const evidence = await this.votes.evidence()
    if (evidence.length > 0) {
      report.evidence = evidence.map((e) => ({
        signer: e.signer,
        height: e.height,
        blockHashes: [toHex(e.votes[0].blockHash), toHex(e.votes[1].blockHash)],
      }))
    }
    const ack = this.durability.ackCheck()
    if (!ack.ok) {
      report.mismatches.push({
        kind: 'ack',
        height: ack.acknowledged.height,
        blockHash: ack.acknowledged.hash,
        message: ack.message,
      })
    }
    return report
  }

  /**
   * Per origin (members and devices) on the canonical chain: records, seq range, gaps, reorders, seq reuse,
   * replays and revoked-key uses refused, replay evidence, device records outside their registration
   * (`profichain audit --origins`, docs/devices.md).
   */
  async auditOrigins(): Promise<OriginsReport> {
    this.checkOpen()
    return runOriginsAudit(this.ctx, { members: this.genesis.members, devices: this.devices })
  }

  /** Whether the last store write succeeded (for /healthz); a failed write sets it, the next good one clears it. */
  health(): StoreHealth {
    return this.health_.state
  }

  /**
   * Record that everything up to block `at` was acknowledged to the world (receipts written). Kept in a
   * small file beside the DB directory (atomic: tmp + fsync + rename + fsync dir), so losing LevelDB's log
   * cannot lose it too; lower heights than the stored one are ignored.
   */
  async acknowledge(at: AckPoint): Promise<void> {
    return this.durability.acknowledge(at)
  }

  /** The acknowledged watermark compared with the chain at open: a head behind it means records were lost. */
  ackCheck(): AckCheck {
    return this.durability.ackCheck()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.serial.idle()
    await this.db.close()
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('ERR_STORE_CLOSED', 'the store is closed')
  }
}
