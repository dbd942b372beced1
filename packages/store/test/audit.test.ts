import {
  blockHash,
  decodeHeader,
  decodeStrippedTx,
  encodeHeader,
  encodeStrippedTx,
  toHex,
  txIdHex,
} from '@profichain/core'
import { Level } from 'level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AuditMismatch, BlockTree } from '../src/index.js'
import { encodeLeaves, encodeTxIndex, openSublevels, type Subs, txKey, u64 } from '../src/keys.js'
import { child, makeTx, openTree, payloadsOf, tempDir } from './helpers.js'

let dir: { path: string; cleanup: () => Promise<void> }
let tree: BlockTree
let hash1: Uint8Array
let hash2: Uint8Array
let ids: string[]

beforeEach(async () => {
  dir = await tempDir()
  tree = await openTree(dir.path)
  const txs = [makeTx('t0'), makeTx('t1'), makeTx('t2')]
  const b1 = child(tree.head().header, { txs })
  const b2 = child(b1.header, { txs: [makeTx('t3')] })
  await tree.addBlock(b1, { payloads: payloadsOf(txs) })
  await tree.addBlock(b2)
  hash1 = blockHash(b1.header)
  hash2 = blockHash(b2.header)
  ids = txs.map(txIdHex)
  expect((await tree.audit()).mismatches).toEqual([])
  await tree.close()
})

afterEach(async () => {
  await tree.close()
  await dir.cleanup()
})

/** Change raw values with the node stopped, then audit. */
async function tamper(fn: (s: Subs) => Promise<void>): Promise<AuditMismatch[]> {
  const db = new Level<Uint8Array, Uint8Array>(dir.path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  await fn(openSublevels(db))
  await db.close()
  tree = await openTree(dir.path)
  const progress: number[] = []
  const r = await tree.audit((p) => progress.push(p.height))
  expect(progress).toEqual([0, 1, 2])
  return r.mismatches
}

describe('audit finds tampering', () => {
  it('of a header', async () => {
    const ms = await tamper(async (s) => {
      const h = decodeHeader((await s.header.get(hash1)) as Uint8Array)
      await s.header.put(hash1, encodeHeader({ ...h, timestamp: h.timestamp + 1 }))
    })
    expect(ms).toContainEqual(expect.objectContaining({ kind: 'header', height: 1, blockHash: toHex(hash1) }))
  })

  it('of a header signature', async () => {
    const ms = await tamper(async (s) => {
      const h = decodeHeader((await s.header.get(hash2)) as Uint8Array)
      const sig = new Uint8Array(h.signatures[0].signature)
      sig[5] ^= 1
      await s.header.put(
        hash2,
        encodeHeader({ ...h, signatures: [{ signer: h.signatures[0].signer, signature: sig }] }),
      )
    })
    expect(ms).toEqual([expect.objectContaining({ kind: 'signature', height: 2, blockHash: toHex(hash2) })])
  })

  it('of a stripped tx', async () => {
    const ms = await tamper(async (s) => {
      const tx = decodeStrippedTx((await s.strippedTx.get(txKey(hash1, 1))) as Uint8Array)
      await s.strippedTx.put(
        txKey(hash1, 1),
        encodeStrippedTx({ ...tx, body: { ...tx.body, metadata: { forged: '1' } } }),
      )
    })
    const tx = ms.find((m) => m.kind === 'tx')
    expect(tx).toMatchObject({ height: 1, blockHash: toHex(hash1) })
    expect(tx?.message).toMatch(/stripped tx 1/)
    expect(ms).toContainEqual(expect.objectContaining({ kind: 'merkle', height: 1 }))
    expect(ms).toContainEqual(expect.objectContaining({ kind: 'signature', height: 1 }))
    expect(ms.some((m) => m.kind === 'leaf')).toBe(false)
  })

  it('of a payload', async () => {
    const ms = await tamper(async (s) => {
      await s.payload.put(Buffer.from(ids[2], 'hex'), new Uint8Array(Buffer.from('t2 changed')))
    })
    expect(ms).toEqual([
      expect.objectContaining({ kind: 'payload', height: 1, blockHash: toHex(hash1), txId: ids[2] }),
    ])
  })

  it('of a Merkle leaf', async () => {
    const ms = await tamper(async (s) => {
      const leaves = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2), new Uint8Array(32).fill(3)]
      await s.leaves.put(hash1, encodeLeaves(leaves))
    })
    expect(ms.length).toBe(3)
    expect(ms.every((m) => m.kind === 'leaf' && m.height === 1)).toBe(true)
    expect(ms.map((m) => m.txId)).toEqual(ids)
  })

  it('of the tx index and the canonical chain', async () => {
    const ms = await tamper(async (s) => {
      await s.txIndex.put(Buffer.from(ids[0], 'hex'), encodeTxIndex({ blockHash: hash1, height: 1, index: 2 }))
      await s.txIndex.del(Buffer.from(ids[1], 'hex'))
    })
    expect(ms).toEqual([
      expect.objectContaining({ kind: 'index', height: 1, txId: ids[0] }),
      expect.objectContaining({ kind: 'index', height: 1, txId: ids[1] }),
    ])
    await tree.close()
    const ms2 = await tamper(async (s) => {
      await s.canonical.put(u64(1), hash2)
    })
    expect(ms2).toContainEqual(expect.objectContaining({ kind: 'index', height: 1, blockHash: toHex(hash2) }))
    expect(ms2).toContainEqual(expect.objectContaining({ kind: 'link', height: 2 }))
  })
})
