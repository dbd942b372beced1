// RFC 6962 §2.1 / RFC 9162 §2.1 Merkle tree hashing, inclusion and consistency proofs over 32-byte leaf hashes.
// Sizes and indexes are JavaScript numbers (safe integers, < 2^53): no 32-bit bit operations anywhere.
import { equalBytes, fromHex, isHex, sha256, toHex } from '@profichain/core'
import { TlogError } from './errors.js'

/** Hash of leaves [start, end) of the tree (a range proof generation asks for). May be async (a DB read). */
export type SubtreeHash = (start: number, end: number) => Uint8Array | Promise<Uint8Array>

const HASH_SIZE = 32
const EMPTY_ROOT = sha256(new Uint8Array(0))

/** SHA-256("") — the root of the empty tree (RFC 6962 §2.1). */
export function emptyRoot(): Uint8Array {
  return EMPTY_ROOT.slice()
}

/** RFC 6962 leaf hash: SHA-256(0x00 ‖ data). A block log's leaf i is leafHash(blockHash_i). */
export function leafHash(data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + data.length)
  buf[0] = 0x00
  buf.set(data, 1)
  return sha256(buf)
}

/** RFC 6962 interior node: SHA-256(0x01 ‖ l ‖ r). */
export function nodeHash(l: Uint8Array, r: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + l.length + r.length)
  buf[0] = 0x01
  buf.set(l, 1)
  buf.set(r, 1 + l.length)
  return sha256(buf)
}

/** The largest power of two strictly smaller than n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE
}

/** Merkle tree hash (RFC 6962 MTH) of the given leaf hashes; the empty tree is SHA-256(""). */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return emptyRoot()
  const mth = (start: number, end: number): Uint8Array => {
    if (end - start === 1) return leafHashes[start] as Uint8Array
    const k = splitPoint(end - start)
    return nodeHash(mth(start, start + k), mth(start + k, end))
  }
  return mth(0, leafHashes.length)
}

/** A SubtreeHash over leaf hashes held in memory (tests, small trees): O(end − start) per call. */
export function memorySubtree(leafHashes: readonly Uint8Array[]): SubtreeHash {
  return (start, end) => rootOf(leafHashes.slice(start, end))
}

async function subtreeHash(subtree: SubtreeHash, start: number, end: number): Promise<Uint8Array> {
  const h = await subtree(start, end)
  if (!isHash(h)) throw new TlogError('ERR_PROOF_RANGE', `the subtree hash of leaves [${start}, ${end}) is not 32 bytes`)
  return h
}

/**
 * RFC 9162 §2.1.3.1 inclusion proof (PATH) of leaf `index` in a tree of `size` leaves, deepest sibling first.
 * Throws TlogError ERR_PROOF_RANGE unless 0 ≤ index < size (safe integers).
 */
export async function inclusionProof(index: number, size: number, subtree: SubtreeHash): Promise<Uint8Array[]> {
  if (!isSize(index) || !isSize(size) || index >= size) {
    throw new TlogError('ERR_PROOF_RANGE', `no inclusion proof for leaf ${index} in a tree of ${size} leaves`, { index, size })
  }
  const path: Uint8Array[] = []
  // Walk down from the root, collecting siblings top-down; reversed at the end (deepest first).
  let start = 0
  let end = size
  while (end - start > 1) {
    const k = splitPoint(end - start)
    if (index < start + k) {
      path.push(await subtreeHash(subtree, start + k, end))
      end = start + k
    } else {
      path.push(await subtreeHash(subtree, start, start + k))
      start += k
    }
  }
  return path.reverse()
}

/**
 * RFC 9162 §2.1.4.1 consistency proof (PROOF(m, D[n])) from `oldSize` to `newSize`. Empty when oldSize is 0 or
 * equal to newSize. Throws TlogError ERR_PROOF_RANGE unless 0 ≤ oldSize ≤ newSize (safe integers).
 */
