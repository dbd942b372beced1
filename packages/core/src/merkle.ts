import { equalBytes } from './bytes.js'
import { ProofError } from './errors.js'
import { sha256 } from './hash.js'

/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree: leaf = SHA-256(0x00 ‖ d), node = SHA-256(0x01 ‖ l ‖ r),
 * split at the largest power of two below n, empty root = SHA-256(""). Built bottom-up: a lone last
 * node is promoted unchanged, which yields exactly the RFC tree.
 */

const scratch = new Uint8Array(65)

export function leafHash(data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + data.byteLength)
  buf.set(data, 1)
  return sha256(buf)
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  scratch[0] = 1
  scratch.set(left, 1)
  scratch.set(right, 33)
  return sha256(scratch)
}

export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0))

/** All levels of the tree, leaves first, root level last. */
export function merkleLevels(leafHashes: readonly Uint8Array[]): Uint8Array[][] {
  const levels: Uint8Array[][] = [leafHashes.slice()]
  let level = levels[0]
  while (level.length > 1) {
    const next: Uint8Array[] = new Array(Math.ceil(level.length / 2))
    for (let i = 0; i + 1 < level.length; i += 2) next[i >> 1] = nodeHash(level[i], level[i + 1])
    if (level.length % 2 === 1) next[next.length - 1] = level[level.length - 1]
    levels.push(next)
    level = next
  }
  return levels
}

export function merkleRoot(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return EMPTY_ROOT
  const levels = merkleLevels(leafHashes)
  return levels[levels.length - 1][0]
}

/** Audit path (RFC 9162 §2.1.3.1) for leaf `index` from precomputed levels. */
export function auditPathFromLevels(levels: readonly Uint8Array[][], index: number): Uint8Array[] {
  const size = levels[0].length
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new ProofError('ERR_PROOF_INDEX', `leaf index ${index} outside a tree of ${size} leaves`)
  }
  const path: Uint8Array[] = []
  let i = index
  for (let l = 0; l < levels.length - 1; l++) {
    const level = levels[l]
    const sibling = i ^ 1
    if (sibling < level.length) path.push(level[sibling])
    i >>= 1
  }
  return path
}

export function inclusionProof(leafHashes: readonly Uint8Array[], index: number): Uint8Array[] {
  return auditPathFromLevels(merkleLevels(leafHashes), index)
}

/** One step of a proof: whether the sibling is hashed on the left. Used by receipts to emit ops. */
export interface PathStep {
  sibling: Uint8Array
  siblingOnLeft: boolean
}

/**
 * RFC 9162 §2.1.3.2: the steps that take leaf `index` of a `size`-leaf tree to the root, or a ProofError
 * when the path has the wrong length for (index, size).
 */
export function inclusionSteps(index: number, size: number, proof: readonly Uint8Array[]): PathStep[] {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || size < 1 || index >= size) {
    throw new ProofError('ERR_PROOF_INDEX', `leaf index ${index} outside a tree of ${size} leaves`)
  }
  let fn = index
  let sn = size - 1
  const steps: PathStep[] = []
  for (const p of proof) {
    if (p.byteLength !== 32) throw new ProofError('ERR_PROOF_MALFORMED', 'audit path entries must be 32 bytes')
    if (sn === 0) throw new ProofError('ERR_PROOF_LENGTH', 'audit path is longer than the tree is deep')
    if (fn % 2 === 1 || fn === sn) {
      steps.push({ sibling: p, siblingOnLeft: true })
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1
          sn >>= 1
        }
      }
    } else {
      steps.push({ sibling: p, siblingOnLeft: false })
    }
    fn >>= 1
    sn >>= 1
  }
  if (sn !== 0) throw new ProofError('ERR_PROOF_LENGTH', 'audit path is shorter than the tree is deep')
  return steps
}

/** Root implied by a leaf hash and its audit path; throws ProofError on a malformed path. */
export function rootFromInclusionProof(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[]): Uint8Array {
  if (leaf.byteLength !== 32) throw new ProofError('ERR_PROOF_MALFORMED', 'leaf hash must be 32 bytes')
  let r = leaf
  for (const step of inclusionSteps(index, size, proof)) {
    r = step.siblingOnLeft ? nodeHash(step.sibling, r) : nodeHash(r, step.sibling)
  }
  return r
}

/** True when `proof` shows leaf hash `leaf` at `index` in the `size`-leaf tree with `root`. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    return equalBytes(rootFromInclusionProof(leaf, index, size, proof), root)
  } catch (err) {
    if (err instanceof ProofError) return false
    throw err
  }
}
