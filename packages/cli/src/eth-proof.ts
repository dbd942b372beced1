import { join, resolve } from 'node:path'
import { ethAnchorInput, readAnchors } from '@profichain/anchor'
import { buildEthChainpoint, buildEthNative, type ChainpointProof, type NativeReceipt } from '@profichain/core'
import { genesisCheckpoint, loadGenesis } from '@profichain/consensus'
import { createBlockLog } from '@profichain/global'
import type { BlockTree } from '@profichain/store'
import { loadConfig } from '@profichain/node'

/**
 * A stopped node's receipt gains the eth branch (docs/anchoring.md) from the oldest confirmed anchor in
 * `<dataDir>/anchor` whose checkpoint covers the record's block; unchanged when there is none.
 */
export async function withEthAnchor<R extends ChainpointProof | NativeReceipt>(dataDir: string, tree: BlockTree, txId: string, receipt: R): Promise<R> {
  const dir = resolve(dataDir)
  const loc = await tree.getTx(txId)
  if (!loc) return receipt
  const p = (await readAnchors(join(dir, 'anchor'))).filter((a) => a.size > loc.height).at(-1)
  if (!p) return receipt
  const config = await loadConfig(join(dir, 'config.toml'))
  const genesis = await loadGenesis(config.paths.genesis)
  const log = await createBlockLog(
    { depth: genesisCheckpoint(genesis).depth },
    { kv: tree.globalBuckets(), chain: { headHeight: () => tree.head().height, hashAtHeight: (h) => tree.getHashAtHeight(h), setFloor: async () => {} } },
  )
  if (p.size > log.size()) return receipt
  const input = ethAnchorInput(p, loc.height, await log.inclusionProof(loc.height, p.size))
  return ('type' in receipt && receipt.type === 'ProfichainReceipt' ? buildEthNative(receipt as NativeReceipt, input) : buildEthChainpoint(receipt as ChainpointProof, input)) as R
}
