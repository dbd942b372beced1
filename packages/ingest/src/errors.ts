import { ProfichainError } from '@profichain/core'

/** Why a file was not accepted; the `code` and message go into its `.reason` file. */
export class IngestError extends ProfichainError {
  constructor(
    code: string,
    message: string,
    meta: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, meta, options)
    this.name = 'IngestError'
  }
}
