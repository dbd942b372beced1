import { type EthAnchorInput, fromHex } from '@profichain/core'
import type { AnchorProof } from './types.js'

/**
 * The receipt input (buildEthChainpoint / buildEthNative) of a confirmed anchor for a record in block
 * `blockLogIndex`, with the block-log audit path from that block to the anchored checkpoint of size `p.size`.
 */
export function ethAnchorInput(p: AnchorProof, blockLogIndex: number, blockLogPath: Uint8Array[]): EthAnchorInput {
  return {
    chainId: p.chainId,
    txHash: p.txHash,
    calldata: fromHex(p.calldata),
    ethBlockNumber: p.ethBlockNumber,
    ethBlockHash: p.ethBlockHash,
    confirmations: p.confirmations,
    from: p.from,
    to: p.to,
    nonce: p.nonce,
    gasUsed: p.gasUsed,
    effectiveGasPrice: p.effectiveGasPrice,
    blockLogIndex,
    blockLogPath,
  }
}
