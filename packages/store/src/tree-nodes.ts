import { type BlockHeader, decodeHeader, decodeStrippedTx, equalBytes, type StrippedTx, toHex, txId } from '@profichain/core'
import type { Counts, Subs } from './keys.js'
import { decodeBlockMeta, prefixRange, u64 } from './keys.js'

const NODE_CACHE_SIZE = 4096

/** A stored block's header with its place in the tree. */
export interface TreeNode {
  hash: Uint8Array
  header: BlockHeader
  height: number
  totalWork: bigint
}

/** What the tree knows at any time: its canonical head, its latest final block and the stored counts. */
export interface ChainState {
  head: TreeNode
  final: TreeNode
  counts: Counts
  /** Height below which fork choice never reorganises: the block log's signed checkpoint (0: none). */
  floor: number
}

/** Stored blocks as tree nodes (header + height + work), read through an LRU cache. */
export class TreeNodes {
  private readonly nodes = new Map<string, TreeNode>()

  constructor(
    private readonly subs: Subs,
    /** The tree's live state (filled at open). */
    private readonly state: ChainState,
  ) {}

  async node(hash: Uint8Array): Promise<TreeNode | undefined> {
    const key = toHex(hash)
    const hit = this.nodes.get(key)
    if (hit) {
      // LRU: move to the back.
      this.nodes.delete(key)
      this.nodes.set(key, hit)
      return hit
    }
    const [h, m] = await Promise.all([this.subs.header.get(hash), this.subs.blockMeta.get(hash)])
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

  remember(n: TreeNode): void {
    const key = toHex(n.hash)
    this.nodes.delete(key)
    this.nodes.set(key, n)
    if (this.nodes.size > NODE_CACHE_SIZE) this.nodes.delete(this.nodes.keys().next().value as string)
  }

  /** Up to `n` headers from `hash` back towards genesis (the consensus ChainContext). */
  async ancestors(hash: Uint8Array, n: number): Promise<BlockHeader[]> {
    const out: BlockHeader[] = []
    let cur = await this.node(hash)
    while (cur && out.length < n) {
      out.push(cur.header)
      if (cur.height === 0) break
      cur = await this.node(cur.header.prevHash)
    }
    return out
  }

  async isCanonical(n: TreeNode): Promise<boolean> {
    if (n.height > this.state.head.height) return false
    const h = await this.subs.canonical.get(u64(n.height))
    return h !== undefined && equalBytes(h, n.hash)
  }

  /** A stored block's stripped txs and their ids. */
  async loadTxs(hash: Uint8Array): Promise<{ txs: StrippedTx[]; ids: Uint8Array[] }> {
    const txs: StrippedTx[] = []
    for await (const v of this.subs.strippedTx.values(prefixRange(hash))) txs.push(decodeStrippedTx(v))
    return { txs, ids: txs.map((t) => txId(t)) }
  }
}
