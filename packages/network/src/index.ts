// Must stay the first import: libp2p 3 needs Promise.withResolvers, which Node 20 lacks.
import './polyfill.js'
import { P2PNetwork } from './network.js'
import type { NetworkComponents, NetworkInit } from './types.js'

export {
  GossipAction,
  GossipActionError,
  type GossipErrorCode,
  NETWORK_ERROR_CODES,
  NetworkError,
  type NetworkErrorCode,
  type NetworkErrorMeta,
} from './errors.js'
export {
  libp2pPrivateKey,
  peerIdFromPublicKey,
  peerIdOfKey,
  publicKeyHexOfPeer,
  publicKeyOfPeer,
} from './keys.js'
export { NETWORK_METRIC_NAMES } from './metrics.js'
export { P2PNetwork } from './network.js'
export type { Ban, BanReason } from './peer-penalties.js'
export type {
  BlockVerdict,
  IgnoreReason,
  MaybePromise,
  NetworkComponents,
  NetworkInit,
  NetworkLogger,
  NetworkMember,
  NetworkStats,
  PeerInfo,
  PublishResult,
  RejectReason,
  SyncHandlers,
  Verdict,
} from './types.js'

/** Create (not start) the libp2p host of a node. */
export function createNetwork(init: NetworkInit, components: NetworkComponents): P2PNetwork {
  return new P2PNetwork(init, components)
}
