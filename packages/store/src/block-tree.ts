import { open as openFile, readFile, rename } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import {
  type ChainContext,
  checkTxOrigins,
  type Consensus,
  type Genesis,
  genesisBlock,
  genesisConfigHash,
  serializeGenesis,
} from '@profichain/consensus'
import {
  auditPathFromLevels,
  type Block,
  type BlockHeader,
  type BlockRules,
  blockHash,
  blockLeaves,
  buildChainpointReceipt,
  buildNativeReceipt,
  type ChainpointProof,
  compareBytes,
  decodeHeader,
  decodeStrippedTx,
  decodeTransaction,
  encodeBlock,
  encodeHeader,
  encodeStrippedTx,
  equalBytes,
  fromHex,
  merkleLevels,
  merkleRoot,
  type NativeReceipt,
  type StrippedTx,
  sha256,
  type Transaction,
  toHex,
  txId,
  ValidationError,
  validateBlock,
  verifyHeaderSignature,
} from '@profichain/core'
import { Level } from 'level'
import { runAudit } from './audit.js'
import {
  type Batch,
  del,
  ioError,
  put,
  Serial,
  type StoreContext,
  type StoreHealth,
  trackHealth,
  WriteHealth,
  writeBatch,
} from './context.js'
import {
  type BinaryDb,
  type BlockMeta,
  type Counts,
  decodeBlockMeta,
  decodeCounts,
  decodeLeaves,
  decodeTxIndex,
  encodeBlockMeta,
  encodeCounts,
  encodeLeaves,
  encodeTxIndex,
  META,
  openSublevels,
  SUBLEVELS,
  payloadIndexKey,
  prefixRange,
  readU64,
  SCHEMA_VERSION,
  type Subs,
  txKey,
  u64,
} from './keys.js'
import { StoreMempool } from './mempool.js'
import { StoreOutbox } from './outbox.js'
import { retains } from './retention.js'
import {
  type AckCheck,
  type AckPoint,
  type AddBlockOptions,
  type AddBlockResult,
  type AuditProgress,
  type AuditReport,
  type BlockTreeInit,
  type HeadInfo,
  type Outbox,
  type ReorgInfo,
  type RetentionPolicy,
  StoreError,
  type TxLocation,
} from './types.js'

const DEFAULT_MAX_ORPHANS = 256
const DEFAULT_MAX_ORPHAN_BYTES = 32 * 1024 * 1024
const NODE_CACHE_SIZE = 4096

/** A stored block's header with its place in the tree. */
interface TreeNode {
  hash: Uint8Array
  header: BlockHeader
  height: number
  totalWork: bigint
}

interface Orphan {
  block: Block
  hash: Uint8Array
  leaves: Uint8Array[]
  opts: AddBlockOptions
  /** Encoded block size, counted against maxOrphanBytes. */
  bytes: number
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

/** Blocks whose Merkle trees stay cached for receipts. */
const LEVELS_CACHE_BLOCKS = 8

/** Block 0 of a network (the consensus package's definition, so every package agrees on the genesis hash). */
export function genesisBlockOf(genesis: Genesis): Block {
  return genesisBlock(genesis)
}

/**
 * The block tree on LevelDB (DESIGN §6): every valid block is kept, the canonical chain is the one with
 * the most cumulative work (tie: lowest hash), and each block together with any canonical switch it causes
 * is written in one atomic batch, so a crash leaves either the old or the new state.
 */
export class BlockTree {
  readonly outbox: Outbox
  readonly mempool: StoreMempool
  readonly genesisHash: Uint8Array
  private readonly ctx: StoreContext
  private readonly subs: Subs
  private readonly serial = new Serial()
  private readonly nodes = new Map<string, TreeNode>()
  private readonly orphans = new Map<string, Orphan>()
  private readonly orphansByParent = new Map<string, Set<string>>()
  private readonly maxOrphans: number
  private readonly maxOrphanBytes: number
  private orphanBytes = 0
  private readonly health_ = new WriteHealth()
  private ackResult: AckCheck = { ok: true }
  private ackWrite: Promise<unknown> = Promise.resolve()
  private readonly ackPath: string
  private readonly retention: RetentionPolicy
  private readonly rules: BlockRules
  private headNode!: TreeNode
  private finalNode!: TreeNode
  private counts: Counts = { blocks: 0, txs: 0, payloads: 0, payloadBytes: 0 }
  private closed = false
  readonly chain: ChainContext
  private readonly levelsCache = new Map<string, Uint8Array[][]>()

  private constructor(
    private readonly db: BinaryDb,
    readonly genesis: Genesis,
    readonly consensus: Consensus,
    init: BlockTreeInit,
    genesisHash: Uint8Array,
  ) {
    this.subs = openSublevels(db)
    trackHealth(db, this.health_)
    this.genesisHash = genesisHash
    this.maxOrphans = init.maxOrphans ?? DEFAULT_MAX_ORPHANS
    this.maxOrphanBytes = init.maxOrphanBytes ?? DEFAULT_MAX_ORPHAN_BYTES
    this.ackPath = ackFilePath(init.path)
    this.retention = init.retention ?? { mode: 'all' }
    this.rules = {
      network: genesis.network,
      maxBlockBytes: genesis.maxBlockBytes,
      maxTxBytes: genesis.maxTxBytes,
    }
    this.ctx = {
      db,
      subs: this.subs,
      serial: this.serial,
      rules: this.rules,
      head: () => this.head(),
      health: this.health_,
      beforeWrite: () => this.beforeWrite(),
    }
    this.outbox = new StoreOutbox(this.ctx)
    this.mempool = new StoreMempool(this.ctx, genesis)
    this.chain = { ancestors: (hash, n) => this.ancestors(hash, n) }
  }

