import {
  auditPathFromLevels,
  blockHash,
  blockHashHex,
  blockLeaves,
  buildChainpointReceipt,
  buildCrossChainpoint,
  buildCrossNative,
  buildNativeReceipt,
  createBlock,
  decodeAnchorPayload,
  entangleLabel,
  keyPairFromSeed,
  type KeyPair,
  merkleLevels,
  ProofError,
  signHeader,
  sha256,
  stripTx,
  createTransaction,
  utf8,
  verifyCrossChainpoint,
  verifyCrossNative,
  ZERO_HASH,
  leafHash as coreLeaf,
} from '@profichain/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  anchorDedupeKey,
  anchorNoteChecker,
  appendSignatures,
  cosign,
  createAnchorTx,
  decodeEntanglementProof,
  decodeWitnessReply,
  EntangleError,
  type EntanglementContext,
  type EntanglementProof,
  encodeEntanglementProof,
  encodeWitnessReply,
  formatCheckpoint,
  formatVkey,
  leafHash,
  noteVerifier,
  parseVkey,
  rootOf,
  signNote,
  verifyEntanglementProof,
} from '../src/index.js'

const key = (tag: number): KeyPair => keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => (tag * 13 + i) & 0xff))
const A_ORIGIN = 'a.example/profichain/plant-1'
const B_ORIGIN = 'b.example/profichain/plant-2'
const aValidator = key(1)
const bValidator = key(2)
const recorder = key(3)

/** A's block at `height` with one record; A's log of `size` leaves; A's checkpoint cosigned by B; B's block with the anchor. */
function world(height = 3, size = 6, bKey = bValidator) {
  const rec = createTransaction(recorder, { network: 'net-a', seq: 0, timestamp: 1_700_000_000_000, payload: utf8('reading 42'), metadata: { source: 'file', path: 'r.csv' } })
  const blockA = createBlock({ network: 'net-a', height, timestamp: 1_700_000_000_500, prevHash: ZERO_HASH, producer: aValidator.publicKey, txs: [stripTx(rec)] })
  blockA.header.signatures.push(signHeader(blockA.header, aValidator))
  const leaves = Array.from({ length: size }, (_, i) => (i === height ? leafHash(blockHash(blockA.header)) : leafHash(utf8(`b${i}`))))
  const root = rootOf(leaves)
  const text = formatCheckpoint({ origin: A_ORIGIN, size, root, extensions: [] })
  const signed = signNote(text, [{ name: A_ORIGIN, keyPair: aValidator }])
  const note = appendSignatures(signed, [cosign(text, B_ORIGIN, bKey, 1_700_000_001)])
  const anchorTx = createAnchorTx({ network: 'net-b', key: bKey, seq: 0, partnerOrigin: A_ORIGIN, size, root, note, timestamp: 1_700_000_002_000 })
  const filler = createTransaction(key(9), { network: 'net-b', seq: 0, timestamp: 1, payload: utf8('x') })
  const blockB = createBlock({ network: 'net-b', height: 11, timestamp: 1_700_000_003_000, prevHash: ZERO_HASH, producer: bKey.publicKey, txs: [stripTx(filler), stripTx(anchorTx)] })
  blockB.header.signatures.push(signHeader(blockB.header, bKey))
  const proof: EntanglementProof = {
    partnerOrigin: B_ORIGIN,
    partnerGenesisHash: new Uint8Array(32).fill(7),
    anchorBase: 'http://b.example:8545',
    payload: anchorTx.payload,
    tx: stripTx(anchorTx),
    leafIndex: 1,
    auditPath: auditPathFromLevels(merkleLevels(blockLeaves(blockB.txs)), 1),
    header: blockB.header,
  }
  const ctx: EntanglementContext = {
    ownOrigin: A_ORIGIN,
    ownVerifiers: [parseVkey(formatVkey(A_ORIGIN, aValidator.publicKey))],
    partner: { origin: B_ORIGIN, verifiers: [noteVerifier(B_ORIGIN, bValidator.publicKey)] },
  }
  const levels = merkleLevels(leaves)
  return { rec, blockA, blockB, proof, ctx, note, root, size, height, logPath: auditPathFromLevels(levels, height) }
}


function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof EntangleError || err instanceof ProofError) return err.code
    throw err
  }
  return 'no error'
}

