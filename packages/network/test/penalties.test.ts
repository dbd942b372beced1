import { randomBytes } from 'node:crypto'
import {
  type Block,
  blockHash,
  createBlock,
  createTransaction,
  generateKeyPair,
  type Transaction,
  toHex,
} from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import type { NetworkError } from '../src/index.js'
import { PeerPenalties } from '../src/peer-penalties.js'
import { connectedTo, makeKeys, membersOf, NETWORK, startNode, type TestNode, waitFor } from './helpers.js'

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
    createTransaction(key, { network: NETWORK, seq: seq0 + i, payload: new Uint8Array(64).fill(i), metadata: { tag } }),
  )
}

/** Well-formed blocks whose parents nobody has. */
function orphans(producer: TestNode['key'], n: number): Block[] {
  return Array.from({ length: n }, (_, i) =>
    createBlock({
      network: NETWORK,
      height: 100 + i,
      timestamp: 5000 + i,
      prevHash: new Uint8Array(randomBytes(32)),
      producer: producer.publicKey,
      txs: [],
    }),
  )
}

/** Count the times `b` loses its connection to `a` (libp2p event, so a short disconnect is not missed). */
function disconnects(b: TestNode, a: TestNode): () => number {
  let n = 0
  const node = (b.net as unknown as { node: EventTarget }).node
  node.addEventListener('peer:disconnect', (e) => {
    if (String((e as CustomEvent).detail) === a.net.peerId) n++
  })
  return () => n
}

async function pair(bInit: Parameters<typeof startNode>[1] extends infer I ? Partial<I> : never = {}) {
  const keys = makeKeys(2)
  const members = membersOf(keys)
  const a = await start(keys[0], { members })
  const b = await start(keys[1], { members, bootstrap: a.net.multiaddrs(), ...bInit })
  await waitFor(() => connectedTo(a, b) && connectedTo(b, a), 'A and B connected')
  return { keys, a, b }
}

describe('origin allow-list (issue 10 item 7)', () => {
  it('rejects a batch holding a validly signed tx from a non-member key, and does not deliver it', async () => {
    const { keys, a, b } = await pair()
    const stranger = generateKeyPair() // in no genesis
    const forged = createTransaction(stranger, { network: NETWORK, seq: 0, payload: new Uint8Array([1, 2, 3]) })
    await a.net.publishTxs([...txsOf(keys[0], 2, 'member'), forged])
    await waitFor(() => b.net.stats().rejected.origin === 1, 'B rejects the batch for its origin')
    // Gossip goes on: a clean batch after it arrives, the rejected one never does.
    await a.net.publishTxs(txsOf(keys[0], 1, 'good', 10))
    await waitFor(() => b.txBatches.length > 0, 'B receives the clean batch')
    expect(b.txBatches).toHaveLength(1)
    expect(b.txBatches[0].txs[0].body.metadata.tag).toBe('good')
    const delivered = b.txBatches.flatMap((x) => x.txs.map((t) => toHex(t.body.origin)))
    expect(delivered).not.toContain(toHex(stranger.publicKey))
    expect(b.net.stats().gossipRejected).toBe(1)
    expect(b.net.stats().rejected.invalid).toBe(0)
  })
})

describe('orphan flood (issue 10 item 8)', () => {
  it('tolerates a few orphans, then bans a peer that floods them: disconnected, refused both ways, counted', async () => {
    const { keys, a, b } = await pair({ orphanLimit: 5, orphanWindowMs: 600_000, banMs: 600_000 })
    b.blockVerdict = () => 'orphan'
    const lost = disconnects(b, a)
    const blocks = orphans(keys[0], 12)
    for (const o of blocks.slice(0, 5)) await a.net.publishBlock(o)
    await waitFor(() => b.net.stats().orphanBlocks === 5, 'B saw 5 orphans')
    // A few orphans are normal (sync): no penalty.
    expect(b.net.stats().peerBans).toBe(0)
    expect(b.net.isBanned(a.net.peerId)).toBe(false)
    expect(connectedTo(b, a)).toBe(true)
    // The flood: these may never all go out (A is cut off), so do not wait for them.
    for (const o of blocks.slice(5)) void a.net.publishBlock(o).catch(() => {})
    await waitFor(() => b.net.stats().peerBans === 1, 'B bans A')
    await waitFor(() => lost() >= 1 && !connectedTo(b, a), 'B disconnects A')
    const st = b.net.stats()
    expect(b.net.isBanned(a.net.peerId)).toBe(true)
    expect(st.bannedPeers).toBe(1)
    expect(st.rejected['orphan-flood']).toBe(1)
    expect(st.orphanBlocks).toBeGreaterThanOrEqual(6)
    // The gater refuses A both ways while the ban lasts.
    const denied = st.gaterDenied
    const err = (await a.net
      .request(b.net.peerId, { kind: 'status' }, { timeoutMs: 5000 })
      .catch((e: unknown) => e)) as NetworkError
    expect(err.code).toBe('ERR_SYNC_PEER')
    const err2 = (await b.net.request(a.net.peerId, { kind: 'status' }).catch((e: unknown) => e)) as NetworkError
    expect(err2.code).toBe('ERR_SYNC_PEER')
    await waitFor(() => b.net.stats().gaterDenied > denied, 'B counted the refusals')
    expect(b.net.stats().peerBans).toBe(1)
  })

  it('lets a banned peer back in when the ban expires', async () => {
    const { keys, a, b } = await pair({ orphanLimit: 1, orphanWindowMs: 600_000, banMs: 1000 })
    b.blockVerdict = () => 'orphan'
    const lost = disconnects(b, a)
    for (const o of orphans(keys[0], 3)) void a.net.publishBlock(o).catch(() => {})
    await waitFor(() => b.net.stats().peerBans === 1 && lost() >= 1, 'B bans and disconnects A')
    b.blockVerdict = () => 'accept'
    await waitFor(() => !b.net.isBanned(a.net.peerId) && connectedTo(b, a), 'A is back after the ban', 20_000)
    const good = a.chain.blocks[1]
    await waitFor(async () => {
      await a.net.publishBlock(good)
      return b.blocks.length > 0
    }, 'B accepts a block from A again')
    expect(toHex(blockHash(b.blocks[0].block.header))).toBe(toHex(blockHash(good.header)))
  })
})

describe('PeerPenalties', () => {
  it('allows `limit` offences per window, bans on the next, and forgets the ban when it expires', () => {
    const p = new PeerPenalties(3, 1000, 5000)
    for (let i = 0; i < 3; i++) expect(p.offend('x', 'orphan-flood', 0)).toBeUndefined()
    const ban = p.offend('x', 'orphan-flood', 1)
    expect(ban).toEqual({ reason: 'orphan-flood', until: 5001 })
    expect(p.banOf('x', 5000)).toEqual(ban)
    expect(p.bannedCount(5000)).toBe(1)
    expect(p.banOf('y', 5000)).toBeUndefined()
    expect(p.banOf('x', 5001)).toBeUndefined()
    expect(p.bannedCount(5001)).toBe(0)
  })

  it('never bans a peer that stays at the allowed rate, however long', () => {
    const p = new PeerPenalties(3, 1000, 5000)
    for (let t = 0; t < 100_000; t += 334) expect(p.offend('x', 'orphan-flood', t)).toBeUndefined()
    // A burst on top of that steady rate is what crosses the limit.
    let banned = false
    for (let i = 0; i < 4 && !banned; i++) banned = p.offend('x', 'orphan-flood', 100_000) !== undefined
    expect(banned).toBe(true)
  })
})