  /** Open (or create) the store at `init.path`; refuses a DB of another network or one in use. */
  static async open(init: BlockTreeInit): Promise<BlockTree> {
    const db: BinaryDb = new Level<Uint8Array, Uint8Array>(init.path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
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
      const tree = new BlockTree(db, init.genesis, init.consensus, init, gHash)
      await tree.load(genesisBlock, init)
      return tree
    } catch (err) {
      await db.close().catch(() => undefined)
      throw err
    }
  }

  private async load(genesisBlock: Block, init: BlockTreeInit): Promise<void> {
    const z = this.subs.z
    const stored = await z.get(META.genesis)
    if (stored === undefined) {
      await this.initGenesis(genesisBlock)
    } else if (!equalBytes(stored, this.genesisHash)) {
      throw new StoreError(
        'ERR_STORE_NETWORK',
        `the store belongs to another network (genesis ${toHex(stored)}), this node's genesis is ${toHex(this.genesisHash)}`,
        { stored: toHex(stored), expected: toHex(this.genesisHash) },
      )
    } else {
      await this.checkGenesisConfig(init)
    }
    const schema = await z.get(META.schema)
    if (schema === undefined || readU64(schema) !== SCHEMA_VERSION) {
      throw new StoreError(
        'ERR_STORE_SCHEMA',
        `unsupported store schema ${schema === undefined ? 'none' : readU64(schema)}; expected ${SCHEMA_VERSION}`,
      )
    }
    const [head, fin, counts] = await z.getMany([META.head, META.final, META.counts])
    const headNode = head && (await this.node(head))
    const finalNode = fin && (await this.node(fin))
    if (!headNode || !finalNode || !counts)
      throw new StoreError(
        'ERR_STORE_CORRUPT',
        'store meta (head/final/counts) is missing or points to an unknown block',
      )
    this.headNode = headNode
    this.finalNode = finalNode
    this.counts = decodeCounts(counts)
    await (this.outbox as StoreOutbox).load()
    await this.mempool.load()
    this.ackResult = await this.checkAck()
  }

  /**
   * The full genesis (every field, not only what the genesis block commits to) must be the one the DB was
   * created with: a changed blockTimeMs or member list would otherwise start silently.
   */
  private async checkGenesisConfig(init: BlockTreeInit): Promise<void> {
    const [digest, json] = await this.subs.z.getMany([META.genesisConfig, META.genesisJson])
    const want = genesisConfigHash(this.genesis)
    const wantJson = serializeGenesis(this.genesis)
    if (digest === undefined) {
      const b = this.db.batch()
      put(b, this.subs.z, META.genesisConfig, want)
      put(b, this.subs.z, META.genesisJson, new Uint8Array(Buffer.from(wantJson, 'utf8')))
      await writeBatch(b, 'storing the genesis digest', { sync: true })
      init.log?.('store: genesis digest stored (store created by an older version)', {
        genesisConfigHash: toHex(want),
      })
      return
    }
    if (equalBytes(digest, want)) return
    const source = init.genesisSource ?? "this node's genesis"
    const diffs = json === undefined ? [] : genesisDiff(Buffer.from(json).toString('utf8'), wantJson)
    throw new StoreError(
      'GENESIS_MISMATCH',
      `genesis file ${source} differs from the genesis this data dir was created with` +
        `${diffs.length > 0 ? ` (${diffs.join('; ')})` : ''}: restore the original genesis file, or start ` +
        'with a fresh data dir for a new network',
      { source, stored: toHex(digest), expected: toHex(want), differences: diffs },
    )
  }
  private async initGenesis(g: Block): Promise<void> {
    const hash = this.genesisHash
    const b = this.db.batch()
    const s = this.subs
    put(b, s.h, hash, encodeHeader(g.header))
    put(b, s.l, hash, encodeLeaves([]))
    put(b, s.m, hash, encodeBlockMeta({ height: 0, totalWork: 0n }))
    put(b, s.c, u64(0), hash)
    put(b, s.z, META.head, hash)
    put(b, s.z, META.final, hash)
    put(b, s.z, META.counts, encodeCounts({ blocks: 1, txs: 0, payloads: 0, payloadBytes: 0 }))
    // Genesis last-but-one, schema last: a DB with a genesis key is always fully initialised (one batch anyway).
    put(b, s.z, META.genesisConfig, genesisConfigHash(this.genesis))
    put(b, s.z, META.genesisJson, new Uint8Array(Buffer.from(serializeGenesis(this.genesis), 'utf8')))
    put(b, s.z, META.genesis, hash)
    put(b, s.z, META.schema, u64(SCHEMA_VERSION))
    await writeBatch(b, 'initialising the store', { sync: true })
  }

