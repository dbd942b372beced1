import { ProfichainError } from '@profichain/core'

/** A failure of the processing machinery itself (a worker died, the pool is closed), not of the input. */
export class ProcessingError extends ProfichainError {
  constructor(
    code: 'ERR_POOL' | 'ERR_POOL_CLOSED' | 'ERR_WORKER_MISSING',
    message: string,
    meta: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, meta, options)
    this.name = 'ProcessingError'
  }
}
