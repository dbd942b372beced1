import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  auditPathFromLevels,
  concatBytes,
  EMPTY_ROOT,
  fromBase64,
  inclusionProof,
  inclusionSteps,
  leafHash,
  merkleLevels,
  merkleRoot,
  ProofError,
  rootFromInclusionProof,
  sha256,
  utf8,
  verifyInclusion,
} from '../src/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const vectorsDir = join(here, 'fixtures/rfc6962-merkle/testdata/inclusion')

interface InclusionVector {
  leafIdx: number
  treeSize: number
  root: string | null
  leafHash: string | null
  proof: string[] | null
  desc: string
  wantErr: boolean
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.json') ? [p] : []
  })
}

const b64 = (s: string | null) => (s === null ? new Uint8Array(0) : fromBase64(s))

describe('RFC 6962 inclusion vectors (transparency-dev/merkle)', () => {
  const files = walk(vectorsDir).sort()
  it('has the vectors', () => {
    expect(files.length).toBeGreaterThan(90)
  })
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector
    it(`${relative(vectorsDir, file)}: ${v.desc} (wantErr=${v.wantErr})`, () => {
      const leaf = b64(v.leafHash)
      const root = b64(v.root)
      const proof = (v.proof ?? []).map(b64)
      expect(verifyInclusion(leaf, v.leafIdx, v.treeSize, proof, root)).toBe(!v.wantErr)
      if (!v.wantErr) {
        expect(rootFromInclusionProof(leaf, v.leafIdx, v.treeSize, proof)).toEqual(root)
      } else {
        // Either the path is malformed (ProofError) or it leads to another root; never another error type.
        try {
          expect(rootFromInclusionProof(leaf, v.leafIdx, v.treeSize, proof)).not.toEqual(root)
        } catch (err) {
          expect(err).toBeInstanceOf(ProofError)
        }
      }
    })
  }
})

// Reference implementation straight from RFC 6962 §2.1 (MTH and PATH), recursive and slow on purpose.
const H = (...parts: Uint8Array[]) => sha256(concatBytes(...parts))
function k(n: number): number {
  let p = 1
  while (p * 2 < n) p *= 2
  return p
}
function MTH(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return H()
  if (d.length === 1) return H(Uint8Array.of(0), d[0])
  const s = k(d.length)
  return H(Uint8Array.of(1), MTH(d.slice(0, s)), MTH(d.slice(s)))
}
function PATH(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return []
  const s = k(d.length)
  return m < s
    ? [...PATH(m, d.slice(0, s)), MTH(d.slice(s))]
    : [...PATH(m - s, d.slice(s)), MTH(d.slice(0, s))]
}

describe('Merkle tree against the RFC 6962 §2.1 reference', () => {
  it('empty root is SHA-256("")', () => {
    expect(EMPTY_ROOT).toEqual(sha256(new Uint8Array(0)))
    expect(merkleRoot([])).toEqual(MTH([]))
  })

  it('root and every audit path agree for sizes 0..70', () => {
    for (let n = 0; n <= 70; n++) {
      const data = Array.from({ length: n }, (_, i) => utf8(`leaf-${i}`))
      const leaves = data.map(leafHash)
      const root = merkleRoot(leaves)
      expect(root, `root n=${n}`).toEqual(MTH(data))
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(leaves, m)
        expect(proof, `path n=${n} m=${m}`).toEqual(PATH(m, data))
        expect(verifyInclusion(leaves[m], m, n, proof, root)).toBe(true)
      }
    }
  })

  it('inclusionProof rejects an index outside the tree', () => {
    const leaves = [leafHash(utf8('a')), leafHash(utf8('b'))]
    expect(() => inclusionProof(leaves, 2)).toThrow(ProofError)
    expect(() => inclusionProof(leaves, -1)).toThrow(ProofError)
    expect(() => inclusionProof([], 0)).toThrow(ProofError)
  })

  it('size is authenticated only through the path shape (documented RFC 6962 property)', () => {
    const { leaves, levels, root } = makeTree(1021, 7)
    const proof = auditPathFromLevels(levels, 0)
    expect(verifyInclusion(leaves[0], 0, 1022, proof, root)).toBe(true)
    expect(verifyInclusion(leaves[0], 0, 2042, proof, root)).toBe(false)
  })

  it('merkleLevels ends in the root', () => {
    const leaves = Array.from({ length: 13 }, (_, i) => leafHash(Uint8Array.of(i)))
    const levels = merkleLevels(leaves)
    expect(levels[levels.length - 1]).toEqual([merkleRoot(leaves)])
  })
})

