import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  auditPathFromLevels,
  blockHash,
  blockLeaves,
  buildChainpointReceipt,
  buildEthChainpoint,
  buildEthNative,
  buildNativeReceipt,
  decodeEthCalldata,
  encodeEthCalldata,
  ETH_BRANCH_LABEL,
  type EthAnchorInput,
  leafHash,
  merkleLevels,
  merkleRoot,
  ProofError,
  sha256,
  toHex,
  utf8,
  verifyEthChainpoint,
  verifyEthNative,
  verifyNativeReceipt,
} from '../src/index.js'
import { makeBlock, makeTx, proofCode, testKey } from './helpers.js'

const require = createRequire(import.meta.url)
const { validate } = require('chainpoint-proof-json-schema') as { validate: (o: unknown) => { valid: boolean; errors: unknown } }
const { parse } = require('chainpoint-parse') as {
  parse: (o: unknown) => { branches: Array<{ anchors: Array<{ type: string; anchor_id: string; expected_value: string }>; branches?: Array<{ label?: string; anchors: Array<{ type: string; anchor_id: string; expected_value: string }> }> }> }
}
const TX = `0x${'ab'.repeat(32)}`

function scenario(height: number, size: number) {
  const key = testKey(3)
  const rec = makeTx(key, 7, utf8('the record'), { path: 'x.csv' })
  const block = makeBlock(testKey(4), [makeTx(key, 6), rec], height)
  const hashes = Array.from({ length: size }, (_, i) => (i === height ? blockHash(block.header) : leafHash(utf8(`block ${i}`))))
  const logLeaves = hashes.map(leafHash)
  const root = merkleRoot(logLeaves)
  const calldata = encodeEthCalldata({ origin: 'a.example/profichain/plant-1', size, root })
  const input = { tx: block.txs[1], header: block.header, leafIndex: 1, auditPath: auditPathFromLevels(merkleLevels(blockLeaves(block.txs)), 1), anchorBase: 'http://a.example:8545' }
  const e: EthAnchorInput = {
    chainId: 1337, txHash: TX, calldata, ethBlockNumber: 5, ethBlockHash: `0x${'cd'.repeat(32)}`, confirmations: 2,
    from: '0x1111111111111111111111111111111111111111', to: '0x1111111111111111111111111111111111111111', nonce: 0, gasUsed: '21000', effectiveGasPrice: '1000000000',
    blockLogIndex: height, blockLogPath: auditPathFromLevels(merkleLevels(logLeaves), height),
  }
  return { input, e, root, calldata }
}

describe('eth calldata', () => {
  it('layout: magic ‖ version ‖ origin length ‖ origin ‖ size u64 BE ‖ root (vector)', () => {
    const c = encodeEthCalldata({ origin: 'o.example/x', size: 7, root: new Uint8Array(32).fill(0xab) })
    expect(toHex(c)).toBe(`${toHex(utf8('profichain-eth'))}010b${toHex(utf8('o.example/x'))}0000000000000007${'ab'.repeat(32)}`)
    expect(toHex(sha256(c))).toBe('095bb24f276c3c45af2e42780ae7d7891f02218ee10d7156596687deba9d199a')
  })
  it('round-trips (property) and refuses random / mutated bytes with ProofError (fuzz)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 50 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (origin, size, root) => {
        expect(decodeEthCalldata(encodeEthCalldata({ origin, size, root }))).toEqual({ origin, size, root })
      }),
    )
    const good = encodeEthCalldata({ origin: 'a', size: 1, root: new Uint8Array(32) })
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, x) => {
        for (const b of [bytes, good.map((v, i) => (i === at % good.length ? v ^ x : v))]) {
          try {
            decodeEthCalldata(b)
          } catch (err) {
            expect(err).toBeInstanceOf(ProofError)
          }
        }
      }),
    )
  })
})

