import {
  type Block,
  blockHash,
  encodeBlock,
  encodeHeader,
  encodeStrippedTx,
  encodeTransaction,
  equalBytes,
  CodecError,
  ProfichainError,
  ValidationError,
  toHex,
  type Transaction,
  txId,
} from '@profichain/core'
import { ConsensusError, type Genesis, genesisHash, isAllowedOrigin } from '@profichain/consensus'
import { type BlockVerdict, createNetwork, type P2PNetwork, type Verdict } from '@profichain/network'
import type { Logger } from 'pino'
import type { ProfichainNode } from './node.js'

/** Payloads seen in tx gossip, kept until their block arrives (archive nodes store them then). */
class PayloadCache {
  private readonly map = new Map<string, Uint8Array>()
  private bytes = 0
  constructor(private readonly maxBytes: number) {}
  set(id: string, p: Uint8Array): void {
    if (this.map.has(id)) return
    this.map.set(id, p)
    this.bytes += p.byteLength
    while (this.bytes > this.maxBytes && this.map.size > 0) {
      const [k, v] = this.map.entries().next().value as [string, Uint8Array]
      this.map.delete(k)
      this.bytes -= v.byteLength
    }
  }
  take(ids: string[]): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>()
    for (const id of ids) {
      const p = this.map.get(id)
      if (p) {
        out.set(id, p)
        this.map.delete(id)
        this.bytes -= p.byteLength
      }
    }
    return out
  }
}

/** Encoded items of the canonical chain from height `from`, at most `count`, stopping at the head. */
async function canonicalRange(
  node: ProfichainNode,
  from: number,
  count: number,
  get: (height: number) => Promise<Uint8Array | undefined>,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (let h = from; h < from + count && h <= node.tree.head().height; h++) {
    const v = await get(h)
    if (!v) break
    out.push(v)
  }
  return out
}

const REGOSSIP_AFTER_MS = 10_000
const SYNC_BATCH = 32
/** Orphans from gossip trigger at most one parent sync per peer per this long (the 2 s loop does the rest). */
const ORPHAN_SYNC_GAP_MS = 1_000
const ORPHAN_WINDOW_MS = 60_000

/**
 * Orphans one peer may gossip per minute before it is banned: an honest peer relays about one block per
 * block time while we catch up, so allow four times that (and never fewer than 64).
 */
export function orphanLimitOf(genesis: Pick<Genesis, 'blockTimeMs'>): number {
  return Math.max(64, Math.ceil((4 * ORPHAN_WINDOW_MS) / genesis.blockTimeMs))
}

/**
 * Wires the libp2p network to the node: gossip in (validated in the worker pool, then mempool / block
 * tree), gossip out (own records, produced blocks), sync server and client (catch-up, orphan parents,
 * missing payloads), and re-gossip of own records until they are committed.
 */
export class NetworkBridge {
  readonly net: P2PNetwork
  private readonly log: Logger
  private readonly payloadCache = new PayloadCache(256 * 1024 * 1024)
  private readonly lastPublished = new Map<string, number>()
  private syncing = false
  /** Consecutive requeue rounds that found own records published long ago but still uncommitted. */
  private staleRounds = 0
  private lastReconnect = 0
  private syncAgain = false
  /** When each peer last triggered a sync for an orphan's parents (bounded by the member count). */
  private readonly orphanSyncAt = new Map<string, number>()
  private timer?: NodeJS.Timeout
  private stopped = false
  /** Serialises block application from gossip and sync (the store serialises too; this keeps order). */
  private chain: Promise<unknown> = Promise.resolve()

  constructor(private readonly node: ProfichainNode) {
    const c = node.config
    this.log = node.logger.child({ component: 'network' })
    this.net = createNetwork(
      {
        network: node.genesis.network,
        listen: [`/ip4/${c.p2p.host}/tcp/${c.p2p.port}`],
        bootstrap: c.p2p.bootstrap,
        targetPeers: c.p2p.target_peers,
        members: node.genesis.members.map((m) => ({ publicKey: m.publicKey, addrs: m.addrs })),
        orphanLimit: orphanLimitOf(node.genesis),
        orphanWindowMs: ORPHAN_WINDOW_MS,
      },
      {
        key: node.key,
        logger: this.log,
        handlers: {
          headers: (from, count) => canonicalRange(node, from, count, async (h) => {
            const header = await node.tree.getHeaderByHeight(h)
            return header && encodeHeader(header)
          }),
          block: async (hash) => {
            const b = await node.tree.getBlock(hash)
            return b ? encodeBlock(b) : null
          },
          blocks: (from, count) => canonicalRange(node, from, count, async (h) => {
            const b = await node.tree.getBlockByHeight(h)
            return b && encodeBlock(b)
          }),
          payloads: async (ids) => Promise.all(ids.map(async (id) => (await node.tree.getPayload(id)) ?? null)),
          status: () => {
            const head = node.tree.head()
            return { height: head.height, headHash: head.hash, genesisHash: genesisHash(node.genesis) }
          },
        },
        originAllowed: (() => {
          const genesis = node.genesis
          // The network stops at the first refused origin, so this counts one rejected batch.
          return (origin: Uint8Array) => {
            if (isAllowedOrigin(genesis, origin)) return true
            node.metrics.gossipRejected.inc()
            return false
          }
        })(),
        onTxBatch: (txs, from) => this.onTxBatch(txs, from),
        onBlock: (block, from) => this.onBlock(block, from, 'gossip'),
      },
    )
  }

