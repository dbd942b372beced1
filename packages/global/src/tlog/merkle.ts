// RFC 6962 §2.1 / RFC 9162 §2.1 Merkle tree hashing, inclusion and consistency proofs over 32-byte leaf hashes.
import { TlogError } from './errors.js'

const notYet = (): never => {
  throw new TlogError('ERR_PROOF_RANGE', 'not implemented yet')
}

/** Hash of leaves [start, end) of the tree (a range proof generation asks for). May be async (a DB read). */
export type SubtreeHash = (start: number, end: number) => Uint8Array | Promise<Uint8Array>

/** RFC 6962 leaf hash: SHA-256(0x00 ‖ data). A block log's leaf i is leafHash(blockHash_i). */
export function leafHash(data: Uint8Array): Uint8Array {
  void data
  return notYet()
}

/** RFC 6962 interior node: SHA-256(0x01 ‖ l ‖ r). */
export function nodeHash(l: Uint8Array, r: Uint8Array): Uint8Array {
  void l, void r
  return notYet()
}

/** Merkle tree hash of the given leaf hashes; the empty tree is SHA-256(""). */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  void leafHashes
  return notYet()
}

/** RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in a tree of `size` leaves. */
export async function inclusionProof(index: number, size: number, subtree: SubtreeHash): Promise<Uint8Array[]> {
  void index, void size, void subtree
  return notYet()
}

/** RFC 9162 §2.1.4.1 consistency proof from `oldSize` to `newSize` (empty when oldSize is 0 or equal). */
export async function consistencyProof(oldSize: number, newSize: number, subtree: SubtreeHash): Promise<Uint8Array[]> {
  void oldSize, void newSize, void subtree
  return notYet()
}

/** RFC 9162 §2.1.3.2. Returns false for any proof that does not verify or any out-of-range argument; never throws. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  void index, void size, void leaf, void proof, void root
  return notYet()
}

/** RFC 9162 §2.1.4.2. Returns false for any proof that does not verify or any out-of-range argument; never throws. */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  void oldSize, void newSize, void oldRoot, void newRoot, void proof
  return notYet()
}

/** The persisted form of a CompactRange: size and the hex hashes of its perfect subtrees, largest first. */
export interface CompactRangeJSON {
  size: number
  hashes: string[]
}

/** The right border of a tree of `size` leaves (one hash per set bit of size): O(log n) state, appends in O(1) amortised. */
export class CompactRange {
  get size(): number {
    return notYet()
  }
  append(leafHash: Uint8Array): void {
    void leafHash
    notYet()
  }
  root(): Uint8Array {
    return notYet()
  }
  toJSON(): CompactRangeJSON {
    return notYet()
  }
  static fromJSON(json: unknown): CompactRange {
    void json
    return notYet()
  }
}
