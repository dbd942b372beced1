import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createDeviceRevokeTx,
  createDeviceTx,
  createTransaction,
  generateKeyPair,
  type KeyPair,
  toHex,
  txId,
  writeKeyFile,
} from '@profichain/core'
import { createGenesis, type Genesis, serializeGenesis } from '@profichain/consensus'
import { createNetwork, type P2PNetwork } from '@profichain/network'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { parseConfig, ProfichainNode } from '../src/index.js'
import { stopAfterEach, waitForLive } from './fakes.js'

// Issue 14 item 1: gossip applies the stateful origin rule (registered, unrevoked devices; no replays).

const cleanup = stopAfterEach()

async function startNode(): Promise<{ node: ProfichainNode; genesis: Genesis; member: KeyPair }> {
  const dir = await mkdtemp(join(tmpdir(), 'profichain-devices-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))
  const nodeKey = generateKeyPair()
  const member = generateKeyPair()
  const genesis = createGenesis({
    network: 'devtest',
    validators: [nodeKey],
    members: [{ name: 'member', publicKey: toHex(member.publicKey), roles: ['thin'] }],
    blockTimeMs: 100,
  })
  await writeFile(join(dir, 'genesis.json'), serializeGenesis(genesis))
  await writeKeyFile(join(dir, 'node.key'), nodeKey)
  const config = parseConfig({ type: 'producer', modules: { api: false, ingest: false }, p2p: { port: 0 }, processing: { threads: 0 } }, dir)
  const node = new ProfichainNode({ config, logger: pino({ level: 'silent' }) })
  await node.start()
  cleanup.push(() => node.stop())
  return { node, genesis, member }
}

async function startMemberHost(key: KeyPair, genesis: Genesis, node: ProfichainNode): Promise<P2PNetwork> {
  const host = createNetwork(
    { network: genesis.network, listen: ['/ip4/127.0.0.1/tcp/0'], members: genesis.members, bootstrap: node.network?.net.multiaddrs() ?? [], redialBaseMs: 100, redialMaxMs: 1000 },
    {
      key,
      handlers: { headers: () => [], block: () => null, blocks: () => [], payloads: (ids) => ids.map(() => null), status: () => null as never },
      originAllowed: () => true,
      onTxBatch: () => 'ignore',
      onBlock: () => 'ignore',
    },
  )
  await host.start()
  cleanup.push(() => host.stop())
  const nodeId = node.network?.peerId ?? ''
  await waitForLive('member host connected', () => host.peers().some((p) => p.peerId === nodeId))
  return host
}

describe('gossip and device origins', () => {
  it('commits records of a registered device; rejects (penalises) replays and records after revocation', async () => {
    const { node, genesis, member } = await startNode()
    const host = await startMemberHost(member, genesis, node)
    const net = node.network?.net as P2PNetwork
    const device = generateKeyPair()
    const rec = (seq: number, text: string) => createTransaction(device, { network: genesis.network, seq, payload: new TextEncoder().encode(text) })
    const committed = async (t: ReturnType<typeof rec>) => (await node.tree.getTx(txId(t))) !== undefined
    const invalid = () => net.stats().rejected.invalid

    // Before registration the device key is not an allowed origin.
    const early = rec(0, 'early')
    await waitForLive('unregistered device refused', async () => {
      await host.publishTxs([rec(100 + net.stats().rejected.origin, 'early')])
      return net.stats().rejected.origin >= 1
    })
    await host.publishTxs([createDeviceTx(member, { network: genesis.network, seq: 0, device: { deviceId: 'press-7', publicKey: device.publicKey } })])
    await waitForLive('device registered', () => node.tree.devices.get(toHex(device.publicKey)) !== undefined)

    const first = rec(0, 'first')
    await host.publishTxs([first])
    await waitForLive('device record committed', () => committed(first))

    // Replay: another tx with seq 0 (fresh bytes per attempt, gossipsub drops repeats).
    const before = invalid()
    const replays: Array<ReturnType<typeof rec>> = []
    await waitForLive('replay rejected', async () => {
      replays.push(rec(0, `replay ${replays.length}`))
      await host.publishTxs([replays[replays.length - 1]])
      return invalid() > before
    })
    expect(node.tree.devices.refusals().get(toHex(device.publicKey))?.replays).toBeGreaterThanOrEqual(1)

    await host.publishTxs([createDeviceRevokeTx(member, { network: genesis.network, seq: 1, revoke: { publicKey: device.publicKey, reason: 'stolen' } })])
    await waitForLive('device revoked', () => node.tree.devices.get(toHex(device.publicKey))?.revoked !== undefined)
    const afterRevoke = invalid()
    const late: Array<ReturnType<typeof rec>> = []
    await waitForLive('record of the revoked key rejected', async () => {
      late.push(rec(10 + late.length, 'late'))
      await host.publishTxs([late[late.length - 1]])
      return invalid() > afterRevoke
    })
    expect(node.tree.devices.refusals().get(toHex(device.publicKey))?.revoked).toBeGreaterThanOrEqual(1)
    // A member record still goes through, and none of the refused ones is pending or committed.
    const honest = createTransaction(member, { network: genesis.network, seq: 2, payload: new Uint8Array([9]) })
    await host.publishTxs([honest])
    await waitForLive('member record committed', () => committed(honest))
    for (const t of [early, ...replays, ...late]) {
      expect(await committed(t)).toBe(false)
      expect(node.tree.mempool.has(toHex(txId(t)))).toBe(false)
    }
  })
})
