import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createBlock,
  createTransaction,
  generateKeyPair,
  type KeyPair,
  type Transaction,
  toHex,
  txId,
  writeKeyFile,
} from '@profichain/core'
import { createGenesis, type Genesis, genesisHash, serializeGenesis } from '@profichain/consensus'
import { createNetwork, type NetworkError, type P2PNetwork } from '@profichain/network'
import { pino } from 'pino'
import type { Counter } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { orphanLimitOf, OwnCommitLatency, PayloadCache, relaysTxs } from '../src/gossip/index.js'
import { parseConfig, ProfichainNode } from '../src/index.js'
import { stopAfterEach, waitForLive } from './fakes.js'

const cleanup = stopAfterEach()

/** A real node (LevelDB in a temp dir, libp2p on a random port) and a member key it does not run. */
async function startNode(type: 'producer' | 'thin', blockTimeMs: number) {
  const dir = await mkdtemp(join(tmpdir(), 'profichain-bridge-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))
  const nodeKey = generateKeyPair()
  const member = generateKeyPair()
  const genesis = createGenesis({
    network: 'bridgetest',
    validators: [nodeKey],
    members: [{ name: 'member', publicKey: toHex(member.publicKey), roles: ['thin'] }],
    blockTimeMs,
  })
  await writeFile(join(dir, 'genesis.json'), serializeGenesis(genesis))
  await writeKeyFile(join(dir, 'node.key'), nodeKey)
  const config = parseConfig(
    {
      type,
      modules: { api: false, ingest: false },
      p2p: { port: 0 },
      processing: { threads: 0 },
    },
    dir,
  )
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'warn' }, { write: (s: string) => void logs.push(JSON.parse(s)) })
  const node = new ProfichainNode({ config, logger })
  await node.start()
  cleanup.push(() => node.stop())
  return { node, genesis, member, logs }
}

/** A member's libp2p host driven by the test (a member gone rogue). */
async function startRogue(key: KeyPair, genesis: Genesis, node: ProfichainNode) {
  const served = { status: 0 }
  const rogue: P2PNetwork = createNetwork(
    {
      network: genesis.network,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      members: genesis.members,
      bootstrap: node.network?.net.multiaddrs() ?? [],
      redialBaseMs: 100,
      redialMaxMs: 1000,
    },
    {
      key,
      handlers: {
        headers: () => [],
        block: () => null,
        blocks: () => [],
        payloads: (ids) => ids.map(() => null),
        // Claims a head the node lacks, so every sync round asks it for status and blocks.
        status: () => {
          served.status++
          return { height: 1000, headHash: new Uint8Array(randomBytes(32)), genesisHash: genesisHash(genesis) }
        },
      },
      originAllowed: () => true,
      onTxBatch: () => 'ignore',
      onBlock: () => 'ignore',
    },
  )
  await rogue.start()
  cleanup.push(() => rogue.stop())
  const nodeId = node.network?.peerId ?? ''
  await waitForLive('rogue connected', () => rogue.peers().some((p) => p.peerId === nodeId))
  return { rogue, served, nodeId }
}

describe('relaysTxs (p2p.relay_txs)', () => {
  const members = (n: number) => ({ members: Array.from({ length: n }, () => ({ name: 'm', publicKey: '00', roles: [] })) }) as unknown as Pick<Genesis, 'members'>
  const mempool = {} as NonNullable<Parameters<typeof relaysTxs>[1]['mempool']>
  it('a node that uses txs (mempool, payload cache) always subscribes', () => {
    expect(relaysTxs({ genesis: members(3), targetPeers: 8, relayTxs: false }, { mempool })).toBe(true)
    expect(relaysTxs({ genesis: members(3), targetPeers: 8, relayTxs: false }, { payloads: new PayloadCache(1024) })).toBe(true)
  })
  it('a thin node relays by default only when the network may not be fully connected; relay_txs decides', () => {
    expect(relaysTxs({ genesis: members(3), targetPeers: 8 }, {})).toBe(false)
    expect(relaysTxs({ genesis: members(9), targetPeers: 8 }, {})).toBe(false)
    expect(relaysTxs({ genesis: members(10), targetPeers: 8 }, {})).toBe(true)
    expect(relaysTxs({ genesis: members(3), targetPeers: 8, relayTxs: true }, {})).toBe(true)
    expect(relaysTxs({ genesis: members(10), targetPeers: 8, relayTxs: false }, {})).toBe(false)
  })
  it('the config key is optional and boolean', () => {
    expect(parseConfig({ type: 'thin' }, '/data').p2p.relay_txs).toBeUndefined()
    expect(parseConfig({ type: 'thin', p2p: { relay_txs: true } }, '/data').p2p.relay_txs).toBe(true)
    expect(() => parseConfig({ type: 'thin', p2p: { relay_txs: 'yes' } }, '/data')).toThrow(/relay_txs/)
  })
})

describe('PayloadCache', () => {
  it('drop forgets payloads (a block this node produced) and frees their bytes for others', () => {
    const c = new PayloadCache(10)
    c.set('a', new Uint8Array(6))
    c.set('b', new Uint8Array(4))
    c.drop(['a', 'x'])
    expect(c.size).toBe(1)
    c.set('c', new Uint8Array(6)) // fits now: 'b' stays
    expect([...c.take(['a', 'b', 'c']).keys()]).toEqual(['b', 'c'])
    expect(c.size).toBe(0)
  })
})

