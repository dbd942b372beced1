import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ANCHOR_PAYLOAD_MAGIC,
  auditPathFromLevels,
  blockHash,
  blockHashHex,
  blockLeaves,
  buildChainpointReceipt,
  buildCrossChainpoint,
  buildCrossNative,
  buildNativeReceipt,
  checkpointOfNote,
  createBlock,
  createTransaction,
  decodeAnchorPayload,
  encodeAnchorPayload,
  entangleLabel,
  type EntanglementInput,
  leafHash,
  merkleLevels,
  merkleRoot,
  ProofError,
  signHeader,
  toBase64,
  toHex,
  utf8,
  verifyCrossChainpoint,
  verifyCrossNative,
  ZERO_HASH,
} from '../src/index.js'
import { makeBlock, makeTx, proofCode, testKey } from './helpers.js'

const require = createRequire(import.meta.url)
const { validate } = require('chainpoint-proof-json-schema') as { validate: (o: unknown) => { valid: boolean; errors: unknown } }
const { parse } = require('chainpoint-parse') as {
  parse: (o: unknown) => { branches: Array<{ label?: string; anchors: Array<{ anchor_id: string; uris?: string[]; expected_value: string }>; branches?: Array<{ label?: string; anchors: Array<{ anchor_id: string; uris?: string[]; expected_value: string }> }> }> }
}

const A = 'http://a.example:8545'
const B = 'http://b.example:8545'
const recordKey = testKey(3)
const producerA = testKey(4)
const producerB = testKey(5)

/** A record in A's block at `height`; A's block log of `size` leaves; B's block holding the anchor tx. */
function scenario(height: number, size: number, bTxs = 3, noteExtra = '') {
  const rec = makeTx(recordKey, 7, utf8('the record'), { path: 'x.csv' })
  const blockA = makeBlock(producerA, [makeTx(recordKey, 6), rec], height)
  const hashes = Array.from({ length: size }, (_, i) => (i === height ? blockHash(blockA.header) : leafHash(utf8(`block ${i}`))))
  const logLeaves = hashes.map(leafHash)
  const root = merkleRoot(logLeaves)
  const note = `a.example/profichain/plant-1\n${size}\n${toBase64(root)}\n\n— a.example/profichain/plant-1 AAAAAAAAAA==\n— b.example/log ZZZZ${noteExtra}\n`
  const payload = encodeAnchorPayload({ root, note })
  const anchorTx = createTransaction(producerB, { network: 'testnet', kind: 'anchor', seq: 1, timestamp: 1_700_000_000_000, payload })
  const others = Array.from({ length: bTxs - 1 }, (_, i) => makeTx(testKey(9), i))
  const txsB = [...others.slice(0, 1), anchorTx, ...others.slice(1)]
  const blockB = createBlock({ network: 'testnet', height: 77, timestamp: 1_700_000_200_000, prevHash: ZERO_HASH, producer: producerB.publicKey, txs: txsB.map((t) => ({ body: t.body, signature: t.signature })) })
  blockB.header.signatures.push(signHeader(blockB.header, producerB))
  const idxB = txsB.indexOf(anchorTx)
  const levelsA = merkleLevels(blockLeaves(blockA.txs))
  const inputA = { tx: blockA.txs[1], header: blockA.header, leafIndex: 1, auditPath: auditPathFromLevels(levelsA, 1), anchorBase: A }
  const e: EntanglementInput = {
    partnerOrigin: 'b.example/log',
    blockLogIndex: height,
    blockLogSize: size,
    blockLogPath: auditPathFromLevels(merkleLevels(logLeaves), height),
    payload,
    anchor: { tx: blockB.txs[idxB], header: blockB.header, leafIndex: idxB, auditPath: auditPathFromLevels(merkleLevels(blockLeaves(blockB.txs)), idxB), anchorBase: B },
  }
  return { blockA, blockB, inputA, e, note, root }
}

describe('anchor payload', () => {
  it('layout: magic ‖ root ‖ note (vector)', () => {
    const root = new Uint8Array(32).fill(0xab)
    const p = encodeAnchorPayload({ root, note: 'o\n1\nx\n' })
    expect(toHex(p)).toBe(`${toHex(utf8('profichain-anchor/1\n'))}${'ab'.repeat(32)}${toHex(utf8('o\n1\nx\n'))}`)
    expect(ANCHOR_PAYLOAD_MAGIC.byteLength).toBe(20)
    expect(decodeAnchorPayload(p)).toEqual({ root, note: 'o\n1\nx\n' })
  })
  it('round-trips and refuses random / mutated bytes with a typed error (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ maxLength: 300 }), (root, note) => {
        expect(decodeAnchorPayload(encodeAnchorPayload({ root, note }))).toEqual({ root, note })
      }),
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, x) => {
        const good = encodeAnchorPayload({ root: new Uint8Array(32), note: 'n' })
        for (const b of [bytes, good.map((v, i) => (i === at % good.length ? v ^ x : v))]) {
          try {
            decodeAnchorPayload(b)
          } catch (err) {
            expect(err).toBeInstanceOf(ProofError)
          }
        }
      }),
    )
  })
  it('checkpointOfNote reads origin, size, root', () => {
    const cp = checkpointOfNote(`o.example/x\n12\n${toBase64(new Uint8Array(32).fill(1))}\n\n— o.example/x AAAA\n`)
    expect(cp.origin).toBe('o.example/x')
    expect(cp.size).toBe(12)
    expect(proofCode(() => checkpointOfNote('garbage'))).toBe('ERR_RECEIPT_FORMAT')
  })
})

