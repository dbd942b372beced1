import { availableParallelism } from 'node:os'
import { InlineVerifier } from './inline.js'
import { PoolVerifier } from './pool.js'
import type { ProcessingInit, TxVerifier } from './types.js'

export * from './errors.js'
export type { FreshVerified, ProcessingInit, TxCheck, TxVerifier } from './types.js'

/** Batch verifier: inline when threads is 0, otherwise a worker-thread pool (needs the built dist/worker.js). */
export function createTxVerifier(init: ProcessingInit = {}): TxVerifier {
  const threads = init.threads ?? Math.min(2, availableParallelism())
  if (!Number.isSafeInteger(threads) || threads < 0)
    throw new RangeError(`threads must be a non-negative integer, got ${threads}`)
  const batchSize = init.batchSize ?? 512
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`)
  const merkleChunk = init.merkleChunk ?? 1024
  if (!Number.isSafeInteger(merkleChunk) || merkleChunk < 1 || (merkleChunk & (merkleChunk - 1)) !== 0) {
    throw new RangeError(`merkleChunk must be a power of two, got ${merkleChunk}`)
  }
  const verifiedIds = init.verifiedIds ?? 65_536
  if (!Number.isSafeInteger(verifiedIds) || verifiedIds < 0)
    throw new RangeError(`verifiedIds must be a non-negative integer, got ${verifiedIds}`)
  return threads === 0 ? new InlineVerifier() : new PoolVerifier({ threads, batchSize, merkleChunk, verifiedIds })
}
