import { type Block, blockHash, type SyncKind, type SyncRequestOf, type SyncResponses } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { type ApplyOutcome, type ChainStore, createChainService } from '../src/chain/index.js'
import { createSync, createSyncHandlers, type SyncNet, type SyncStore, trackImports } from '../src/sync/index.js'
import { blocksOn, FakeStore, GENESIS_LIKE, silent, waitFor } from './fakes.js'

const GENESIS_HASH = new Uint8Array(32).fill(9)

/** A peer that serves its own FakeStore through the real sync server handlers. */
function peerServing(store: FakeStore) {
  const handlers = createSyncHandlers({ genesisHash: GENESIS_HASH }, { store: store as unknown as SyncStore })
  const requests: Array<{ peer: string; kind: SyncKind; from?: number; sent?: number }> = []
  const net: SyncNet = {
    peers: () => [{ peerId: 'ahead' }],
    request: async <K extends SyncKind>(peer: string, req: SyncRequestOf<K>): Promise<SyncResponses[K]> => {
      requests.push({ peer, kind: req.kind })
      const r = req as SyncRequestOf<SyncKind>
      const { decodeBlock, decodeHeader } = await import('@profichain/core')
      switch (r.kind) {
        case 'status':
          return (await handlers.status()) as SyncResponses[K]
        case 'headers':
          return (await handlers.headers(r.from, r.count)).map((h) => decodeHeader(h)) as SyncResponses[K]
        case 'blocks': {
          const encoded = await handlers.blocks(r.from, r.count)
          requests[requests.length - 1] = { peer, kind: req.kind, from: r.from, sent: encoded.length }
          return encoded.map((b) => decodeBlock(b)) as SyncResponses[K]
        }
        default:
          throw new Error(`unexpected ${r.kind}`)
      }
    },
  }
  return { net, requests }
}

function local() {
  const store = new FakeStore()
  const chain = createChainService(
    {},
    {
      store: store as unknown as ChainStore,
      verifier: { verifyStrippedTxs: async (txs) => txs.map(() => true) },
      ownOrigin: new Uint8Array(32),
      receipts: { flush: async () => {}, on: () => undefined },
      logger: silent,
    },
  )
  return { store, chain }
}

async function fill(store: FakeStore, blocks: Block[]) {
  for (const b of blocks) expect((await store.addBlock(b)).status).toBe('added')
}

/** A peer and this node on two branches above `common` shared blocks: `theirs` and `ours` empty blocks each. */
async function forked(common: number, theirsCount: number, oursCount: number) {
  const remote = new FakeStore()
  const shared = blocksOn(GENESIS_LIKE, Array.from({ length: common }, () => []))
  const tip = { hash: blockHash(shared[common - 1].header), height: common }
  const theirs = blocksOn(tip, Array.from({ length: theirsCount }, () => []))
  const ours = blocksOn(tip, Array.from({ length: oursCount }, () => []))
  await fill(remote, [...shared, ...theirs])
  const { net, requests } = peerServing(remote)
  const { store, chain } = local()
  await fill(store, [...shared, ...ours])
  return { net, requests, store, chain, theirs }
}

