import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  auditPathFromLevels,
  type Block,
  blockHashHex,
  blockLeaves,
  buildChainpointReceipt,
  buildNativeReceipt,
  type ChainpointProof,
  decodeHeader,
  encodeHeader,
  encodeHeaderBody,
  encodeStrippedTx,
  evaluateChainpoint,
  fromHex,
  merkleLevels,
  type NativeReceipt,
  signHeader,
  type Transaction,
  toHex,
  txIdHex,
  ulidFor,
  utf8,
  verifyChainpointReceipt,
  verifyNativeReceipt,
} from '../src/index.js'
import { makeBlock, makeTx, proofCode, testKey } from './helpers.js'

const require = createRequire(import.meta.url)
const { validate } = require('chainpoint-proof-json-schema') as {
  validate: (o: unknown) => { valid: boolean; errors: unknown }
}
const { parse } = require('chainpoint-parse') as {
  parse: (o: unknown) => {
    hash: string
    branches: Array<{
      label?: string
      anchors: Array<{ type: string; anchor_id: string; uris?: string[]; expected_value: string }>
    }>
  }
}

const here = dirname(fileURLToPath(import.meta.url))
const ANCHOR = 'http://127.0.0.1:8545/'
const origin = testKey(3)
const producer = testKey(4)

function receiptsOf(block: Block) {
  const levels = merkleLevels(blockLeaves(block.txs))
  return block.txs.map((tx, i) => {
    const input = {
      tx,
      header: block.header,
      leafIndex: i,
      auditPath: auditPathFromLevels(levels, i),
      anchorBase: ANCHOR,
    }
    return { chainpoint: buildChainpointReceipt(input), native: buildNativeReceipt(input) }
  })
}

const blockSpec = fc.record({
  n: fc.integer({ min: 1, max: 300 }),
  longEvery: fc.integer({ min: 1, max: 7 }),
  height: fc.nat({ max: 2 ** 40 }),
  salt: fc.nat(),
})

function buildBlock({
  n,
  longEvery,
  height,
  salt,
}: {
  n: number
  longEvery: number
  height: number
  salt: number
}) {
  const txs: Transaction[] = []
  for (let i = 0; i < n; i++) {
    // Every few txs carry ~1.5 KiB of metadata: the stripped-tx suffix then spans several 256-byte `r` operands.
    const metadata: Record<string, string> =
      i % longEvery === 0
        ? { path: `dir/${i}.csv`, note: 'x'.repeat(700), more: 'y'.repeat(800) }
        : { path: `${i}` }
    txs.push(makeTx(origin, salt + i, utf8(`record ${salt}:${i}`), metadata))
  }
  return { txs, block: makeBlock(producer, txs, height) }
}

