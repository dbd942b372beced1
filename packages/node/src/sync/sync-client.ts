import { EventEmitter } from 'node:events'
import {
  type Block,
  type BlockHeader,
  blockHash,
  equalBytes,
  type SyncKind,
  type SyncRequestOf,
  type SyncResponses,
  txId,
} from '@profichain/core'
import type { BlockTree } from '@profichain/store'
import type { Logger } from 'pino'
import type { ApplyOutcome } from '../chain/index.js'
import type { Startable } from '../types.js'

/**
 * Sync, both sides of the sync protocol (the wire format and transport are @profichain/network's
 * sync-server / sync-client): the server answers from the canonical chain; the client catches up with
 * peers that are ahead, fetches the parents of gossiped orphans, and (archive nodes) missing payloads.
 */
export interface SyncEvents {
  /** A catch-up round with one peer ended; `applied` blocks came from it. */
  synced: [{ peer: string; applied: number }]
}

export type SyncStore = Pick<
  BlockTree,
  'head' | 'hasBlock' | 'getHeaderByHeight' | 'getBlock' | 'getBlockByHeight' | 'getPayload' | 'hasPayload' | 'putPayload'
> &
  Partial<Pick<BlockTree, 'finalHeight'>>

/** What the sync client needs of the network: requests to peers and the current peer list. */
export interface SyncNet {
  request<K extends SyncKind>(peer: string, req: SyncRequestOf<K>): Promise<SyncResponses[K]>
  peers(): Array<{ peerId: string }>
}

export interface SyncInit {
  genesisHash: Uint8Array
  /** Catch-up loop period (ms). Default 2000. */
  intervalMs?: number
  /** Blocks per request. Default 32. */
  batch?: number
  /** Orphans from gossip trigger at most one parent sync per peer per this long (ms). Default 1000. */
  orphanSyncGapMs?: number
  /** Archive nodes: fetch the payloads of synced blocks from the peer that sent them. */
  fetchPayloads?: boolean
}

export interface SyncComponents {
  net: SyncNet
  store: SyncStore
  /** Where fetched blocks go (the chain service). */
  chain: {
    addBlock(block: Block, opts?: { from?: string }): Promise<ApplyOutcome>
    /** Whether a block (by hash) is being imported already, e.g. brought by gossip (trackImports). */
    importing?(hash: Uint8Array): boolean
  }
  /**
   * Quorum: the co-signatures on a peer's headers, taken like gossiped votes (the votes subsystem). Blocks we
   * already have come back `known` without their newer signatures; a vote gossiped while the link was down is
   * never sent again. Without this, a block that is final on the peer's side (and makes it refuse our branch)
   * could stay non-final here for good, and the two sides never agree again.
   */
  votes?: { fromHeaders(headers: BlockHeader[], from: string): Promise<void> }
  logger: Logger
}

export interface SyncService extends Startable, EventEmitter<SyncEvents> {
  /** Catch up with every connected peer ahead of us (or only `peer`). Serialised; coalesces calls. */
  sync(peer?: string): Promise<void>
  /** A peer gossiped an orphan: fetch its parents from it (rate-limited per peer). */
  orphanParents(peer: string): void
  /** Archive nodes: fetch payloads of these new canonical blocks that did not come with tx gossip. */
  fetchPayloads(blocks: Block[], peer: string): Promise<void>
  isSyncing(): boolean
  /** How long the running catch-up round has been going (ms); 0 when none runs (the watchdog reads it). */
  roundMs(): number
}

class Sync extends EventEmitter<SyncEvents> implements SyncService {
  private syncing = false
  private roundStartedAt = 0
  private again = false
  private stopped = false
  private timer?: NodeJS.Timeout
  /** When each peer last triggered a sync for an orphan's parents (bounded by the member count). */
  private readonly orphanSyncAt = new Map<string, number>()
  /** Per peer: its head, one block above ours, that a round left to gossip (bounded by the member count). */
  private readonly leftToGossip = new Map<string, Uint8Array>()
  private current: Promise<void> = Promise.resolve()

  constructor(
    private readonly init: SyncInit,
    private readonly components: SyncComponents,
  ) {
    super()
  }

  start(): void {
    this.timer = setInterval(() => void this.sync(), this.init.intervalMs ?? 2000)
    void this.sync()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await this.current.catch(() => {})
  }

  isSyncing(): boolean {
    return this.syncing
  }

  roundMs(): number {
    return this.syncing ? Date.now() - this.roundStartedAt : 0
  }

  orphanParents(peer: string): void {
    const now = Date.now()
    if (now - (this.orphanSyncAt.get(peer) ?? 0) < (this.init.orphanSyncGapMs ?? 1000)) return
    this.orphanSyncAt.set(peer, now)
    void this.sync(peer)
  }

  async sync(only?: string): Promise<void> {
    if (this.stopped) return
    if (this.syncing) {
      this.again = true
      return
    }
    this.syncing = true
    this.roundStartedAt = Date.now()
    const run = (async () => {
      let rounds = 0
      do {
        this.again = false
        rounds++
        const peers = only ? [only] : this.components.net.peers().map((p) => p.peerId)
        for (const peer of peers) {
          await this.syncFrom(peer).catch((err) => this.components.logger.debug({ err, peer }, 'sync failed'))
        }
      } while (this.again && !this.stopped && rounds < 3)
    })()
    this.current = run
    try {
      await run
    } finally {
      this.syncing = false
    }
  }

