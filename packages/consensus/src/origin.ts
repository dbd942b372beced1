import { equalBytes, type StrippedTx, toHex, txIdHex } from '@profichain/core'

import { ConsensusError } from './errors.js'
import type { Genesis } from './types.js'

const memberKeys = new WeakMap<Genesis, Set<string>>()

/** Lower-case hex public keys of the genesis members, built once per genesis object. */
function membersOf(genesis: Genesis): Set<string> {
  let keys = memberKeys.get(genesis)
  if (keys === undefined) {
    keys = new Set(genesis.members.map((m) => m.publicKey.toLowerCase()))
    memberKeys.set(genesis, keys)
  }
  return keys
}

/**
 * Whether `origin` (an Ed25519 public key) may originate records: today exactly the genesis members, of
 * any role. The one place this rule lives (gossip, mempool, producer and block import all ask it), so
 * registered devices can be added here later.
 */
export function isAllowedOrigin(genesis: Genesis, origin: Uint8Array): boolean {
  return origin.byteLength === 32 && membersOf(genesis).has(toHex(origin))
}

/**
 * Throw ConsensusError `ERR_ORIGIN_NOT_MEMBER` naming the first tx whose origin may not originate records.
 * `block` (height and hash hex) goes into the error's metadata when the txs come from a block.
 */
export function checkTxOrigins(
  genesis: Genesis,
  txs: readonly StrippedTx[],
  block?: { height: number; blockHash: string },
): void {
  let allowed: Uint8Array | undefined
  for (let i = 0; i < txs.length; i++) {
    const origin = txs[i].body.origin
    // Runs of one origin are common (a node's own batch): skip the hex + set lookup for a repeat.
    if (allowed !== undefined && equalBytes(origin, allowed)) continue
    if (isAllowedOrigin(genesis, origin)) {
      allowed = origin
      continue
    }
    const id = txIdHex(txs[i])
    const where = block ? ` in block ${block.height} (${block.blockHash.slice(0, 16)}…)` : ''
    const code = 'ERR_ORIGIN_NOT_MEMBER'
    throw new ConsensusError(
      code,
      `tx ${id} (index ${i})${where} is signed by ${toHex(origin)}, which is not a member of network "${genesis.network}": only genesis members may originate records`,
      { txId: id, origin: toHex(origin), index: i, ...(block ?? {}) },
    )
  }
}