export async function consistencyProof(oldSize: number, newSize: number, subtree: SubtreeHash): Promise<Uint8Array[]> {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize) {
    throw new TlogError('ERR_PROOF_RANGE', `no consistency proof from size ${oldSize} to ${newSize}`, { oldSize, newSize })
  }
  if (oldSize === 0 || oldSize === newSize) return []
  // SUBPROOF(m, D[start:end], b), iteratively: collected top-down, reversed at the end.
  const out: Uint8Array[] = []
  let m = oldSize
  let start = 0
  let end = newSize
  let complete = true
  for (;;) {
    const n = end - start
    if (m === n) {
      if (!complete) out.push(await subtreeHash(subtree, start, end))
      break
    }
    const k = splitPoint(n)
    if (m <= k) {
      out.push(await subtreeHash(subtree, start + k, end))
      end = start + k
    } else {
      out.push(await subtreeHash(subtree, start, start + k))
      m -= k
      start += k
      complete = false
    }
  }
  return out.reverse()
}

/**
 * RFC 9162 §2.1.3.2. True iff `proof` proves that `leaf` is leaf `index` of the tree of `size` leaves whose root
 * is `root`. Returns false (never throws) for anything else, including out-of-range sizes and hashes that are not
 * 32 bytes.
 */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!isSize(index) || !isSize(size) || index >= size) return false
  if (!isHash(leaf) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && equalBytes(r, root)
}

/**
 * RFC 9162 §2.1.4.2. True iff `proof` proves that the tree of `oldSize` leaves with root `oldRoot` is a prefix of
 * the tree of `newSize` leaves with root `newRoot`. Equal sizes need an empty proof and equal roots. As in
 * transparency-dev/merkle, a proof from the empty tree (oldSize 0) is meaningless and returns false: callers that
 * accept "anything is consistent with the empty tree" (the tlog-witness old size 0) handle it before calling.
 * Returns false (never throws) for anything else, including hashes that are not 32 bytes.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize || oldSize === 0 || !Array.isArray(proof)) return false
  if (!(oldRoot instanceof Uint8Array) || !(newRoot instanceof Uint8Array)) return false
  // Equal sizes: the roots must be equal (compared as given, as transparency-dev does) and the proof empty.
  if (oldSize === newSize) return proof.length === 0 && equalBytes(oldRoot, newRoot)
  if (!isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false
  if (proof.length === 0) return false
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof]
  let fn = oldSize - 1
  let sn = newSize - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0] as Uint8Array
  let sr = fr
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot)
}

function isPowerOfTwo(n: number): boolean {
  let k = 1
  while (k < n) k *= 2
  return k === n
}

/** Hash of the perfect subtree at `level` covering leaves [index·2^level, (index+1)·2^level) (level 0 = leaf hashes). */
export type NodeHash = (level: number, index: number) => Uint8Array | Promise<Uint8Array>

/** A perfect subtree hash created by CompactRange.append: store it under (level, index) to serve subtreeFromNodes. */
export interface PerfectNode {
  level: number
  index: number
  hash: Uint8Array
}

/**
 * A SubtreeHash computed from stored perfect-subtree hashes (the nodes CompactRange.append returns): any range a
 * proof asks for — an aligned perfect subtree, or a right edge [start, size) — costs O(log n) node reads.
 */
export function subtreeFromNodes(node: NodeHash): SubtreeHash {
  const mth = async (start: number, end: number): Promise<Uint8Array> => {
    const n = end - start
    let size = 1
    let level = 0
    while (size < n) {
      size *= 2
      level++
    }
    if (size === n && start % n === 0) {
      const h = await node(level, start / n)
      if (!isHash(h)) throw new TlogError('ERR_PROOF_RANGE', `the stored node (${level}, ${start / n}) is not a 32-byte hash`)
      return h
    }
    const k = splitPoint(n)
    return nodeHash(await mth(start, start + k), await mth(start + k, end))
  }
  return (start, end) => {
    if (!isSize(start) || !isSize(end) || start >= end) {
      throw new TlogError('ERR_PROOF_RANGE', `no subtree [${start}, ${end})`, { start, end })
    }
    return mth(start, end)
  }
}

