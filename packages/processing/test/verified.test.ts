import {
  createTransaction,
  encodeStrippedTx,
  encodeTransaction,
  encodeTxBody,
  decodeTransaction,
  generateKeyPair,
  sha256,
  toHex,
  type Transaction,
  txId,
  validateTx,
} from '@profichain/core'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { createTxVerifier } from '../src/index.js'
import { PoolVerifier } from '../src/pool.js'

// Issue 12: txs this node checked in gossip or signed itself are not verified again when a block brings them.
const [mine, other] = [generateKeyPair(), generateKeyPair()]
const make = (key: typeof mine, seq: number): Transaction =>
  createTransaction(key, { network: 'test', seq, timestamp: 1_700_000_000_000 + seq, payload: new TextEncoder().encode(`r${seq}`), metadata: { line: String(seq) } })
const theirs = Array.from({ length: 30 }, (_, i) => make(other, i))
const ours = Array.from({ length: 30 }, (_, i) => make(mine, i))

function flip(bytes: Uint8Array, at: number, bit: number): Uint8Array {
  const c = bytes.slice()
  c[at % c.length] ^= 1 << bit
  return c
}

const open: PoolVerifier[] = []
function pool(verifiedIds?: number): PoolVerifier {
  const v = new PoolVerifier({ threads: 1, batchSize: 8, merkleChunk: 1024, verifiedIds })
  open.push(v)
  return v
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((v) => v.close()))
})

