import { describe, expect, it } from 'vitest'
import {
  type BlockRules,
  decodeTransaction,
  encodeTransaction,
  payloadHashOf,
  sha256,
  type ProfichainError,
  signHeader,
  stripTx,
  utf8,
  ValidationError,
  validateBlock,
  validateTx,
} from '../src/index.js'
import { makeBlock, makeTx, NETWORK, testKey } from './helpers.js'

const rules: BlockRules = { network: NETWORK, maxTxBytes: 1024, maxBlockBytes: 64 * 1024 }
const origin = testKey(1)
const producer = testKey(2)

function code(fn: () => void): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError)
    return (err as ProfichainError).code
  }
  return 'no error'
}

describe('validateTx', () => {
  it('accepts a good tx, with and without payload', () => {
    const tx = makeTx(origin, 0)
    expect(() => validateTx(tx, rules)).not.toThrow()
    expect(() => validateTx(stripTx(tx), rules)).not.toThrow()
  })
  it('wrong network', () => {
    expect(code(() => validateTx(makeTx(origin, 0), { ...rules, network: 'other' }))).toBe('ERR_TX_NETWORK')
  })
  it('payload hash mismatch (same size)', () => {
    const tx = makeTx(origin, 0, utf8('abc'))
    expect(code(() => validateTx({ ...tx, payload: utf8('abd') }, rules))).toBe('ERR_TX_PAYLOAD_HASH')
  })
  it('payload hash: the memoised hash is the hash of the bytes, a payload from outside is still checked', () => {
    const tx = makeTx(origin, 0, utf8('abc'))
    // A payload another part of the node hashed (memoised) and one decoded from the wire (never hashed).
    const hashed = utf8('abd')
    expect(payloadHashOf(hashed)).toEqual(sha256(hashed))
    expect(payloadHashOf(hashed)).toBe(payloadHashOf(hashed))
    expect(code(() => validateTx({ ...tx, payload: hashed }, rules))).toBe('ERR_TX_PAYLOAD_HASH')
    const wire = decodeTransaction(encodeTransaction({ ...tx, payload: utf8('abe') }))
    expect(code(() => validateTx(wire, rules))).toBe('ERR_TX_PAYLOAD_HASH')
    const good = decodeTransaction(encodeTransaction(tx))
    expect(() => validateTx(good, rules)).not.toThrow()
  })
  it('payload size mismatch', () => {
    const tx = makeTx(origin, 0, utf8('abc'))
    expect(code(() => validateTx({ ...tx, payload: utf8('abcd') }, rules))).toBe('ERR_TX_PAYLOAD_SIZE')
  })
  it('bad signature: flipped bit, other origin, changed body', () => {
    const tx = makeTx(origin, 0)
    const sig = tx.signature.slice()
    sig[10] ^= 4
    expect(code(() => validateTx({ ...tx, signature: sig }, rules))).toBe('ERR_TX_SIGNATURE')
    expect(code(() => validateTx({ ...tx, body: { ...tx.body, origin: testKey(9).publicKey } }, rules))).toBe(
      'ERR_TX_SIGNATURE',
    )
    expect(code(() => validateTx(stripTx({ ...tx, body: { ...tx.body, seq: 1 } }), rules))).toBe(
      'ERR_TX_SIGNATURE',
    )
    // skipSignature is honoured (the worker pool checked it already)
    expect(() => validateTx({ ...tx, signature: sig }, rules, { skipSignature: true })).not.toThrow()
  })
  it('oversize payload', () => {
    const tx = makeTx(origin, 0, new Uint8Array(1025))
    expect(code(() => validateTx(tx, rules))).toBe('ERR_TX_TOO_LARGE')
    expect(code(() => validateTx(stripTx(tx), rules))).toBe('ERR_TX_TOO_LARGE')
  })
})

describe('validateBlock', () => {
  const txs = [0, 1, 2].map((i) => makeTx(origin, i))
  it('accepts a good block', () => {
    expect(() => validateBlock(makeBlock(producer, txs), rules)).not.toThrow()
  })
  it('wrong network', () => {
    expect(code(() => validateBlock(makeBlock(producer, txs), { ...rules, network: 'other' }))).toBe(
      'ERR_BLOCK_NETWORK',
    )
  })
  it('tx count differs from header', () => {
    const b = makeBlock(producer, txs)
    expect(code(() => validateBlock({ ...b, txs: b.txs.slice(1) }, rules))).toBe('ERR_BLOCK_TX_COUNT')
  })
  it('duplicate tx', () => {
    expect(code(() => validateBlock(makeBlock(producer, [txs[0], txs[1], txs[0]]), rules))).toBe(
      'ERR_BLOCK_DUPLICATE_TX',
    )
  })
  it('wrong Merkle root (reordered txs)', () => {
    const b = makeBlock(producer, txs)
    expect(code(() => validateBlock({ ...b, txs: [b.txs[1], b.txs[0], b.txs[2]] }, rules))).toBe(
      'ERR_BLOCK_MERKLE_ROOT',
    )
    expect(code(() => validateBlock(b, rules, { merkleRoot: new Uint8Array(32) }))).toBe(
      'ERR_BLOCK_MERKLE_ROOT',
    )
  })
  it('oversize block', () => {
    expect(code(() => validateBlock(makeBlock(producer, txs), { ...rules, maxBlockBytes: 400 }))).toBe(
      'ERR_BLOCK_TOO_LARGE',
    )
  })
  it('bad tx signature inside the block', () => {
    const b = makeBlock(producer, txs)
    const sig = b.txs[1].signature.slice()
    sig[0] ^= 1
    b.txs[1] = { ...b.txs[1], signature: sig }
    expect(code(() => validateBlock(b, rules))).toBe('ERR_TX_SIGNATURE')
  })
  it('bad header signature: flipped bit, signature of another block', () => {
    const b = makeBlock(producer, txs)
    const s = b.header.signatures[0]
    const bad = s.signature.slice()
    bad[63] ^= 0x10
    expect(
      code(() =>
        validateBlock({ ...b, header: { ...b.header, signatures: [{ ...s, signature: bad }] } }, rules),
      ),
    ).toBe('ERR_BLOCK_SIGNATURE')
    const other = makeBlock(producer, txs, 2)
    const foreign = signHeader(other.header, producer)
    expect(code(() => validateBlock({ ...b, header: { ...b.header, signatures: [foreign] } }, rules))).toBe(
      'ERR_BLOCK_SIGNATURE',
    )
  })
})