  // ---------------------------------------------------------------- tree nodes

  private async node(hash: Uint8Array): Promise<TreeNode | undefined> {
    const key = toHex(hash)
    const hit = this.nodes.get(key)
    if (hit) {
      // LRU: move to the back.
      this.nodes.delete(key)
      this.nodes.set(key, hit)
      return hit
    }
    const [h, m] = await Promise.all([this.subs.h.get(hash), this.subs.m.get(hash)])
    if (h === undefined || m === undefined) return undefined
    const meta = decodeBlockMeta(m)
    const n: TreeNode = {
      hash: new Uint8Array(hash),
      header: decodeHeader(h),
      height: meta.height,
      totalWork: meta.totalWork,
    }
    this.remember(n)
    return n
  }

  private remember(n: TreeNode): void {
    const key = toHex(n.hash)
    this.nodes.delete(key)
    this.nodes.set(key, n)
    if (this.nodes.size > NODE_CACHE_SIZE) this.nodes.delete(this.nodes.keys().next().value as string)
  }

  private async ancestors(hash: Uint8Array, n: number): Promise<BlockHeader[]> {
    const out: BlockHeader[] = []
    let cur = await this.node(hash)
    while (cur && out.length < n) {
      out.push(cur.header)
      if (cur.height === 0) break
      cur = await this.node(cur.header.prevHash)
    }
    return out
  }

  private async isCanonical(n: TreeNode): Promise<boolean> {
    if (n.height > this.headNode.height) return false
    const h = await this.subs.c.get(u64(n.height))
    return h !== undefined && equalBytes(h, n.hash)
  }

  // ---------------------------------------------------------------- adding blocks

  /** Validate and store a block; connects orphans it unlocks and switches the canonical chain if it wins. */
  async addBlock(block: Block, opts: AddBlockOptions = {}): Promise<AddBlockResult> {
    this.checkOpen()
    return this.serial.run(async () => {
      await this.beforeWrite()
      return this.addBlockNow(block, opts)
    })
  }

  private async addBlockNow(block: Block, opts: AddBlockOptions): Promise<AddBlockResult> {
    const hash = blockHash(block.header)
    const hex = toHex(hash)
    const known = await this.node(hash)
    if (known) {
      await this.mergeSignatures(known, block.header)
      return this.result('duplicate', [], [], [])
    }
    if (this.orphans.has(hex)) return this.result('duplicate', [], [], [])
    const ids = block.txs.map((t) => txId(t))
    // Start the replay lookup now: LevelDB reads on its own thread while this one validates.
    const indexed = ids.length > 0 ? this.subs.i.getMany(ids) : Promise.resolve([])
    indexed.catch(() => undefined)
    const leaves = blockLeaves(block.txs)
    validateBlock(block, this.rules, {
      skipTxSignatures: opts.signaturesChecked,
      merkleRoot: merkleRoot(leaves),
    })
    // Records only from allowed origins (genesis members, isAllowedOrigin): checked before the orphan
    // pool, so no path stores such a block (issue 10 item 7).
    checkTxOrigins(this.genesis, block.txs, { height: block.header.height, blockHash: hex })
    const parent = await this.node(block.header.prevHash)
    if (!parent) {
      this.addOrphan({ block, hash, leaves, opts, bytes: encodeBlock(block).byteLength })
      return this.result('orphan', [], [], [])
    }
    const oldHead = this.headNode
    const connected: Uint8Array[] = []
    const applied: Applied[] = []
    applied.push(await this.connect({ block, hash, leaves, opts, bytes: 0 }, parent, await indexed))
    connected.push(hash)
    // Orphans waiting for this block (and theirs, recursively); an invalid orphan is dropped, not thrown.
    const queue = [hex]
    while (queue.length > 0) {
      const parentHex = queue.shift() as string
      const children = this.orphansByParent.get(parentHex)
      if (!children) continue
      this.orphansByParent.delete(parentHex)
      for (const childHex of children) {
        const o = this.orphans.get(childHex)
        if (!o) continue
        this.orphans.delete(childHex)
        this.orphanBytes -= o.bytes
        const p = await this.node(o.block.header.prevHash)
        if (!p) continue
        try {
          applied.push(await this.connect(o, p))
          connected.push(o.hash)
          queue.push(childHex)
        } catch (err) {
          if (!(err instanceof ValidationError) && (err as Error).name !== 'ConsensusError') throw err
        }
      }
    }
    return this.result('added', connected, applied, [oldHead])
  }

  private addOrphan(o: Orphan): void {
    const hex = toHex(o.hash)
    const parentHex = toHex(o.block.header.prevHash)
    if (o.bytes > this.maxOrphanBytes) return
    this.orphans.set(hex, o)
    this.orphanBytes += o.bytes
    let set = this.orphansByParent.get(parentHex)
    if (!set) {
      set = new Set()
      this.orphansByParent.set(parentHex, set)
    }
    set.add(hex)
    while (this.orphans.size > this.maxOrphans || this.orphanBytes > this.maxOrphanBytes) {
      const [oldest, old] = this.orphans.entries().next().value as [string, Orphan]
      this.orphans.delete(oldest)
      this.orphanBytes -= old.bytes
      const ph = toHex(old.block.header.prevHash)
      this.orphansByParent.get(ph)?.delete(oldest)
      if (this.orphansByParent.get(ph)?.size === 0) this.orphansByParent.delete(ph)
    }
  }