describe('PoolVerifier: verified ids', () => {
  it('a tx that passed checkTransactions verifies in a block from the set; a tampered or failed one never does', async () => {
    const v = pool()
    const badSig = { ...theirs[29], signature: flip(theirs[29].signature, 3, 1) }
    const checks = await v.checkTransactions([...theirs.slice(0, 20), badSig].map(encodeTransaction))
    expect(checks.map((c) => c.ok)).toEqual([...theirs.slice(0, 20).map(() => true), false])
    expect(v.verified.size).toBe(20)
    expect(await v.verifyStrippedTxs(theirs.slice(0, 20).map(encodeStrippedTx))).toEqual(theirs.slice(0, 20).map(() => true))
    expect(v.verified.hits).toBe(20)
    // The failed one, tampered copies of verified ones and unseen ones go to the worker and get its answer.
    const rest = [encodeStrippedTx(badSig), flip(encodeStrippedTx(theirs[0]), 40, 0), flip(encodeStrippedTx(theirs[1]), 200, 5), encodeStrippedTx(theirs[25])]
    expect(await v.verifyStrippedTxs(rest)).toEqual([false, false, false, true])
    expect(v.verified.hits).toBe(20)
  })

  it("with the txIds given, a block's verified txs are found without hashing them again; a tampered one by its own id is not", async () => {
    const v = pool()
    await v.checkTransactions(theirs.slice(0, 10).map(encodeTransaction))
    const enc = theirs.slice(0, 10).map(encodeStrippedTx)
    expect(await v.verifyStrippedTxs(enc, theirs.slice(0, 10).map((t) => txId(t)))).toEqual(enc.map(() => true))
    expect(v.verified.hits).toBe(10)
    // A tampered copy comes with the id of its own bytes (what txId gives for the decoded tx): not in the set, the
    // worker answers.
    const bad = flip(enc[0], 120, 2)
    expect(await v.verifyStrippedTxs([bad, encodeStrippedTx(theirs[20])], [sha256(bad), txId(theirs[20])])).toEqual([false, true])
    expect(v.verified.hits).toBe(10)
    await expect(v.verifyStrippedTxs(enc, [txId(theirs[0])])).rejects.toThrow(/1 txIds for 10 txs/)
  })

  it('own records signed by signMessages are remembered; a body of another origin or a non-body message is not', async () => {
    const v = pool()
    const bodies = ours.map((t) => encodeTxBody(t.body))
    const sigs = await v.signMessages(mine.seed, bodies)
    expect(v.verified.size).toBe(ours.length)
    const blockTxs = ours.map((t, i) => encodeStrippedTx({ body: t.body, signature: sigs[i] }))
    expect(await v.verifyStrippedTxs(blockTxs)).toEqual(ours.map(() => true))
    expect(v.verified.hits).toBe(ours.length)
    // Our key signing someone else's body: [body, sig] does not verify (wrong origin), so it must not be remembered.
    const [foreign] = await v.signMessages(mine.seed, [encodeTxBody(theirs[0].body)])
    await v.signMessages(mine.seed, [new Uint8Array([1, 2, 3]), new Uint8Array(0)])
    expect(v.verified.size).toBe(ours.length)
    expect(await v.verifyStrippedTxs([encodeStrippedTx({ body: theirs[0].body, signature: foreign })])).toEqual([false])
    expect(v.verified.hits).toBe(ours.length)
  })

  it('txs that verifyStrippedTxs verified are remembered (ingest API, then the block); failed or tampered ones never are', async () => {
    const v = pool()
    const good = theirs.slice(0, 10).map(encodeStrippedTx)
    const bad = [flip(good[0], 90, 2), encodeStrippedTx({ ...theirs[10], signature: flip(theirs[10].signature, 5, 0) }), new Uint8Array([0x82, 1])]
    expect(await v.verifyStrippedTxs([...good, ...bad])).toEqual([...good.map(() => true), false, false, false])
    expect(v.verified.size).toBe(good.length)
    expect(v.verified.hits).toBe(0)
    // The block that seals them: answered from the set; the bad ones go to the worker again and fail again.
    expect(await v.verifyStrippedTxs([...good, ...bad])).toEqual([...good.map(() => true), false, false, false])
    expect(v.verified.hits).toBe(good.length)
    expect(v.verified.size).toBe(good.length)
  })

  it('after warming, any batch gets the same answers as the inline verifier', async () => {
    const v = pool()
    const inline = createTxVerifier({ threads: 0 })
    await v.checkTransactions(theirs.slice(0, 15).map(encodeTransaction))
    await v.signMessages(mine.seed, ours.slice(0, 15).map((t) => encodeTxBody(t.body)))
    const all = [...theirs, ...ours]
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ i: fc.nat(all.length - 1), tamper: fc.boolean(), at: fc.nat(), bit: fc.nat(7) }), { maxLength: 40 }),
        async (items) => {
          const enc = items.map((x) => (x.tamper ? flip(encodeStrippedTx(all[x.i]), x.at, x.bit) : encodeStrippedTx(all[x.i])))
          expect(await v.verifyStrippedTxs(enc)).toEqual(await inline.verifyStrippedTxs(enc))
        },
      ),
      { numRuns: 30 },
    )
    expect(v.verified.hits).toBeGreaterThan(0)
    await inline.close()
  })

  it('stays bounded: two generations of verifiedIds ids; 0 turns it off', async () => {
    const v = pool(4)
    await v.checkTransactions(theirs.map(encodeTransaction))
    expect(v.verified.size).toBeLessThanOrEqual(8)
    const kept = v.verified.size
    // The newest are kept, the oldest forgotten (verified again by the worker, with the same answer).
    expect(await v.verifyStrippedTxs(theirs.map(encodeStrippedTx))).toEqual(theirs.map(() => true))
    expect(v.verified.hits).toBe(kept)
    expect(v.verified.size).toBeLessThanOrEqual(8)
    const off = pool(0)
    await off.checkTransactions(theirs.map(encodeTransaction))
    expect(off.verified.size).toBe(0)
    expect(await off.verifyStrippedTxs(theirs.map(encodeStrippedTx))).toEqual(theirs.map(() => true))
    expect(off.verified.hits).toBe(0)
    expect(() => createTxVerifier({ verifiedIds: -1 })).toThrow(RangeError)
  })
})

