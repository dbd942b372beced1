import {
  auditPathFromLevels,
  type BlockHeader,
  buildChainpointReceipt,
  buildNativeReceipt,
  type ChainpointProof,
  chainpointReceiptJson,
  equalBytes,
  merkleLevels,
  type NativeReceipt,
  type ReceiptBuildOptions,
  type ReceiptInput,
  toHex,
  txId,
  txLeafHash,
} from '@profichain/core'
import { decodeLeaves, type Sub } from './keys.js'
import type { TxLocation } from './types.js'

/** Whether the levels' root is the header's Merkle root and the tree has the header's size. */
function levelsRoot(levels: Uint8Array[][], header: BlockHeader): boolean {
  const top = levels[levels.length - 1]
  return levels[0].length === header.txCount && top.length === 1 && equalBytes(top[0], header.merkleRoot)
}

/** Blocks whose Merkle trees stay cached for receipts. */
const LEVELS_CACHE_BLOCKS = 8

/** Receipts (proofs of inclusion) built from a block's stored Merkle leaves. */
export class Receipts {
  private readonly levelsCache = new Map<string, Uint8Array[][]>()
  /** Hex of the cached trees' nodes: the upper nodes are in the audit path of many receipts of a block. */
  private readonly nodeHex = new WeakMap<Uint8Array, string>()
  private readonly hex = (node: Uint8Array): string => {
    let h = this.nodeHex.get(node)
    if (h === undefined) {
      h = toHex(node)
      this.nodeHex.set(node, h)
    }
    return h
  }

  constructor(
    private readonly leavesBucket: Sub,
    private readonly header: (hash: Uint8Array) => Promise<BlockHeader | undefined>,
  ) {}

  /**
   * The levels of a block's tree, built from its leaves when it was stored (the root checked against its
   * header there): its receipts need not read the leaves back and build the tree a second time.
   */
  seedLevels(hash: Uint8Array, levels: Uint8Array[][], ids?: readonly Uint8Array[]): void {
    if (ids !== undefined && ids.length === levels[0].length) this.leafIds.set(levels, ids)
    this.remember(toHex(hash), levels)
  }

  /**
   * The txIds the leaves of a seeded tree were hashed from (leaf i = RFC 6962 leaf hash of ids[i]): a receipt's
   * "is this tx the leaf at its index" is then one comparison of txIds (memoised on the tx) instead of a leaf
   * hash of a tx object that is not the block's own (the outbox's copy of an own record: ~2.5 µs per receipt).
   */
  private readonly leafIds = new WeakMap<Uint8Array[][], readonly Uint8Array[]>()

  private remember(key: string, levels: Uint8Array[][]): void {
    this.levelsCache.delete(key)
    this.levelsCache.set(key, levels)
    if (this.levelsCache.size > LEVELS_CACHE_BLOCKS) this.levelsCache.delete(this.levelsCache.keys().next().value as string)
  }

  /** The block's Merkle leaves as stored. */
  async leaves(hash: Uint8Array): Promise<Uint8Array[] | undefined> {
    const v = await this.leavesBucket.get(hash)
    return v && decodeLeaves(v)
  }

  /** A receipt for a tx at a known canonical location. */
  receiptAt(loc: TxLocation, form: 'chainpoint', anchorBase: string): Promise<ChainpointProof | undefined>
  receiptAt(loc: TxLocation, form: 'native', anchorBase: string): Promise<NativeReceipt | undefined>
  receiptAt(
    loc: TxLocation,
    form: 'chainpoint' | 'native',
    anchorBase: string,
  ): Promise<ChainpointProof | NativeReceipt | undefined>
  async receiptAt(
    loc: TxLocation,
    form: 'chainpoint' | 'native',
    anchorBase: string,
  ): Promise<ChainpointProof | NativeReceipt | undefined> {
    // Receipts are written block by block and the locations of one block share its hash object: the last
    // block's tree (content-addressed by that hash) serves the next receipt without a hex of the hash and a
    // cache lookup. The header is read every time: under quorum, votes add signatures to a stored header
    // (same hash) and a native receipt carries them (a cached header made `verify` say "final: no").
    const last = this.lastBlock
    if (last !== undefined && last.ref === loc.blockHash) {
      const header = await this.header(loc.blockHash)
      if (!header) return undefined
      return this.build(loc, header, last.levels, last.rootOk, form, anchorBase)
    }
    const [header, levels] = await Promise.all([this.header(loc.blockHash), this.merkleLevelsOf(loc.blockHash)])
    if (!header || !levels) return undefined
    const rootOk = levelsRoot(levels, header)
    this.lastBlock = { ref: loc.blockHash, levels, rootOk }
    return this.build(loc, header, levels, rootOk, form, anchorBase)
  }

