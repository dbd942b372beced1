import { blockHash, createTransaction, type Transaction, toHex, txId } from '@profichain/core'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { NetworkError, peerIdFromPublicKey, peerIdOfKey, publicKeyOfPeer } from '../src/index.js'
import {
  connectedTo,
  internals,
  MemChain,
  makeKeys,
  membersOf,
  NETWORK,
  nodeOf,
  openOnClosingConnection,
  startNode,
  type TestNode,
  waitFor,
} from './helpers.js'

const running: TestNode[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.net.stop()))
})
async function start(...args: Parameters<typeof startNode>): Promise<TestNode> {
  const n = await startNode(...args)
  running.push(n)
  return n
}

function txsOf(key: TestNode['key'], n: number, tag: string, seq0 = 0): Transaction[] {
  return Array.from({ length: n }, (_, i) =>
    createTransaction(key, {
      network: NETWORK,
      seq: seq0 + i,
      payload: new Uint8Array(100).fill(i),
      metadata: { tag },
    }),
  )
}

describe('keys', () => {
  it('maps our Ed25519 key to a libp2p PeerId and back', () => {
    const [k] = makeKeys(1)
    const id = peerIdOfKey(k)
    expect(id).toMatch(/^12D3KooW/)
    expect(peerIdFromPublicKey(k.publicKey)).toBe(id)
    expect(toHex(publicKeyOfPeer(id))).toBe(toHex(k.publicKey))
  })
})