describe('verifyFreshTxs (the ingest API’s device records)', () => {
  /** The reference: core's validateTx on the decoded tx (payload size, payload hash, signature). */
  function reference(bytes: Uint8Array): { ok: boolean; badPayload: boolean; id: string } {
    let tx: Transaction
    try {
      tx = decodeTransaction(bytes)
    } catch {
      return { ok: false, badPayload: false, id: '00'.repeat(32) }
    }
    try {
      validateTx(tx, { network: tx.body.network, maxTxBytes: Number.MAX_SAFE_INTEGER })
      return { ok: true, badPayload: false, id: toHex(txId(tx)) }
    } catch (err) {
      const code = (err as { code?: string }).code
      return { ok: false, badPayload: code === 'ERR_TX_PAYLOAD_SIZE' || code === 'ERR_TX_PAYLOAD_HASH', id: '00'.repeat(32) }
    }
  }

  it('answers as validateTx does (payload size and hash, then signature), with the txId of each tx that passed (zeros for the rest), remembered for its block', async () => {
    const inline = createTxVerifier({ threads: 0 })
    const p = new PoolVerifier({ threads: 2, batchSize: 512, merkleChunk: 1024 })
    open.push(p)
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 29 }), fc.constantFrom('ok', 'sig', 'body', 'payload', 'short', 'junk'), fc.nat()), { maxLength: 40 }),
        async (spec) => {
          const enc = spec.map(([i, how, at]) => {
            const e = encodeTransaction(theirs[i])
            const strippedEnd = 1 + encodeStrippedTx(theirs[i]).byteLength
            if (how === 'ok') return e
            if (how === 'sig') return flip(e, strippedEnd - 1 - (at % 64), at % 8)
            if (how === 'body') return flip(e, 1 + (at % (strippedEnd - 70)), at % 8)
            if (how === 'payload') return flip(e, e.byteLength - 1 - (at % theirs[i].payload.byteLength), at % 8)
            // a payload one byte shorter than the body says (its CBOR length head shortened too)
            if (how === 'short') return encodeTransaction({ ...theirs[i], payload: theirs[i].payload.subarray(1) })
            return Uint8Array.of(0x82, 1)
          })
          const want = enc.map(reference)
          for (const v of [inline, p]) {
            const got = await v.verifyFreshTxs(enc)
            expect(got.ok).toEqual(want.map((w) => w.ok))
            expect(got.badPayload).toEqual(want.map((w) => w.badPayload))
            expect(got.ids.byteLength).toBe(32 * enc.length)
            expect(enc.map((_, k) => toHex(got.ids.subarray(32 * k, 32 * k + 32)))).toEqual(want.map((w) => w.id))
          }
        },
      ),
      { numRuns: 40 },
    )
    // Remembered: the same txs in a block need no worker.
    await p.verifyFreshTxs(theirs.slice(0, 5).map(encodeTransaction))
    const before = p.verified.hits
    expect(await p.verifyStrippedTxs(theirs.slice(0, 5).map(encodeStrippedTx))).toEqual([true, true, true, true, true])
    expect(p.verified.hits).toBe(before + 5)
    await inline.close()
  })

  it('a call of a few txs is one worker task, not one per thread; a large one is still spread over the threads', async () => {
    const p = new PoolVerifier({ threads: 2, batchSize: 512, merkleChunk: 1024, verifiedIds: 0 })
    open.push(p)
    // piscina's count of finished tasks (public API)
    const tasks = () => (p as unknown as { pool: { completed: number } }).pool.completed
    const few = theirs.slice(0, 3).map(encodeTransaction)
    const t0 = tasks()
    expect((await p.verifyFreshTxs(few)).ok).toEqual([true, true, true])
    expect(tasks() - t0).toBe(1)
    const many = Array.from({ length: 300 }, (_, i) => encodeTransaction(theirs[i % 30]))
    const t1 = tasks()
    expect((await p.verifyFreshTxs(many)).ok.every((b) => b)).toBe(true)
    expect(tasks() - t1).toBe(2)
  })
})