describe('cross-chain Chainpoint receipts', () => {
  it('chainpoint-parse reports both anchors; the second expected_value is B’s block hash', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 9 }), (height, extra, bTxs) => {
        const s = scenario(height, height + 1 + extra, bTxs, 'x'.repeat(extra * 10))
        const cross = buildCrossChainpoint(buildChainpointReceipt(s.inputA), s.e)
        const v = validate(cross)
        expect(v.errors).toBeFalsy()
        expect(v.valid).toBe(true)
        const parsed = parse(cross)
        expect(parsed.branches[0].anchors[0].expected_value).toBe(blockHashHex(s.blockA.header))
        const nested = parsed.branches[0].branches?.[0]
        expect(nested?.label).toBe(entangleLabel('b.example/log'))
        expect(nested?.anchors[0].expected_value).toBe(blockHashHex(s.blockB.header))
        expect(nested?.anchors[0].anchor_id).toBe('77')
        expect(nested?.anchors[0].uris?.[0]).toBe(`${B}/networks/testnet/blocks/77/hash`)
        const r = verifyCrossChainpoint(cross, { payload: utf8('the record') })
        expect(r.record.blockHash).toBe(blockHashHex(s.blockA.header))
        expect(r.entanglements[0].anchor.blockHash).toBe(blockHashHex(s.blockB.header))
        expect(r.entanglements[0].checkpoint.size).toBe(height + 1 + extra)
        for (const b of [cross.branches[0], (cross.branches[0] as unknown as { branches: Array<{ ops: object[] }> }).branches[0]]) {
          for (const op of b.ops) for (const v of Object.values(op)) if (typeof v === 'string') expect(v.length).toBeLessThanOrEqual(512)
        }
      }),
      { numRuns: 15 },
    )
  })

  it('the note verifier is called; replacing the branch per partner keeps one', () => {
    const s = scenario(3, 5)
    const once = buildCrossChainpoint(buildChainpointReceipt(s.inputA), s.e)
    const twice = buildCrossChainpoint(once, s.e)
    expect(twice).toEqual(once)
    const seen: string[] = []
    verifyCrossChainpoint(twice, { verifyNote: (n, o) => seen.push(`${o}|${n}`) })
    expect(seen).toEqual([`${entangleLabel('b.example/log')}|${s.note}`])
    expect(proofCode(() => verifyCrossChainpoint(twice, { verifyNote: () => { throw new ProofError('ERR_RECEIPT_SIGNATURE', 'bad note') } }))).toBe('ERR_RECEIPT_SIGNATURE')
  })

  it('any mutated operand, dropped op or moved leaf fails with a typed error', () => {
    const s = scenario(5, 9)
    const cross = buildCrossChainpoint(buildChainpointReceipt(s.inputA), s.e)
    const nestedOps = (cross.branches[0] as unknown as { branches: Array<{ ops: Array<Record<string, string>> }> }).branches[0].ops
    let failures = 0
    for (let i = 0; i < nestedOps.length; i++) {
      const op = nestedOps[i]
      const k = Object.keys(op)[0]
      if (k === 'anchors') continue
      const mutated = structuredClone(cross)
      const ops = (mutated.branches[0] as unknown as { branches: Array<{ ops: Array<Record<string, unknown>> }> }).branches[0].ops
      if (k === 'op') ops.splice(i, 1)
      else {
        const v = op[k]
        ops[i] = { [k]: `${v.slice(0, -2)}${v.endsWith('00') ? '01' : '00'}` }
      }
      // Either refused, or (a changed sibling in B's own audit path) the proof computes another block of B,
      // which B's node / B's signed header then disowns.
      let bHash = ''
      const c = proofCode(() => (bHash = verifyCrossChainpoint(mutated).entanglements[0].anchor.blockHash))
      if (c === 'no error') expect(bHash).not.toBe(blockHashHex(s.blockB.header))
      else expect(c).toMatch(/^ERR_(RECEIPT|PROOF)_/)
      failures++
    }
    expect(failures).toBeGreaterThan(10)
    // The same branch under a record of another block (another leaf index) must fail.
    const other = scenario(4, 9)
    const wrong = structuredClone(buildChainpointReceipt(other.inputA)) as unknown as { branches: Array<Record<string, unknown>> }
    wrong.branches[0].branches = (cross.branches[0] as unknown as { branches: unknown }).branches
    expect(proofCode(() => verifyCrossChainpoint(wrong as never))).toMatch(/^ERR_RECEIPT_/)
  })

  it('building refuses inputs that do not fit together', () => {
    const s = scenario(2, 4)
    expect(proofCode(() => buildCrossChainpoint(buildChainpointReceipt(s.inputA), { ...s.e, blockLogIndex: 1 }))).toBe('ERR_RECEIPT_BUILD')
    expect(proofCode(() => buildCrossChainpoint(buildChainpointReceipt(s.inputA), { ...s.e, payload: encodeAnchorPayload({ root: s.root, note: `${s.note} ` }) }))).toBe('ERR_RECEIPT_BUILD')
  })
})

