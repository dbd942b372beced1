import { ProfichainError } from '@profichain/core'

/** Stable codes of the OPC UA bridge's errors. */
export const OPCUA_ERROR_CODES = [
  'ERR_OPCUA_CONFIG',
  'ERR_OPCUA_CONNECT',
  'ERR_OPCUA_SUBSCRIBE',
  'ERR_OPCUA_OUTPUT',
  'ERR_OPCUA_LINE',
  'ERR_OPCUA_SIMULATOR',
] as const
export type OpcuaErrorCode = (typeof OPCUA_ERROR_CODES)[number]

export class OpcuaError extends ProfichainError {
  declare readonly code: OpcuaErrorCode
  constructor(code: OpcuaErrorCode, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'OpcuaError'
  }
}
