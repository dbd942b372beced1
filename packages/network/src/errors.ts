import { ProfichainError } from '@profichain/core'

export type NetworkErrorCode =
  | 'ERR_SYNC_TIMEOUT'
  | 'ERR_SYNC_PEER'
  | 'ERR_SYNC_DECODE'
  | 'ERR_SYNC_REMOTE'
  | 'ERR_NOT_MEMBER'
  | 'ERR_NOT_STARTED'
  | 'ERR_TX_TOO_LARGE'
  | 'ERR_CONFIG'

/** A network failure with a stable code (sync errors carry `peer` and, for ERR_SYNC_REMOTE, `remoteCode`). */
export class NetworkError extends ProfichainError {
  declare readonly code: NetworkErrorCode
  constructor(
    code: NetworkErrorCode,
    message: string,
    meta: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, meta, options)
    this.name = 'NetworkError'
  }
}