describe('Chainpoint v5 receipts', () => {
  it('validate with chainpoint-proof-json-schema; chainpoint-parse and evaluateChainpoint give the block hash', () => {
    let multiChunk = 0
    fc.assert(
      fc.property(blockSpec, (spec) => {
        const { block } = buildBlock(spec)
        const bh = blockHashHex(block.header)
        for (const { chainpoint } of receiptsOf(block)) {
          const v = validate(chainpoint)
          expect(v.errors).toBeFalsy()
          expect(v.valid).toBe(true)
          const parsed = parse(chainpoint)
          expect(parsed.branches[0].anchors[0].expected_value).toBe(bh)
          expect(parsed.branches[0].anchors[0].anchor_id).toBe(String(spec.height))
          const ev = evaluateChainpoint(chainpoint)
          expect(ev.map((e) => e.expected)).toEqual([bh])
          for (const op of chainpoint.branches[0].ops) {
            if ('l' in op) expect(op.l.length).toBeLessThanOrEqual(512)
            if ('r' in op) expect(op.r.length).toBeLessThanOrEqual(512)
          }
          const rOps = chainpoint.branches[0].ops.filter((o) => 'r' in o && o.r.length === 512)
          if (rOps.length > 0) multiChunk++
        }
      }),
      { numRuns: 6 },
    )
    expect(multiChunk).toBeGreaterThan(0)
  })

  it('fields: hash, proof_id (ULID from timestamp + txId), hash_received, anchor URI', () => {
    const { block, txs } = buildBlock({ n: 3, longEvery: 2, height: 42, salt: 0 })
    const [{ chainpoint }] = receiptsOf(block)
    expect(chainpoint['@context']).toBe('https://w3id.org/chainpoint/v5')
    expect(chainpoint.type).toBe('Chainpoint')
    expect(chainpoint.hash).toBe(toHex(txs[0].body.payloadHash))
    expect(chainpoint.proof_id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(chainpoint.proof_id).toBe(ulidFor(txs[0].body.timestamp, fromHex(txIdHex(txs[0]))))
    expect(chainpoint.hash_received).toBe(`${new Date(txs[0].body.timestamp).toISOString().slice(0, 19)}Z`)
    const anchorOp = chainpoint.branches[0].ops.at(-1) as { anchors: Array<{ uris: string[] }> }
    expect(anchorOp.anchors[0].uris).toEqual(['http://127.0.0.1:8545/networks/testnet/blocks/42/hash'])
  })

  it('a changed operand or hash changes the expected value', () => {
    const { block } = buildBlock({ n: 5, longEvery: 3, height: 1, salt: 9 })
    const bh = blockHashHex(block.header)
    const [, { chainpoint }] = receiptsOf(block)
    const tampered = JSON.parse(JSON.stringify(chainpoint)) as ChainpointProof
    const op = tampered.branches[0].ops.find((o) => 'r' in o) as { r: string }
    op.r = `${op.r.slice(0, -1)}${op.r.endsWith('0') ? '1' : '0'}`
    expect(evaluateChainpoint(tampered)[0].expected).not.toBe(bh)
    expect(parse(tampered).branches[0].anchors[0].expected_value).not.toBe(bh)
    expect(evaluateChainpoint({ ...chainpoint, hash: '00'.repeat(32) })[0].expected).not.toBe(bh)
  })

  it('real Chainpoint proof fixtures pass the schema validator (validator setup sanity)', () => {
    const dir = join(here, 'fixtures/chainpoint')
    const files = readdirSync(dir).filter((f) => f.endsWith('.chp.json'))
    expect(files.length).toBe(3)
    for (const f of files) {
      const v = validate(JSON.parse(readFileSync(join(dir, f), 'utf8')))
      expect(v.errors, f).toBeFalsy()
      expect(v.valid, f).toBe(true)
    }
    // …and the validator is not a rubber stamp.
    expect(validate({ '@context': 'https://w3id.org/chainpoint/v5', type: 'Chainpoint' }).valid).toBe(false)
  })
})

describe('Chainpoint receipts verified by structure (issue 10 items 11, 12)', () => {
  const { block, txs } = buildBlock({ n: 9, longEvery: 3, height: 4, salt: 50 })
  const bh = blockHashHex(block.header)
  const receipts = receiptsOf(block).map((r) => r.chainpoint)
  const clone = (p: ChainpointProof) => JSON.parse(JSON.stringify(p)) as ChainpointProof
  const anchorOf = (p: ChainpointProof) => (p.branches[0].ops.at(-1) as { anchors: Array<{ anchor_id: string; uris: string[] }> }).anchors[0]

  it('every receipt of random blocks verifies and names its tx, block and anchor', () => {
    fc.assert(
      fc.property(blockSpec, (spec) => {
        const { block: b, txs: t } = buildBlock({ ...spec, n: Math.min(spec.n, 60) })
        receiptsOf(b).forEach(({ chainpoint }, i) => {
          const v = verifyChainpointReceipt(JSON.parse(JSON.stringify(chainpoint)) as ChainpointProof, { payload: t[i].payload })
          expect(v.txId).toBe(txIdHex(t[i]))
          expect(v.blockHash).toBe(blockHashHex(b.header))
          expect(v.height).toBe(spec.height)
          expect(v.anchorId).toBe(String(spec.height))
        })
      }),
      { numRuns: 5 },
    )
  })

  it('a header body given as the "file" fails (evaluation alone would accept it)', () => {
    const body = encodeHeaderBody(block.header)
    const forged = clone(receipts[0])
    forged.hash = blockHashHex(block.header)
    forged.branches[0].ops = [forged.branches[0].ops.at(-1)!]
    expect(evaluateChainpoint(forged)[0].expected).toBe(bh) // what the old verifier compared
    expect(proofCode(() => verifyChainpointReceipt(forged, { payload: body }))).toBe('ERR_RECEIPT_STRUCTURE')
  })

  it('stripped-tx bytes given as the "file" fail (evaluation alone would accept them)', () => {
    const stripped = encodeStrippedTx(txs[2])
    const forged = clone(receipts[2])
    forged.hash = txIdHex(txs[2])
    const ops = forged.branches[0].ops
    forged.branches[0].ops = ops.slice(ops.findIndex((o) => 'op' in o) + 1)
    expect(evaluateChainpoint(forged)[0].expected).toBe(bh)
    expect(proofCode(() => verifyChainpointReceipt(forged, { payload: stripped }))).toBe('ERR_RECEIPT_STRUCTURE')
  })

  it('extra or reordered ops fail', () => {
    const extra = clone(receipts[1])
    extra.branches[0].ops.splice(-1, 0, { l: '00' }, { op: 'sha-256' })
    expect(proofCode(() => verifyChainpointReceipt(extra))).toBe('ERR_RECEIPT_STRUCTURE')
    const two = clone(receipts[1])
    two.branches.push(two.branches[0])
    expect(proofCode(() => verifyChainpointReceipt(two))).toBe('ERR_RECEIPT_STRUCTURE')
  })

  it('binds anchor_id and the URI to the height of the header inside the proof', () => {
    expect(verifyChainpointReceipt(receipts[3]).height).toBe(4)
    const wrongId = clone(receipts[3])
    anchorOf(wrongId).anchor_id = '5' // URI and header say 4
    expect(evaluateChainpoint(wrongId)[0].expected).toBe(bh)
    expect(proofCode(() => verifyChainpointReceipt(wrongId))).toBe('ERR_RECEIPT_ANCHOR')
    const wrongUri = clone(receipts[3])
    anchorOf(wrongUri).uris = ['http://127.0.0.1:8545/networks/testnet/blocks/5/hash']
    expect(proofCode(() => verifyChainpointReceipt(wrongUri))).toBe('ERR_RECEIPT_ANCHOR')
    const bothFive = clone(receipts[3])
    anchorOf(bothFive).anchor_id = '5'
    anchorOf(bothFive).uris = ['http://127.0.0.1:8545/networks/testnet/blocks/5/hash']
    expect(proofCode(() => verifyChainpointReceipt(bothFive))).toBe('ERR_RECEIPT_ANCHOR')
    const otherNet = clone(receipts[3])
    anchorOf(otherNet).uris = ['http://127.0.0.1:8545/networks/other/blocks/4/hash']
    expect(proofCode(() => verifyChainpointReceipt(otherNet))).toBe('ERR_RECEIPT_ANCHOR')
  })

  it('a changed payload fails with ERR_RECEIPT_PAYLOAD', () => {
    expect(proofCode(() => verifyChainpointReceipt(receipts[0], { payload: utf8('other') }))).toBe('ERR_RECEIPT_PAYLOAD')
  })
})

describe('native receipts', () => {
  it('every tx of random blocks verifies offline', () => {
    fc.assert(
      fc.property(blockSpec, (spec) => {
        const { block, txs } = buildBlock({ ...spec, n: Math.min(spec.n, 120) })
        receiptsOf(block).forEach(({ native }, i) => {
          const res = verifyNativeReceipt(native, {
            payload: txs[i].payload,
            validators: [testKey(7).publicKey, producer.publicKey],
          })
          expect(res.txId).toBe(txIdHex(txs[i]))
          expect(res.blockHash).toBe(blockHashHex(block.header))
          expect(res.producer).toBe(toHex(producer.publicKey))
          const json = JSON.parse(JSON.stringify(native)) as NativeReceipt
          expect(verifyNativeReceipt(json).txId).toBe(native.txId)
        })
      }),
      { numRuns: 5 },
    )
  })

  const { block, txs } = buildBlock({ n: 11, longEvery: 4, height: 7, salt: 100 })
  const receipts = receiptsOf(block)
  const r = receipts[5].native
  const payload = txs[5].payload

  it('changed payload → ERR_RECEIPT_PAYLOAD', () => {
    const other = payload.slice()
    other[0] ^= 1
    expect(proofCode(() => verifyNativeReceipt(r, { payload: other }))).toBe('ERR_RECEIPT_PAYLOAD')
    expect(proofCode(() => verifyNativeReceipt(r, { payloadHash: new Uint8Array(32) }))).toBe(
      'ERR_RECEIPT_PAYLOAD',
    )
  })
  it('changed audit path element → ERR_RECEIPT_MERKLE', () => {
    for (let j = 0; j < r.auditPath.length; j++) {
      const path = r.auditPath.slice()
      path[j] = `${path[j][0] === 'a' ? 'b' : 'a'}${path[j].slice(1)}`
      expect(proofCode(() => verifyNativeReceipt({ ...r, auditPath: path }))).toBe('ERR_RECEIPT_MERKLE')
    }
  })
  it('changed leaf index or tree size → ProofError', () => {
    expect(proofCode(() => verifyNativeReceipt({ ...r, leafIndex: 4 }))).toBe('ERR_RECEIPT_MERKLE')
    expect(proofCode(() => verifyNativeReceipt({ ...r, treeSize: 12 }))).toBe('ERR_RECEIPT_TREE_SIZE')
  })
  it('changed header field → ERR_RECEIPT_BLOCK_HASH; re-signed forged header → ERR_RECEIPT_NOT_VALIDATOR', () => {
    const h = decodeHeader(fromHex(r.header))
    const changed = { ...h, timestamp: h.timestamp + 1 }
    expect(proofCode(() => verifyNativeReceipt({ ...r, header: toHex(encodeHeader(changed)) }))).toBe(
      'ERR_RECEIPT_BLOCK_HASH',
    )
    // A forger re-signs the changed header with their own key as producer: only the genesis validator set catches it.
    const forger = testKey(66)
    const forged = {
      ...h,
      timestamp: h.timestamp + 1,
      producer: forger.publicKey,
      signatures: [] as typeof h.signatures,
    }
    forged.signatures = [signHeader(forged, forger)]
    const forgedR = { ...r, header: toHex(encodeHeader(forged)), blockHash: blockHashHex(forged) }
    expect(proofCode(() => verifyNativeReceipt(forgedR))).toBe('no error')
    expect(proofCode(() => verifyNativeReceipt(forgedR, { validators: [producer.publicKey] }))).toBe(
      'ERR_RECEIPT_NOT_VALIDATOR',
    )
  })
  it('header signatures: missing → ERR_RECEIPT_PRODUCER_SIGNATURE, extra bad one → ERR_RECEIPT_SIGNATURE', () => {
    const h = decodeHeader(fromHex(r.header))
    expect(
      proofCode(() => verifyNativeReceipt({ ...r, header: toHex(encodeHeader({ ...h, signatures: [] })) })),
    ).toBe('ERR_RECEIPT_PRODUCER_SIGNATURE')
    const bad = { signer: testKey(8).publicKey, signature: h.signatures[0].signature }
    expect(
      proofCode(() =>
        verifyNativeReceipt({
          ...r,
          header: toHex(encodeHeader({ ...h, signatures: [...h.signatures, bad] })),
        }),
      ),
    ).toBe('ERR_RECEIPT_SIGNATURE')
  })
  it('receipt fields that disagree with the signed data → ERR_RECEIPT_PAYLOAD / ERR_RECEIPT_ANCHOR', () => {
    expect(proofCode(() => verifyNativeReceipt({ ...r, payloadHash: receipts[4].native.payloadHash }))).toBe(
      'ERR_RECEIPT_PAYLOAD',
    )
    expect(
      proofCode(() =>
        verifyNativeReceipt({ ...r, anchorUri: receipts[4].native.anchorUri.replace('/7/', '/8/') }),
      ),
    ).toBe('ERR_RECEIPT_ANCHOR')
  })
  it('wrong validator set → ERR_RECEIPT_NOT_VALIDATOR', () => {
    expect(proofCode(() => verifyNativeReceipt(r, { validators: [testKey(9).publicKey] }))).toBe(
      'ERR_RECEIPT_NOT_VALIDATOR',
    )
    expect(proofCode(() => verifyNativeReceipt(r, { validators: [] }))).toBe('ERR_RECEIPT_NOT_VALIDATOR')
  })
  it('changed txId or tx signature → ERR_RECEIPT_TXID / ERR_RECEIPT_TX_SIGNATURE', () => {
    expect(proofCode(() => verifyNativeReceipt({ ...r, txId: receipts[4].native.txId }))).toBe(
      'ERR_RECEIPT_TXID',
    )
    // The signature is the last 64 bytes of the stripped-tx encoding.
    const t = `${r.tx.slice(0, -2)}${r.tx.endsWith('00') ? '01' : '00'}`
    expect(proofCode(() => verifyNativeReceipt({ ...r, tx: t }))).toBe('ERR_RECEIPT_TX_SIGNATURE')
  })
  it('any single bit flipped in the tx or header hex fails with a ProofError', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.nat(), (inTx, bit) => {
        const hex = inTx ? r.tx : r.header
        const b = fromHex(hex)
        b[(bit >> 3) % b.length] ^= 1 << (bit & 7)
        const mutated = inTx ? { ...r, tx: toHex(b) } : { ...r, header: toHex(b) }
        expect(proofCode(() => verifyNativeReceipt(mutated, { validators: [producer.publicKey] }))).not.toBe(
          'no error',
        )
      }),
      { numRuns: 300 },
    )
  })
  it('malformed receipt JSON fails with a ProofError, never another error type', () => {
    const values: unknown[] = [null, 1, 'zz', '', [], {}, ['zz'], -1, 1.5]
    const accepted: string[] = []
    for (const key of Object.keys(r)) {
      for (const v of values) {
        if (JSON.stringify(v) === JSON.stringify((r as unknown as Record<string, unknown>)[key])) continue
        const bad = { ...r, [key]: v } as unknown as NativeReceipt
        if (proofCode(() => verifyNativeReceipt(bad)) === 'no error')
          accepted.push(`${key}=${JSON.stringify(v)}`)
      }
    }
    expect(accepted).toEqual([])
    expect(proofCode(() => verifyNativeReceipt(null as unknown as NativeReceipt))).toBe('ERR_RECEIPT_FORMAT')
  })
})
