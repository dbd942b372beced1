import { mkdtempSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createTransaction, keyPairFromSeed, toHex } from '@profichain/core'
import { ClientError, Spool } from '../src/index.js'

const key = keyPairFromSeed(new Uint8Array(32).fill(5))
const tx = (seq: number, size = 10) => createTransaction(key, { network: 'spool-test', seq, payload: new Uint8Array(size).fill(seq & 255), timestamp: 1 })
const dir = () => mkdtempSync(join(tmpdir(), 'pc-spool-'))

describe('spool (real files)', () => {
  it('replays records, acks, rejections and receipts after a reopen', async () => {
    const d = dir()
    const s = await Spool.open({ dir: d })
    for (let i = 0; i < 5; i++) await s.append(tx(i))
    await s.acked(0, 0)
    await s.acked(1, 1)
    await s.rejected(2, 'REPLAY')
    await s.storeReceipt({ txId: toHex(s.awaitingReceipt()[0].txId), height: 3, blockHash: 'ab'.repeat(32), chainpoint: {} })
    await s.close()
    const r = await Spool.open({ dir: d })
    expect(r.queued().map((x) => x.seq)).toEqual([3, 4])
    expect(r.awaitingReceipt().map((x) => x.seq)).toEqual([1])
    expect(r.nextSeq).toBe(5)
    expect(r.queued()[0].tx?.payload).toEqual(tx(3).payload)
    await r.close()
  })

  it('keeps the seq floor when every record is done (compaction writes it)', async () => {
    const d = dir()
    const s = await Spool.open({ dir: d })
    await s.append(tx(7))
    await s.rejected(7, 'TX_TOO_LARGE')
    await s.close()
    const r = await Spool.open({ dir: d })
    expect(r.knowsSeq).toBe(true)
    expect(r.nextSeq).toBe(8)
    await r.close()
  })

  it('a torn last entry (crash mid-write) is cut off; earlier records survive', async () => {
    const d = dir()
    const s = await Spool.open({ dir: d })
    await s.append(tx(0))
    await s.append(tx(1))
    await s.close()
    const file = join(d, 'spool.log')
    truncateSync(file, statSync(file).size - 5)
    const r = await Spool.open({ dir: d })
    expect(r.queued().map((x) => x.seq)).toEqual([0])
    await r.close()
  })

  it('damage before the last entry is ERR_SPOOL_CORRUPT, and the file is left alone', async () => {
    const d = dir()
    const s = await Spool.open({ dir: d })
    await s.append(tx(0))
    await s.append(tx(1))
    await s.close()
    const file = join(d, 'spool.log')
    const b = readFileSync(file)
    b[30] ^= 0xff
    writeFileSync(file, b)
    await expect(Spool.open({ dir: d })).rejects.toMatchObject({ code: 'ERR_SPOOL_CORRUPT' })
    expect(readFileSync(file)).toEqual(b)
  })

  it('enforces its size limit with ERR_SPOOL_FULL; acknowledged records free their room', async () => {
    const s = await Spool.open({ dir: dir(), maxBytes: 3000 })
    await s.append(tx(0, 1000))
    await s.append(tx(1, 1000))
    await expect(s.append(tx(2, 1000))).rejects.toMatchObject({ code: 'ERR_SPOOL_FULL' })
    await s.acked(0, 0)
    await s.append(tx(2, 1000))
    await s.close()
  })

  it('compacts a log of mostly dead entries, losing nothing live', async () => {
    const d = dir()
    const s = await Spool.open({ dir: d })
    for (let i = 0; i < 300; i++) {
      await s.append(tx(i, 8000))
      if (i < 295) await s.storeReceipt({ txId: toHex(s.queued().at(-1)?.txId as Uint8Array), height: 1, blockHash: '00'.repeat(32), chainpoint: {} })
    }
    await s.close()
    expect(statSync(join(d, 'spool.log')).size).toBeLessThan(300 * 8000)
    const r = await Spool.open({ dir: d })
    expect(r.queued().map((x) => x.seq)).toEqual([295, 296, 297, 298, 299])
    expect(r.nextSeq).toBe(300)
    await r.close()
  })

  it('fuzz: random or mutated spool files open or fail with ERR_SPOOL_CORRUPT, never crash', async () => {
    const d = dir()
    const s = await Spool.open({ dir: d })
    for (let i = 0; i < 3; i++) await s.append(tx(i))
    await s.acked(0, 0)
    await s.close()
    const good = readFileSync(join(d, 'spool.log'))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const m = Buffer.from(good)
            m[i] ^= x
            return new Uint8Array(m)
          }),
          fc.nat(good.length).map((n) => new Uint8Array(good.subarray(0, n))),
        ),
        async (bytes) => {
          const fd = dir()
          writeFileSync(join(fd, 'spool.log'), bytes)
          try {
            const r = await Spool.open({ dir: fd })
            expect(r.queued().length).toBeLessThanOrEqual(3)
            await r.close()
          } catch (err) {
            expect(err).toBeInstanceOf(ClientError)
            expect((err as ClientError).code).toBe('ERR_SPOOL_CORRUPT')
          }
        },
      ),
      { numRuns: 150 },
    )
  })
})
