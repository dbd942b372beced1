import { type Consensus, signerLimitLiftMs } from '@profichain/consensus'
import { blockHash, toHex } from '@profichain/core'
import type { BlockTree } from '@profichain/store'
import { NodeError } from '../errors.js'

/**
 * Quorum: a producer's signature on its block counts as its vote, so sealing obeys the vote guard too. The
 * returned consensus (for the producer) answers "may not produce" (null delay) at a height where this
 * validator already co-signed a block, and records the sealed block's hash in the guard before the block
 * leaves the node (ERR_VOTE_GUARD if another block got there first). A validator the signer limit keeps out
 * may seal once the head is `signerLimitLiftMs` old (the consensus exempts such a block): after a partition
 * the validators it allows may all have co-signed the next height elsewhere. Other consensus types: unchanged.
 */
export function guardSealing(inner: Consensus, store: Pick<BlockTree, 'ownVote' | 'guardVote'>): Consensus {
  if (inner.type !== 'quorum') return inner
  const guarded = Object.create(inner) as Consensus
  const validators = new Set(inner.genesis.validators.map((v) => v.toLowerCase()))
  guarded.producerDelay = async (parent, key, ctx, now) => {
    if ((await store.ownVote(parent.height + 1)) !== undefined) return null
    const delay = await inner.producerDelay(parent, key, ctx, now)
    if (delay !== null || !validators.has(toHex(key))) return delay
    // The signer limit says no: past the lift delay (a head nobody else extended) this validator may seal.
    return Math.max(0, parent.timestamp + signerLimitLiftMs(inner.genesis) - now)
  }
  guarded.seal = async (block, parent, key, ctx, signal) => {
    const sealed = await inner.seal(block, parent, key, ctx, signal)
    const hash = blockHash(sealed.header)
    if (!(await store.guardVote(sealed.header.height, hash))) {
      throw new NodeError('ERR_VOTE_GUARD', `already co-signed another block at height ${sealed.header.height}`, {
        height: sealed.header.height,
        blockHash: toHex(hash),
      })
    }
    return sealed
  }
  return guarded
}
