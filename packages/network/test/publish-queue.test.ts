import { createTransaction, type KeyPair, type Transaction, toHex, txId } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { connectedTo, makeKeys, membersOf, NETWORK, startNode, type TestNode, waitFor } from './helpers.js'

const nodes: TestNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.net.stop()))
})

describe('publish queue', () => {
  it('holds at most maxQueuedBytes while no peer takes gossip, dropping the oldest (memory stays bounded)', async () => {
    const [key] = makeKeys(1)
    const node = await startNode(key, { members: membersOf([key]), maxQueuedBytes: 64 * 1024, maxBatchBytes: 16 * 1024 })
    nodes.push(node)
    // 1 MiB of own records on a node alone: without a bound every batch waits in memory for a peer.
    let seq = 0
    const batch = (): Transaction[] =>
      Array.from({ length: 8 }, () => createTransaction(key, { network: NETWORK, seq: seq++, payload: new Uint8Array(1000).fill(seq & 255), timestamp: 1 }))
    const results = Array.from({ length: 128 }, () => node.net.publishTxs(batch()))
    const stats = node.net.stats()
    expect(stats.publishDropped).toBeGreaterThan(0)
    // One ~9 KB batch per publish: 64 KiB hold at most 7 of them, plus the head (in flight).
    expect(stats.publishQueueLength).toBeLessThanOrEqual(8)
    // The dropped publishes (all but the head, which waits for a peer) settle unpublished: nothing holds them.
    const settled = await Promise.race([Promise.all(results.slice(1, 100)), new Promise((r) => setTimeout(() => r('pending'), 5000))])
    expect(settled).not.toBe('pending')
    expect((settled as Array<{ published: boolean }>).every((r) => !r.published)).toBe(true)
  })

  /** A publisher and a subscriber, connected. */
  async function pair(): Promise<{ keys: KeyPair[]; a: TestNode; b: TestNode }> {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await startNode(keys[0], { members })
    nodes.push(a)
    const b = await startNode(keys[1], { members, bootstrap: a.net.multiaddrs() })
    nodes.push(b)
    await waitFor(() => connectedTo(a, b) && connectedTo(b, a), 'A and B connected')
    return { keys, a, b }
  }
  const txs = (key: KeyPair, seq0: number, n: number): Transaction[] =>
    Array.from({ length: n }, (_, i) => createTransaction(key, { network: NETWORK, seq: seq0 + i, payload: new Uint8Array([i]), timestamp: 1 }))
  const ids = (list: Transaction[]) => list.map((t) => toHex(txId(t)))

  it('a republished tx batch that the seen cache refuses goes out again in another order', async () => {
    const { keys, a, b } = await pair()
    const own = txs(keys[0], 0, 20)
    expect(await a.net.publishTxs(own)).toEqual({ batches: 1, published: true })
    await waitFor(() => b.txBatches.length === 1, 'B receives the batch')
    // The outbox re-sends the same records (e.g. the producer crashed after the first copy): same bytes.
    expect(await a.net.publishTxs(own)).toEqual({ batches: 1, published: true })
    await waitFor(() => b.txBatches.length === 2, 'B receives the republished records')
    expect(a.net.stats().publishRenewed).toBe(1)
    const again = ids(b.txBatches[1].txs)
    expect(again).not.toEqual(ids(own))
    expect([...again].sort()).toEqual([...ids(own)].sort())
  })

  it('a republished single record is deferred and goes out with the next batch', async () => {
    const { keys, a, b } = await pair()
    const [one] = txs(keys[0], 0, 1)
    await a.net.publishTxs([one])
    await waitFor(() => b.txBatches.length === 1, 'B receives the record')
    let settled: boolean | undefined
    const republished = a.net.publishTxs([one]).then((r) => (settled = r.published))
    await waitFor(() => a.net.stats().publishDeferred === 1, 'the single record is deferred')
    expect(settled).toBeUndefined()
    expect(a.net.stats().publishQueueLength).toBe(1)
    const next = txs(keys[0], 1, 2)
    expect(await a.net.publishTxs(next)).toEqual({ batches: 1, published: true })
    await republished
    expect(settled).toBe(true)
    await waitFor(() => b.txBatches.length === 2, 'B receives the next batch')
    expect(ids(b.txBatches[1].txs).sort()).toEqual(ids([...next, one]).sort())
    expect(a.net.stats().publishQueueLength).toBe(0)
  })

  it('a batch queued again while its first copy still waits for a peer is sent once', async () => {
    const keys = makeKeys(2)
    const members = membersOf(keys)
    const a = await startNode(keys[0], { members })
    nodes.push(a)
    const own = txs(keys[0], 0, 5)
    const first = a.net.publishTxs(own)
    const second = a.net.publishTxs(own)
    expect(a.net.stats().publishQueueLength).toBe(1)
    const b = await startNode(keys[1], { members, bootstrap: a.net.multiaddrs() })
    nodes.push(b)
    expect(await first).toEqual({ batches: 1, published: true })
    expect(await second).toEqual({ batches: 1, published: true })
    await waitFor(() => b.txBatches.length === 1, 'B receives the batch')
    expect(a.net.stats().gossipOut).toBe(1)
    expect(a.net.stats().publishRenewed + a.net.stats().publishDeferred).toBe(0)
  })
})
