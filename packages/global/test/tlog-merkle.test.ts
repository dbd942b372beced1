// RFC 6962 / RFC 9162 Merkle proofs: the transparency-dev/merkle vectors (fixtures/rfc6962-merkle), the
// reference tree of transparency-dev's testonly/constants.go, and properties (generation ↔ verification).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { sha256, toHex } from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CompactRange,
  TlogError,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  leafHash,
  memorySubtree,
  nodeHash,
  rootOf,
  subtreeFromNodes,
  verifyConsistency,
  verifyInclusion,
} from '../src/tlog/index.js'

const VECTORS = join(import.meta.dirname, 'fixtures/rfc6962-merkle/testdata')
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.json') ? [p] : []
  })
}

interface InclusionVector { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; desc: string; wantErr: boolean }
interface ConsistencyVector { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; desc: string; wantErr: boolean }

// transparency-dev/merkle testonly/constants.go (Apache-2.0): leaf inputs and the roots of their prefixes.
const LEAF_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex)
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]
const LEAVES = LEAF_INPUTS.map(leafHash)

describe('RFC 6962 hashing', () => {
  it('leaf and node hashes are domain-separated SHA-256; the empty tree is SHA-256("")', () => {
    expect(toHex(leafHash(new Uint8Array(0)))).toBe(toHex(sha256(new Uint8Array([0]))))
    expect(toHex(nodeHash(hex('aa'), hex('bb')))).toBe(toHex(sha256(hex('01aabb'))))
    expect(toHex(emptyRoot())).toBe(ROOTS[0])
    expect(toHex(rootOf([]))).toBe(ROOTS[0])
    expect(toHex(new CompactRange().root())).toBe(ROOTS[0])
  })

  it('rootOf and CompactRange give the reference roots of every prefix of the reference tree', () => {
    const range = new CompactRange()
    for (let n = 0; n <= LEAVES.length; n++) {
      expect(toHex(rootOf(LEAVES.slice(0, n))), `size ${n}`).toBe(ROOTS[n])
      expect(toHex(range.root()), `compact ${n}`).toBe(ROOTS[n])
      if (n < LEAVES.length) range.append(LEAVES[n])
    }
  })
})

describe('transparency-dev vectors', () => {
  const inclusion = files(join(VECTORS, 'inclusion'))
  const consistency = files(join(VECTORS, 'consistency'))

  it('has the vectors (fixtures copied with their LICENSE and SOURCE)', () => {
    expect(inclusion.length).toBeGreaterThan(80)
    expect(consistency.length).toBeGreaterThan(80)
  })

  it('verifyInclusion accepts exactly the vectors that want no error', () => {
    let ok = 0
    for (const f of inclusion) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as InclusionVector
      const got = verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root))
      expect(got, `${f}: ${v.desc}`).toBe(!v.wantErr)
      if (got) ok++
    }
    expect(ok).toBeGreaterThan(5)
  })

  it('verifyConsistency accepts exactly the vectors that want no error', () => {
    let ok = 0
    for (const f of consistency) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as ConsistencyVector
      const got = verifyConsistency(v.size1, v.size2, b64(v.root1), b64(v.root2), (v.proof ?? []).map(b64))
      expect(got, `${f}: ${v.desc}`).toBe(!v.wantErr)
      if (got) ok++
    }
    expect(ok).toBeGreaterThan(5)
  })

  it('generated proofs over the reference tree equal the happy-path vectors byte for byte', async () => {
    const subtree = memorySubtree(LEAVES)
    let n = 0
    for (const f of inclusion.filter((p) => p.endsWith('happy-path.json'))) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as InclusionVector
      if (v.treeSize > LEAVES.length || toHex(b64(v.leafHash)) !== toHex(LEAVES[v.leafIdx])) continue
      const proof = await inclusionProof(v.leafIdx, v.treeSize, subtree)
      expect(proof.map(toHex), f).toEqual((v.proof ?? []).map((p) => toHex(b64(p))))
      n++
    }
    for (const f of consistency.filter((p) => p.endsWith('happy-path.json'))) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as ConsistencyVector
      if (v.size2 > LEAVES.length) continue
      const proof = await consistencyProof(v.size1, v.size2, subtree)
      expect(proof.map(toHex), f).toEqual((v.proof ?? []).map((p) => toHex(b64(p))))
      n++
    }
    expect(n).toBeGreaterThanOrEqual(8)
  })
})

const leavesArb = (max: number) =>
  fc.integer({ min: 1, max }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: 2 ** 31 })))

function makeLeaves(n: number, seed: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(new Uint8Array(Buffer.from(`${seed}:${i}`))))
}

function flipBit(proof: Uint8Array[], bit: number): Uint8Array[] {
  const out = proof.map((p) => p.slice())
  const i = Math.floor(bit / 256) % out.length
  out[i][Math.floor((bit % 256) / 8)] ^= 1 << bit % 8
  return out
}

