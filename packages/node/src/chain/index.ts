export {
  type ApplyOutcome,
  type ChainComponents,
  type ChainEvents,
  type ChainInit,
  type ChainService,
  type ChainStore,
  createChainService,
} from './chain-service.js'
