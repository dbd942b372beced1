import {
  createTransaction,
  encodeStrippedTx,
  encodeTransaction,
  encodeTxBody,
  generateKeyPair,
  getCrypto,
  leafHash,
  merkleRoot,
  sha256,
  type Transaction,
  toHex,
  txIdHex,
} from '@profichain/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTxVerifier, ProcessingError, type TxVerifier } from '../src/index.js'
import { PoolVerifier } from '../src/pool.js'

const keys = [generateKeyPair(), generateKeyPair(), generateKeyPair()]
const txs: Transaction[] = Array.from({ length: 60 }, (_, i) =>
  createTransaction(keys[i % keys.length], {
    network: 'test',
    seq: i,
    timestamp: 1_700_000_000_000 + i,
    payload: new TextEncoder().encode(`reading ${i}`),
    metadata: { path: `r${i}.json` },
  }),
)

/** Flip one bit of a copy. */
function flip(bytes: Uint8Array, at: number, bit: number): Uint8Array {
  const c = bytes.slice()
  c[at % c.length] ^= 1 << bit
  return c
}

type Kind = 'valid' | 'tampered' | 'garbage' | 'truncated' | 'empty'
const item = fc.oneof(
  fc.record({ kind: fc.constant<Kind>('valid'), i: fc.nat(txs.length - 1) }),
  fc.record({ kind: fc.constant<Kind>('tampered'), i: fc.nat(txs.length - 1), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant<Kind>('garbage'), bytes: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ kind: fc.constant<Kind>('truncated'), i: fc.nat(txs.length - 1), cut: fc.nat() }),
  fc.record({ kind: fc.constant<Kind>('empty') }),
)
type Item = { kind: Kind; i?: number; at?: number; bit?: number; bytes?: Uint8Array; cut?: number }

function materialise(items: Item[], encode: (tx: Transaction) => Uint8Array): Uint8Array[] {
  return items.map((it) => {
    switch (it.kind) {
      case 'valid':
        return encode(txs[it.i as number])
      case 'tampered':
        return flip(encode(txs[it.i as number]), it.at as number, it.bit as number)
      case 'garbage':
        return it.bytes as Uint8Array
      case 'truncated': {
        const b = encode(txs[it.i as number])
        return b.subarray(0, (it.cut as number) % b.length)
      }
      default:
        return new Uint8Array(0)
    }
  })
}