describe('sync', () => {
  it('catches up from a peer ahead, in order, in batches', async () => {
    const remote = new FakeStore()
    const chainOf = blocksOn(GENESIS_LIKE, Array.from({ length: 70 }, () => []))
    await fill(remote, chainOf)
    const { net, requests } = peerServing(remote)
    const { store, chain } = local()
    const applied: number[] = []
    chain.on('block', (b) => applied.push(b.header.height))
    const sync = createSync({ genesisHash: GENESIS_HASH, batch: 32 }, { net, store: store as unknown as SyncStore, chain, logger: silent })
    const synced: Array<{ peer: string; applied: number }> = []
    sync.on('synced', (e) => synced.push(e))
    await sync.sync()
    expect(store.head().height).toBe(70)
    expect(applied).toEqual(chainOf.map((b) => b.header.height))
    expect(synced).toEqual([{ peer: 'ahead', applied: 70 }])
    expect(requests.filter((r) => r.kind === 'blocks')).toHaveLength(3) // 32 + 32 + 6
    // Level with the peer: a second round asks for its status only.
    await sync.sync()
    expect(requests.filter((r) => r.kind === 'blocks')).toHaveLength(3)
    await sync.stop()
  })

  it('a peer on another genesis is not synced from', async () => {
    const remote = new FakeStore()
    await fill(remote, blocksOn(GENESIS_LIKE, [[], []]))
    const { net, requests } = peerServing(remote)
    const { store, chain } = local()
    const sync = createSync({ genesisHash: new Uint8Array(32).fill(1) }, { net, store: store as unknown as SyncStore, chain, logger: silent })
    await sync.sync()
    expect(store.head().height).toBe(0)
    expect(requests.map((r) => r.kind)).toEqual(['status'])
  })

  it('orphan parent fetch: a gossiped orphan makes the node fetch its parents from the sender, rate-limited', async () => {
    const remote = new FakeStore()
    const chainOf = blocksOn(GENESIS_LIKE, [[], [], [], [], []])
    await fill(remote, chainOf)
    const { net, requests } = peerServing(remote)
    const { store, chain } = local()
    // Gossip brings the tip only: an orphan here.
    const tip = chainOf[4]
    const outcome: ApplyOutcome = await chain.addBlock(tip, { from: 'ahead' })
    expect(outcome.status).toBe('orphan')
    const sync = createSync({ genesisHash: GENESIS_HASH, orphanSyncGapMs: 60_000 }, { net, store: store as unknown as SyncStore, chain, logger: silent })
    sync.orphanParents('ahead')
    sync.orphanParents('ahead') // within the gap: no second round
    await waitFor('the parents are fetched and the chain connects', () => store.head().height === 5)
    expect(store.head().hash).toEqual(blockHash(tip.header))
    await waitFor('the round ends', () => !sync.isSyncing())
    expect(requests.filter((r) => r.kind === 'status')).toHaveLength(1)
    expect(requests.every((r) => r.peer === 'ahead')).toBe(true)
  })

  it('a peer one block ahead on our chain: left to gossip for one round, then that block only, never the chain again', async () => {
    const remote = new FakeStore()
    const chainOf = blocksOn(GENESIS_LIKE, Array.from({ length: 21 }, () => []))
    await fill(remote, chainOf.slice(0, 20))
    const { net, requests } = peerServing(remote)
    const { store, chain } = local()
    await fill(store, chainOf.slice(0, 19))
    const sync = createSync({ genesisHash: GENESIS_HASH }, { net, store: store as unknown as SyncStore, chain, logger: silent })
    // Round 1: block 20 extends our head and is on its way by gossip: its header only.
    await sync.sync()
    expect(requests.map((r) => r.kind)).toEqual(['status', 'headers'])
    expect(store.head().height).toBe(19)
    // Round 2: the same head is still missing (gossip lost it): fetched, and only it (before: 9 blocks from 8 below).
    await sync.sync()
    expect(store.head().hash).toEqual(blockHash(chainOf[19].header))
    expect(requests.filter((r) => r.kind === 'blocks')).toEqual([{ peer: 'ahead', kind: 'blocks', from: 20, sent: 1 }])
    // Gossip brings block 21 between rounds: nothing is fetched again.
    await fill(remote, chainOf.slice(20))
    await sync.sync()
    expect(requests.filter((r) => r.kind === 'blocks')).toHaveLength(1)
    await chain.addBlock(chainOf[20])
    await sync.sync()
    expect(requests.filter((r) => r.kind === 'blocks')).toHaveLength(1)
    expect(store.head().height).toBe(21)
    await sync.stop()
  })

  it('blocks gossip is importing already are not fetched again; the rest is fetched once they are in', async () => {
    const remote = new FakeStore()
    const chainOf = blocksOn(GENESIS_LIKE, Array.from({ length: 22 }, () => []))
    await fill(remote, chainOf)
    const { net, requests } = peerServing(remote)
    const { store, chain } = local()
    await fill(store, chainOf.slice(0, 19))
    // Gossip hands block 20 to the chain; its import is held (a large block being checked and stored).
    let release = () => {}
    const held = new Promise<void>((r) => (release = r))
    const imports = trackImports(async (b: Block, opts?: { from?: string }) => {
      if (b.header.height === 20) await held
      return chain.addBlock(b, opts)
    })
    const gossiped = imports.addBlock(chainOf[19], { from: 'ahead' })
    const sync = createSync({ genesisHash: GENESIS_HASH }, { net, store: store as unknown as SyncStore, chain: imports, logger: silent })
    await sync.sync()
    expect(requests.map((r) => r.kind)).toEqual(['status', 'headers'])
    release()
    expect((await gossiped).status).toBe('applied')
    await sync.sync()
    expect(store.head().height).toBe(22)
    expect(requests.filter((r) => r.kind === 'blocks')).toEqual([{ peer: 'ahead', kind: 'blocks', from: 21, sent: 2 }])
    await sync.stop()
  })

  it('a peer one block ahead on another branch is synced from at once', async () => {
    const { net, requests, store, chain, theirs } = await forked(10, 2, 1)
    const sync = createSync({ genesisHash: GENESIS_HASH }, { net, store: store as unknown as SyncStore, chain, logger: silent })
    await sync.sync()
    expect(store.head().hash).toEqual(blockHash(theirs[1].header))
    expect(requests.filter((r) => r.kind === 'blocks').map((r) => r.from)).toEqual([12, 3])
    await sync.stop()
  })

  it('a peer on a longer fork: the first answer does not connect, the client steps back and reorgs', async () => {
    const { net, requests, store, chain, theirs } = await forked(12, 4, 2)
    const orphans: string[] = []
    const addBlock = chain.addBlock.bind(chain)
    const counting = {
      addBlock: async (b: Block, opts?: { from?: string }) => {
        const outcome = await addBlock(b, opts)
        if (outcome.status === 'orphan') orphans.push(String(b.header.height))
        return outcome
      },
    }
    const sync = createSync({ genesisHash: GENESIS_HASH }, { net, store: store as unknown as SyncStore, chain: counting, logger: silent })
    await sync.sync()
    expect(store.head().hash).toEqual(blockHash(theirs[3].header))
    expect(store.head().height).toBe(16)
    // From our head + 1 (15: its parent is their 14, not ours), then 8 below the common height 14.
    expect(requests.filter((r) => r.kind === 'blocks').map((r) => r.from)).toEqual([15, 6])
    expect(orphans).toEqual([])
    await sync.stop()
  })

  it('a peer whose head is a fork block at our height: its head is asked for first and connects', async () => {
    const { net, requests, store, chain, theirs } = await forked(10, 1, 1)
    const sync = createSync({ genesisHash: GENESIS_HASH }, { net, store: store as unknown as SyncStore, chain, logger: silent })
    await sync.sync()
    expect(await store.hasBlock(blockHash(theirs[0].header))).toBe(true)
    expect(requests.filter((r) => r.kind === 'blocks')).toEqual([{ peer: 'ahead', kind: 'blocks', from: 11, sent: 1 }])
    await sync.stop()
  })
})
