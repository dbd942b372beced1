import { type ErrorMetaArgs, ProfichainError } from '@profichain/core'

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

type NoMeta = Record<string, never>
/** `line`: the 1-based line of a line-mode file that is malformed. */
type LineMeta = { line: number }

/** The metadata each code carries. */
export interface IngestErrorMeta {
  ERR_INGEST_TOO_LARGE: NoMeta
  ERR_INGEST_SYMLINK: NoMeta
  ERR_INGEST_NOT_A_FILE: NoMeta
  ERR_INGEST_UNREADABLE: NoMeta
  ERR_INGEST_PATH_TOO_LONG: NoMeta
  ERR_INGEST_BAD_JSONL: LineMeta
  ERR_INGEST_BAD_CSV: LineMeta
  ERR_INGEST_BAD_TEXT: LineMeta
  ERR_INGEST_NO_RECORDS: NoMeta
  ERR_INGEST_BAD_NAME: NoMeta
  ERR_INGEST_NO_PROOF: NoMeta
  ERR_INGEST_UNSAFE_PATH: NoMeta
}

/** Why a file was not accepted (its `code` and message go into its `.reason` file), or a receipt not written. */
export class IngestError<C extends IngestErrorCode = IngestErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: IngestErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<IngestErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'IngestError'
  }
}
