export {
  type CheckpointsComponents,
  type CheckpointsEvents,
  type CheckpointsInit,
  type CheckpointsService,
  createCheckpoints,
} from './checkpoints.js'
