import { join, resolve } from 'node:path'
import { genesisCheckpoint, loadGenesis } from '@profichain/consensus'
import { buildCrossChainpoint, buildCrossNative, type ChainpointProof, type NativeReceipt } from '@profichain/core'
import { createBlockLog, decodeEntanglementProof, loadPartners } from '@profichain/global'
import { loadConfig, PartnersStateFile } from '@profichain/node'
import type { BlockTree } from '@profichain/store'

/**
 * `proof --data-dir`: add every stored entanglement (one branch per partner whose proof covers the record's
 * block) to a receipt read from a stopped node, exactly as the running node upgrades its receipt files.
 */
export async function withEntanglements<R extends ChainpointProof | NativeReceipt>(dataDir: string, tree: BlockTree, txId: string, receipt: R): Promise<R> {
  const dir = resolve(dataDir)
  const config = await loadConfig(join(dir, 'config.toml'))
  const partners = await loadPartners(config.partners ?? [], dir)
  const loc = await tree.getTx(txId)
  if (!loc || partners.length === 0) return receipt
  const files = new PartnersStateFile(join(dir, 'partners'))
  const genesis = await loadGenesis(config.paths.genesis)
  const log = await createBlockLog(
    { depth: genesisCheckpoint(genesis).depth },
    { kv: tree.globalBuckets(), chain: { headHeight: () => tree.head().height, hashAtHeight: (h) => tree.getHashAtHeight(h), setFloor: async () => {} } },
  )
  let out: ChainpointProof | NativeReceipt = receipt
  for (const p of partners) {
    const size = (await files.entanglementSizes(p.origin)).find((s) => s > loc.height)
    if (size === undefined || size > log.size()) continue
    const proof = decodeEntanglementProof(await files.readEntanglement(p.origin, size))
    const input = {
      partnerOrigin: p.origin,
      blockLogIndex: loc.height,
      blockLogSize: size,
      blockLogPath: await log.inclusionProof(loc.height, size),
      payload: proof.payload,
      anchor: { tx: proof.tx, header: proof.header, leafIndex: proof.leafIndex, auditPath: proof.auditPath, anchorBase: proof.anchorBase },
    }
    out = 'type' in out && out.type === 'ProfichainReceipt' ? buildCrossNative(out as NativeReceipt, input) : buildCrossChainpoint(out as ChainpointProof, input)
  }
  return out as R
}
