// First: libp2p 3 needs Promise.withResolvers on Node 20, and @profichain/network installs the polyfill
// as its own first import, so it is in place before any other module of the node loads.
import '@profichain/network'
export * from './config.js'
export * from './node.js'
export * from './metrics.js'
