import { type ErrorMetaArgs, fromHex, isHex, ProfichainError } from '@profichain/core'
import type { GraphQLError } from 'graphql'
// Errors come from yoga's own graphql instance so yoga recognises (and does not mask) them even where a
// bundler resolves `graphql` to its ESM build while yoga loads the CJS one.
import { createGraphQLError } from 'graphql-yoga'

export { createGraphQLError }

/** Every code an ApiError (or a coded TypeError) of @profichain/api can carry. */
export const API_ERROR_CODES = [
  'ERR_API_CONFIG',
  'ERR_API_NO_TOKEN',
  'ERR_API_STOPPED',
  'ERR_API_ADDR_IN_USE',
  'ERR_API_LISTEN',
  // TypeError with a code: a resolver returned a number the Long scalar cannot carry (a bug, masked to clients)
  'ERR_API_NOT_SAFE_INTEGER',
] as const
export type ApiErrorCode = (typeof API_ERROR_CODES)[number]

type NoMeta = Record<string, never>
type ListenMeta = { host: string; port: number }

/** The metadata each code carries. */
export interface ApiErrorMeta {
  /** `option`: the ApiInit option that is out of range, when one is. */
  ERR_API_CONFIG: { option?: string }
  ERR_API_NO_TOKEN: { host: string }
  ERR_API_STOPPED: NoMeta
  ERR_API_ADDR_IN_USE: ListenMeta
  ERR_API_LISTEN: ListenMeta
  ERR_API_NOT_SAFE_INTEGER: NoMeta
}

/** The API server cannot start or was misconfigured. */
export class ApiError<C extends ApiErrorCode = ApiErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: ApiErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<ApiErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'ApiError'
  }
}

/**
 * Stable `extensions.code` values of the errors this API answers with on purpose (GraphQL errors and the
 * JSON error bodies of the REST routes): what a client branches on.
 */
export const API_RESPONSE_CODES = [
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'METHOD_NOT_ALLOWED',
  'QUERY_TOO_COMPLEX',
  'QUERY_BUDGET_EXCEEDED',
  'PAYLOAD_TOO_LARGE',
  'PAYLOAD_NOT_HELD',
  'TOO_MANY_SUBSCRIPTIONS',
  'SLOW_CONSUMER',
  'SHUTTING_DOWN',
  'GRAPHQL_PARSE_FAILED',
  'INTERNAL_SERVER_ERROR',
] as const
export type ApiResponseCode = (typeof API_RESPONSE_CODES)[number]

/** A GraphQL error with a stable code; yoga passes these through unmasked. */
export function gqlError(
  code: ApiResponseCode,
  message: string,
  extra: Record<string, unknown> = {},
): GraphQLError {
  return createGraphQLError(message, { extensions: { code, ...extra } })
}

export const notFound = (what: string, id: string | number) =>
  gqlError('NOT_FOUND', `${what} ${id} not found`, { id: String(id) })
export const badInput = (message: string, extra: Record<string, unknown> = {}) =>
  gqlError('BAD_USER_INPUT', message, extra)

/** Parse a hex id of `bytes` bytes or fail with BAD_USER_INPUT naming the argument. */
export function hexArg(value: string, bytes: number, argument: string): Uint8Array {
  if (!isHex(value, bytes)) throw badInput(`${argument} must be ${bytes * 2} hex characters`, { argument })
  return fromHex(value)
}
