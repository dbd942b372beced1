import { BlockTree } from './block-tree.js'
import type { BlockTreeComponents, BlockTreeInit } from './types.js'

export { BlockTree, genesisBlockOf, type GlobalBuckets, type StoreStats } from './block-tree.js'
export { Bucket, type BucketName, GlobalBucket, type GlobalBucketName, LAYOUT_VERSION, QuorumBucket } from './keys.js'
export type { VoteEvidence, VoteRecord } from './votes.js'
export { STORE_METRIC_NAMES } from './metrics.js'
export { retains, ruleMatches } from './retention.js'
export * from './types.js'

/** Open (or create) the store: same as `BlockTree.open`, under the project's `createX` factory name. */
export function createBlockTree(init: BlockTreeInit, components: BlockTreeComponents = {}): Promise<BlockTree> {
  return BlockTree.open(init, components)
}