  /** Quorum signatures can arrive after the block: keep the union of valid signatures on the stored header. */
  private async mergeSignatures(known: TreeNode, incoming: BlockHeader): Promise<void> {
    const have = new Set(known.header.signatures.map((s) => toHex(s.signer)))
    const extra = incoming.signatures.filter(
      (s) => !have.has(toHex(s.signer)) && verifyHeaderSignature(known.header, s),
    )
    if (extra.length === 0) return
    const header: BlockHeader = { ...known.header, signatures: [...known.header.signatures, ...extra] }
    const updated: TreeNode = { ...known, header }
    const b = this.db.batch()
    put(b, this.subs.h, known.hash, encodeHeader(header))
    const becomesFinal =
      this.consensus.isFinal(header) &&
      updated.height > this.finalNode.height &&
      (await this.isCanonical(known))
    if (becomesFinal) put(b, this.subs.z, META.final, known.hash)
    await writeBatch(b, 'storing header signatures', { sync: true })
    this.remember(updated)
    if (becomesFinal) this.finalNode = updated
    if (equalBytes(this.headNode.hash, known.hash)) this.headNode = updated
  }

  /** Store one block whose parent is known; switch the canonical chain when it wins. One batch. */
  private async connect(
    o: Orphan,
    parent: TreeNode,
    indexed?: Array<Uint8Array | undefined>,
  ): Promise<Applied> {
    const { block, hash, leaves } = o
    const header = block.header
    if (header.height !== parent.height + 1) {
      throw new ValidationError(
        'ERR_BLOCK_HEIGHT',
        `block height ${header.height} does not follow its parent's ${parent.height}`,
        { blockHash: toHex(hash) },
      )
    }
    await this.consensus.validateHeader(header, parent.header, this.chain)
    const ids = block.txs.map((t) => txId(t))
    await this.checkReplay(ids, parent, hash, indexed)
    const node: TreeNode = {
      hash,
      header,
      height: header.height,
      totalWork: parent.totalWork + this.consensus.work(header),
    }
    const s = this.subs
    const b = this.db.batch()
    const counts = { ...this.counts, blocks: this.counts.blocks + 1 }
    put(b, s.h, hash, encodeHeader(header))
    put(b, s.m, hash, encodeBlockMeta({ height: node.height, totalWork: node.totalWork } satisfies BlockMeta))
    put(b, s.l, hash, encodeLeaves(leaves))
    for (let i = 0; i < block.txs.length; i++) put(b, s.x, txKey(hash, i), encodeStrippedTx(block.txs[i]))
    await this.stagePayloads(b, block.txs, ids, o.opts.payloads, counts)

    let switched: Switch | undefined
    if (this.better(node, this.headNode)) switched = await this.planSwitch(node, block, ids)
    let commitMempool = () => {}
    let finalNode = this.finalNode
    if (switched) {
      commitMempool = await this.stageSwitch(b, switched, counts)
      for (const n of switched.added) {
        if (n.node.height > finalNode.height && this.consensus.isFinal(n.node.header)) finalNode = n.node
      }
      put(b, s.z, META.head, node.hash)
      if (finalNode !== this.finalNode) put(b, s.z, META.final, finalNode.hash)
    }
    put(b, s.z, META.counts, encodeCounts(counts))
    await writeBatch(b, `storing block ${node.height}`, { sync: true })
    this.counts = counts
    this.remember(node)
    if (switched) {
      commitMempool()
      this.headNode = node
      this.finalNode = finalNode
    }
    return { node, switched }
  }

  /** A tx already on the chain this block extends (below the fork point) may not appear again. */
  private async checkReplay(
    ids: Uint8Array[],
    parent: TreeNode,
    hash: Uint8Array,
    indexed?: Array<Uint8Array | undefined>,
  ): Promise<void> {
    if (ids.length === 0) return
    const hits = indexed ?? (await this.subs.i.getMany(ids))
    if (hits.every((h) => h === undefined)) return
    // Height of the fork point between the parent's chain and the canonical chain.
    let cur: TreeNode | undefined = parent
    while (cur && !(await this.isCanonical(cur))) cur = await this.node(cur.header.prevHash)
    const forkHeight = cur ? cur.height : -1
    hits.forEach((h, i) => {
      if (h !== undefined && decodeTxIndex(h).height <= forkHeight) {
        throw new ValidationError(
          'ERR_BLOCK_TX_REPLAY',
          `tx ${toHex(ids[i])} is already in block ${decodeTxIndex(h).height} of this chain`,
          {
            blockHash: toHex(hash),
            txId: toHex(ids[i]),
          },
        )
      }
    })
  }

  /** Fork choice: most cumulative work, then lowest hash. */
  private better(a: TreeNode, b: TreeNode): boolean {
    if (a.totalWork !== b.totalWork) return a.totalWork > b.totalWork
    return compareBytes(a.hash, b.hash) < 0
  }

