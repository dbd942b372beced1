import { BlockTree } from './block-tree.js'
import type { BlockTreeComponents, BlockTreeInit } from './types.js'

export { BlockTree, genesisBlockOf, type GlobalBuckets, type StoreStats } from './block-tree.js'
export type { OriginAudit, OriginsReport } from './audit.js'
export { Bucket, type BucketName, DeviceBucket, GlobalBucket, type GlobalBucketName, IngestBucket, LAYOUT_VERSION, QuorumBucket } from './keys.js'
export {
  checkIncomingTx,
  DeviceRegistry,
  INCOMING_TX_CODES,
  type IncomingTxCode,
  type IncomingTxContext,
  type IncomingTxResult,
  MAX_REPLAY_EVIDENCE,
  type OriginRefusals,
  type ReplayEvidence,
} from './devices.js'
export type { VoteEvidence, VoteRecord } from './votes.js'
export { STORE_METRIC_NAMES } from './metrics.js'
export { retains, ruleMatches } from './retention.js'
export * from './types.js'

/** Open (or create) the store: same as `BlockTree.open`, under the project's `createX` factory name. */
export function createBlockTree(init: BlockTreeInit, components: BlockTreeComponents = {}): Promise<BlockTree> {
  return BlockTree.open(init, components)
}
