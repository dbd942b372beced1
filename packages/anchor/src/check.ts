import { JsonRpcProvider } from 'ethers'
import { AnchorError } from './errors.js'

/** What `verify --eth-rpc` found on the public chain for one eth anchor. */
export interface EthAnchorCheck {
  txHash: string
  blockNumber: number
  blockHash: string
  /** Current depth of the tx (blocks including its own). */
  depth: number
  chainId: number
}

/**
 * Check on the public chain that `txHash` exists, carries exactly `calldata` (hex), succeeded and is at least
 * `minDepth` blocks deep (default 1). Throws AnchorError ERR_ANCHOR_CHECK when it does not hold, ERR_ANCHOR_RPC
 * when the node cannot be asked.
 */
export async function checkEthAnchor(rpcUrl: string, a: { txHash: string; calldata: string; minDepth?: number; chainId?: number }): Promise<EthAnchorCheck> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { batchMaxCount: 1, polling: false })
  try {
    let net, tx, receipt, head
    try {
      net = await provider._detectNetwork()
      tx = await provider.getTransaction(a.txHash)
      receipt = await provider.getTransactionReceipt(a.txHash)
      head = await provider.getBlockNumber()
    } catch (err) {
      throw new AnchorError('ERR_ANCHOR_RPC', `cannot ask the Ethereum node at ${rpcUrl}: ${(err as Error).message}`, {}, { cause: err })
    }
    const chainId = Number(net.chainId)
    if (a.chainId !== undefined && a.chainId !== chainId) throw new AnchorError('ERR_ANCHOR_CHECK', `the receipt names chain ${a.chainId}, the node at ${rpcUrl} serves chain ${chainId}`)
    if (!tx) throw new AnchorError('ERR_ANCHOR_CHECK', `anchor tx ${a.txHash} is not on the chain at ${rpcUrl}`)
    const want = a.calldata.replace(/^0x/, '').toLowerCase()
    if (tx.data.replace(/^0x/, '').toLowerCase() !== want) throw new AnchorError('ERR_ANCHOR_CHECK', `anchor tx ${a.txHash} carries other data than the receipt`)
    if (!receipt || receipt.blockNumber === null) throw new AnchorError('ERR_ANCHOR_CHECK', `anchor tx ${a.txHash} is not mined`)
    if (receipt.status !== 1) throw new AnchorError('ERR_ANCHOR_CHECK', `anchor tx ${a.txHash} failed on chain`)
    const depth = head - receipt.blockNumber + 1
    const min = a.minDepth ?? 1
    if (depth < min) throw new AnchorError('ERR_ANCHOR_CHECK', `anchor tx ${a.txHash} is ${depth} blocks deep, the receipt states ${min}`)
    return { txHash: a.txHash, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash, depth, chainId }
  } finally {
    provider.destroy()
  }
}
