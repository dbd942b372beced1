// @profichain/client — DESIGN §12: device/app SDK for the Profichain ingest API (docs/client.md).
export { CLIENT_ERROR_CODES, ClientError, type ClientErrorCode, type ClientErrorMeta } from './errors.js'
export {
  type ClientEvents,
  type ClientInit,
  type ClientReceipt,
  type ClientState,
  createClient,
  parseFingerprint,
  type ProfichainClient,
  type QueuedRecord,
  type SubmitResult,
  type Welcome,
} from './client.js'
export { Spool, type SpoolInit, type SpooledRecord, type StoredReceipt } from './spool.js'
export { createRecord, type RecordInit } from './record.js'
export { type HttpSubmitInit, postRecords } from './http.js'
