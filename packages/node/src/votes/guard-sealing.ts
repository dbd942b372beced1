import { type Consensus, signerLimitLiftMs } from '@profichain/consensus'
import { blockHash, toHex } from '@profichain/core'
import type { BlockTree } from '@profichain/store'
import { NodeError } from '../errors.js'
import type { VoteRule } from './vote-rule.js'

/**
 * Quorum: a producer's signature on its block counts as its vote, so sealing obeys the vote rule too
 * (`VoteRule`: one block per height, and no block on a branch without one of its earlier votes until that
 * vote is provably dead). The returned consensus (for the producer) answers "not now" (null delay: the
 * producer asks again after a block time, or when the head moves) at a height where this validator already
 * signed a block or where the rule locks it, and takes the rule and the vote guard for the sealed block's
 * hash before the block leaves the node (ERR_VOTE_GUARD when refused). A validator the signer limit keeps out
 * may seal once the head is `signerLimitLiftMs` old (the consensus exempts such a block): after a partition
 * the validators it allows may all have co-signed the next height elsewhere. Other consensus types:
 * unchanged. Without a rule (tests of the guard alone) only the vote guard applies.
 *
 * `startWaitMs` (a courtesy, safety does not depend on it): no seal for that long after the producer first
 * asks. A restarted validator would otherwise seal at once on its stale head, before gossip or sync brought
 * the current one: a fork at a height the others already signed, which locks it (and, sealed before any peer
 * was connected, is never gossiped: its seal is a dead-proof the others lack).
 */
export function guardSealing(
  inner: Consensus,
  store: Pick<BlockTree, 'ownVote' | 'guardVote' | 'getHashAtHeight'>,
  rule?: VoteRule,
  startWaitMs = 0,
): Consensus {
  if (inner.type !== 'quorum') return inner
  const guarded = Object.create(inner) as Consensus
  const validators = new Set(inner.genesis.validators.map((v) => v.toLowerCase()))
  let firstAsked: number | undefined
  guarded.producerDelay = async (parent, key, ctx, now) => {
    firstAsked ??= now
    if ((await store.ownVote(parent.height + 1)) !== undefined) return null
    let delay = await inner.producerDelay(parent, key, ctx, now)
    // The signer limit says no: past the lift delay (a head nobody else extended) this validator may seal.
    if (delay === null && validators.has(toHex(key))) delay = Math.max(0, parent.timestamp + signerLimitLiftMs(inner.genesis) - now)
    if (delay === null || !rule) return delay
    // Locked by an earlier vote on another branch: not now (asked again after a block time).
    const d = await rule.check({ height: parent.height + 1 }, blockHash(parent))
    return d.ok ? Math.max(delay, firstAsked + startWaitMs - now) : null
  }
  guarded.seal = async (block, parent, key, ctx, signal) => {
    const sealed = await inner.seal(block, parent, key, ctx, signal)
    const hash = blockHash(sealed.header)
    const height = sealed.header.height
    if (rule) {
      const d = await rule.acquire({ height, hash }, blockHash(parent))
      if (!d.ok) {
        throw new NodeError(
          'ERR_VOTE_GUARD',
          d.reason === 'locked'
            ? `an earlier vote of this node at height ${d.height} is on another branch and not provably dead (quorum vote rule)`
            : d.reason === 'voted'
              ? `already co-signed another block at height ${height}`
              : `the block does not descend from the final block`,
          { height, blockHash: toHex(hash) },
        )
      }
      return sealed
    }
    if (!(await store.guardVote(height, hash))) {
      throw new NodeError('ERR_VOTE_GUARD', `already co-signed another block at height ${height}`, {
        height,
        blockHash: toHex(hash),
      })
    }
    return sealed
  }
  return guarded
}