/** B connected to A; A stops and starts again with the same key and port; resolves once B has redialled A. */
async function restartedPeer() {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    let a = await start(keys[0], { members })
    const addr = a.net.multiaddrs()[0]
    const port = addr.split('/')[4]
    const b = await start(keys[1], { members, bootstrap: [addr] })
    await waitFor(() => connectedTo(b, a), 'connected')
    await a.net.stop()
    running.splice(running.indexOf(a), 1)
    await waitFor(() => !connectedTo(b, a), 'B sees A gone')
    a = await start(keys[0], { members, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    await waitFor(() => connectedTo(b, a), 'B redials A', 20_000)
    return { keys, a, b }
}

describe('P2PNetwork', () => {
  it('two members connect via bootstrap and gossip a tx batch', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await start(keys[0], { members })
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    await waitFor(() => connectedTo(a, b) && connectedTo(b, a), 'A and B connected')
    const txs = txsOf(keys[0], 50, 'hello')
    const res = await a.net.publishTxs(txs)
    expect(res).toEqual({ batches: 1, published: true })
    await waitFor(() => b.txBatches.length > 0, 'B receives the batch')
    expect(b.txBatches[0].from).toBe(a.net.peerId)
    expect(b.txBatches[0].txs.map((t) => toHex(txId(t)))).toEqual(txs.map((t) => toHex(txId(t))))
    expect(a.net.stats().gossipOut).toBe(1)
    expect(b.net.stats().gossipAccepted).toBe(1)
    // Blocks travel on their own topic.
    await a.net.publishBlock(a.chain.blocks[1])
    await waitFor(() => b.blocks.length > 0, 'B receives the block')
    expect(toHex(blockHash(b.blocks[0].block.header))).toBe(toHex(blockHash(a.chain.blocks[1].header)))
  })

  it('queues a publish until a subscriber exists, splits into paced batches', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await start(keys[0], { members, maxBatchBytes: 64 * 1024 })
    const txs = txsOf(keys[0], 2000, 'bulk') // ~2000 * 330 B ≈ 650 KiB → ~11 batches
    const pending = a.net.publishTxs(txs)
    expect(a.net.stats().publishQueueLength).toBeGreaterThan(1)
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    const res = await pending
    expect(res.published).toBe(true)
    expect(res.batches).toBeGreaterThan(5)
    await waitFor(() => b.txBatches.reduce((n, x) => n + x.txs.length, 0) === 2000, 'B receives all 2000 txs')
    const ids = new Set(b.txBatches.flatMap((x) => x.txs.map((t) => toHex(txId(t)))))
    expect(ids.size).toBe(2000)
  })

  it('does not forward a batch that a relay rejects', async () => {
    const keys = makeKeys(3)
    const members = membersOf(keys)
    const relay = await start(keys[1], { members, targetPeers: 1 })
    const a = await start(keys[0], { members, targetPeers: 1, bootstrap: relay.net.multiaddrs() })
    const c = await start(keys[2], { members, targetPeers: 1, bootstrap: relay.net.multiaddrs() })
    relay.txVerdict = (txs) => (txs[0].body.metadata.tag === 'bad' ? 'reject' : 'accept')
    await waitFor(() => connectedTo(a, relay) && connectedTo(c, relay), 'line topology A - relay - C')
    expect(connectedTo(a, c)).toBe(false)
    // Until the relay's mesh includes C (next heartbeat), forwarded messages may miss C: probe until one arrives.
    let seq = 0
    await waitFor(async () => {
      await a.net.publishTxs(txsOf(keys[0], 1, 'probe', seq++))
      return c.txBatches.length > 0
    }, 'C receives a probe via the relay')
    await a.net.publishTxs(txsOf(keys[0], 1, 'bad', seq++))
    await a.net.publishTxs(txsOf(keys[0], 1, 'good', seq++))
    await waitFor(
      () => c.txBatches.some((x) => x.txs[0].body.metadata.tag === 'good'),
      'C receives the good batch after the bad one',
    )
    expect(c.txBatches.some((x) => x.txs[0].body.metadata.tag === 'bad')).toBe(false)
    expect(relay.net.stats().gossipRejected).toBe(1)
    expect(c.net.stats().gossipRejected).toBe(0)
  })

  it('relayTxs false: own batches reach the subscribed peer, peers send it none to relay', async () => {
    const keys = makeKeys(3)
    const members = membersOf(keys)
    const full = await start(keys[0], { members })
    const t1 = await start(keys[1], { members, relayTxs: false, bootstrap: full.net.multiaddrs() })
    const t2 = await start(keys[2], { members, relayTxs: false, bootstrap: full.net.multiaddrs() })
    await waitFor(() => connectedTo(t1, t2) && connectedTo(t1, full) && connectedTo(t2, full), 'fully connected')
    const own1 = txsOf(keys[1], 20, 't1')
    const own2 = txsOf(keys[2], 20, 't2')
    expect(await t1.net.publishTxs(own1)).toEqual({ batches: 1, published: true })
    await waitFor(() => full.txBatches.some((x) => x.from === t1.net.peerId), 'the full node receives t1 batch')
    expect(await t2.net.publishTxs(own2)).toEqual({ batches: 1, published: true })
    await waitFor(() => full.txBatches.some((x) => x.from === t2.net.peerId), 'the full node receives t2 batch')
    // Each batch went to the full node only: the thin nodes neither received nor relayed the other's.
    expect(full.txBatches).toHaveLength(2)
    expect(t1.txBatches).toHaveLength(0)
    expect(t2.txBatches).toHaveLength(0)
    expect(t1.net.stats().gossipIn + t2.net.stats().gossipIn).toBe(0)
    // Blocks still reach them.
    await full.net.publishBlock(full.chain.blocks[1])
    await waitFor(() => t1.blocks.length > 0 && t2.blocks.length > 0, 'both thin nodes receive the block')
  })

  it('rejects undecodable gossip and counts it', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await start(keys[0], { members })
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    await waitFor(() => connectedTo(a, b), 'connected')
    const ps = (
      a.net as unknown as {
        node: {
          services: {
            pubsub: {
              publish(t: string, d: Uint8Array): Promise<unknown>
              getSubscribers(t: string): unknown[]
            }
          }
        }
      }
    ).node.services.pubsub
    await waitFor(() => ps.getSubscribers(a.net.txTopic).length > 0, 'B subscribed')
    await ps.publish(a.net.txTopic, new Uint8Array([0xde, 0xad, 0xbe, 0xef]))
    await waitFor(() => b.net.stats().gossipDecodeFailed === 1, 'B counts the decode failure')
    expect(b.net.stats().gossipRejected).toBe(1)
    expect(b.txBatches).toHaveLength(0)
  })

  it('refuses non-members in both directions', async () => {
    const keys = makeKeys(3)
    const a = await start(keys[0], { members: membersOf([keys[0], keys[1]]) })
    // The outsider lists A as a member so that its own gater lets it dial.
    const outsider = await start(keys[2], {
      members: membersOf([keys[0], keys[2]]),
      bootstrap: a.net.multiaddrs(),
    })
    const err = await outsider.net
      .request(a.net.peerId, { kind: 'status' }, { timeoutMs: 5000 })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NetworkError)
    expect((err as NetworkError).code).toBe('ERR_SYNC_PEER')
    await waitFor(() => a.net.stats().gaterDenied >= 1, 'A counted the denial')
    expect(a.net.peers().some((p) => p.peerId === outsider.net.peerId)).toBe(false)
    // And A will not dial the outsider either.
    const err2 = await a.net.request(outsider.net.peerId, { kind: 'status' }).catch((e: unknown) => e)
    expect((err2 as NetworkError).code).toBe('ERR_SYNC_PEER')
  })

  it('answers every sync request kind, incl. a 4 MiB payload', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const chainA = new MemChain(keys[0], 5)
    const big = createTransaction(keys[0], {
      network: NETWORK,
      seq: 999,
      payload: new Uint8Array(4 * 1024 * 1024).fill(0xab),
    })
    chainA.payloads.set(toHex(txId(big)), big.payload)
    const a = await start(keys[0], { members }, chainA)
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    await waitFor(() => connectedTo(b, a), 'connected')
    const pa = a.net.peerId

    const status = await b.net.request(pa, { kind: 'status' })
    expect(status.height).toBe(4)
    expect(toHex(status.headHash)).toBe(toHex(blockHash(chainA.blocks[4].header)))

    const headers = await b.net.request(pa, { kind: 'headers', from: 1, count: 3 })
    expect(headers.map((h) => h.height)).toEqual([1, 2, 3])

    const block = await b.net.request(pa, { kind: 'block', hash: blockHash(chainA.blocks[2].header) })
    expect(block?.header.height).toBe(2)
    expect(await b.net.request(pa, { kind: 'block', hash: new Uint8Array(32) })).toBeNull()

    const blocks = await b.net.request(pa, { kind: 'blocks', from: 3, count: 64 })
    expect(blocks.map((x) => x.header.height)).toEqual([3, 4])

    const ids = [txId(chainA.blocks[0].txs[0]), txId(big), new Uint8Array(32)]
    const payloads = await b.net.request(pa, { kind: 'payloads', txIds: ids })
    expect(payloads).toHaveLength(3)
    expect(payloads[1].payload?.byteLength).toBe(4 * 1024 * 1024)
    expect(payloads[1].payload?.every((x) => x === 0xab)).toBe(true)
    expect(payloads[2].payload).toBeNull()

    const members2 = await b.net.request(pa, { kind: 'members' })
    const self = members2.find((m) => m.publicKey === toHex(keys[0].publicKey))
    expect(self?.addrs.length).toBeGreaterThan(0)
    expect(a.net.stats().syncServed).toBeGreaterThanOrEqual(7)
  })

  it('maps handler failures to ERR_SYNC_REMOTE and bad peers to ERR_SYNC_PEER', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const chainA = new MemChain(keys[0], 2)
    const a = await start(keys[0], { members }, chainA)
    chainA.handlers = () => ({}) as never
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    await waitFor(() => connectedTo(b, a), 'connected')
    ;(a.net as unknown as { components: { handlers: { status: () => never } } }).components.handlers.status =
      () => {
        throw new Error('store is closed')
      }
    const err = (await b.net
      .request(a.net.peerId, { kind: 'status' })
      .catch((e: unknown) => e)) as NetworkError
    expect(err.code).toBe('ERR_SYNC_REMOTE')
    expect(err.meta.remoteCode).toBe('ERR_INTERNAL')
    const err2 = (await b.net
      .request('not-a-peer', { kind: 'status' })
      .catch((e: unknown) => e)) as NetworkError
    expect(err2.code).toBe('ERR_SYNC_PEER')
  })

  it('times out a request whose handler never answers (ERR_SYNC_TIMEOUT), server answers ERR_TIMEOUT', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await start(keys[0], { members, syncServeTimeoutMs: 300 })
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    await waitFor(() => connectedTo(b, a), 'connected')
    const handlers = (a.net as unknown as { components: { handlers: { headers: () => Promise<never> } } })
      .components.handlers
    handlers.headers = () => new Promise<never>(() => {})
    const err = (await b.net
      .request(a.net.peerId, { kind: 'headers', from: 0, count: 1 }, { timeoutMs: 100 })
      .catch((e: unknown) => e)) as NetworkError
    expect(err.code).toBe('ERR_SYNC_TIMEOUT')
    const err2 = (await b.net
      .request(a.net.peerId, { kind: 'headers', from: 0, count: 1 }, { timeoutMs: 5000 })
      .catch((e: unknown) => e)) as NetworkError
    expect(err2.code).toBe('ERR_SYNC_REMOTE')
    expect(err2.meta.remoteCode).toBe('ERR_TIMEOUT')
    expect((await b.net.request(a.net.peerId, { kind: 'status' })).height).toBe(2)
  })

  it('answers garbage on the sync stream with an error or a close, and keeps working', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await start(keys[0], { members })
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    await waitFor(() => connectedTo(b, a), 'connected')
    type Raw = { dialProtocol(p: unknown, proto: string): Promise<RawStream> }
    type RawStream = {
      send(d: Uint8Array): boolean
      close(): Promise<void>
      [Symbol.asyncIterator](): AsyncIterator<Uint8Array | { subarray(): Uint8Array }>
    }
    const raw = (b.net as unknown as { node: Raw }).node
    const aId = (a.net as unknown as { node: { peerId: unknown } }).node.peerId
    const readAll = async (s: RawStream) => {
      const chunks: number[] = []
      try {
        for await (const c of s as AsyncIterable<Uint8Array | { subarray(): Uint8Array }>)
          chunks.push(...(c instanceof Uint8Array ? c : c.subarray()))
      } catch {
        return { aborted: true, bytes: chunks }
      }
      return { aborted: false, bytes: chunks }
    }
    // 1. Well-framed but not CBOR: an error response.
    const s1 = await raw.dialProtocol(aId, a.net.syncProtocol)
    s1.send(new Uint8Array([5, 1, 2, 3, 4, 5]))
    await s1.close()
    const r1 = await readAll(s1)
    expect(r1.aborted).toBe(false)
    expect(Buffer.from(r1.bytes).includes(Buffer.from('ERR_BAD_REQUEST'))).toBe(true)
    // 2. Broken framing (a 2^63 length prefix): the stream is closed/aborted.
    const s2 = await raw.dialProtocol(aId, a.net.syncProtocol)
    s2.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]))
    await s2.close().catch(() => {})
    const r2 = await readAll(s2)
    expect(r2.bytes.length).toBe(0)
    expect(a.net.stats().syncBadRequests).toBeGreaterThanOrEqual(2)
    // The node keeps serving.
    const status = await b.net.request(a.net.peerId, { kind: 'status' })
    expect(status.height).toBe(2)
  })

  it('redials a peer that restarts with the same key and port, and sync works again', async () => {
    const { a, b } = await restartedPeer()
    expect(b.net.peers().filter((p) => p.peerId === a.net.peerId)).toHaveLength(1)
    expect((await b.net.request(a.net.peerId, { kind: 'status' })).height).toBe(2)
    expect(b.net.stats().dials).toBeGreaterThanOrEqual(2) // the first dial and at least one redial
  })

  it('reconnect() drops the connections and the peers come back by themselves', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await start(keys[0], { members })
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    // Both sides: B can see the connection open before A does, and A can only hang up what it sees.
    await waitFor(() => connectedTo(b, a) && connectedTo(a, b), 'connected')
    const dials = b.net.stats().dials
    await a.net.reconnect()
    await waitFor(() => b.net.stats().dials > dials && connectedTo(b, a), 'B redials A after the hang-up', 20_000)
    expect((await b.net.request(a.net.peerId, { kind: 'status' })).height).toBe(2)
  })

  // Was skipped as a flaky KNOWN ISSUE. Root cause (gossipsub 17): B's outbound stream to A was still being
  // opened when A stopped; it arrived closed after B had forgotten A, so gossipsub kept the dead stream and
  // never opened one on the new connection. Fixed in src/gossipsub-adapter.ts (install/heal); the next test
  // replays the race deterministically.
  it('gossip resumes after a peer restarts with the same key and port', async () => {
    const { keys, a, b } = await restartedPeer()
    let round = 0
    await waitFor(
      async () => {
        if (a.txBatches.length > 0) return true
        await b.net.publishTxs(txsOf(keys[1], 3, `after-restart-${round++}`))
        await new Promise((r) => setTimeout(r, 500))
        return a.txBatches.length > 0
      },
      'A receives gossip after the restart',
      60_000,
    )
  }, 90_000)

  it('gossip survives a gossipsub stream that closed while it was being opened (the restart bug, replayed)', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await start(keys[0], { members })
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() })
    await waitFor(() => connectedTo(a, b) && connectedTo(b, a), 'A and B connected')
    const bNode = nodeOf(b.net)
    await waitFor(() => internals(bNode).streamsOutbound.has(a.net.peerId), 'B has its gossip stream to A')
    await openOnClosingConnection(bNode, nodeOf(a.net).peerId)
    const res = await b.net.publishTxs(txsOf(keys[1], 3, 'after-race'))
    expect(res).toEqual({ batches: 1, published: true })
    await waitFor(() => a.txBatches.length > 0, 'A receives the batch')
    expect(a.txBatches[0].txs.map((t) => t.body.metadata.tag)).toEqual(['after-race', 'after-race', 'after-race'])
    expect(b.net.stats().streamRepairs).toBeGreaterThanOrEqual(1)
    expect(b.net.stats().publishUnsent).toBe(0)
  })

  it('exports its counters on the registry it is given (prom-client, _total), stats() unchanged', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const [ra, rb] = [new Registry(), new Registry()]
    const a = await start(keys[0], { members }, undefined, { registry: ra })
    const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs() }, undefined, { registry: rb })
    await waitFor(() => connectedTo(b, a), 'connected')
    await b.net.request(a.net.peerId, { kind: 'status' })
    await b.net.publishTxs(txsOf(keys[1], 2, 'metrics'))
    await waitFor(() => a.txBatches.length > 0, 'A receives the batch')
    const textA = await ra.metrics()
    const textB = await rb.metrics()
    expect(textB).toContain('profichain_network_sync_requests_total{kind="status"} 1')
    expect(textA).toContain(`profichain_network_sync_served_total{kind="status"} 1`)
    expect(textB).toContain('profichain_network_gossip_published_total{topic="tx"} 1')
    expect(textA).toContain('profichain_network_gossip_accepted_total{topic="tx"} 1')
    // stats() and the Counters are one count: every kind served adds up to stats().syncServed.
    const servedTotal = async () =>
      (await ra.getSingleMetric('profichain_network_sync_served_total')?.get())?.values.reduce((n, v) => n + v.value, 0)
    await waitFor(async () => (await servedTotal()) === a.net.stats().syncServed, 'Counters match stats()')
    expect(a.net.stats().gossipAccepted).toBe(1)
    expect(b.net.stats().gossipOut).toBe(1)
  })

  it('peer exchange connects members that only knew a seed', async () => {
    const keys = makeKeys(3)
    const members = membersOf(keys)
    const seed = await start(keys[0], { members })
    const b = await start(keys[1], { members, bootstrap: seed.net.multiaddrs() })
    await waitFor(() => connectedTo(b, seed), 'B connected to the seed')
    const c = await start(keys[2], { members, bootstrap: seed.net.multiaddrs() })
    await waitFor(() => connectedTo(c, b) || connectedTo(b, c), 'B and C find each other via peer exchange')
    expect(c.net.stats().peerExchanges + b.net.stats().peerExchanges).toBeGreaterThan(0)
  })
})
