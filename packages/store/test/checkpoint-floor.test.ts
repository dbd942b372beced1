import { blockHash, toHex } from '@profichain/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type BlockTree, StoreError } from '../src/index.js'
import { child, openTree, tempDir } from './helpers.js'

let dir: { path: string; cleanup: () => Promise<void> }
let tree: BlockTree | undefined

beforeEach(async () => {
  dir = await tempDir()
})
afterEach(async () => {
  await tree?.close()
  tree = undefined
  await dir.cleanup()
})

describe('checkpoint floor (DESIGN §11: no reorg below the last signed checkpoint)', () => {
  it('refuses a heavier branch forking below the floor, durably across a reopen; above it fork choice works as before', async () => {
    tree = await openTree(dir.path)
    const g = tree.head().header
    const b1 = child(g)
    const b2 = child(b1.header)
    const b3 = child(b2.header)
    for (const b of [b1, b2, b3]) await tree.addBlock(b)
    expect(tree.checkpointFloor()).toBe(0)
    await tree.setCheckpointFloor(2)
    expect(tree.checkpointFloor()).toBe(2)
    // Never lowered.
    await tree.setCheckpointFloor(1)
    expect(tree.checkpointFloor()).toBe(2)
    // A heavier branch forking at height 1 (below the floor): stored, never canonical.
    const f2 = child(b1.header, { difficulty: 9 })
    const f3 = child(f2.header, { difficulty: 9 })
    await tree.addBlock(f2)
    const r = await tree.addBlock(f3)
    expect(r.reorg).toBeUndefined()
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(b3.header)))
    await tree.close()
    tree = await openTree(dir.path)
    expect(tree.checkpointFloor()).toBe(2)
    const f4 = child(f3.header, { difficulty: 9 })
    expect((await tree.addBlock(f4)).reorg).toBeUndefined()
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(b3.header)))
    // A heavier branch forking at the floor height (block 2 stays canonical) still wins.
    const x3 = child(b2.header, { difficulty: 9 })
    const rx = await tree.addBlock(x3)
    expect(rx.reorg?.depth).toBe(1)
    expect(toHex(tree.head().hash)).toBe(toHex(blockHash(x3.header)))
  })

  it('refuses a floor above the head or not a height', async () => {
    tree = await openTree(dir.path)
    await expect(tree.setCheckpointFloor(5)).rejects.toBeInstanceOf(StoreError)
    await expect(tree.setCheckpointFloor(-1)).rejects.toBeInstanceOf(RangeError)
    expect(tree.checkpointFloor()).toBe(0)
  })
})