  private lastBlock: { ref: Uint8Array; levels: Uint8Array[][]; rootOk: boolean } | undefined

  /**
   * Receipts for many txs at known canonical locations (same order, undefined where the block is gone):
   * each block's header and Merkle levels are read and its root compared once for all its txs, and the
   * header object is the same for all of them (its ops are built once). Per-record `receiptAt` calls
   * were 5 % of the ingest API's busy time.
   */
  receiptsAt(locs: TxLocation[], form: 'chainpoint', anchorBase: string): Promise<Array<ChainpointProof | undefined>>
  receiptsAt(locs: TxLocation[], form: 'native', anchorBase: string): Promise<Array<NativeReceipt | undefined>>
  async receiptsAt(
    locs: TxLocation[],
    form: 'chainpoint' | 'native',
    anchorBase: string,
  ): Promise<Array<ChainpointProof | NativeReceipt | undefined>> {
    return this.forBlocks(locs, (loc, header, levels, rootOk) => this.build(loc, header, levels, rootOk, form, anchorBase))
  }

  /**
   * Chainpoint receipts as JSON text (`JSON.stringify` of `receiptsAt(locs, 'chainpoint')`'s, written
   * directly), for receipts that travel as text (the ingest API's receipt frames).
   */
  chainpointJsonsAt(locs: TxLocation[], anchorBase: string): Promise<Array<string | undefined>> {
    return this.forBlocks(locs, (loc, header, levels, rootOk) =>
      chainpointReceiptJson(this.input(loc, header, levels, anchorBase), this.opts(loc, levels, rootOk)),
    )
  }

  private async forBlocks<T>(
    locs: TxLocation[],
    make: (loc: TxLocation, header: BlockHeader, levels: Uint8Array[][], rootOk: boolean) => T,
  ): Promise<Array<T | undefined>> {
    type B = { hash: Uint8Array; header?: BlockHeader; levels?: Uint8Array[][]; rootOk: boolean }
    const blocks = new Map<string, B>()
    // Locations of one block usually share its hash object (the store's in-memory recent blocks): one hex each.
    const byRef = new Map<Uint8Array, B>()
    const of: B[] = new Array(locs.length)
    for (let i = 0; i < locs.length; i++) {
      const ref = locs[i].blockHash
      let b = byRef.get(ref)
      if (b === undefined) {
        const key = toHex(ref)
        b = blocks.get(key)
        if (b === undefined) blocks.set(key, (b = { hash: ref, rootOk: false }))
        byRef.set(ref, b)
      }
      of[i] = b
    }
    await Promise.all(
      [...blocks.values()].map(async (b) => {
        const [header, levels] = await Promise.all([this.header(b.hash), this.merkleLevelsOf(b.hash)])
        b.header = header
        b.levels = levels
        b.rootOk = header !== undefined && levels !== undefined && levelsRoot(levels, header)
      }),
    )
    return locs.map((loc, i) => {
      const b = of[i]
      if (!b.header || !b.levels) return undefined
      return make(loc, b.header, b.levels, b.rootOk)
    })
  }

  private input(loc: TxLocation, header: BlockHeader, levels: Uint8Array[][], anchorBase: string): ReceiptInput {
    return { tx: loc.tx, header, leafIndex: loc.index, auditPath: auditPathFromLevels(levels, loc.index), anchorBase }
  }

  /**
   * The path comes from levels built from the stored leaves: when their root is the header's and the leaf
   * at the index is this tx's, the path leads to the root (one hash here instead of a walk of log2(n)
   * hashes per receipt). Otherwise the builder walks and checks the path itself.
   */
  private opts(loc: TxLocation, levels: Uint8Array[][], rootOk: boolean): ReceiptBuildOptions {
    if (!rootOk || loc.index >= levels[0].length) return { pathChecked: false, hex: this.hex }
    const ids = this.leafIds.get(levels)
    const pathChecked =
      ids !== undefined ? equalBytes(ids[loc.index], txId(loc.tx)) : equalBytes(levels[0][loc.index], txLeafHash(loc.tx))
    return { pathChecked, hex: this.hex }
  }

  private build(
    loc: TxLocation,
    header: BlockHeader,
    levels: Uint8Array[][],
    rootOk: boolean,
    form: 'chainpoint' | 'native',
    anchorBase: string,
  ): ChainpointProof | NativeReceipt {
    const input = this.input(loc, header, levels, anchorBase)
    const opts = this.opts(loc, levels, rootOk)
    return form === 'chainpoint' ? buildChainpointReceipt(input, opts) : buildNativeReceipt(input, opts)
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
    this.remember(key, levels)
    return levels
  }
}