  get peerId(): string {
    return this.net.peerId
  }

  async start(): Promise<void> {
    await this.net.start()
    this.node.on('own-txs', (txs: Transaction[]) => this.publishOwn(txs))
    this.node.on('requeue', (txs: Transaction[]) => this.publishOwn(txs, true))
    this.node.producer?.on('block', ({ block }: { block: Block }) => {
      void this.net.publishBlock(block).catch((err) => this.log.warn({ err }, 'publishing a block failed'))
    })
    this.timer = setInterval(() => void this.sync(), 2000)
    void this.sync()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    await this.chain.catch(() => {})
    await this.net.stop()
  }

  /** Gossip own records; on requeue only those not sent for a while (the outbox keeps them until committed). */
  private publishOwn(txs: Transaction[], requeue = false): void {
    if (this.stopped || txs.length === 0) return
    const now = Date.now()
    const send: Transaction[] = []
    let stale = 0
    for (const tx of txs) {
      const id = toHex(txId(tx))
      const last = this.lastPublished.get(id)
      if (requeue && last !== undefined && now - last < REGOSSIP_AFTER_MS) continue
      if (requeue && last !== undefined) stale++
      this.lastPublished.set(id, now)
      send.push(tx)
    }
    if (requeue) this.checkStale(stale)
    if (this.lastPublished.size > 1_000_000) this.lastPublished.clear()
    if (send.length === 0) return
    void this.net.publishTxs(send).catch((err) => this.log.warn({ err, txs: send.length }, 'publishing records failed'))
  }

  /**
   * Safety net: when own records published more than once are still not committed for three requeue
   * rounds in a row (≈ 30 s) while the node has peers, drop and redial the connections (at most once a
   * minute), so gossipsub starts over with fresh streams.
   */
  private checkStale(stale: number): void {
    this.staleRounds = stale > 0 ? this.staleRounds + 1 : 0
    const now = Date.now()
    if (this.staleRounds < 6 || now - this.lastReconnect < 60_000 || this.net.peers().length === 0) return
    this.lastReconnect = now
    this.staleRounds = 0
    this.log.warn({ stale }, 'own records are published but not committed: reconnecting to peers')
    void this.net.reconnect().catch((err) => this.log.warn({ err }, 'reconnect failed'))
  }

  private async onTxBatch(txs: Transaction[], from: string): Promise<Verdict> {
    const checks = await this.node.verifier.checkTransactions(txs.map((t) => encodeTransaction(t)))
    const bad = checks.findIndex((c) => !c.ok)
    const network = this.node.genesis.network
    if (bad >= 0 || txs.some((t) => t.body.network !== network || t.body.payloadSize > this.node.genesis.maxTxBytes)) {
      this.log.warn({ from, error: bad >= 0 ? checks[bad].error : 'ERR_TX_NETWORK' }, 'rejected an invalid tx batch')
      this.node.metrics.gossipRejected.inc()
      return 'reject'
    }
    if (this.node.config.enabled.archive) for (const t of txs) this.payloadCache.set(toHex(txId(t)), t.payload)
    if (this.node.producer) {
      const added = await this.node.tree.mempool.add(txs)
      if (added > 0) this.node.producer.notify()
    }
    return 'accept'
  }

  /** Gossip orphans answer 'orphan' (the network counts them against the sender); sync ones 'ignore'. */
  private onBlock(block: Block, from: string, source: 'gossip' | 'sync'): Promise<BlockVerdict> {
    const run = this.chain.then(() => this.applyBlock(block, from, source))
    this.chain = run.catch(() => {})
    return run
  }

