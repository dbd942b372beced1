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
