export { createGossip, type GossipComponents, type GossipEvents, type GossipInit, type GossipService, orphanLimitOf, relaysTxs } from './gossip.js'
export { PayloadCache } from './payload-cache.js'
