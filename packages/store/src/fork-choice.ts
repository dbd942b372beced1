import { type ChainContext, checkTxOrigins, type Consensus, ConsensusError, type Genesis } from '@profichain/consensus'
import {
  type Block,
  type BlockHeader,
  type BlockRules,
  blockHash,
  type HeaderSignature,
  blockLeaves,
  compareBytes,
  encodeBlock,
  encodeHeader,
  encodeStrippedTx,
  equalBytes,
  EMPTY_ROOT,
  merkleLevels,
  type StrippedTx,
  type Transaction,
  type TxBody,
  toHex,
  txId,
  txIdHex,
  ValidationError,
  validateBlock,
  verifyHeaderSignature,
} from '@profichain/core'
import { type Batch, del, put, writeBatch } from './context.js'
import {
  type BinaryDb,
  type BlockMeta,
  type Counts,
  decodeTxIndex,
  encodeBlockMeta,
  encodeCounts,
  encodeLeaves,
  txIndexEncoder,
  META,
  payloadIndexKey,
  type Subs,
  txKey,
  u64,
} from './keys.js'
import type { DeviceRegistry } from './devices.js'
import type { StoreMempool } from './mempool.js'
import type { StoreMetrics } from './metrics.js'
import type { Orphan, OrphanPool } from './orphan-pool.js'
import type { StoreOutbox } from './outbox.js'
import type { RecentTxs } from './recent-txs.js'
import { stagePayloads } from './retention.js'
import type { ChainState, TreeNode, TreeNodes } from './tree-nodes.js'
import type { AddBlockOptions, AddBlockResult, AddSignaturesResult, HeadInfo, ReorgInfo, RetentionPolicy } from './types.js'

interface SwitchBlock {
  node: TreeNode
  txs: StrippedTx[]
  ids: Uint8Array[]
}

/** The canonical change one block causes: blocks leaving and joining the chain above the fork point. */
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

/** What fork choice works on (the block tree's parts). */
export interface ForkChoiceParts {
  db: BinaryDb
  subs: Subs
  genesis: Genesis
  consensus: Consensus
  rules: BlockRules
  chain: ChainContext
  nodes: TreeNodes
  state: ChainState
  orphans: OrphanPool
  mempool: StoreMempool
  devices: DeviceRegistry
  outbox: StoreOutbox
  retention: RetentionPolicy
  metrics: StoreMetrics
  /** Canonical txs of the latest blocks in memory (kept in step with the tx index at each switch's commit). */
  recent?: RecentTxs
  /** The Merkle levels of a block just stored (built for its root check) and its txIds (the leaves' ids, in order), for its receipts. */
  storedLevels?: (hash: Uint8Array, levels: Uint8Array[][], ids: readonly Uint8Array[]) => void
}

/** The txs the producer's filter passed (`noteFiltered`), the head and the registry epoch it checked them on. */
interface Filtered {
  head: Uint8Array
  epoch: number
  bodies: TxBody[]
  signatures: Uint8Array[]
}

/** The canonical head of a chain state, as the public HeadInfo. */
export function headInfo(state: ChainState): HeadInfo {
  const n = state.head
  return { hash: n.hash, height: n.height, header: n.header, totalWork: n.totalWork }
}

/**
 * Adding blocks (DESIGN §6): validation against the parent, fork choice (most cumulative work, tie: lowest
 * hash), and staging of the canonical switch a winning block causes, written with the block in one atomic
 * batch so a crash leaves either the old or the new state. Blocks without a parent go to the orphan pool
 * and are connected when it arrives. Runs inside the store's write queue.
 */
export class ForkChoice {
  private filtered?: Filtered

  constructor(private readonly p: ForkChoiceParts) {}

  /**
   * The producer's filter passed these txs, in this order, under the origin rule as of the head (registry
   * and seq index of `epoch`). A block holding exactly these tx objects, in this order, on that head while
   * the registry is still at that epoch needs no second origin check at import: it would be the same check
   * (the same OriginCheck over the same txs) on the same state. Any other block — every block from a peer
   * (decoded, so never these objects), a changed head or registry — is checked in full as before.
   */
  noteFiltered(txs: readonly StrippedTx[], head: Uint8Array, epoch: number): void {
    this.filtered = { head, epoch, bodies: txs.map((t) => t.body), signatures: txs.map((t) => t.signature) }
  }

