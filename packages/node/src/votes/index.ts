export {
  createVotes,
  type VotesComponents,
  type VotesEvents,
  type VotesInit,
  type VotesService,
  type VotesStore,
} from './votes.js'
export { guardSealing } from './guard-sealing.js'
export { VoteLock } from './vote-lock.js'
