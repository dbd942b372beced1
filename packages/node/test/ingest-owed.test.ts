import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toHex } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { OwedReceipts } from '../src/index.js'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

const b = (tag: number) => new Uint8Array(32).fill(tag)

describe('owed receipts (LevelDB on disk)', () => {
  it('indexes by device and by tx, survives a reopen, forgets what the device acked', async () => {
    const d = await mkdtemp(join(tmpdir(), 'pc-owed-'))
    dirs.push(d)
    const path = join(d, 'owed')
    let owed = new OwedReceipts(path)
    await owed.open()
    const devA = b(0xaa)
    const devB = b(0xab) // adjacent key: prefix ranges must not overlap
    await owed.add([
      { origin: devA, txId: b(1), tx: Uint8Array.of(9, 9) },
      { origin: devA, txId: b(2) },
      { origin: devB, txId: b(3) },
      { origin: devA, txId: b(1) }, // again: no second entry
    ])
    expect(owed.size).toBe(3)
    expect((await owed.forDevice(devA, 10)).map(toHex)).toEqual([toHex(b(1)), toHex(b(2))])
    expect((await owed.forDevice(devB, 10)).map(toHex)).toEqual([toHex(b(3))])
    expect(await owed.forDevice(devA, 1)).toHaveLength(1)
    const by = await owed.devicesOf([b(1), b(3), b(9)])
    expect([...by.entries()].map(([k, v]) => [k, toHex(v.origin), v.tx && toHex(v.tx)])).toEqual([
      [toHex(b(1)), toHex(devA), '0909'],
      [toHex(b(3)), toHex(devB), undefined],
    ])
    await owed.close()
    owed = new OwedReceipts(path)
    await owed.open()
    expect(owed.size).toBe(3)
    await owed.remove(devA, [b(1), b(7), b(1)])
    expect(owed.size).toBe(2)
    expect((await owed.forDevice(devA, 10)).map(toHex)).toEqual([toHex(b(2))])
    expect((await owed.devicesOf([b(1)])).size).toBe(0)
    await owed.close()
  })
})

describe('owed receipts: entries remembered in memory', () => {
  it('answer as the index does (a fresh reader on the same DB), whatever the memory holds; a receipt-ack of another key removes nothing', async () => {
    const d = await mkdtemp(join(tmpdir(), 'pc-owed-'))
    dirs.push(d)
    const path = join(d, 'owed')
    const devA = b(0xaa)
    const devB = b(0xab)
    const ids = Array.from({ length: 12 }, (_, i) => b(i + 1))
    const hex = ids.map(toHex)
    for (const recentMax of [0, 3, 100]) {
      await rm(path, { recursive: true, force: true })
      const owed = new OwedReceipts(path, { recentMax })
      await owed.open()
      // Some with a tx copy (never remembered), most without; the last 3 of each device the most recent.
      await owed.add(ids.slice(0, 6).map((id, i) => ({ origin: devA, txId: id, ...(i === 1 ? { tx: Uint8Array.of(5) } : {}) })))
      await owed.add(ids.slice(6).map((id) => ({ origin: devB, txId: id, txIdHex: toHex(id) })))
      const seen = async () => {
        const m = await owed.devicesOfHex(hex)
        // The origin's hex, when an entry carries it, is its origin's.
        for (const v of m.values()) if (v.originHex !== undefined) expect(v.originHex).toBe(toHex(v.origin))
        return [...m.entries()].map(([k, v]) => [k, toHex(v.id), toHex(v.origin), v.tx && toHex(v.tx)])
      }
      const all = await seen()
      expect(all.map((e) => e[0])).toEqual(hex)
      // B's key acks A's records: nothing is owed to B for them, nothing goes.
      await owed.remove(devB, ids.slice(0, 6))
      expect(owed.size).toBe(12)
      await owed.remove(devA, [ids[0], ids[1], ids[5], ids[7]])
      await owed.remove(devB, [ids[7], ids[11]], [hex[7], hex[11]])
      expect(owed.size).toBe(7)
      const left = await seen()
      expect(left.map((e) => e[0])).toEqual(hex.filter((_, i) => ![0, 1, 5, 7, 11].includes(i)))
      expect(left).toEqual(all.filter((e) => left.some((l) => l[0] === e[0])))
      await owed.close()
      // A fresh reader of the same DB (nothing in memory) sees the same.
      const fresh = new OwedReceipts(path)
      await fresh.open()
      expect(fresh.size).toBe(7)
      expect([...(await fresh.devicesOfHex(hex)).entries()].map(([k, v]) => [k, toHex(v.id), toHex(v.origin), v.tx && toHex(v.tx)])).toEqual(left)
      expect((await fresh.forDevice(devA, 10)).map(toHex)).toEqual([hex[2], hex[3], hex[4]])
      await fresh.close()
    }
  })
})
