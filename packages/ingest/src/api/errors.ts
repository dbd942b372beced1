import { ProfichainError } from '@profichain/core'

/** Every code an IngestApiError can carry (the server's own failures; protocol refusals are IngestWireError). */
export const INGEST_API_ERROR_CODES = [
  // a configured limit or option is out of range
  'ERR_INGEST_API_CONFIG',
  // the TLS port cannot be bound
  'ERR_INGEST_API_LISTEN',
  // the certificate or its key in the data dir cannot be read, parsed or written
  'ERR_INGEST_API_CERT',
  // start() after stop()
  'ERR_INGEST_API_STOPPED',
] as const
export type IngestApiErrorCode = (typeof INGEST_API_ERROR_CODES)[number]

export class IngestApiError extends ProfichainError {
  declare readonly code: IngestApiErrorCode
  constructor(code: IngestApiErrorCode, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'IngestApiError'
  }
}
