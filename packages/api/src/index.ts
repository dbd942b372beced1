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
export { type ApiDevice, type ApiDevices, deviceTypeDefs } from './schema-devices.js'
export { isLoopbackHost } from './server.js'
export { CBOR_TYPE, handleRecords, type RecordsSubmitter } from './records.js'
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
