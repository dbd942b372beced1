// @profichain/client/browser — the parts without Node sockets or files: build and sign records (tier 2 too)
// and submit them with fetch (POST /v1/records). Install core's pure-JS backend first where node:crypto is
// missing: setCrypto(createNobleBackend()).
export { CLIENT_ERROR_CODES, ClientError, type ClientErrorCode, type ClientErrorMeta } from './errors.js'
export { createRecord, type RecordInit } from './record.js'
export { type HttpSubmitInit, postRecords } from './http.js'
