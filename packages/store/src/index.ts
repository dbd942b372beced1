export { BlockTree, genesisBlockOf, type StoreStats } from './block-tree.js'
export { retains, ruleMatches } from './retention.js'
export * from './types.js'