describe('proof properties', () => {
  it('inclusion proofs verify for every leaf of random trees; any flipped bit, other index or size fails', async () => {
    await fc.assert(
      fc.asyncProperty(leavesArb(300), fc.nat(), fc.nat(), async ([n, seed], pick, bit) => {
        const leaves = makeLeaves(n, seed)
        const root = rootOf(leaves)
        const index = pick % n
        const proof = await inclusionProof(index, n, memorySubtree(leaves))
        expect(verifyInclusion(index, n, leaves[index], proof, root)).toBe(true)
        expect(verifyInclusion(index, n, leaves[(index + 1) % n], proof, root)).toBe(n === 1)
        if (proof.length > 0) expect(verifyInclusion(index, n, leaves[index], flipBit(proof, bit), root)).toBe(false)
        if (proof.length > 0) expect(verifyInclusion(index, n, leaves[index], proof.slice(1), root)).toBe(false)
        expect(verifyInclusion(index, n, leaves[index], [...proof, root], root)).toBe(false)
        if (n > 1) expect(verifyInclusion(index ^ 1, n, leaves[index], proof, root)).toBe(false)
        const badRoot = root.slice()
        badRoot[bit % 32] ^= 1
        expect(verifyInclusion(index, n, leaves[index], proof, badRoot)).toBe(false)
      }),
      { numRuns: 150 },
    )
  })

  it('consistency proofs verify between any two sizes; any flipped bit or other size fails', async () => {
    await fc.assert(
      fc.asyncProperty(leavesArb(300), fc.nat(), fc.nat(), async ([n, seed], pick, bit) => {
        const leaves = makeLeaves(n, seed)
        const m = 1 + (pick % n)
        const oldRoot = rootOf(leaves.slice(0, m))
        const newRoot = rootOf(leaves)
        const proof = await consistencyProof(m, n, memorySubtree(leaves))
        expect(verifyConsistency(m, n, oldRoot, newRoot, proof)).toBe(true)
        if (proof.length > 0) {
          expect(verifyConsistency(m, n, oldRoot, newRoot, flipBit(proof, bit))).toBe(false)
          expect(verifyConsistency(m, n, oldRoot, newRoot, proof.slice(0, -1))).toBe(false)
          expect(verifyConsistency(m, n, oldRoot, newRoot, [...proof, newRoot])).toBe(false)
          if (m > 1) expect(verifyConsistency(m - 1, n, oldRoot, newRoot, proof)).toBe(false)
        } else {
          expect(m).toBe(n)
        }
        const bad = newRoot.slice()
        bad[bit % 32] ^= 0x80
        expect(verifyConsistency(m, n, oldRoot, bad, proof)).toBe(false)
        expect(verifyConsistency(m, n, bad, newRoot, proof)).toBe(false)
      }),
      { numRuns: 150 },
    )
  })

  it('CompactRange.root() equals rootOf after every append, and survives toJSON/fromJSON', () => {
    fc.assert(
      fc.property(leavesArb(200), ([n, seed]) => {
        const leaves = makeLeaves(n, seed)
        let r = new CompactRange()
        for (let i = 0; i < n; i++) {
          r.append(leaves[i])
          if (i % 7 === 3) r = CompactRange.fromJSON(JSON.parse(JSON.stringify(r)))
          expect(r.size).toBe(i + 1)
          expect(toHex(r.root())).toBe(toHex(rootOf(leaves.slice(0, i + 1))))
        }
        expect(r.hashes.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n + 1)))
      }),
      { numRuns: 60 },
    )
  })

  it('proofs from the perfect nodes CompactRange.append returns equal the in-memory ones, in O(log² n) node reads', async () => {
    await fc.assert(
      fc.asyncProperty(leavesArb(300), fc.nat(), async ([n, seed], pick) => {
        const leaves = makeLeaves(n, seed)
        const nodes = new Map<string, Uint8Array>()
        const range = new CompactRange()
        for (const leaf of leaves) for (const nd of range.append(leaf)) nodes.set(`${nd.level}/${nd.index}`, nd.hash)
        let reads = 0
        const stored = subtreeFromNodes(async (level, index) => {
          reads++
          const h = nodes.get(`${level}/${index}`)
          if (h === undefined) throw new Error(`node ${level}/${index} was never returned by append`)
          return h
        })
        const bound = (Math.ceil(Math.log2(n)) + 2) ** 2
        const index = pick % n
        expect((await inclusionProof(index, n, stored)).map(toHex)).toEqual((await inclusionProof(index, n, memorySubtree(leaves))).map(toHex))
        expect(reads).toBeLessThanOrEqual(bound)
        reads = 0
        const m = 1 + (pick % n)
        expect((await consistencyProof(m, n, stored)).map(toHex)).toEqual((await consistencyProof(m, n, memorySubtree(leaves))).map(toHex))
        expect(reads).toBeLessThanOrEqual(bound)
        expect(toHex(await stored(0, n))).toBe(toHex(range.root()))
      }),
      { numRuns: 100 },
    )
    await expect(async () => subtreeFromNodes(() => new Uint8Array(32))(3, 3)).rejects.toMatchObject({ code: 'ERR_PROOF_RANGE' })
    await expect(subtreeFromNodes(() => new Uint8Array(2))(0, 1)).rejects.toMatchObject({ code: 'ERR_PROOF_RANGE' })
  })

  it('sizes beyond 2^32 are handled with exact arithmetic (no 32-bit shifts)', async () => {
    // A tree of 2^33 + 5 equal leaves: a perfect subtree's hash depends only on its height, so every subtree
    // hash costs O(log n) and generation and verification must agree on paths beyond 32 bits.
    const leaf = leafHash(new Uint8Array([7]))
    const perfect = [leaf]
    for (let h = 1; h < 40; h++) perfect.push(nodeHash(perfect[h - 1], perfect[h - 1]))
    const hashOf = (start: number, end: number): Uint8Array => {
      const n = end - start
      const h = Math.log2(n)
      if (Number.isInteger(h)) return perfect[h]
      let k = 1
      while (k * 2 < n) k *= 2
      return nodeHash(hashOf(start, start + k), hashOf(start + k, end))
    }
    const size = 2 ** 33 + 5
    const root = hashOf(0, size)
    for (const index of [0, 2 ** 32 + 3, size - 2, size - 1]) {
      const proof = await inclusionProof(index, size, hashOf)
      expect(verifyInclusion(index, size, leaf, proof, root), `leaf ${index}`).toBe(true)
      expect(verifyInclusion(index, size, leaf, flipBit(proof, index % 256), root)).toBe(false)
    }
    for (const old of [1, 2 ** 31 + 1, 2 ** 32, 2 ** 32 + 1, size - 1]) {
      const proof = await consistencyProof(old, size, hashOf)
      expect(verifyConsistency(old, size, hashOf(0, old), root, proof), `from ${old}`).toBe(true)
      expect(verifyConsistency(old, size, hashOf(0, old), root, flipBit(proof, old % 256))).toBe(false)
    }
  })

  it('generation refuses out-of-range arguments with ERR_PROOF_RANGE; verification just says false', async () => {
    const s = memorySubtree(LEAVES)
    for (const [i, n] of [[0, 0], [8, 8], [-1, 8], [1.5, 8], [0, Number.MAX_SAFE_INTEGER + 2]]) {
      await expect(inclusionProof(i, n, s)).rejects.toMatchObject({ code: 'ERR_PROOF_RANGE' })
    }
    for (const [a, b] of [[5, 4], [-1, 3], [0.5, 3]]) {
      await expect(consistencyProof(a, b, s)).rejects.toMatchObject({ code: 'ERR_PROOF_RANGE' })
    }
    await expect(inclusionProof(0, 2, () => new Uint8Array(31))).rejects.toBeInstanceOf(TlogError)
    expect(await consistencyProof(0, 8, s)).toEqual([])
    expect(await consistencyProof(8, 8, s)).toEqual([])
    const root = rootOf(LEAVES)
    expect(verifyInclusion(NaN, 8, LEAVES[0], [], root)).toBe(false)
    expect(verifyInclusion(0, Infinity, LEAVES[0], [], root)).toBe(false)
    expect(verifyConsistency(0, 8, emptyRoot(), root, [])).toBe(false)
    expect(verifyConsistency(8, 8, root, root, [])).toBe(true)
    expect(verifyConsistency(8, 8, root, root, [root])).toBe(false)
  })

  it('CompactRange.fromJSON refuses every malformed state with ERR_COMPACT_RANGE (fuzz)', () => {
    fc.assert(
      fc.property(fc.anything(), (junk) => {
        try {
          const r = CompactRange.fromJSON(junk)
          // Only a well-formed state is accepted: it round-trips.
          expect(JSON.stringify(r.toJSON())).toBe(JSON.stringify(junk))
        } catch (err) {
          expect(err).toBeInstanceOf(TlogError)
          expect((err as TlogError).code).toBe('ERR_COMPACT_RANGE')
        }
      }),
      { numRuns: 500 },
    )
    expect(() => CompactRange.fromJSON({ size: 3, hashes: ['00'.repeat(32)] })).toThrow(TlogError)
    expect(() => CompactRange.fromJSON({ size: 1, hashes: ['AA'.repeat(32)] })).toThrow(TlogError)
    expect(CompactRange.fromJSON({ size: 3, hashes: ['00'.repeat(32), '11'.repeat(32)] }).size).toBe(3)
    expect(() => new CompactRange().append(new Uint8Array(31))).toThrow(TlogError)
  })
})
