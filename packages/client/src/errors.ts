import { type ErrorMetaArgs, ProfichainError } from '@profichain/core'

/** Every code a @profichain/client error can carry (a caller's `switch` over `err.code` is checked). */
export const CLIENT_ERROR_CODES = [
  // the server's certificate is not the pinned one: nothing was sent
  'ERR_FINGERPRINT_MISMATCH',
  // the server broke the ingest protocol (bad frame, wrong ALPN, unexpected frame, ack for another tx)
  'ERR_PROTOCOL',
  // the server sent an error frame (meta.code: BAD_HELLO, WRONG_NETWORK, …) and closed
  'ERR_SERVER',
  // the node refused this record for good (meta.code: REPLAY, REVOKED, UNKNOWN_DEVICE, …)
  'ERR_REJECTED',
  // the durable spool has no room for this record (limit `maxSpoolBytes`)
  'ERR_SPOOL_FULL',
  // the in-memory queue (no spool) has no room for this record (limit `maxQueued`)
  'ERR_QUEUE_FULL',
  // the spool file is damaged before its last entry (not a torn tail): it is not touched
  'ERR_SPOOL_CORRUPT',
  // writing the spool failed (disk full, permissions): the record's state is re-derived at the next start
  'ERR_SPOOL_IO',
  // a pushed receipt does not prove the record it names
  'ERR_RECEIPT_INVALID',
  // no answer in time: the handshake (connectTimeoutMs) or drain()
  'ERR_TIMEOUT',
  // the client was closed before the record was acknowledged (a spooled record is re-sent on the next start)
  'ERR_CLOSED',
  // a caller's mistake: bad option or argument
  'ERR_INVALID_ARGUMENT',
] as const

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number]

/** The metadata each code carries. */
export interface ClientErrorMeta {
  ERR_FINGERPRINT_MISMATCH: { expected: string; actual: string }
  ERR_PROTOCOL: Record<string, never>
  ERR_SERVER: { code: string }
  ERR_REJECTED: { code: string; txId: string; seq: number }
  ERR_SPOOL_FULL: { limit: number; used: number }
  ERR_QUEUE_FULL: { limit: number }
  ERR_SPOOL_CORRUPT: { path: string; offset: number }
  ERR_SPOOL_IO: Record<string, never>
  ERR_RECEIPT_INVALID: { txId: string }
  ERR_TIMEOUT: Record<string, never>
  ERR_CLOSED: Record<string, never>
  ERR_INVALID_ARGUMENT: Record<string, never>
}

/** An error of the client library, with a stable code. */
export class ClientError<C extends ClientErrorCode = ClientErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: ClientErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<ClientErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'ClientError'
  }
}
