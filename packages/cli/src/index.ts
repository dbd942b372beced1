export {
  checkQuorumShape,
  configToml,
  defaultQuorumThreshold,
  INIT_CONSENSUS,
  type InitConsensus,
  init,
  type InitOptions,
  initQuorum,
  type InitQuorumNode,
  type InitQuorumOptions,
} from './init.js'
export { finality, type OneResult, VERIFY_EXIT, verifyFile, verifyOne, type VerifyOptions, type VerifyOutcome, type VerifyResult } from './verify.js'
export { apiBase, apiToken } from './api-client.js'
export * from './errors.js'
export type { DevnetInfo, DevnetNodeInfo } from './devnet.js'
export { DECRYPT_EXIT, decryptFile, type DecryptOptions, type DecryptResult } from './decrypt.js'
