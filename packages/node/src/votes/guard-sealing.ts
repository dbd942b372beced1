import { type Consensus, signerLimitLiftMs } from '@profichain/consensus'
import { blockHash, toHex } from '@profichain/core'
import type { BlockTree } from '@profichain/store'
import { NodeError } from '../errors.js'
import type { VoteLock } from './vote-lock.js'

/**
 * Quorum: a producer's signature on its block counts as its vote, so sealing obeys the vote guard too. The
 * returned consensus (for the producer) answers "may not produce" (null delay) at a height where this
 * validator already co-signed a block, and records the sealed block's hash in the guard before the block
 * leaves the node (ERR_VOTE_GUARD if another block got there first). A validator the signer limit keeps out
 * may seal once the head is `signerLimitLiftMs` old (the consensus exempts such a block): after a partition
 * the validators it allows may all have co-signed the next height elsewhere. Other consensus types: unchanged.
 */
export function guardSealing(
  inner: Consensus,
  store: Pick<BlockTree, 'ownVote' | 'guardVote' | 'getHashAtHeight'>,
  lock?: VoteLock,
): Consensus {
  if (inner.type !== 'quorum') return inner
  const guarded = Object.create(inner) as Consensus
  const validators = new Set(inner.genesis.validators.map((v) => v.toLowerCase()))
  guarded.producerDelay = async (parent, key, ctx, now) => {
    if ((await store.ownVote(parent.height + 1)) !== undefined) return null
    let delay = await inner.producerDelay(parent, key, ctx, now)
    // The signer limit says no: past the lift delay (a head nobody else extended) this validator may seal.
    if (delay === null && validators.has(toHex(key))) delay = Math.max(0, parent.timestamp + signerLimitLiftMs(inner.genesis) - now)
    if (delay === null || !lock) return delay
    // Just co-signed a block this chain does not hold: wait for its votes first (VoteLock).
    return Math.max(delay, await lock.waitMs(parent.height + 1, (h) => store.getHashAtHeight(h)))
  }
  guarded.seal = async (block, parent, key, ctx, signal) => {
    const sealed = await inner.seal(block, parent, key, ctx, signal)
    const hash = blockHash(sealed.header)
    if (lock && (await lock.waitMs(sealed.header.height, (h) => store.getHashAtHeight(h))) > 0) {
      throw new NodeError('ERR_VOTE_GUARD', `a recent vote of this node below height ${sealed.header.height} is on another branch (vote lock)`, {
        height: sealed.header.height,
        blockHash: toHex(hash),
      })
    }
    if (!(await store.guardVote(sealed.header.height, hash))) {
      throw new NodeError('ERR_VOTE_GUARD', `already co-signed another block at height ${sealed.header.height}`, {
        height: sealed.header.height,
        blockHash: toHex(hash),
      })
    }
    lock?.noteVote(sealed.header.height, hash)
    return sealed
  }
  return guarded
}