describe('cross-chain native receipts', () => {
  it('verify offline with both validator sets; wrong partner validators or path fail', () => {
    const s = scenario(6, 10)
    const native = buildCrossNative(buildNativeReceipt(s.inputA), s.e)
    const ok = verifyCrossNative(native, { payload: utf8('the record'), validators: [producerA.publicKey], partnerValidators: () => [producerB.publicKey] })
    expect(ok.entanglements[0].anchor.blockHash).toBe(blockHashHex(s.blockB.header))
    expect(proofCode(() => verifyCrossNative(native, { validators: [producerA.publicKey], partnerValidators: () => [producerA.publicKey] }))).toBe('ERR_RECEIPT_NOT_VALIDATOR')
    expect(proofCode(() => verifyCrossNative(native, { partnerValidators: () => undefined }))).toBe('ERR_RECEIPT_NOT_VALIDATOR')
    const bad = structuredClone(native)
    bad.entanglements[0].blockLogPath[0] = '00'.repeat(32)
    expect(proofCode(() => verifyCrossNative(bad))).toBe('ERR_RECEIPT_MERKLE')
    const badIdx = structuredClone(native)
    badIdx.entanglements[0].blockLogIndex = 5
    expect(proofCode(() => verifyCrossNative(badIdx))).toBe('ERR_RECEIPT_MERKLE')
    const badPayload = structuredClone(native)
    badPayload.entanglements[0].payload = toHex(encodeAnchorPayload({ root: s.root, note: `${s.note}x` }))
    expect(proofCode(() => verifyCrossNative(badPayload))).toMatch(/^ERR_RECEIPT_/)
  })
})

describe('fuzz: cross-chain decoders and verifiers throw ProofError only', () => {
  const s = scenario(3, 7)
  const cross = buildCrossChainpoint(buildChainpointReceipt(s.inputA), s.e)
  const native = buildCrossNative(buildNativeReceipt(s.inputA), s.e)
  const typed = (fn: () => unknown) => {
    try {
      fn()
    } catch (err) {
      expect(err).toBeInstanceOf(ProofError)
    }
  }
  it('checkpointOfNote on random text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (t) => typed(() => checkpointOfNote(t))))
    fc.assert(fc.property(fc.nat(), fc.string({ maxLength: 3 }), (at, x) => typed(() => checkpointOfNote(s.note.slice(0, at % s.note.length) + x + s.note.slice(at % s.note.length)))))
  })
  it('random nested branches and ops', () => {
    const op = fc.oneof(
      fc.record({ l: fc.oneof(fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('hex'))) }),
      fc.record({ r: fc.oneof(fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('hex'))) }),
      fc.constant({ op: 'sha-256' }),
      fc.constant({ op: 'sha-512' }),
      fc.constant({ anchors: [{ type: 'cal', anchor_id: '1', uris: ['http://x/networks/n/blocks/1/hash'] }] }),
      fc.anything(),
    )
    const nestedOps = (cross.branches[0] as unknown as { branches: Array<{ label: string; ops: unknown[] }> }).branches[0]
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), fc.nat(), fc.option(fc.string({ maxLength: 30 })), (ops, at, label) => {
        const spliced = [...nestedOps.ops.slice(0, at % nestedOps.ops.length), ...ops, ...nestedOps.ops.slice(at % nestedOps.ops.length)]
        for (const branch of [{ label: label ?? nestedOps.label, ops }, { label: nestedOps.label, ops: spliced }]) {
          const m = structuredClone(cross) as unknown as { branches: Array<{ branches: unknown[] }> }
          m.branches[0].branches = [branch]
          typed(() => verifyCrossChainpoint(m as never))
        }
      }),
      { numRuns: 300 },
    )
  })
  it('a partnerOrigin that is not a string (an object whose toString is not a function: fast-check seed -834045020) is a ProofError', () => {
    const m = structuredClone(native) as unknown as { entanglements: Array<Record<string, unknown>> }
    m.entanglements[0].partnerOrigin = { toString: 0 }
    expect(proofCode(() => verifyCrossNative(m as never, { partnerValidators: () => [producerB.publicKey] }))).toBe('ERR_RECEIPT_FORMAT')
  })
  it('random fields in native entanglements', () => {
    fc.assert(
      fc.property(fc.constantFrom('blockLogIndex', 'blockLogSize', 'blockLogPath', 'payload', 'anchor', 'partnerOrigin'), fc.anything(), (field, value) => {
        const m = structuredClone(native) as unknown as { entanglements: Array<Record<string, unknown>> }
        m.entanglements[0][field] = value
        typed(() => verifyCrossNative(m as never, { partnerValidators: () => [producerB.publicKey] }))
      }),
      { numRuns: 300 },
    )
  })
})
