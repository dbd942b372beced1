import {
  auditPathFromLevels,
  type BlockHeader,
  buildChainpointReceipt,
  buildNativeReceipt,
  type ChainpointProof,
  equalBytes,
  leafHash,
  merkleLevels,
  type NativeReceipt,
  toHex,
  txId,
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

  constructor(
    private readonly leavesBucket: Sub,
    private readonly header: (hash: Uint8Array) => Promise<BlockHeader | undefined>,
  ) {}

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
    const [header, levels] = await Promise.all([this.header(loc.blockHash), this.merkleLevelsOf(loc.blockHash)])
    if (!header || !levels) return undefined
    const input = {
      tx: loc.tx,
      header,
      leafIndex: loc.index,
      auditPath: auditPathFromLevels(levels, loc.index),
      anchorBase,
    }
    // The path comes from levels built from the stored leaves: when their root is the header's and the
    // leaf at the index is this tx's, the path leads to the root (one hash here instead of a walk of
    // log2(n) hashes per receipt). Otherwise the builder walks and checks the path itself.
    const opts = { pathChecked: levelsRoot(levels, header) && equalBytes(levels[0][loc.index], leafHash(txId(loc.tx))) }
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
    this.levelsCache.set(key, levels)
    if (this.levelsCache.size > LEVELS_CACHE_BLOCKS) this.levelsCache.delete(this.levelsCache.keys().next().value as string)
    return levels
  }
}