  /** Whether `block` on `parent` is exactly what `noteFiltered` saw, on the same head and registry state. */
  private originsChecked(block: Block, parent: TreeNode): boolean {
    const f = this.filtered
    const { txs } = block
    if (f === undefined || f.epoch !== this.p.devices.epoch() || txs.length !== f.bodies.length) return false
    if (!equalBytes(f.head, parent.hash) || !equalBytes(this.p.state.head.hash, parent.hash)) return false
    for (let i = 0; i < txs.length; i++) if (txs[i].body !== f.bodies[i] || txs[i].signature !== f.signatures[i]) return false
    return true
  }

  async addBlock(block: Block, opts: AddBlockOptions): Promise<AddBlockResult> {
    const { p } = this
    const hash = blockHash(block.header)
    const hex = toHex(hash)
    const known = await p.nodes.node(hash)
    if (known) {
      await this.mergeSignatures(known, block.header.signatures)
      return this.result('duplicate', [], [], p.state.head)
    }
    if (p.orphans.has(hex)) return this.result('duplicate', [], [], p.state.head)
    const ids = block.txs.map((t) => txId(t))
    // Start the replay lookup now: LevelDB reads on its own thread while this one validates.
    const indexed = ids.length > 0 ? p.subs.txIndex.getMany(ids) : Promise.resolve([])
    indexed.catch(() => undefined)
    const leaves = blockLeaves(block.txs)
    // All levels, not only the root: the receipts of this block's records walk the same tree.
    const levels = leaves.length > 0 ? merkleLevels(leaves) : undefined
    validateBlock(block, p.rules, {
      skipTxSignatures: opts.signaturesChecked,
      merkleRoot: levels === undefined ? EMPTY_ROOT : levels[levels.length - 1][0],
    })
    // Records only from allowed origins (genesis members, or keys with device registry events): checked
    // before the orphan pool, so no path stores such a block (issue 10 item 7); the registry as of the
    // parent decides at connect (issue 14). The producer's own block passed the full rule on this state
    // (`noteFiltered`), which implies this one: skipped then.
    const parent = await p.nodes.node(block.header.prevHash)
    const own = parent !== undefined && this.originsChecked(block, parent)
    this.filtered = undefined
    try {
      if (!own) checkTxOrigins(p.genesis, block.txs, { height: block.header.height, blockHash: hex }, p.devices.looseView())
    } catch (err) {
      // Parent unknown: the key may be a device registered in a block this node has not got yet (it lags);
      // `parentUnknown` lets the node treat the block as an orphan (fetch parents, no penalty), never store it.
      if (!parent && err instanceof ConsensusError && err.code === 'ERR_ORIGIN_NOT_MEMBER') Object.assign(err.meta, { parentUnknown: true })
      throw err
    }
    if (!parent) {
      p.orphans.add({ block, hash, leaves, opts, bytes: encodeBlock(block).byteLength })
      return this.result('orphan', [], [], p.state.head)
    }
    const oldHead = p.state.head
    const connected: Uint8Array[] = []
    const applied: Applied[] = []
    applied.push(await this.connect({ block, hash, leaves, opts, bytes: 0 }, parent, await indexed, own))
    connected.push(hash)
    if (levels !== undefined) p.storedLevels?.(hash, levels, ids)
    // Orphans waiting for this block (and theirs, recursively); an invalid orphan is dropped, not thrown.
    const queue = [hex]
    while (queue.length > 0) {
      const parentHex = queue.shift() as string
      for (const o of p.orphans.takeChildren(parentHex)) {
        const parentNode = await p.nodes.node(o.block.header.prevHash)
        if (!parentNode) continue
        try {
          applied.push(await this.connect(o, parentNode))
          connected.push(o.hash)
          queue.push(toHex(o.hash))
        } catch (err) {
          if (!(err instanceof ValidationError) && (err as Error).name !== 'ConsensusError') throw err
        }
      }
    }
    const result = this.result('added', connected, applied, oldHead)
    p.metrics.count('blocksApplied', connected.length)
    if (result.reorg) p.metrics.count('reorgs')
    return result
  }

  /**
   * Add co-signatures (votes) to a stored block: keeps the union of valid validator signatures on the stored
   * header (the hash does not change) and advances the final block when it reaches the threshold while
   * canonical. Undefined when the block is not stored.
   */
  async addSignatures(hash: Uint8Array, sigs: readonly HeaderSignature[]): Promise<AddSignaturesResult | undefined> {
    const known = await this.p.nodes.node(hash)
    if (!known) return undefined
    return this.mergeSignatures(known, sigs)
  }

