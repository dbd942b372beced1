import { type ErrorMetaArgs, ProfichainError } from '@profichain/core'

/** Every code a @profichain/processing error can carry (a caller's `switch` over `err.code` is checked). */
export const PROCESSING_ERROR_CODES = ['ERR_POOL', 'ERR_POOL_CLOSED', 'ERR_WORKER_MISSING'] as const
export type ProcessingErrorCode = (typeof PROCESSING_ERROR_CODES)[number]

/** The metadata each code carries. */
export interface ProcessingErrorMeta {
  /** A worker failed running task `op` (the worker's error is the `cause`). */
  ERR_POOL: { op: string }
  /** Called after close(). */
  ERR_POOL_CLOSED: Record<string, never>
  /** `path`: where the built worker script was expected. */
  ERR_WORKER_MISSING: { path: string }
}

/** A failure of the processing machinery itself (a worker died, the pool is closed), not of the input. */
export class ProcessingError<C extends ProcessingErrorCode = ProcessingErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: ProcessingErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<ProcessingErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'ProcessingError'
  }
}
