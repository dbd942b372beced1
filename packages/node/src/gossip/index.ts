export { createGossip, type GossipComponents, type GossipEvents, type GossipInit, type GossipService, orphanLimitOf, OwnCommitLatency, relaysTxs } from './gossip.js'
export { PayloadCache } from './payload-cache.js'
