export { configToml, init, type InitOptions } from './init.js'
export { verifyFile, verifyOne, type VerifyOptions } from './verify.js'
export { CliError } from './util.js'
export type { DevnetInfo, DevnetNodeInfo } from './devnet.js'
