import { toHex } from './bytes.js'
import { inclusionSteps, leafHash, nodeHash } from './merkle.js'
import type { ChainpointOp } from './receipt.js'

/**
 * The block-log audit path as Chainpoint ops (RFC 6962 inner nodes: `l: "01"‖sibling` or `r: sibling, l: "01"`,
 * then sha-256), shared by the cross-chain (entanglement) and eth anchor branches.
 */
export function blockLogPathOps(index: number, size: number, path: Uint8Array[]): ChainpointOp[] {
  const ops: ChainpointOp[] = []
  for (const step of inclusionSteps(index, size, path)) {
    if (step.siblingOnLeft) ops.push({ l: `01${toHex(step.sibling)}` }, { op: 'sha-256' })
    else ops.push({ r: toHex(step.sibling) }, { l: '01' }, { op: 'sha-256' })
  }
  return ops
}

/** The block-log root the audit path leads to from a block hash (leaf `index` of a tree of `size`). */
export function blockLogRootOfPath(blockHash: Uint8Array, index: number, size: number, path: Uint8Array[]): Uint8Array {
  let r = leafHash(blockHash)
  for (const step of inclusionSteps(index, size, path)) r = step.siblingOnLeft ? nodeHash(step.sibling, r) : nodeHash(r, step.sibling)
  return r
}