describe('anchor tx', () => {
  it('kind anchor, payload = magic ‖ root ‖ note, metadata names the partner and size; dedupe key per (origin, size)', () => {
    const w = world()
    const tx = createAnchorTx({ network: 'net-b', key: bValidator, seq: 4, partnerOrigin: A_ORIGIN, size: w.size, root: w.root, note: w.note })
    expect(tx.body.kind).toBe('anchor')
    expect(tx.body.metadata).toEqual({ source: 'anchor', partner: A_ORIGIN, size: String(w.size) })
    expect(decodeAnchorPayload(tx.payload)).toEqual({ root: w.root, note: w.note })
    expect(anchorDedupeKey(A_ORIGIN, 6)).toBe(`anchor:${A_ORIGIN}:6`)
  })
})

describe('entanglement proof', () => {
  it('round-trips and verifies', () => {
    const w = world()
    const bytes = encodeEntanglementProof(w.proof)
    const back = decodeEntanglementProof(bytes)
    expect(encodeEntanglementProof(back)).toEqual(bytes)
    const v = verifyEntanglementProof(back, w.ctx)
    expect(v.checkpoint.size).toBe(w.size)
    expect(v.blockHash).toBe(blockHashHex(w.blockB.header))
    expect(v.cosignedAt).toBe(1_700_000_001)
  })

  it('refuses: forged header signature, producer not a partner validator, tx not in block, foreign checkpoint, missing cosignature', () => {
    const w = world()
    const badSig = structuredClone(w.proof)
    badSig.header.signatures[0].signature[0] ^= 1
    expect(codeOf(() => verifyEntanglementProof(badSig, w.ctx))).toBe('ERR_ENTANGLE_HEADER')
    const other = world(3, 6, key(5))
    expect(codeOf(() => verifyEntanglementProof(other.proof, w.ctx))).toBe('ERR_ENTANGLE_HEADER')
    const wrongIdx = { ...w.proof, leafIndex: 0 }
    expect(codeOf(() => verifyEntanglementProof(wrongIdx, w.ctx))).toBe('ERR_ENTANGLE_INCLUSION')
    const otherPayload = { ...w.proof, payload: utf8('not it') }
    expect(codeOf(() => verifyEntanglementProof(otherPayload, w.ctx))).toBe('ERR_ENTANGLE_TX')
    const notOurs: EntanglementContext = { ...w.ctx, ownOrigin: 'c.example/x', ownVerifiers: [noteVerifier('c.example/x', aValidator.publicKey)] }
    expect(codeOf(() => verifyEntanglementProof(w.proof, notOurs))).toBe('ERR_ENTANGLE_CHECKPOINT')
    const otherPartnerName: EntanglementContext = { ...w.ctx, partner: { origin: 'z.example/log', verifiers: w.ctx.partner.verifiers } }
    expect(codeOf(() => verifyEntanglementProof({ ...w.proof, partnerOrigin: 'z.example/log' }, otherPartnerName))).toBe('ERR_ENTANGLE_COSIGNATURE')
  })

  it('fuzz: random and mutated bytes → EntangleError ERR_ENTANGLE_MALFORMED or a verification error, never anything else', () => {
    const w = world()
    const good = encodeEntanglementProof(w.proof)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (random, at, x) => {
        for (const bytes of [random, good.map((b, i) => (i === at % good.length ? b ^ x : b))]) {
          try {
            verifyEntanglementProof(decodeEntanglementProof(bytes), w.ctx)
          } catch (err) {
            expect(err).toBeInstanceOf(EntangleError)
          }
        }
      }),
      { numRuns: 300 },
    )
  })

  it('witness reply wire: round-trip and fuzz', () => {
    const r = { status: 409, contentType: 'text/x.tlog.size', body: utf8('12\n') }
    expect(decodeWitnessReply(encodeWitnessReply(r))).toEqual(r)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        try {
          decodeWitnessReply(b)
        } catch (err) {
          expect(err).toBeInstanceOf(EntangleError)
        }
      }),
    )
  })
})

