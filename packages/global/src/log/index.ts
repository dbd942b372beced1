// The network's own transparency log (DESIGN §11): block log, signed checkpoints, witness service, partners.
export * from './block-log.js'
export * from './checkpoints.js'
export * from './errors.js'
export type { LogBucket, LogKv } from './kv.js'
export * from './partners.js'
export * from './witness.js'
export * from './witnesses.js'
export { readJsonFile, writeJsonFileAtomic } from './json-file.js'
