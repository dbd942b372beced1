import { EventEmitter } from 'node:events'
import { type Block, encodeTransaction, equalBytes, type KeyPair, type Transaction, txIdHex, type Vote } from '@profichain/core'
import { type Genesis, isAllowedOrigin } from '@profichain/consensus'
import { type BlockVerdict, createNetwork, type NetworkInit, type P2PNetwork, type SyncHandlers, type Verdict } from '@profichain/network'
import type { TxVerifier } from '@profichain/processing'
import type { Mempool } from '@profichain/store'
import type { Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { ApplyOutcome } from '../chain/index.js'
import type { Startable } from '../types.js'
import type { PayloadCache } from './payload-cache.js'

/**
 * Gossip in and out over the libp2p host: tx batches (validated in the worker pool, then the mempool),
 * blocks (to the chain service), own records and produced blocks out, re-gossip of own records until
 * they are committed.
 */
export interface GossipEvents {
  /** A peer gossiped a block whose parent we do not have. */
  orphan: [{ from: string }]
  /** Blocks gossiped by `from` became canonical. */
  applied: [{ blocks: Block[]; from: string }]
}

const ORPHAN_WINDOW_MS = 60_000

/**
 * How long own records take from publish to a canonical block on this node (gossip, sync or our producer): a
 * decaying maximum over the blocks that held own records (each: max(its slowest own record, 0.8 × before)).
 * The re-gossip of an uncommitted record waits at least twice this: re-gossip is the safety net for records
 * the producers never got, and under load (commits slower than `regossipAfterMs`) re-sending every
 * uncommitted record multiplied what a thin node published and the full node decoded and checked (devnet at
 * 2,000-3,000 tx/s: 1.35-2.8 times the tx gossip bytes), which slowed commits further.
 * While no block holds own records (the producer is down) the value decays no further and stays as it was.
 */
export class OwnCommitLatency {
  private value = 0

  /** Fold in the publish → commit times (ms) of the own records of one block. */
  add(latenciesMs: number[]): void {
    if (latenciesMs.length === 0) return
    // A loop, not Math.max(...latenciesMs): a block may hold more own records than a call takes arguments.
    let slowest = 0
    for (const ms of latenciesMs) if (ms > slowest) slowest = ms
    this.value = Math.max(slowest, 0.8 * this.value)
  }

  get ms(): number {
    return this.value
  }
}

/**
 * Orphans one peer may gossip per minute before it is banned: an honest peer relays about one block per
 * block time while we catch up, so allow four times that (and never fewer than 64).
 */
export function orphanLimitOf(genesis: Pick<Genesis, 'blockTimeMs'>): number {
  return Math.max(64, Math.ceil((4 * ORPHAN_WINDOW_MS) / genesis.blockTimeMs))
}

export interface GossipInit {
  genesis: Genesis
  listen: string[]
  bootstrap: string[]
  targetPeers: number
  /**
   * Subscribe to the tx topic and relay peers' tx batches (`p2p.relay_txs`). Default (undefined): see
   * `relaysTxs`.
   */
  relayTxs?: boolean
  /** Re-gossip an own record still uncommitted after this long (ms). Default 10 s. */
  regossipAfterMs?: number
}

/**
 * Whether this node subscribes to the tx topic. A node with a mempool (producer) or a payload cache (archive)
 * needs peers' txs; any other node (thin) only relays them, decoding and pool-checking every batch of every
 * other member for nobody, so by default it relays only when the network may not be fully connected: more
 * members than `targetPeers` + 1, where some member may reach the producers only through this node. On such a
 * node an explicit `relayTxs` decides (true: a member behind a firewall depends on us; false: never relay).
 */
export function relaysTxs(
  init: Pick<GossipInit, 'relayTxs' | 'targetPeers'> & { genesis: Pick<Genesis, 'members'> },
  components: Pick<GossipComponents, 'mempool' | 'payloads'>,
): boolean {
  if (components.mempool !== undefined || components.payloads !== undefined) return true
  return init.relayTxs ?? init.genesis.members.length > init.targetPeers + 1
}

export interface GossipComponents {
  key: KeyPair
  /** The sync server's answers (see sync/). */
  handlers: SyncHandlers
  /** Where gossiped blocks go (the chain service). */
  chain: { addBlock(block: Block, opts?: { from?: string }): Promise<ApplyOutcome> }
  verifier: Pick<TxVerifier, 'checkTransactions'>
  /**
   * The stateful origin rule as of the canonical head (the store's device registry, issue 14): `known` lets a
   * registered device's txs past the network's origin filter, `check` refuses (and the peer is penalised)
   * a batch with a record of an unknown or revoked device or a replayed device seq.
   */
  origins?: { known(origin: Uint8Array): boolean; check(txs: Transaction[]): { code: string; message: string } | undefined }
  /** The local producer's mempool, if this node produces. */
  mempool?: Mempool
  producer?: { notify(): void }
  /** Archive nodes keep gossiped payloads until their block arrives. */
  payloads?: PayloadCache
  /** Where gossiped votes go (the votes subsystem); without it the vote topic ignores votes. */
  votes?: { onVote(vote: Vote, from: string): Promise<Verdict> }
  /** Where gossiped checkpoint notes go (the checkpoints subsystem); without it the checkpoint topic ignores them. */
  checkpoints?: { onCheckpoint(note: Uint8Array, from: string): Promise<Verdict> }
  logger: Logger
  registry?: Registry
}

export interface GossipService extends Startable, EventEmitter<GossipEvents> {
  readonly net: P2PNetwork
  readonly peerId: string
  /** Gossip own records; on requeue only those not sent for a while. */
  publishOwn(txs: Transaction[], requeue?: boolean): void
  /**
   * A block became canonical (any source: gossip, sync, our producer): own records in it give their publish →
   * commit time (re-gossip waits at least twice it, see OwnCommitLatency) and leave the re-gossip bookkeeping.
   */
  canonical(block: Block): void
  /** Gossip a block this node produced (and forget the cached gossip payloads of its txs). */
  publishBlock(block: Block): void
  /** Gossip a vote (quorum co-signature) on the vote topic. */
  publishVote(vote: Vote): void
  /** Gossip a signed checkpoint note on the checkpoint topic (DESIGN §11). */
  publishCheckpoint(note: string): void
}

class Gossip extends EventEmitter<GossipEvents> implements GossipService {
  readonly net: P2PNetwork
  private readonly log: Logger
  private readonly lastPublished = new Map<string, number>()
  private readonly commitLatency = new OwnCommitLatency()
  /** Consecutive requeue rounds that found own records published long ago but still uncommitted. */
  private staleRounds = 0
  private lastReconnect = 0
  private stopped = false

  constructor(
    private readonly init: GossipInit,
    private readonly components: GossipComponents,
  ) {
    super()
    this.log = components.logger
    const genesis = init.genesis
    const netInit: NetworkInit = {
      network: genesis.network,
      listen: init.listen,
      bootstrap: init.bootstrap,
      targetPeers: init.targetPeers,
      relayTxs: relaysTxs(init, components),
      members: genesis.members.map((m) => ({ publicKey: m.publicKey, addrs: m.addrs })),
      validators: genesis.consensus.type === 'quorum' ? genesis.validators : [],
      orphanLimit: orphanLimitOf(genesis),
      orphanWindowMs: ORPHAN_WINDOW_MS,
    }
    this.net = createNetwork(netInit, {
      key: components.key,
      logger: this.log,
      registry: components.registry,
      handlers: components.handlers,
      originAllowed: (origin) => isAllowedOrigin(genesis, origin) || (components.origins?.known(origin) ?? false),
      onTxBatch: (txs, from) => this.onTxBatch(txs, from),
      onBlock: (block, from) => this.onBlock(block, from),
      ...(components.votes ? { onVote: (vote: Vote, from: string) => this.onVote(vote, from) } : {}),
      ...(components.checkpoints ? { onCheckpoint: components.checkpoints.onCheckpoint } : {}),
    })
  }

  get peerId(): string {
    return this.net.peerId
  }

  async start(): Promise<void> {
    await this.net.start()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.net.stop()
  }

  publishBlock(block: Block): void {
    if (this.stopped) return
    // Only the local producer's blocks are published here, and the store took their payloads from its mempool:
    // the gossiped copies in an archive node's payload cache would otherwise stay until 256 MiB push them out.
    this.components.payloads?.drop(block.txs.map((t) => txIdHex(t)))
    // Alone, the block is not encoded for gossip (a large block cost ~3 % of a busy solo node's main thread):
    // a peer that connects later catches up through sync (every 2 s and on orphans).
    if (this.net.peers().length === 0) return
    void this.net.publishBlock(block).catch((err) => this.log.warn({ err }, 'publishing a block failed'))
  }

  publishVote(vote: Vote): void {
    if (this.stopped) return
    void this.net.publishVote(vote).catch((err) => this.log.warn({ err }, 'publishing a vote failed'))
  }

  publishCheckpoint(note: string): void {
    if (this.stopped) return
    void this.net
      .publishCheckpoint(new Uint8Array(Buffer.from(note, 'utf8')))
      .catch((err) => this.log.warn({ err }, 'publishing a checkpoint failed'))
  }

  private onVote(vote: Vote, from: string): Promise<Verdict> {
    return (this.components.votes as NonNullable<GossipComponents['votes']>).onVote(vote, from)
  }

  publishOwn(txs: Transaction[], requeue = false): void {
    if (this.stopped || txs.length === 0) return
    const now = Date.now()
    const after = Math.max(this.init.regossipAfterMs ?? 10_000, 2 * this.commitLatency.ms)
    const send: Transaction[] = []
    let stale = 0
    for (const tx of txs) {
      const id = txIdHex(tx)
      const last = this.lastPublished.get(id)
      if (requeue && last !== undefined && now - last < after) continue
      if (requeue && last !== undefined) stale++
      this.lastPublished.set(id, now)
      send.push(tx)
    }
    if (requeue) this.checkStale(stale)
    if (this.lastPublished.size > 1_000_000) this.lastPublished.clear()
    if (send.length === 0) return
    // A requeue republishes the same bytes when the same records are still uncommitted: the publish queue gives
    // batches that gossipsub's seen cache refuses new bytes (or defers them); receivers dedupe by txId.
    // Keep only the count in the callback: a publish can wait long for a peer, and the records must not stay
    // in memory meanwhile (they are in the durable outbox; the queue holds only their encoding).
    const n = send.length
    void this.net.publishTxs(send).catch((err) => this.log.warn({ err, txs: n }, 'publishing records failed'))
  }

  /**
   * Safety net: when own records published more than once are still not committed for six requeue
   * rounds in a row while the node has peers, drop and redial the connections (at most once a minute),
   * so gossipsub starts over with fresh streams.
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
    const genesis = this.init.genesis
    const checks = await this.components.verifier.checkTransactions(txs.map((t) => encodeTransaction(t)))
    const bad = checks.findIndex((c) => !c.ok)
    if (bad >= 0 || txs.some((t) => t.body.network !== genesis.network || t.body.payloadSize > genesis.maxTxBytes)) {
      this.log.warn({ from, error: bad >= 0 ? checks[bad].error : 'ERR_TX_NETWORK' }, 'rejected an invalid tx batch')
      return 'reject'
    }
    const refused = this.components.origins?.check(txs)
    if (refused !== undefined) {
      this.log.warn({ from, error: refused.code }, `rejected a tx batch: ${refused.message}`)
      return 'reject'
    }
    const cache = this.components.payloads
    if (cache) for (const t of txs) cache.set(txIdHex(t), t.payload)
    const { mempool, producer } = this.components
    if (mempool && producer) {
      // checkTransactions above validated each tx in full (format, payload hash, signature): not again.
      const added = await mempool.add(txs, { checked: true })
      if (added > 0) producer.notify()
    }
    return 'accept'
  }

  canonical(block: Block): void {
    if (this.lastPublished.size === 0) return
    const own = this.components.key.publicKey
    const now = Date.now()
    const latencies: number[] = []
    for (const tx of block.txs) {
      if (!equalBytes(tx.body.origin, own)) continue
      const id = txIdHex(tx)
      const at = this.lastPublished.get(id)
      if (at === undefined) continue
      latencies.push(now - at)
      this.lastPublished.delete(id)
    }
    this.commitLatency.add(latencies)
  }

  /** Orphans answer 'orphan' (the network counts them against the sender) and trigger a parent fetch. */
  private async onBlock(block: Block, from: string): Promise<BlockVerdict> {
    const outcome = await this.components.chain.addBlock(block, { from })
    switch (outcome.status) {
      case 'applied':
        this.emit('applied', { blocks: outcome.result.newCanonical, from })
        return 'accept'
      case 'orphan':
        this.emit('orphan', { from })
        return 'orphan'
      case 'invalid':
        return 'reject'
      default:
        return 'ignore'
    }
  }
}

/** Create (not start) the gossip service and its libp2p host. */
export function createGossip(init: GossipInit, components: GossipComponents): GossipService {
  return new Gossip(init, components)
}