describe('TxVerifier: inline and pool agree', () => {
  let inline: TxVerifier
  let pool: TxVerifier
  beforeAll(() => {
    inline = createTxVerifier({ threads: 0 })
    // A tiny batch size forces every property run to be split across tasks and threads.
    pool = createTxVerifier({ threads: 2, batchSize: 7, merkleChunk: 16 })
  })
  afterAll(async () => {
    await inline.close()
    await pool.close()
  })

  it('reports its thread count', () => {
    expect(inline.threads).toBe(0)
    expect(pool.threads).toBe(2)
  })

  it('verifyStrippedTxs: valid txs verify, others never do, and both implementations agree', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(item, { maxLength: 60 }), async (items) => {
        const enc = materialise(items as Item[], encodeStrippedTx)
        const a = await inline.verifyStrippedTxs(enc)
        const b = await pool.verifyStrippedTxs(enc)
        expect(b).toEqual(a)
        items.forEach((it, k) => {
          if (it.kind === 'valid') expect(a[k]).toBe(true)
          if (it.kind === 'garbage' || it.kind === 'truncated' || it.kind === 'empty')
            expect(a[k]).toBe(false)
        })
      }),
      { numRuns: 40 },
    )
  })

  it('checkTransactions: same per-item results, txIds and error codes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(item, { maxLength: 60 }), async (items) => {
        const enc = materialise(items as Item[], encodeTransaction)
        const a = await inline.checkTransactions(enc)
        const b = await pool.checkTransactions(enc)
        expect(b).toEqual(a)
        items.forEach((it, k) => {
          if (it.kind === 'valid')
            expect(a[k]).toEqual({ ok: true, txId: txIdHex(txs[(it as Item).i as number]) })
          if (it.kind === 'truncated' || it.kind === 'empty')
            expect(a[k]).toEqual({ ok: false, error: 'ERR_CODEC' })
          if (!a[k].ok) expect(a[k].error).toMatch(/^ERR_/)
        })
      }),
      { numRuns: 40 },
    )
  })

  it('checkTransactions names the failed check', async () => {
    const tx = txs[0]
    const badHash = encodeTransaction({ ...tx, payload: new TextEncoder().encode('reading X') })
    const badSize = encodeTransaction({ ...tx, payload: new TextEncoder().encode('reading 00') })
    const badSig = encodeTransaction({ ...tx, signature: flip(tx.signature, 5, 0) })
    const r = await pool.checkTransactions([badHash, badSize, badSig, new Uint8Array([0xff])])
    expect(r.map((x) => x.error)).toEqual([
      'ERR_TX_PAYLOAD_HASH',
      'ERR_TX_PAYLOAD_SIZE',
      'ERR_TX_SIGNATURE',
      'ERR_CODEC',
    ])
    expect(r[0].txId).toBe(txIdHex(tx))
    expect(await inline.checkTransactions([badHash, badSize, badSig, new Uint8Array([0xff])])).toEqual(r)
  })

  it('signMessages: pool and inline give the signatures createTransaction gives, in order (issue 12)', async () => {
    for (const k of keys) {
      const mine = txs.filter((t) => toHex(t.body.origin) === toHex(k.publicKey))
      const msgs = mine.map((t) => encodeTxBody(t.body))
      const [a, b] = await Promise.all([pool.signMessages(k.seed, msgs), inline.signMessages(k.seed, msgs)])
      expect(a.map(toHex)).toEqual(mine.map((t) => toHex(t.signature)))
      expect(b.map(toHex)).toEqual(mine.map((t) => toHex(t.signature)))
    }
    // Any messages, any count (split over tasks of 7): each verifies against the key's public key.
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 40 }), async (msgs) => {
        const sigs = await pool.signMessages(keys[0].seed, msgs)
        expect(sigs).toHaveLength(msgs.length)
        sigs.forEach((sig, i) => expect(getCrypto().verify(keys[0].publicKey, msgs[i], sig)).toBe(true))
      }),
      { numRuns: 25 },
    )
    await expect(pool.signMessages(new Uint8Array(5), [new Uint8Array(1)])).rejects.toThrow(RangeError)
  })

  it('empty batches', async () => {
    expect(await pool.verifyStrippedTxs([])).toEqual([])
    expect(await pool.checkTransactions([])).toEqual([])
    expect(toHex(await pool.merkleRoot([]))).toBe(toHex(sha256(new Uint8Array(0))))
  })

  it('merkleRoot equals core merkleRoot for sizes 0..2000 (all up to 300, then every 7th and each chunk edge)', async () => {
    const ids = Array.from({ length: 2000 }, (_, i) => sha256(new Uint8Array([i & 255, i >> 8])))
    const leaves = ids.map(leafHash)
    // Every size costs O(n) hashes three times over, so above 300 test a spread plus the sizes where the
    // pool's power-of-two chunks (16..128 leaves here) end: multiples of 16 and their neighbours.
    const sizes: number[] = []
    for (let n = 0; n <= 2000; n++) if (n <= 300 || n % 7 === 0 || [0, 1, 15].includes(n % 16)) sizes.push(n)
    for (const n of sizes) {
      const expected = toHex(merkleRoot(leaves.slice(0, n)))
      const slice = ids.slice(0, n)
      const [a, b] = await Promise.all([inline.merkleRoot(slice), pool.merkleRoot(slice)])
      if (toHex(a) !== expected || toHex(b) !== expected) {
        expect({ n, inline: toHex(a), pool: toHex(b) }).toEqual({ n, inline: expected, pool: expected })
      }
    }
    expect(sizes.length).toBeGreaterThan(600)
  })

  it('merkleRoot handles txIds of any length, like core', async () => {
    const ids = [
      new Uint8Array(0),
      new Uint8Array(5).fill(1),
      new Uint8Array(64).fill(2),
      new Uint8Array(32).fill(3),
    ]
    const expected = toHex(merkleRoot(ids.map(leafHash)))
    expect(toHex(await pool.merkleRoot(ids))).toBe(expected)
    expect(toHex(await inline.merkleRoot(ids))).toBe(expected)
  })
})

describe('PoolVerifier lifecycle', () => {
  it('close is idempotent and later calls reject with ERR_POOL_CLOSED', async () => {
    for (const threads of [0, 1]) {
      const v = createTxVerifier({ threads })
      expect(await v.verifyStrippedTxs([encodeStrippedTx(txs[0])])).toEqual([true])
      await Promise.all([v.close(), v.close()])
      await v.close()
      await expect(v.verifyStrippedTxs([])).rejects.toMatchObject({
        name: 'ProcessingError',
        code: 'ERR_POOL_CLOSED',
      })
      await expect(v.merkleRoot([])).rejects.toBeInstanceOf(ProcessingError)
    }
  })

  it('a worker crash rejects that call with ERR_POOL and the pool keeps working', async () => {
    const v = new PoolVerifier({ threads: 1, batchSize: 64, merkleChunk: 1024 })
    try {
      await expect(v.run({ op: 'crash' })).rejects.toMatchObject({
        name: 'ProcessingError',
        code: 'ERR_POOL',
      })
      expect(await v.verifyStrippedTxs(txs.map(encodeStrippedTx))).toEqual(txs.map(() => true))
    } finally {
      await v.close()
    }
  })

  it('rejects bad options', () => {
    expect(() => createTxVerifier({ threads: -1 })).toThrow(RangeError)
    expect(() => createTxVerifier({ batchSize: 0 })).toThrow(RangeError)
    expect(() => createTxVerifier({ threads: 1, merkleChunk: 1000 })).toThrow(RangeError)
  })
})