/** The persisted form of a CompactRange: size and the hex hashes of its perfect subtrees, largest first. */
export interface CompactRangeJSON {
  size: number
  hashes: string[]
}

function popCount(n: number): number {
  let c = 0
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2
  return c
}

/**
 * The right border of a tree of `size` leaves [0, size): one perfect-subtree hash per set bit of size, largest
 * first. O(log n) state; append is O(1) amortised; root() is O(log n). Persist with toJSON/fromJSON.
 */
export class CompactRange {
  #size: number
  readonly #hashes: Uint8Array[]

  constructor() {
    this.#size = 0
    this.#hashes = []
  }

  get size(): number {
    return this.#size
  }

  /** The perfect-subtree hashes, largest (leftmost) first (copies). */
  get hashes(): Uint8Array[] {
    return this.#hashes.map((h) => h.slice())
  }

  /**
   * Appends leaf `size` (a 32-byte leaf hash). Returns the perfect subtree hashes this completes, leaf first
   * ({level 0, index size}, then each parent): a log that stores them can build proofs with subtreeFromNodes.
   */
  append(leaf: Uint8Array): PerfectNode[] {
    if (!isHash(leaf)) throw new TlogError('ERR_COMPACT_RANGE', 'a leaf hash must be 32 bytes')
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new TlogError('ERR_COMPACT_RANGE', 'the tree is full')
    let h: Uint8Array = leaf.slice()
    let index = this.#size
    let level = 0
    const nodes: PerfectNode[] = [{ level, index, hash: h.slice() }]
    for (let s = this.#size; s % 2 === 1; s = Math.floor(s / 2)) {
      h = nodeHash(this.#hashes.pop() as Uint8Array, h)
      level++
      index = Math.floor(index / 2)
      nodes.push({ level, index, hash: h.slice() })
    }
    this.#hashes.push(h)
    this.#size += 1
    return nodes
  }

  /** RFC 6962 root of the leaves appended so far (SHA-256("") when empty). */
  root(): Uint8Array {
    if (this.#hashes.length === 0) return emptyRoot()
    let r = this.#hashes[this.#hashes.length - 1] as Uint8Array
    for (let i = this.#hashes.length - 2; i >= 0; i--) r = nodeHash(this.#hashes[i] as Uint8Array, r)
    return r.slice()
  }

  clone(): CompactRange {
    return CompactRange.fromJSON(this.toJSON())
  }

  toJSON(): CompactRangeJSON {
    return { size: this.#size, hashes: this.#hashes.map((h) => toHex(h)) }
  }

  /** Throws TlogError ERR_COMPACT_RANGE unless `json` is {size, hashes} with popcount(size) 64-hex hashes. */
  static fromJSON(json: unknown): CompactRange {
    const bad = (why: string): never => {
      throw new TlogError('ERR_COMPACT_RANGE', `invalid compact range state: ${why}`)
    }
    if (typeof json !== 'object' || json === null) return bad('not an object')
    const { size, hashes } = json as { size?: unknown; hashes?: unknown }
    if (typeof size !== 'number' || !isSize(size)) return bad('size is not a non-negative safe integer')
    if (!Array.isArray(hashes)) return bad('hashes is not an array')
    if (hashes.length !== popCount(size)) return bad(`a tree of ${size} leaves has ${popCount(size)} border hashes, not ${hashes.length}`)
    const r = new CompactRange()
    for (const h of hashes) {
      if (typeof h !== 'string' || !isHex(h, HASH_SIZE) || h !== h.toLowerCase()) return bad('a hash is not 64 lowercase hex digits')
      r.#hashes.push(fromHex(h))
    }
    r.#size = size
    return r
  }
}
