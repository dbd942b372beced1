export {
  createVotes,
  type VotesComponents,
  type VotesEvents,
  type VotesInit,
  type VotesService,
  type VotesStore,
} from './votes.js'
export { guardSealing } from './guard-sealing.js'
export { VoteRule, type VoteLockState, type VoteRuleStore } from './vote-rule.js'
