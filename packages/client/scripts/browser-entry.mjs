// The entry of the client's self-contained browser bundle (dist/profichain-client.browser.js, global
// `ProfichainClient`): core's pure-JS crypto backend installed first (no node:crypto in a browser), then
// the browser entry (createRecord, postRecords, errors) and the few core helpers a page needs for keys,
// hex and receipts.
import { createNobleBackend, setCrypto } from '@profichain/core'

setCrypto(createNobleBackend())

export * from '../dist/browser.js'
export { fromHex, keyPairFromSeed, toHex, txId, utf8, verifyChainpointReceipt } from '@profichain/core'
