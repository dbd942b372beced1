import { createTransaction, type Transaction } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { makeKeys, membersOf, NETWORK, startNode, type TestNode } from './helpers.js'

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
})