  /** Blocks leaving and joining the canonical chain if `tip` became head; undefined if that would undo finality. */
  private async planSwitch(
    tip: TreeNode,
    tipBlock: Block,
    tipIds: Uint8Array[],
  ): Promise<Switch | undefined> {
    const added: SwitchBlock[] = [{ node: tip, txs: tipBlock.txs, ids: tipIds }]
    let cur = (await this.node(tip.header.prevHash)) as TreeNode
    while (!(await this.isCanonical(cur))) {
      added.push({ node: cur, ...(await this.loadTxs(cur.hash)) })
      cur = (await this.node(cur.header.prevHash)) as TreeNode
    }
    const fork = cur
    if (fork.height < this.finalNode.height) return undefined
    added.reverse()
    const removed: SwitchBlock[] = []
    for (let h = this.headNode.height; h > fork.height; h--) {
      const hash = (await this.subs.c.get(u64(h))) as Uint8Array
      const n = (await this.node(hash)) as TreeNode
      removed.push({ node: n, ...(await this.loadTxs(hash)) })
    }
    return { fork, added, removed }
  }

  private async loadTxs(hash: Uint8Array): Promise<{ txs: StrippedTx[]; ids: Uint8Array[] }> {
    const txs: StrippedTx[] = []
    for await (const v of this.subs.x.values(prefixRange(hash))) txs.push(decodeStrippedTx(v))
    return { txs, ids: txs.map((t) => txId(t)) }
  }

  /** Stage the canonical index changes of a switch; returns the mempool commit to run after the write. */
  private async stageSwitch(b: Batch, sw: Switch, counts: Counts): Promise<() => void> {
    const s = this.subs
    const addedIds = new Set<string>()
    for (const a of sw.added) for (const id of a.ids) addedIds.add(toHex(id))
    // Old branch first: deletes are overwritten by the new branch's puts later in the same batch.
    const back: StrippedTx[] = []
    const backIds: Uint8Array[] = []
    for (const r of sw.removed) {
      if (r.node.height > sw.added[sw.added.length - 1].node.height) del(b, s.c, u64(r.node.height))
      r.txs.forEach((tx, i) => {
        del(b, s.i, r.ids[i])
        del(b, s.p, payloadIndexKey(tx.body.payloadHash, r.ids[i]))
        counts.txs--
        if (!addedIds.has(toHex(r.ids[i]))) {
          back.push(tx)
          backIds.push(r.ids[i])
        }
      })
    }
    for (const a of sw.added) {
      const { hash, height } = a.node
      put(b, s.c, u64(height), hash)
      const empty = new Uint8Array(0)
      a.txs.forEach((tx, i) => {
        put(b, s.i, a.ids[i], encodeTxIndex({ blockHash: hash, height, index: i }))
        put(b, s.p, payloadIndexKey(tx.body.payloadHash, a.ids[i]), empty)
        counts.txs++
      })
    }
    sw.removedTxIds = backIds.map(toHex)
    const wasCanonical = new Set<string>()
    for (const r of sw.removed) for (const id of r.ids) wasCanonical.add(toHex(id))
    sw.addedTxIds = [...addedIds].filter((id) => !wasCanonical.has(id))
    const removeCommit = this.mempool.stageRemove(b, addedIds)
    // Txs that left the canonical chain go back to the mempool when their payload is known here.
    const returning: Transaction[] = []
    if (back.length > 0) {
      const payloads = await s.d.getMany(backIds)
      back.forEach((tx, i) => {
        const p = payloads[i]
        if (p !== undefined) returning.push({ ...tx, payload: p })
      })
    }
    const addCommit = this.mempool.stageAdd(b, returning)
    return () => {
      removeCommit()
      addCommit()
    }
  }

  /** Stage payloads kept by the retention policy (from the block's companions, the mempool or the outbox). */
  private async stagePayloads(
    b: Batch,
    txs: StrippedTx[],
    ids: Uint8Array[],
    given: Map<string, Uint8Array> | undefined,
    counts: Counts,
  ): Promise<void> {
    if (this.retention.mode === 'none' || txs.length === 0) return
    const want: number[] = []
    for (let i = 0; i < txs.length; i++) if (retains(this.retention, txs[i])) want.push(i)
    if (want.length === 0) return
    const have = await this.subs.d.hasMany(want.map((i) => ids[i]))
    const missing: number[] = []
    const found = new Map<number, Uint8Array>()
    want.forEach((i, k) => {
      if (have[k]) return
      const hex = toHex(ids[i])
      const p = given?.get(hex) ?? this.mempool.get(hex)?.payload
      if (p !== undefined) found.set(i, p)
      else missing.push(i)
    })
    if (missing.length > 0 && (await this.outbox.size()) > 0) {
      const orders = await this.subs.O.getMany(missing.map((i) => ids[i]))
      const present = missing.filter((_, k) => orders[k] !== undefined)
      const vals = await this.subs.o.getMany(orders.filter((o): o is Uint8Array => o !== undefined))
      present.forEach((i, k) => {
        found.set(i, decodeTransaction(vals[k] as Uint8Array).payload)
      })
    }
    for (const [i, p] of found) {
      const body = txs[i].body
      // Payloads from peers are untrusted: keep only the one the tx signed.
      if (p.byteLength !== body.payloadSize || !equalBytes(sha256(p), body.payloadHash)) continue
      put(b, this.subs.d, ids[i], p)
      counts.payloads++
      counts.payloadBytes += p.byteLength
    }
  }