  /**
   * Quorum signatures can arrive after the block: keep the union of valid signatures on the stored header.
   * Under quorum consensus only signatures by genesis validators are kept (a stranger's would make the
   * header invalid to peers, whose quorum rules refuse non-validator signatures).
   */
  private async mergeSignatures(known: TreeNode, incoming: readonly HeaderSignature[]): Promise<AddSignaturesResult> {
    const { p } = this
    const have = new Set(known.header.signatures.map((s) => toHex(s.signer)))
    const validators = p.consensus.type === 'quorum' ? new Set(p.genesis.validators.map((v) => v.toLowerCase())) : undefined
    const extra: HeaderSignature[] = []
    for (const s of incoming) {
      const signer = toHex(s.signer)
      if (have.has(signer) || (validators && !validators.has(signer)) || !verifyHeaderSignature(known.header, s)) continue
      have.add(signer)
      extra.push(s)
    }
    const outcome = (becameFinal: boolean): AddSignaturesResult => ({
      added: extra.length,
      signatures: known.header.signatures.length,
      becameFinal,
      finalHeight: p.state.final.height,
      finalHash: p.state.final.hash,
    })
    if (extra.length === 0) return outcome(false)
    const header: BlockHeader = { ...known.header, signatures: [...known.header.signatures, ...extra] }
    const updated: TreeNode = { ...known, header }
    const b = p.db.batch()
    put(b, p.subs.header, known.hash, encodeHeader(header))
    const becomesFinal =
      p.consensus.isFinal(header) &&
      updated.height > p.state.final.height &&
      (await p.nodes.isCanonical(known))
    if (becomesFinal) put(b, p.subs.meta, META.final, known.hash)
    await writeBatch(b, 'storing header signatures', { sync: true })
    p.nodes.remember(updated)
    if (becomesFinal) p.state.final = updated
    if (equalBytes(p.state.head.hash, known.hash)) p.state.head = updated
    return { ...outcome(becomesFinal), signatures: header.signatures.length }
  }

  /**
   * Quorum liveness: a block that carries the threshold of validator signatures above the final block wins
   * over any branch without one, whatever their work. Without this rule a quorum-signed block left on a side
   * branch (a tie in work lost on the hash) stalls the network for good: its signers may never co-sign
   * another block at its height (vote guard), and the head's branch may have no other producer allowed there.
   */
  private quorumAboveFinal(node: TreeNode): boolean {
    return node.height > this.p.state.final.height && this.p.consensus.isFinal(node.header)
  }

  /**
   * A stored block off the canonical chain that reached the quorum (votes arrived after it lost fork choice)
   * becomes the head, its branch canonical and the block final: one batch, like a switch in `addBlock`, and
   * the same result (newCanonical, reorg). Undefined when there is nothing to do (unknown, canonical already,
   * not above the final block, no quorum, or its branch forks below the final block or the checkpoint floor).
   */
  async adoptQuorum(hash: Uint8Array): Promise<AddBlockResult | undefined> {
    const { p } = this
    const node = await p.nodes.node(hash)
    if (!node || (await p.nodes.isCanonical(node))) return undefined
    // The quorum, or (quorum consensus) a side block that now beats the head: more signatures at equal work and height.
    if (!this.quorumAboveFinal(node) && !(node.height > p.state.final.height && better(node, p.state.head, true))) return undefined
    const oldHead = p.state.head
    const { txs, ids } = await p.nodes.loadTxs(hash)
    const switched = await this.planSwitch(node, { header: node.header, txs }, ids)
    if (!switched) return undefined
    const b = p.db.batch()
    const counts = { ...p.state.counts }
    const commitSwitch = await this.stageSwitch(b, switched, counts)
    let finalNode = p.state.final
    for (const n of switched.added) if (n.node.height > finalNode.height && p.consensus.isFinal(n.node.header)) finalNode = n.node
    put(b, p.subs.meta, META.head, node.hash)
    put(b, p.subs.meta, META.final, finalNode.hash)
    put(b, p.subs.meta, META.counts, encodeCounts(counts))
    await writeBatch(b, `adopting the quorum block ${node.height}`, { sync: true })
    p.state.counts = counts
    commitSwitch()
    p.state.head = node
    p.state.final = finalNode
    const result = this.result('added', [], [{ node, switched }], oldHead)
    if (result.reorg) p.metrics.count('reorgs')
    return result
  }

