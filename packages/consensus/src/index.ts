import { AuthorityConsensus } from './authority.js'
import { QuorumConsensus } from './quorum.js'
import type { Consensus, Genesis } from './types.js'
import { WorkConsensus } from './work.js'

export * from './authority.js'
export { MAX_FUTURE_DRIFT_MS } from './common.js'
export * from './errors.js'
export * from './genesis.js'
export * from './origin.js'
export * from './quorum.js'
export * from './types.js'
export * from './work.js'

/** The consensus named by genesis.consensus.type. */
export function createConsensus(genesis: Genesis): Consensus {
  switch (genesis.consensus.type) {
    case 'authority':
      return new AuthorityConsensus(genesis, 'authority')
    case 'work':
      return new WorkConsensus(genesis)
    case 'quorum':
      return new QuorumConsensus(genesis)
  }
}