  private result(
    status: AddBlockResult['status'],
    connected: Uint8Array[],
    applied: Applied[],
    [oldHead]: TreeNode[],
  ): AddBlockResult {
    const newCanonical = new Map<number, Block>()
    let reorg: ReorgInfo | undefined
    const removedAll = new Set<string>()
    const addedAll = new Set<string>()
    let depth = 0
    for (const a of applied) {
      const sw = a.switched
      if (!sw) continue
      for (const r of sw.removed) newCanonical.delete(r.node.height)
      for (const x of sw.added) newCanonical.set(x.node.height, { header: x.node.header, txs: x.txs })
      if (sw.removed.length > 0) {
        depth = Math.max(depth, oldHead.height - sw.fork.height)
        for (const id of sw.removedTxIds ?? []) removedAll.add(id)
        for (const id of sw.addedTxIds ?? []) addedAll.add(id)
      } else {
        for (const id of sw.addedTxIds ?? []) addedAll.add(id)
      }
    }
    if (depth > 0) {
      const removedTxIds = [...removedAll].filter((id) => !addedAll.has(id))
      const addedTxIds = [...addedAll].filter((id) => !removedAll.has(id))
      reorg = { depth, oldHead: oldHead.hash, newHead: this.headNode.hash, removedTxIds, addedTxIds }
    }
    return {
      status,
      head: this.head(),
      connected,
      newCanonical: [...newCanonical.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]),
      ...(reorg ? { reorg } : {}),
    }
  }

  // ---------------------------------------------------------------- reads

  /** The canonical head (cached). */
  head(): HeadInfo {
    const n = this.headNode
    return { hash: n.hash, height: n.height, header: n.header, totalWork: n.totalWork }
  }

  /** Height of the latest final block on the canonical chain (0: only genesis is final). */
  finalHeight(): number {
    return this.finalNode.height
  }

  /** Hash of the latest final block on the canonical chain. */
  finalHash(): Uint8Array {
    return this.finalNode.hash
  }

  /** Whether a block is stored (any branch). */
  async hasBlock(hash: Uint8Array): Promise<boolean> {
    return (await this.node(hash)) !== undefined
  }

  async getHeader(hash: Uint8Array): Promise<BlockHeader | undefined> {
    return (await this.node(hash))?.header
  }

  /** Height and cumulative work of a stored block (any branch). */
  async getBlockMeta(
    hash: Uint8Array,
  ): Promise<{ height: number; totalWork: bigint; canonical: boolean } | undefined> {
    const n = await this.node(hash)
    return n && { height: n.height, totalWork: n.totalWork, canonical: await this.isCanonical(n) }
  }

  async getBlock(hash: Uint8Array): Promise<Block | undefined> {
    const n = await this.node(hash)
    if (!n) return undefined
    return { header: n.header, txs: (await this.loadTxs(hash)).txs }
  }