  /** Verify tx signatures in the pool, then add through the store (which runs the consensus rules). */
  private async applyBlock(block: Block, from: string, source: 'gossip' | 'sync'): Promise<BlockVerdict> {
    const hash = blockHash(block.header)
    if (await this.node.tree.hasBlock(hash)) return 'ignore'
    const ok = await this.node.verifier.verifyStrippedTxs(block.txs.map((t) => encodeStrippedTx(t)))
    if (ok.some((v) => !v)) {
      this.log.warn({ from, height: block.header.height }, 'rejected a block with a bad tx signature')
      this.node.metrics.gossipRejected.inc()
      return 'reject'
    }
    const ids = block.txs.map((t) => toHex(txId(t)))
    try {
      const result = await this.node.tree.addBlock(block, { payloads: this.payloadCache.take(ids), signaturesChecked: true })
      if (result.status === 'orphan') {
        // Blocks we asked for in sync are our own doing: no penalty, and the sync loop goes on by itself.
        if (source === 'sync') return 'ignore'
        this.syncOrphanParents(from)
        return 'orphan'
      }
      if (result.status === 'duplicate') return 'ignore'
      this.node.onChainUpdate(result)
      if (this.node.config.enabled.archive) void this.fetchPayloads(result.newCanonical, from)
      return 'accept'
    } catch (err) {
      if (err instanceof ValidationError || err instanceof ConsensusError || err instanceof CodecError) {
        this.log.warn({ from, code: err.code, msg: err.message, height: block.header.height }, 'rejected an invalid block')
        this.node.metrics.gossipRejected.inc()
        return 'reject'
      }
      if (err instanceof ProfichainError) {
        this.log.warn({ from, code: err.code, msg: err.message }, 'could not apply a block')
        return 'ignore'
      }
      throw err
    }
  }

  /**
   * Fetch the parents of a gossiped orphan from its sender, at most once per ORPHAN_SYNC_GAP_MS per peer:
   * a peer flooding orphans must not turn into a flood of sync requests (it is banned past the limit).
   */
  private syncOrphanParents(from: string): void {
    const now = Date.now()
    if (now - (this.orphanSyncAt.get(from) ?? 0) < ORPHAN_SYNC_GAP_MS) return
    this.orphanSyncAt.set(from, now)
    void this.sync(from)
  }

  /** Archive nodes: fetch payloads of new canonical blocks that did not come with tx gossip. */
  private async fetchPayloads(blocks: Block[], from: string): Promise<void> {
    for (const b of blocks) {
      const ids = b.txs.map((t) => txId(t))
      const have = await Promise.all(ids.map((id) => this.node.tree.hasPayload(id)))
      const missing = ids.filter((_, i) => !have[i])
      for (let i = 0; i < missing.length; i += 256) {
        const chunk = missing.slice(i, i + 256)
        try {
          const got = await this.net.request(from, { kind: 'payloads', txIds: chunk })
          for (const e of got) if (e.payload) await this.node.tree.putPayload(e.txId, e.payload)
        } catch (err) {
          this.log.debug({ err, from }, 'payload fetch failed')
        }
      }
    }
  }

  /** Catch up with peers that are ahead (also fetches the parents of orphans). Serialised. */
  async sync(only?: string): Promise<void> {
    if (this.stopped) return
    if (this.syncing) {
      this.syncAgain = true
      return
    }
    this.syncing = true
    try {
      let rounds = 0
      do {
        this.syncAgain = false
        rounds++
        const peers = only ? [only] : this.net.peers().map((p) => p.peerId)
        for (const peer of peers) await this.syncFrom(peer).catch((err) => this.log.debug({ err, peer }, 'sync failed'))
      } while (this.syncAgain && !this.stopped && rounds < 3)
    } finally {
      this.syncing = false
    }
  }

  isSyncing(): boolean {
    return this.syncing
  }

  private async syncFrom(peer: string): Promise<void> {
    const st = await this.net.request(peer, { kind: 'status' })
    if (!equalBytes(st.genesisHash, genesisHash(this.node.genesis))) {
      this.log.warn({ peer }, 'peer is on another genesis')
      return
    }
    if (await this.node.tree.hasBlock(st.headHash)) return
    const ours = this.node.tree.head().height
    // Start a little below the common height; step further back while what we get does not connect.
    let back = 8
    for (;;) {
      let from = Math.max(1, Math.min(ours, st.height) - back)
      let connected = true
      while (from <= st.height && !this.stopped) {
        const blocks = await this.net.request(peer, { kind: 'blocks', from, count: SYNC_BATCH })
        if (blocks.length === 0) break
        for (const b of blocks) {
          const verdict = await this.onBlock(b, peer, 'sync')
          if (verdict === 'reject') return
        }
        if (!(await this.node.tree.hasBlock(blockHash(blocks[blocks.length - 1].header)))) {
          connected = false
          break
        }
        from += blocks.length
      }
      if (connected || from <= 1 || back > ours) return
      back *= 4
    }
  }
}