  private async syncFrom(peer: string): Promise<void> {
    const { net, store, chain, logger } = this.components
    const st = await net.request(peer, { kind: 'status' })
    if (!equalBytes(st.genesisHash, this.init.genesisHash)) {
      logger.warn({ peer }, 'peer is on another genesis')
      return
    }
    if (await store.hasBlock(st.headHash)) {
      // The peer's head is a block we have: if it is not our head's chain, its signatures may be news to us.
      if (!(await this.onOurChain(st.headHash, st.height))) await this.pullSignatures(peer, st.height)
      return
    }
    const head = store.head()
    const ours = head.height
    const batch = this.init.batch ?? 32
    // The blocks just above ours are usually on their way by block gossip already (a node takes a few hundred
    // ms to check and store a block of thousands of txs); fetching them too sends, decodes and drops them a
    // second time. One header tells: when the next block (extending our head) is being imported, or is the
    // peer's head seen for the first time (most likely still crossing the link), this round leaves it to
    // gossip and the next round fetches whatever is still missing. Far behind (catch-up): no such check.
    if (st.height > ours && st.height - ours <= batch) {
      const [next] = await net.request(peer, { kind: 'headers', from: ours + 1, count: 1 })
      if (next !== undefined && equalBytes(next.prevHash, head.hash)) {
        const hash = blockHash(next)
        if (chain.importing?.(hash)) return
        if (st.height === ours + 1 && equalBytes(hash, st.headHash) && !equalBytes(this.leftToGossip.get(peer) ?? head.hash, hash)) {
          this.leftToGossip.set(peer, hash)
          return
        }
      }
    }
    let applied = 0
    try {
      // First ask for what we lack: from our head + 1 (the peer's head when it is not above ours: a fork of
      // one block connects there). A peer in step with us is then sent only the blocks we have not got, not
      // the chain a second time. Only when they do not connect (a fork) step back: 8 blocks below the common
      // height, then 4× further each time.
      let back = -1
      for (;;) {
        let from = back < 0 ? Math.max(1, Math.min(ours + 1, st.height)) : Math.max(1, Math.min(ours, st.height) - back)
        let connected = true
        while (from <= st.height && !this.stopped) {
          const blocks = await net.request(peer, { kind: 'blocks', from, count: batch })
          if (blocks.length === 0) break
          // A first answer whose parent we lack is a fork below: step back before verifying and storing
          // blocks that could only be orphans here.
          if (back < 0 && !(await store.hasBlock(blocks[0].header.prevHash))) {
            connected = false
            break
          }
          for (const b of blocks) {
            // Blocks we asked for are our own doing: an orphan here is no offence, the loop goes on.
            const outcome = await chain.addBlock(b, { from: peer })
            if (outcome.status === 'invalid') return
            if (outcome.status !== 'applied') continue
            applied++
            if (this.init.fetchPayloads) void this.fetchPayloads(outcome.result.newCanonical, peer)
          }
          if (!(await store.hasBlock(blockHash(blocks[blocks.length - 1].header)))) {
            connected = false
            break
          }
          from += blocks.length
        }
        if (connected || from <= 1 || back > ours) return
        back = back < 0 ? 8 : back * 4
      }
    } finally {
      this.emit('synced', { peer, applied })
    }
  }

  private async onOurChain(hash: Uint8Array, height: number): Promise<boolean> {
    const h = await this.components.store.getHeaderByHeight(height)
    return h !== undefined && equalBytes(blockHash(h), hash)
  }

  /** The peer's headers above our final block (at most one batch), their signatures to the votes subsystem. */
  private async pullSignatures(peer: string, peerHeight: number): Promise<void> {
    const { net, store, votes } = this.components
    if (!votes) return
    const from = Math.max(1, (store.finalHeight?.() ?? 0) + 1, peerHeight - (this.init.batch ?? 32) + 1)
    if (from > peerHeight) return
    const headers = await net.request(peer, { kind: 'headers', from, count: peerHeight - from + 1 })
    await votes.fromHeaders(headers, peer)
  }

  async fetchPayloads(blocks: Block[], peer: string): Promise<void> {
    const { net, store, logger } = this.components
    for (const b of blocks) {
      const ids = b.txs.map((t) => txId(t))
      const have = await Promise.all(ids.map((id) => store.hasPayload(id)))
      const missing = ids.filter((_, i) => !have[i])
      for (let i = 0; i < missing.length; i += 256) {
        const chunk = missing.slice(i, i + 256)
        try {
          const got = await net.request(peer, { kind: 'payloads', txIds: chunk })
          for (const e of got) if (e.payload) await store.putPayload(e.txId, e.payload)
        } catch (err) {
          logger.debug({ err, peer }, 'payload fetch failed')
        }
      }
    }
  }
}

/** Create (not start) the sync client. */
export function createSync(init: SyncInit, components: SyncComponents): SyncService {
  return new Sync(init, components)
}
