import { ApiHttpServer } from './server.js'
import type { ApiComponents, ApiInit, ApiServer } from './types.js'

export {
  API_ERROR_CODES,
  API_RESPONSE_CODES,
  ApiError,
  type ApiErrorCode,
  type ApiErrorMeta,
  type ApiResponseCode,
} from './errors.js'
export { checkQueryLimits, type QueryLimits } from './limits.js'
export { typeDefs } from './schema-sdl.js'
export { isLoopbackHost } from './server.js'
export {
  CHECKPOINT_PATHS,
  type CheckpointApi,
  type CheckpointInfo,
  MAX_ADD_CHECKPOINT_BYTES,
  type PartnerInfo,
  type WitnessEvidenceInfo,
} from './checkpoint.js'
export type {
  ApiAddress,
  ApiChain,
  ApiComponents,
  ApiInit,
  EquivocationEvidence,
  HealthProblem,
  NodeHealth,
  ApiServer,
  NodeStatus,
  PeerInfo,
} from './types.js'

/** The node's HTTP API: GraphQL at /graphql, /healthz, /metrics, anchor hash URIs and raw payloads. */
export function createApiServer(init: ApiInit, components: ApiComponents): ApiServer {
  return new ApiHttpServer(init, components)
}
