import { fromHex, isHex, ProfichainError } from '@profichain/core'
import type { GraphQLError } from 'graphql'
// Errors come from yoga's own graphql instance so yoga recognises (and does not mask) them even where a
// bundler resolves `graphql` to its ESM build while yoga loads the CJS one.
import { createGraphQLError } from 'graphql-yoga'

export { createGraphQLError }

/** The API server cannot start or was misconfigured. */
export class ApiError extends ProfichainError {
  constructor(
    code: string,
    message: string,
    meta: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, meta, options)
    this.name = 'ApiError'
  }
}

/** Stable `extensions.code` values of GraphQL errors this API returns on purpose. */
export type ApiErrorCode =
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'QUERY_TOO_COMPLEX'
  | 'QUERY_BUDGET_EXCEEDED'
  | 'PAYLOAD_TOO_LARGE'
  | 'PAYLOAD_NOT_HELD'

/** A GraphQL error with a stable code; yoga passes these through unmasked. */
export function gqlError(
  code: ApiErrorCode,
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
