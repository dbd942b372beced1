import { ProfichainError } from '@profichain/core'

/** Every code a LogError carries. */
export const LOG_ERROR_CODES = [
  /** A proof or checkpoint asked for a size the block log does not have (yet). */
  'ERR_LOG_RANGE',
  /** The block log's stored state does not match the chain or itself. */
  'ERR_LOG_CORRUPT',
  /** Refused to sign a checkpoint inconsistent with the last one signed. */
  'ERR_LOG_INCONSISTENT',
  /** partners.json / witnesses.json / config partners are invalid. */
  'ERR_PARTNERS',
] as const
export type LogErrorCode = (typeof LOG_ERROR_CODES)[number]

export class LogError<C extends LogErrorCode = LogErrorCode> extends ProfichainError {
  declare readonly code: C
  constructor(code: C, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'LogError'
  }
}