  async getHashAtHeight(height: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(height) || height < 0 || height > this.headNode.height) return undefined
    return this.subs.c.get(u64(height))
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
    const key = typeof id === 'string' ? fromHex(id) : id
    // Point reads are served synchronously (block cache / page cache): ~4x the rate of async gets.
    const v = this.subs.i.getSync(key)
    if (v === undefined) return undefined
    const e = decodeTxIndex(v)
    const raw = this.subs.x.getSync(txKey(e.blockHash, e.index))
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
    const keys = ids.map((id) => (typeof id === 'string' ? fromHex(id) : id))
    const entries = (await this.subs.i.getMany(keys)).map((v) =>
      v === undefined ? undefined : decodeTxIndex(v),
    )
    const present = entries.filter((e): e is NonNullable<typeof e> => e !== undefined)
    const raws = await this.subs.x.getMany(present.map((e) => txKey(e.blockHash, e.index)))
    let k = 0
    return entries.map((e, i) => {
      if (!e) return undefined
      const raw = raws[k++]
      return raw === undefined
        ? undefined
        : {
            tx: decodeStrippedTx(raw),
            txId: toHex(keys[i]),
            blockHash: e.blockHash,
            height: e.height,
            index: e.index,
          }
    })
  }

  async getPayload(id: string | Uint8Array): Promise<Uint8Array | undefined> {
    return this.subs.d.get(typeof id === 'string' ? fromHex(id) : id)
  }

  async hasPayload(id: string | Uint8Array): Promise<boolean> {
    return this.subs.d.has(typeof id === 'string' ? fromHex(id) : id)
  }

  /** Store a payload fetched later (archive nodes); it must match the canonical tx's signed hash and size. */
  async putPayload(id: string | Uint8Array, payload: Uint8Array): Promise<void> {
    this.checkOpen()
    await this.serial.run(async () => {
      await this.beforeWrite()
      const loc = await this.getTx(id)
      if (!loc)
        throw new StoreError(
          'ERR_STORE_UNKNOWN_TX',
          `tx ${typeof id === 'string' ? id : toHex(id)} is not on the canonical chain`,
        )
      const body = loc.tx.body
      if (payload.byteLength !== body.payloadSize || !equalBytes(sha256(payload), body.payloadHash)) {
        throw new ValidationError('ERR_TX_PAYLOAD_HASH', 'payload does not match the signed payload hash', {
          txId: loc.txId,
        })
      }
      const key = fromHex(loc.txId)
      if (await this.subs.d.has(key)) return
      const counts = {
        ...this.counts,
        payloads: this.counts.payloads + 1,
        payloadBytes: this.counts.payloadBytes + payload.byteLength,
      }
      await this.beforeWrite()
      const b = this.db.batch()
      put(b, this.subs.d, key, payload)
      put(b, this.subs.z, META.counts, encodeCounts(counts))
      await writeBatch(b, 'storing a payload', { sync: true })
      this.counts = counts
    })
  }

  /** Canonical txIds (hex) whose signed payload hash is `payloadHash`. */
  async txIdsByPayloadHash(payloadHash: Uint8Array | string): Promise<string[]> {
    const ph = typeof payloadHash === 'string' ? fromHex(payloadHash) : payloadHash
    const out: string[] = []
    for await (const k of this.subs.p.keys(prefixRange(ph))) out.push(toHex(k.subarray(32)))
    return out
  }

  /** Canonical headers from `from` to `to` (inclusive, clamped to the head), in height order. */
  async *headers(from: number, to: number = this.headNode.height): AsyncGenerator<BlockHeader> {
    for await (const [, hash] of this.subs.c.iterator({
      gte: u64(Math.max(0, from)),
      lte: u64(Math.max(0, Math.min(to, this.headNode.height))),
    })) {
      const h = await this.getHeader(hash)
      if (h) yield h
    }
  }

  /** Canonical blocks from `from` to `to` (inclusive), in height order. */
  async *blocks(from: number, to: number = this.headNode.height): AsyncGenerator<Block> {
    for await (const [, hash] of this.subs.c.iterator({
      gte: u64(Math.max(0, from)),
      lte: u64(Math.max(0, Math.min(to, this.headNode.height))),
    })) {
      const b = await this.getBlock(hash)
      if (b) yield b
    }
  }

  /**
   * All Merkle levels of a block, from its stored leaves. Receipts are written for a whole block at once,
   * so the last few trees are kept: rebuilding the tree per receipt made receipt writing quadratic.
   */
  private async merkleLevelsOf(hash: Uint8Array): Promise<Uint8Array[][] | undefined> {
    const key = toHex(hash)
    const hit = this.levelsCache.get(key)
    if (hit) return hit
    const leaves = await this.leaves(hash)
    if (!leaves) return undefined
    const levels = merkleLevels(leaves)
    this.levelsCache.set(key, levels)
    if (this.levelsCache.size > LEVELS_CACHE_BLOCKS) this.levelsCache.delete(this.levelsCache.keys().next().value as string)
    return levels
  }

  /** The block's Merkle leaves as stored. */
  async leaves(hash: Uint8Array): Promise<Uint8Array[] | undefined> {
    const v = await this.subs.l.get(hash)
    return v && decodeLeaves(v)
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
    // Two calls so each matches one overload of receiptAt.
    return form === 'chainpoint' ? this.receiptAt(loc, 'chainpoint', anchorBase) : this.receiptAt(loc, 'native', anchorBase)
  }

  /** A receipt for a tx at a known location (e.g. from `outbox.confirmed`), without looking it up again. */
  receiptAt(loc: TxLocation, form: 'chainpoint', anchorBase: string): Promise<ChainpointProof | undefined>
  receiptAt(loc: TxLocation, form: 'native', anchorBase: string): Promise<NativeReceipt | undefined>
  async receiptAt(
    loc: TxLocation,
    form: 'chainpoint' | 'native',
    anchorBase: string,
  ): Promise<ChainpointProof | NativeReceipt | undefined> {
    const [header, levels] = await Promise.all([this.getHeader(loc.blockHash), this.merkleLevelsOf(loc.blockHash)])
    if (!header || !levels) return undefined
    const input = {
      tx: loc.tx,
      header,
      leafIndex: loc.index,
      auditPath: auditPathFromLevels(levels, loc.index),
      anchorBase,
    }
    return form === 'chainpoint' ? buildChainpointReceipt(input) : buildNativeReceipt(input)
  }

  /** Counts kept up to date in every batch (no scans). */
  async stats(): Promise<StoreStats> {
    return {
      ...this.counts,
      headHeight: this.headNode.height,
      finalHeight: this.finalNode.height,
      orphans: this.orphans.size,
      orphanBytes: this.orphanBytes,
      mempool: this.mempool.size(),
      outbox: await this.outbox.size(),
    }
  }

  /** Re-hash and re-check everything stored; each mismatch names its block, tx and what differs. */
  async audit(onProgress?: (p: AuditProgress) => void): Promise<AuditReport> {
    this.checkOpen()
    const report = await runAudit(this.ctx, this.genesisHash, onProgress)
    const ack = this.ackResult
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

  /** Whether the last store write succeeded (for /healthz); a failed write sets it, the next good one clears it. */
  health(): StoreHealth {
    return this.health_.state
  }

  /**
   * After a failed write, close and reopen LevelDB before the next one: LevelDB keeps a background error
   * (e.g. a compaction that hit ENOSPC) and refuses every later write until it is reopened.
   */
  private async beforeWrite(): Promise<void> {
    if (!this.health_.reopen) return
    try {
      await this.db.close()
      await this.db.open()
      await Promise.all(SUBLEVELS.map((n) => this.subs[n].open()))
      this.health_.reopen = false
    } catch (err) {
      const e = ioError(err, 'reopening the store after a failed write')
      this.health_.failed(e)
      throw e
    }
  }

  /**
   * Record that everything up to block `at` was acknowledged to the world (receipts written). Kept in a
   * small file beside the DB directory (atomic: tmp + fsync + rename + fsync dir), so losing LevelDB's log
   * cannot lose it too; lower heights than the stored one are ignored.
   */
  async acknowledge(at: AckPoint): Promise<void> {
    const job = this.ackWrite.then(async () => {
      const prev = await readAck(this.ackPath)
      if (prev && prev.height >= at.height) return
      await writeFileDurably(this.ackPath, `${JSON.stringify({ height: at.height, hash: at.hash.toLowerCase() })}\n`)
    })
    this.ackWrite = job.catch(() => undefined)
    return job
  }

  /** The acknowledged watermark compared with the chain at open: a head behind it means records were lost. */
  ackCheck(): AckCheck {
    return this.ackResult
  }

  private async checkAck(): Promise<AckCheck> {
    const ack = await readAck(this.ackPath)
    if (!ack) return { ok: true }
    const head = { height: this.headNode.height, hash: toHex(this.headNode.hash) }
    if (head.height < ack.height) {
      return {
        ok: false,
        code: 'HEAD_BEHIND_ACK',
        message:
          `the store's head (height ${head.height}) is behind block ${ack.height} (${ack.hash}), for which ` +
          'receipts were already issued: committed blocks were lost (power cut or disk fault?). Receipts up to ' +
          `height ${ack.height} may not verify against this node; restore the data dir from a backup or resync it from peers`,
        acknowledged: ack,
        head,
      }
    }
    const at = await this.subs.c.get(u64(ack.height))
    if (at === undefined || toHex(at) !== ack.hash) {
      return {
        ok: false,
        code: 'ACK_BLOCK_REPLACED',
        message:
          `block ${ack.height} on this store's chain is ${at === undefined ? 'missing' : toHex(at)}, but receipts ` +
          `were issued for block ${ack.hash} at that height: the acknowledged block was replaced. Receipts for it ` +
          'may not verify; restore the data dir from a backup or resync it from peers',
        acknowledged: ack,
        head,
      }
    }
    return { ok: true }
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

interface SwitchBlock {
  node: TreeNode
  txs: StrippedTx[]
  ids: Uint8Array[]
}

interface Switch {
  fork: TreeNode
  added: SwitchBlock[]
  removed: SwitchBlock[]
  removedTxIds?: string[]
  addedTxIds?: string[]
}

interface Applied {
  node: TreeNode
  switched?: Switch
}

/** The acknowledged-watermark file: beside the DB directory, `<db dir name>.ack.json`. */
function ackFilePath(dbPath: string): string {
  const abs = resolve(dbPath)
  return join(dirname(abs), `${basename(abs)}.ack.json`)
}

async function readAck(path: string): Promise<AckPoint | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw ioError(err, `reading the acknowledged watermark ${path}`)
  }
  const v = JSON.parse(text) as { height?: unknown; hash?: unknown }
  if (!Number.isSafeInteger(v.height) || typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash)) {
    throw new StoreError(
      'ERR_STORE_CORRUPT',
      `the acknowledged watermark ${path} is malformed: expected {"height": n, "hash": "<64 hex>"}`,
      { path },
    )
  }
  return { height: v.height as number, hash: v.hash }
}