  /** Store one block whose parent is known; switch the canonical chain when it wins. One batch. */
  private async connect(o: Orphan, parent: TreeNode, indexed?: Array<Uint8Array | undefined>, originsChecked = false): Promise<Applied> {
    const { p } = this
    const { block, hash, leaves } = o
    const header = block.header
    if (header.height !== parent.height + 1) {
      throw new ValidationError(
        'ERR_BLOCK_HEIGHT',
        `block height ${header.height} does not follow its parent's ${parent.height}`,
        { blockHash: toHex(hash) },
      )
    }
    await p.consensus.validateHeader(header, parent.header, p.chain)
    const ids = block.txs.map((t) => txId(t))
    await this.checkReplay(ids, parent, hash, indexed)
    // The origin rule with the device registry and device seqs as of the parent (docs/devices.md); for the
    // producer's own block already applied to these very txs on this state (`originsChecked`).
    if (!originsChecked) await p.devices.checkBlock(block.txs, parent, { height: header.height, blockHash: toHex(hash) })
    const node: TreeNode = {
      hash,
      header,
      height: header.height,
      totalWork: parent.totalWork + p.consensus.work(header),
    }
    const s = p.subs
    const b = p.db.batch()
    const counts = { ...p.state.counts, blocks: p.state.counts.blocks + 1 }
    put(b, s.header, hash, encodeHeader(header))
    put(b, s.blockMeta, hash, encodeBlockMeta({ height: node.height, totalWork: node.totalWork } satisfies BlockMeta))
    put(b, s.leaves, hash, encodeLeaves(leaves))
    for (let i = 0; i < block.txs.length; i++) put(b, s.strippedTx, txKey(hash, i), encodeStrippedTx(block.txs[i]))
    await stagePayloads(b, p, block.txs, ids, o.opts.payloads, counts)
    const commitDevices = p.devices.stageBlock(b, node, block.txs, ids)

    let switched: Switch | undefined
    if (better(node, p.state.head, p.consensus.type === 'quorum')) switched = await this.planSwitch(node, block, ids)
    else if (this.quorumAboveFinal(node)) switched = await this.planSwitch(node, block, ids)
    let commitMempool = () => {}
    let finalNode = p.state.final
    if (switched) {
      commitMempool = await this.stageSwitch(b, switched, counts)
      for (const n of switched.added) {
        if (n.node.height > finalNode.height && p.consensus.isFinal(n.node.header)) finalNode = n.node
      }
      put(b, s.meta, META.head, node.hash)
      if (finalNode !== p.state.final) put(b, s.meta, META.final, finalNode.hash)
    }
    put(b, s.meta, META.counts, encodeCounts(counts))
    await writeBatch(b, `storing block ${node.height}`, { sync: true })
    p.state.counts = counts
    p.nodes.remember(node)
    commitDevices()
    if (switched) {
      commitMempool()
      p.state.head = node
      p.state.final = finalNode
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
    const { nodes } = this.p
    const hits = indexed ?? (await this.p.subs.txIndex.getMany(ids))
    if (hits.every((h) => h === undefined)) return
    // Height of the fork point between the parent's chain and the canonical chain.
    let cur: TreeNode | undefined = parent
    while (cur && !(await nodes.isCanonical(cur))) cur = await nodes.node(cur.header.prevHash)
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

  /** Blocks leaving and joining the canonical chain if `tip` became head; undefined if that would undo finality. */
  private async planSwitch(tip: TreeNode, tipBlock: Block, tipIds: Uint8Array[]): Promise<Switch | undefined> {
    const { nodes, state, subs } = this.p
    const added: SwitchBlock[] = [{ node: tip, txs: tipBlock.txs, ids: tipIds }]
    let cur = (await nodes.node(tip.header.prevHash)) as TreeNode
    while (!(await nodes.isCanonical(cur))) {
      added.push({ node: cur, ...(await nodes.loadTxs(cur.hash)) })
      cur = (await nodes.node(cur.header.prevHash)) as TreeNode
    }
    const fork = cur
    // Never undo finality (quorum) nor a block under the signed checkpoint (the block log's floor).
    if (fork.height < state.final.height || fork.height < state.floor) return undefined
    added.reverse()
    const removed: SwitchBlock[] = []
    for (let h = state.head.height; h > fork.height; h--) {
      const hash = (await subs.canonical.get(u64(h))) as Uint8Array
      const n = (await nodes.node(hash)) as TreeNode
      removed.push({ node: n, ...(await nodes.loadTxs(hash)) })
    }
    return { fork, added, removed }
  }

  /** Stage the canonical index changes of a switch; returns the mempool commit to run after the write. */
  private async stageSwitch(b: Batch, sw: Switch, counts: Counts): Promise<() => void> {
    const s = this.p.subs
    const addedIds = new Set<string>()
    for (const a of sw.added) for (const tx of a.txs) addedIds.add(txIdHex(tx))
    // Old branch first: deletes are overwritten by the new branch's puts later in the same batch.
    const back: StrippedTx[] = []
    const backIds: Uint8Array[] = []
    for (const r of sw.removed) {
      if (r.node.height > sw.added[sw.added.length - 1].node.height) del(b, s.canonical, u64(r.node.height))
      r.txs.forEach((tx, i) => {
        del(b, s.txIndex, r.ids[i])
        del(b, s.payloadIndex, payloadIndexKey(tx.body.payloadHash, r.ids[i]))
        counts.txs--
        if (!addedIds.has(toHex(r.ids[i]))) {
          back.push(tx)
          backIds.push(r.ids[i])
        }
      })
    }
    for (const a of sw.added) {
      const { hash, height } = a.node
      put(b, s.canonical, u64(height), hash)
      const empty = new Uint8Array(0)
      const indexEntry = txIndexEncoder(hash, height)
      a.txs.forEach((tx, i) => {
        put(b, s.txIndex, a.ids[i], indexEntry(i))
        put(b, s.payloadIndex, payloadIndexKey(tx.body.payloadHash, a.ids[i]), empty)
        counts.txs++
      })
    }
    sw.removedTxIds = backIds.map(toHex)
    const wasCanonical = new Set<string>()
    for (const r of sw.removed) for (const tx of r.txs) wasCanonical.add(txIdHex(tx))
    sw.addedTxIds = [...addedIds].filter((id) => !wasCanonical.has(id))
    const removeCommit = this.p.mempool.stageRemove(b, addedIds)
    // Txs that left the canonical chain go back to the mempool when their payload is known here.
    const returning: Transaction[] = []
    if (back.length > 0) {
      const payloads = await s.payload.getMany(backIds)
      back.forEach((tx, i) => {
        const pl = payloads[i]
        if (pl !== undefined) returning.push({ ...tx, payload: pl })
      })
    }
    const addCommit = this.p.mempool.stageAdd(b, returning)
    const devicesCommit = await this.p.devices.stageSwitch(b, sw)
    const outboxCommit = this.p.outbox.stageSwitch(sw)
    const recentCommit = this.p.recent?.stage(sw)
    return () => {
      removeCommit()
      addCommit()
      devicesCommit()
      outboxCommit()
      recentCommit?.()
    }
  }

  private result(
    status: AddBlockResult['status'],
    connected: Uint8Array[],
    applied: Applied[],
    oldHead: TreeNode,
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
      reorg = { depth, oldHead: oldHead.hash, newHead: this.p.state.head.hash, removedTxIds, addedTxIds }
    }
    return {
      status,
      head: headInfo(this.p.state),
      connected,
      newCanonical: [...newCanonical.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]),
      ...(reorg ? { reorg } : {}),
    }
  }
}

/**
 * Fork choice: most cumulative work, then lowest hash. Quorum (`longerOnTie`): equal work, then the longer
 * branch. After a 2|2 partition one side may hold one in-turn block (work 2) and the other two out-of-turn ones
 * (work 2): the validators of the longer side co-signed its blocks at both heights, so on the shorter branch
 * they may never seal the next height (vote guard) and the others may not either (signer limit): a stall for
 * good. The longer branch has producers for its next height and voters for its tip.
 */
function better(a: TreeNode, b: TreeNode, longerOnTie: boolean): boolean {
  if (a.totalWork !== b.totalWork) return a.totalWork > b.totalWork
  if (longerOnTie && a.height !== b.height) return a.height > b.height
  // Quorum: then more validator signatures (the stored header keeps valid validator signatures only). Two
  // producers that sealed one height at once split the votes 2|1 with a validator offline: the validators of
  // the 2 are locked by the quorum vote rule (their block is not provably dead), the 1's producer is free to
  // build on the 2 — so the 2 must win, or finality waits for the offline validator.
  if (longerOnTie && a.header.signatures.length !== b.header.signatures.length) return a.header.signatures.length > b.header.signatures.length
  return compareBytes(a.hash, b.hash) < 0
}
