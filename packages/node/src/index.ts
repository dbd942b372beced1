// First: libp2p 3 needs Promise.withResolvers on Node 20, and @profichain/network installs the polyfill
// as its own first import, so it is in place before any other module of the node loads.
import '@profichain/network'
export * from './config.js'
export * from './errors.js'
export * from './node.js'
export * from './metrics.js'
export * from './chain/index.js'
export * from './receipts/index.js'
export * from './sync/index.js'
export * from './gossip/index.js'
export * from './health.js'
export * from './votes/index.js'
export type { Startable } from './types.js'