/** tmp file + fsync + rename + fsync of the directory: the file is either the old or the new one. */
async function writeFileDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`
  try {
    const f = await openFile(tmp, 'w')
    try {
      await f.writeFile(text, 'utf8')
      await f.sync()
    } finally {
      await f.close()
    }
    await rename(tmp, path)
    const d = await openFile(dirname(path), 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  } catch (err) {
    throw ioError(err, `writing the acknowledged watermark ${path}`)
  }
}

/** Field-level differences between two serialized geneses, e.g. `blockTimeMs: 1000 → 2000`. */
function genesisDiff(storedJson: string, currentJson: string): string[] {
  const out: string[] = []
  const walk = (path: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) === JSON.stringify(b)) return
    const obj = (x: unknown) => typeof x === 'object' && x !== null
    if (obj(a) && obj(b) && Array.isArray(a) === Array.isArray(b)) {
      const ra = a as Record<string, unknown>
      const rb = b as Record<string, unknown>
      for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
        walk(path === '' ? k : Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`, ra[k], rb[k])
      }
      return
    }
    const show = (x: unknown) => (x === undefined ? '(none)' : JSON.stringify(x))
    out.push(`${path}: ${show(a)} → ${show(b)}`)
  }
  try {
    walk('', JSON.parse(storedJson), JSON.parse(currentJson))
  } catch {
    return []
  }
  return out
}