describe('eth anchor branch', () => {
  it('Chainpoint: schema-valid, chainpoint-parse reports the eth anchor with SHA-256(calldata); verifies offline', () => {
    for (const [h, n] of [[0, 1], [3, 8], [4, 11]] as const) {
      const { input, e, calldata } = scenario(h, n)
      const p = buildEthChainpoint(buildChainpointReceipt(input), e)
      expect(validate(p).valid).toBe(true)
      const parsed = parse(p)
      const nested = parsed.branches[0].branches?.find((b) => b.label === ETH_BRANCH_LABEL)
      expect(nested?.anchors).toEqual([{ type: 'eth', anchor_id: 'ab'.repeat(32), uris: undefined, expected_value: toHex(sha256(calldata)) }])
      const v = verifyEthChainpoint(p)
      expect(v.eth).toHaveLength(1)
      expect(v.eth[0]).toMatchObject({ txHash: TX, calldata: toHex(calldata), calldataHash: toHex(sha256(calldata)), checkpoint: { size: n } })
    }
  })
  it('Chainpoint: a tampered path, prefix or anchor is refused', () => {
    const { input, e } = scenario(3, 8)
    const p = buildEthChainpoint(buildChainpointReceipt(input), e)
    const branch = () => (p.branches[0] as unknown as { branches: Array<{ ops: Array<Record<string, unknown>> }> }).branches[0]
    const ops = structuredClone(branch().ops)
    const mutate = (f: (o: Array<Record<string, unknown>>) => void) => {
      const q = structuredClone(p)
      f((q.branches[0] as unknown as { branches: Array<{ ops: Array<Record<string, unknown>> }> }).branches[0].ops)
      return () => verifyEthChainpoint(q)
    }
    // A changed path still evaluates offline, but to other calldata: only the public chain can refuse it.
    const changed = mutate((o) => { o[2] = { l: `01${'00'.repeat(32)}` } })() as ReturnType<typeof verifyEthChainpoint>
    expect(changed.eth[0].calldataHash).not.toBe(verifyEthChainpoint(p).eth[0].calldataHash)
    expect(proofCode(mutate((o) => { o[ops.length - 3] = { l: '00' } }))).toBe('ERR_RECEIPT_FORMAT')
    expect(proofCode(mutate((o) => { o[ops.length - 1] = { anchors: [{ type: 'cal', anchor_id: '1' }] } }))).toBe('ERR_RECEIPT_STRUCTURE')
    expect(proofCode(() => buildEthChainpoint(buildChainpointReceipt(input), { ...e, blockLogIndex: 2 }))).toBe('ERR_RECEIPT_BUILD')
  })
  it('a mutated eth branch is refused with a typed error or evaluates to other calldata, never a crash (fuzz)', () => {
    const { input, e, calldata } = scenario(3, 8)
    const good = buildEthChainpoint(buildChainpointReceipt(input), e)
    const want = toHex(sha256(calldata))
    const values = fc.oneof(fc.constant('00'), fc.constant(''), fc.constant('zz'), fc.string({ maxLength: 70 }), fc.constant('01'.repeat(33)), fc.constant({ anchors: [] }), fc.constant(null), fc.constant({ op: 'sha-256' }))
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom('l', 'r', 'op', 'drop', 'swap'), values, (at, how, v) => {
        const q = structuredClone(good)
        const ops = (q.branches[0] as unknown as { branches: Array<{ ops: unknown[] }> }).branches[0].ops
        const i = at % ops.length
        if (how === 'drop') ops.splice(i, 1)
        else if (how === 'swap') ops.splice(i, 0, ops.splice((i + 1) % ops.length, 1)[0])
        else ops[i] = v === null || typeof v === 'object' ? v : { [how]: v }
        try {
          const r = verifyEthChainpoint(q)
          for (const x of r.eth) if (x.calldataHash === want) expect(x.txHash).toBe(TX)
        } catch (err) {
          expect(err).toBeInstanceOf(ProofError)
        }
      }),
      { numRuns: 300 },
    )
  })
  it('native: ethAnchors carry the tx fields and verify offline; a wrong path fails', () => {
    const { input, e, calldata } = scenario(4, 11)
    const r = buildEthNative(buildNativeReceipt(input), e)
    const a = verifyNativeReceipt(r)
    const v = verifyEthNative(r, a.height)
    expect(v).toEqual([{ txHash: TX, calldata: toHex(calldata), calldataHash: toHex(sha256(calldata)), checkpoint: expect.objectContaining({ size: 11 }), confirmations: 2, chainId: 1337 }])
    const bad = structuredClone(r)
    bad.ethAnchors[0].blockLogPath[0] = '00'.repeat(32)
    expect(proofCode(() => verifyEthNative(bad, a.height))).toBe('ERR_RECEIPT_MERKLE')
  })
})
