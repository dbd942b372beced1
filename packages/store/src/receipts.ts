import {
  auditPathFromLevels,
  type BlockHeader,
  buildChainpointReceipt,
  buildNativeReceipt,
  type ChainpointProof,
  merkleLevels,
  type NativeReceipt,
  toHex,
} from '@profichain/core'
import { decodeLeaves, type Sub } from './keys.js'
import type { TxLocation } from './types.js'

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
    return form === 'chainpoint' ? buildChainpointReceipt(input) : buildNativeReceipt(input)
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