describe('cross receipts with real notes', () => {
  it('A’s record → A block → checkpoint → B anchor → B block; the note check needs A’s signature and B’s cosignature', () => {
    const w = world()
    const input = { tx: w.blockA.txs[0], header: w.blockA.header, leafIndex: 0, auditPath: [], anchorBase: 'http://a.example:8545' }
    const e = {
      partnerOrigin: B_ORIGIN,
      blockLogIndex: w.height,
      blockLogSize: w.size,
      blockLogPath: w.logPath,
      payload: w.proof.payload,
      anchor: { tx: w.proof.tx, header: w.proof.header, leafIndex: w.proof.leafIndex, auditPath: w.proof.auditPath, anchorBase: w.proof.anchorBase },
    }
    const cp = buildCrossChainpoint(buildChainpointReceipt(input), e)
    const check = anchorNoteChecker({ origin: A_ORIGIN, verifiers: w.ctx.ownVerifiers }, [w.ctx.partner], entangleLabel)
    const v = verifyCrossChainpoint(cp, { payload: utf8('reading 42'), verifyNote: check })
    expect(v.entanglements[0].anchor.blockHash).toBe(blockHashHex(w.blockB.header))
    const wrongPartner = anchorNoteChecker({ origin: A_ORIGIN, verifiers: w.ctx.ownVerifiers }, [{ origin: B_ORIGIN, verifiers: [noteVerifier(B_ORIGIN, key(8).publicKey)] }], entangleLabel)
    expect(codeOf(() => verifyCrossChainpoint(cp, { verifyNote: wrongPartner }))).toBe('ERR_RECEIPT_SIGNATURE')
    const noPartner = anchorNoteChecker({ origin: A_ORIGIN, verifiers: w.ctx.ownVerifiers }, [], entangleLabel)
    expect(codeOf(() => verifyCrossChainpoint(cp, { verifyNote: noPartner }))).toBe('ERR_RECEIPT_NOT_VALIDATOR')
    const native = buildCrossNative(buildNativeReceipt(input), e)
    const nv = verifyCrossNative(native, { validators: [aValidator.publicKey], partnerValidators: () => [bValidator.publicKey], verifyNote: check })
    expect(nv.entanglements[0].partnerOrigin).toBe(B_ORIGIN)
    expect(coreLeaf(new Uint8Array(32))).toEqual(leafHash(new Uint8Array(32)))
  })
})

describe('vectors (docs/global-network.md)', () => {
  it('anchor payload and entanglement proof bytes are reproduced exactly', () => {
    const leaves = Array.from({ length: 6 }, (_, i) => leafHash(utf8(`b${i}`)))
    const root = rootOf(leaves)
    const text = formatCheckpoint({ origin: A_ORIGIN, size: 6, root, extensions: [] })
    const note = appendSignatures(signNote(text, [{ name: A_ORIGIN, keyPair: aValidator }]), [cosign(text, B_ORIGIN, bValidator, 1_700_000_001)])
    const tx = createAnchorTx({ network: 'net-b', key: bValidator, seq: 0, partnerOrigin: A_ORIGIN, size: 6, root, note, timestamp: 1_700_000_002_000 })
    const blk = createBlock({ network: 'net-b', height: 11, timestamp: 1_700_000_003_000, prevHash: ZERO_HASH, producer: bValidator.publicKey, txs: [stripTx(tx)] })
    blk.header.signatures.push(signHeader(blk.header, bValidator))
    const bytes = encodeEntanglementProof({ partnerOrigin: B_ORIGIN, partnerGenesisHash: new Uint8Array(32).fill(7), anchorBase: 'http://b.example:8545', payload: tx.payload, tx: stripTx(tx), leafIndex: 0, auditPath: [], header: blk.header })
    expect(formatVkey(A_ORIGIN, aValidator.publicKey)).toBe('a.example/profichain/plant-1+6abe74d0+AXYzqOdzUBZVhGHUmtPIO8voXKG8OcHQ9mlYvtoHcrAn')
    expect(formatVkey(B_ORIGIN, bValidator.publicKey)).toBe('b.example/profichain/plant-2+3871c38b+AVynd8fZ2Xn/SRJ8wFGWyUoHD6taXmx+yLgub48m/QFo')
    expect(Buffer.from(sha256(tx.payload)).toString('hex')).toBe('465d7c0b7736d5ebe39b811f0f8a7cbd10fe8345b27abade98c9ba46be6e67ef')
    expect(bytes.byteLength).toBe(939)
    expect(Buffer.from(sha256(bytes)).toString('hex')).toBe('c4fc886c2c911fc8f3427d206e44dd8a871c760c48616486c9f99d88d2be9d4d')
    expect(blockHashHex(blk.header)).toBe('adbe7a29b9a08df03545804f6dbe003d4247f04bf9497b50fd2bcbd1438f0765')
  })
})
