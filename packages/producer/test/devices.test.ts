import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDeviceRevokeTx, createDeviceTx, createTransaction, generateKeyPair, toHex, txIdHex } from '@profichain/core'
import { createConsensus, createGenesis } from '@profichain/consensus'
import { BlockTree } from '@profichain/store'
import { afterEach, describe, expect, it } from 'vitest'
import { createBlockProducer, type ProducedBlock } from '../src/index.js'

const open: Array<{ stop(): Promise<void> } | BlockTree> = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await ('close' in o ? o.close() : o.stop())
})

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('producer and device origins (issue 14)', () => {
  it('never seals a record of a device whose key was revoked after the record entered the mempool', async () => {
    const key = generateKeyPair()
    const device = generateKeyPair()
    const genesis = createGenesis({ network: 'pdev', validators: [key], blockTimeMs: 50 })
    const consensus = createConsensus(genesis)
    const tree = await BlockTree.open({ path: join(await mkdtemp(join(tmpdir(), 'producer-dev-')), 'db'), genesis, consensus })
    open.push(tree)
    const blocks: ProducedBlock[] = []
    const start = (maxTxsPerBlock: number) => {
      const p = createBlockProducer({ maxTxsPerBlock, idlePollMs: 10 }, { chain: tree, consensus, key, context: tree.chain })
      p.on('block', (b: ProducedBlock) => blocks.push(b))
      p.start()
      return p
    }
    // Register the device.
    let p = start(100)
    await tree.mempool.add([createDeviceTx(key, { network: 'pdev', seq: 0, device: { deviceId: 'd1', publicKey: device.publicKey } })])
    await until('device registered', () => tree.devices.get(toHex(device.publicKey)) !== undefined)
    await p.stop()
    // Revoke first, then a record of the device: one tx per block, so the record comes after the revocation.
    const revoke = createDeviceRevokeTx(key, { network: 'pdev', seq: 1, revoke: { publicKey: device.publicKey } })
    const record = createTransaction(device, { network: 'pdev', seq: 0, payload: new Uint8Array([1]) })
    expect(await tree.mempool.add([revoke])).toBe(1)
    expect(await tree.mempool.add([record])).toBe(1) // the device is still active at the head
    p = start(1)
    open.push(p)
    await until('device revoked', () => tree.devices.get(toHex(device.publicKey))?.revoked !== undefined)
    const member = createTransaction(key, { network: 'pdev', seq: 2, payload: new Uint8Array([2]) })
    await tree.mempool.add([member])
    await until('member record committed', async () => (await tree.getTx(txIdHex(member))) !== undefined)
    expect(await tree.getTx(txIdHex(record))).toBeUndefined()
    expect(blocks.some((b) => b.block.txs.some((t) => txIdHex(t) === txIdHex(record)))).toBe(false)
    // The refused record left the mempool.
    await until('record evicted', () => !tree.mempool.has(txIdHex(record)))
  })
})
