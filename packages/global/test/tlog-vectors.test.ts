// The vectors of docs/transparency-log.md (fixtures/tlog-vectors.json) are what the code produces, byte for byte.
// They were also checked once with an independent implementation (Python `cryptography`, written from the specs).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fromHex, keyPairFromSeed, sha256, toHex } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import {
  addCheckpoint,
  consistencyProof,
  cosignerVerifier,
  formatAddCheckpoint,
  formatCheckpoint,
  formatCosignerVkey,
  formatSkey,
  formatVkey,
  inclusionProof,
  leafHash,
  memorySubtree,
  noteVerifier,
  openNote,
  parseVkey,
  rootOf,
  signNote,
  verifyConsistency,
  verifyInclusion,
  type WitnessState,
} from '../src/tlog/index.js'

const V = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/tlog-vectors.json'), 'utf8')) as Record<string, unknown> & {
  origin: string
  witnessName: string
  roots: string[]
  consistencyProof_3_5: string[]
  inclusionProof_2_5: string[]
  leafHashes: string[]
  checkpoint5: string
  cosignedCheckpoint5: string
}
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('docs/transparency-log.md vectors', () => {
  it('are reproduced byte for byte', async () => {
    const logKey = keyPairFromSeed(sha256(enc('profichain tlog vector log')))
    const witKey = keyPairFromSeed(sha256(enc('profichain tlog vector witness')))
    const blocks = Array.from({ length: 5 }, (_, i) => sha256(enc(`block ${i}`)))
    const leaves = blocks.map(leafHash)
    const cp = (n: number) => formatCheckpoint({ origin: V.origin, size: n, root: rootOf(leaves.slice(0, n)), extensions: [] })
    const note3 = signNote(cp(3), [{ name: V.origin, keyPair: logKey }])
    const note5 = signNote(cp(5), [{ name: V.origin, keyPair: logKey }])
    const proof = await consistencyProof(3, 5, memorySubtree(leaves))
    const body = formatAddCheckpoint({ oldSize: 3, proof, note: note5 })
    let state: WitnessState = { size: 3, root: rootOf(leaves.slice(0, 3)), note: note3 }
    const res = await addCheckpoint(body, {
      logs: (o) => (o === V.origin ? { origin: V.origin, verifiers: [noteVerifier(V.origin, logKey.publicKey)], threshold: 1 } : undefined),
      state: {
        get: async () => state,
        compareAndSwap: async (_o, _e, next) => {
          state = next
          return true
        },
      },
      signer: { name: V.witnessName, keyPair: witKey },
      now: () => 1764400000000,
    })
    expect({
      logSeed: toHex(logKey.seed),
      logPublicKey: toHex(logKey.publicKey),
      logVkey: formatVkey(V.origin, logKey.publicKey),
      logSkey: formatSkey(V.origin, logKey),
      witnessSeed: toHex(witKey.seed),
      witnessPublicKey: toHex(witKey.publicKey),
      witnessVkey: formatCosignerVkey(V.witnessName, witKey.publicKey),
      blockHashes: blocks.map(toHex),
      leafHashes: leaves.map(toHex),
      roots: [0, 1, 2, 3, 4, 5].map((n) => toHex(rootOf(leaves.slice(0, n)))),
      inclusionProof_2_5: (await inclusionProof(2, 5, memorySubtree(leaves))).map(toHex),
      consistencyProof_3_5: proof.map(toHex),
      checkpoint3: note3,
      checkpoint5: note5,
      addCheckpointRequest: body,
      addCheckpointStatus: res.status,
      addCheckpointResponse: res.body,
      cosignedCheckpoint5: state.note,
    }).toEqual(Object.fromEntries(Object.entries(V).filter(([k]) => !['about', 'origin', 'witnessName'].includes(k))))
  })

  it('verify from the documented values alone', () => {
    const root5 = fromHex(V.roots[5])
    expect(verifyInclusion(2, 5, fromHex(V.leafHashes[2]), V.inclusionProof_2_5.map(fromHex), root5)).toBe(true)
    expect(verifyConsistency(3, 5, fromHex(V.roots[3]), root5, V.consistencyProof_3_5.map(fromHex))).toBe(true)
    const log = parseVkey(V.logVkey as string)
    const wit = parseVkey(V.witnessVkey as string)
    expect(wit).toEqual(cosignerVerifier(V.witnessName, wit.publicKey))
    expect(openNote(V.cosignedCheckpoint5, [log, wit]).verified.map((s) => s.name)).toEqual([V.origin, V.witnessName])
  })
})
