export { ANCHOR_ERROR_CODES, AnchorError, type AnchorErrorCode } from './errors.js'
export type { AnchorProof, AnchorRequest, PublicAnchor, PublicAnchorEvents } from './types.js'
export { createEthAnchor, type EthAnchorComponents, type EthAnchorInit, readAnchors } from './eth.js'
export { checkEthAnchor, type EthAnchorCheck } from './check.js'