describe('OwnCommitLatency (re-gossip waits at least twice it)', () => {
  it('follows the slowest own record of a block at once and decays by 0.8 per block; blocks without own records change nothing', () => {
    const l = new OwnCommitLatency()
    expect(l.ms).toBe(0)
    l.add([1200, 9000, 300])
    expect(l.ms).toBe(9000)
    l.add([])
    expect(l.ms).toBe(9000)
    l.add([100])
    expect(l.ms).toBe(7200)
    l.add([20_000])
    expect(l.ms).toBe(20_000)
  })

  it('takes a block of more own records than a call takes arguments (Math.max(...xs) threw at 200,000)', () => {
    const l = new OwnCommitLatency()
    const many = new Array<number>(200_000).fill(50)
    many[123_456] = 4000
    l.add(many)
    expect(l.ms).toBe(4000)
  })
})

describe('gossip (issue 10 items 7 and 8)', () => {
  it('rejects gossip of a validly signed record from a key in no genesis; a member record is committed', async () => {
    const { node, genesis, member } = await startNode('producer', 100)
    const { rogue } = await startRogue(member, genesis, node)
    const stranger = generateKeyPair()
    const forged: Transaction[] = []
    // A fresh tx per attempt: gossipsub would refuse to re-publish the same bytes.
    await waitForLive('forged batch rejected', async () => {
      forged.push(createTransaction(stranger, { network: genesis.network, seq: forged.length, payload: new Uint8Array([1, 2, 3]) }))
      await rogue.publishTxs([forged[forged.length - 1]])
      return (node.network?.net.stats().rejected.origin ?? 0) >= 1
    })
    const rejected = node.network?.net.stats().rejected.origin
    // The network counts rejections in the node's registry, labelled by topic and reason.
    const counter = node.metrics.registry.getSingleMetric('profichain_network_gossip_rejected_total') as Counter
    const byOrigin = (await counter.get()).values.filter((v) => v.labels.reason === 'origin')
    expect(byOrigin.reduce((n, v) => n + v.value, 0)).toBe(rejected)
    const honest = createTransaction(member, { network: genesis.network, seq: 0, payload: new Uint8Array([4, 5, 6]) })
    await rogue.publishTxs([honest])
    await waitForLive('the member record is committed', async () => (await node.tree.getTx(txId(honest))) !== undefined)
    for (const f of forged) {
      expect(await node.tree.getTx(txId(f))).toBeUndefined()
      expect(node.tree.mempool.has(toHex(txId(f)))).toBe(false)
    }
  })

  it('metrics: the network counts into the node registry; levels are read at scrape, nothing is copied', async () => {
    const { node } = await startNode('producer', 100)
    const registry = node.metrics.registry
    for (const copied of ['profichain_network_gossip_in_messages', 'profichain_network_gossip_out_messages', 'profichain_network_sync_requests', 'profichain_network_sync_served_requests']) {
      expect(registry.getSingleMetric(copied)).toBeUndefined()
    }
    expect(registry.getSingleMetric('profichain_network_gossip_received_total')).toBeDefined()
    expect(registry.getSingleMetric('profichain_network_sync_requests_total')).toBeDefined()
    const text = await registry.metrics()
    // No empty blocks and no records: the head stays at genesis, and the gauges say what the store says.
    expect(/^profichain_chain_height_blocks (\d+)$/m.exec(text)?.[1]).toBe(String(node.tree.head().height))
    expect(/^profichain_outbox_txs (\d+)$/m.exec(text)?.[1]).toBe(String(await node.tree.outbox.size()))
    expect(/^profichain_chain_blocks_total (\d+)$/m.exec(text)?.[1]).toBe('0')
  })

  it('bans a member that floods orphan blocks, logs why, and keeps its orphan syncs bounded', async () => {
    const { node, genesis, member, logs } = await startNode('thin', 2000)
    const { rogue, served, nodeId } = await startRogue(member, genesis, node)
    const net = node.network?.net as P2PNetwork
    const limit = orphanLimitOf(genesis)
    expect(limit).toBe(120)
    const statusBefore = served.status
    const t0 = Date.now()
    for (let i = 0; i < limit + 20; i++) {
      const orphan = createBlock({
        network: genesis.network,
        height: 10 + i,
        timestamp: genesis.timestamp + 10_000 + i,
        prevHash: new Uint8Array(randomBytes(32)),
        producer: member.publicKey,
        txs: [],
      })
      void rogue.publishBlock(orphan).catch(() => {})
    }
    await waitForLive('the node bans the rogue', () => net.stats().peerBans === 1)
    const elapsed = Date.now() - t0
    await waitForLive('the rogue is disconnected', () => !rogue.peers().some((p) => p.peerId === nodeId))
    expect(net.stats().orphanBlocks).toBeGreaterThan(limit)
    expect(net.isBanned(rogue.peerId)).toBe(true)
    const line = logs.find((l) => String(l.msg).startsWith('peer banned'))
    expect(line).toMatchObject({ peer: rogue.peerId, reason: 'orphan-flood', orphanLimit: limit })
    // Orphan-triggered syncs: at most one per second for this peer, besides the 2 s loop (each round asks
    // for status once). Without the limit every orphan started a round.
    const rounds = served.status - statusBefore
    expect(rounds).toBeLessThanOrEqual(3 + Math.ceil(elapsed / 1000) + Math.ceil(elapsed / 2000))
    // The gater refuses it while the ban lasts.
    const err = (await rogue
      .request(nodeId, { kind: 'status' }, { timeoutMs: 5000 })
      .catch((e: unknown) => e)) as NetworkError
    expect(err.code).toBe('ERR_SYNC_PEER')
  })
})
