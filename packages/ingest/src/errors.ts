import { ProfichainError } from '@profichain/core'

/** Every code an IngestError can carry (a caller's `switch` on `code` is checked). */
export const INGEST_ERROR_CODES = [
  'ERR_INGEST_TOO_LARGE',
  'ERR_INGEST_SYMLINK',
  'ERR_INGEST_NOT_A_FILE',
  'ERR_INGEST_UNREADABLE',
  'ERR_INGEST_PATH_TOO_LONG',
  'ERR_INGEST_BAD_JSONL',
  'ERR_INGEST_BAD_CSV',
  'ERR_INGEST_BAD_TEXT',
  'ERR_INGEST_NO_RECORDS',
  'ERR_INGEST_BAD_NAME',
  'ERR_INGEST_NO_PROOF',
  'ERR_INGEST_UNSAFE_PATH',
] as const
export type IngestErrorCode = (typeof INGEST_ERROR_CODES)[number]

/** Why a file was not accepted (its `code` and message go into its `.reason` file), or a receipt not written. */
export class IngestError extends ProfichainError {
  constructor(
    code: IngestErrorCode,
    message: string,
    meta: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, meta, options)
    this.name = 'IngestError'
  }
}