// Random leaves of a random tree, proofs generated once per tree.
const treeArb = fc
  .integer({ min: 1, max: 2000 })
  .chain((n) => fc.record({ n: fc.constant(n), seed: fc.integer(), index: fc.nat({ max: n - 1 }) }))

function makeTree(n: number, seed: number) {
  const leaves = Array.from({ length: n }, (_, i) => sha256(utf8(`${seed}:${i}`)))
  const levels = merkleLevels(leaves)
  return { leaves, levels, root: levels[levels.length - 1][0] }
}

/** Left/right orientation string of the proof for (index, size), or 'invalid'. */
function shape(index: number, size: number, proof: Uint8Array[]): string {
  try {
    return inclusionSteps(index, size, proof)
      .map((s) => (s.siblingOnLeft ? 'L' : 'R'))
      .join('')
  } catch {
    return 'invalid'
  }
}

function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const c = b.slice()
  c[(bit >> 3) % c.length] ^= 1 << (bit & 7)
  return c
}

describe('Merkle properties', () => {
  it('every leaf of random trees of 1..2000 leaves verifies', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), fc.integer(), (n, seed) => {
        const { leaves, levels, root } = makeTree(n, seed)
        for (let i = 0; i < n; i++) {
          const proof = auditPathFromLevels(levels, i)
          if (!verifyInclusion(leaves[i], i, n, proof, root)) return false
        }
        return true
      }),
      { numRuns: 8 },
    )
  })

  it('any single-bit change to leaf, proof, root, index or size fails verification', () => {
    fc.assert(
      fc.property(
        treeArb,
        fc.nat(255),
        fc.nat(),
        fc.integer({ min: 1, max: 2 ** 20 }),
        ({ n, seed, index }, bit, pick, delta) => {
          const { leaves, levels, root } = makeTree(n, seed)
          const proof = auditPathFromLevels(levels, index)
          const leaf = leaves[index]
          expect(verifyInclusion(leaf, index, n, proof, root)).toBe(true)
          expect(verifyInclusion(flipBit(leaf, bit), index, n, proof, root)).toBe(false)
          expect(verifyInclusion(leaf, index, n, proof, flipBit(root, bit))).toBe(false)
          if (proof.length > 0) {
            const j = pick % proof.length
            const bad = proof.slice()
            bad[j] = flipBit(proof[j], bit)
            expect(verifyInclusion(leaf, index, n, bad, root)).toBe(false)
            // A dropped or extra element fails too.
            expect(verifyInclusion(leaf, index, n, proof.slice(0, -1), root)).toBe(false)
          }
          expect(verifyInclusion(leaf, index, n, [...proof, root], root)).toBe(false)
          // Index: ±delta and xor with a non-zero mask.
          for (const other of [index + delta, index - delta, index ^ (1 + (pick % 1024))]) {
            if (other !== index) expect(verifyInclusion(leaf, other, n, proof, root)).toBe(false)
          }
          // Size: RFC 6962 inclusion proofs do not authenticate the tree size by themselves (leaf 0 of
          // 1021 and of 1022 leaves has the same path shape). A different size verifies exactly when the
          // path shape for (index, size) is identical; otherwise it must fail. Profichain binds the size
          // through the signed header's txCount (see receipt tests, ERR_RECEIPT_TREE_SIZE).
          const want = shape(index, n, proof)
          for (const size of [n + delta, n - delta, n ^ (1 << (bit % 12)), n * 2, n >> 1]) {
            if (size === n) continue
            expect(verifyInclusion(leaf, index, size, proof, root)).toBe(shape(index, size, proof) === want)
          }
        },
      ),
      { numRuns: 150 },
    )
  })
})
