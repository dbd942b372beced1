import type { Startable } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  type Block,
  encodeVote,
  type MemberAddrs,
  type SyncKind,
  type SyncRequestOf,
  type SyncResponses,
  type Transaction,
  type Vote,
} from '@profichain/core'
import { type NetworkConfig, networkConfig, protocolNames, silentLogger } from './config.js'
import { NetworkError } from './errors.js'
import { GossipValidator } from './gossip-validation.js'
import { GossipsubAdapter } from './gossipsub-adapter.js'
import { createHost, type NetworkContext, type Node } from './host.js'
import { peerIdObjectFromPublicKey, publicKeyHexOfPeer } from './keys.js'
import { Members } from './members.js'
import { NetworkMetrics } from './metrics.js'
import { PublishQueue } from './publish-queue.js'
import { SyncClient } from './sync-client.js'
import { SyncServer } from './sync-server.js'
import type { NetworkComponents, NetworkInit, NetworkLogger, NetworkStats, PeerInfo, PublishResult } from './types.js'

/**
 * libp2p host of one Profichain node (DESIGN §7). It only composes the parts, each in its own file:
 * host.ts (libp2p, gater), members.ts (allow-list, bans, peer exchange, redial), gossip-validation.ts,
 * publish-queue.ts, sync-server.ts / sync-client.ts, and gossipsub-adapter.ts (every gossipsub workaround).
 */
export class P2PNetwork implements Startable {
  readonly txTopic: string
  readonly blockTopic: string
  readonly voteTopic: string
  readonly checkpointTopic: string
  readonly syncProtocol: string

  private readonly config: NetworkConfig
  private readonly components: NetworkComponents
  private readonly log: NetworkLogger
  private readonly selfId: string
  private readonly metrics: NetworkMetrics
  private readonly ctx: NetworkContext
  private readonly members: Members
  private readonly validator: GossipValidator
  private readonly queue: PublishQueue
  private readonly server: SyncServer
  private readonly client: SyncClient
  private node?: Node
  private gossip?: GossipsubAdapter
  private running = false
  private stopController = new AbortController()
  private healTimer?: NodeJS.Timeout

  constructor(init: NetworkInit, components: NetworkComponents) {
    this.config = networkConfig(init)
    this.components = components
    this.log = components.logger ?? silentLogger
    this.metrics = new NetworkMetrics(components.registry)
    ;({
      txTopic: this.txTopic,
      blockTopic: this.blockTopic,
      voteTopic: this.voteTopic,
      checkpointTopic: this.checkpointTopic,
      syncProtocol: this.syncProtocol,
    } = protocolNames(
      init.network,
    ))
    this.selfId = peerIdObjectFromPublicKey(components.key.publicKey).toString()
    this.ctx = {
      config: this.config,
      log: this.log,
      metrics: this.metrics,
      selfId: this.selfId,
      node: () => this.node,
      running: () => this.running,
      stopSignal: () => this.stopController.signal,
    }
    this.client = new SyncClient(this.ctx, this.syncProtocol, () => this.libp2p)
    this.members = new Members(this.ctx, this.config.members, this.config.bootstrap, (peer) =>
      this.request(peer, { kind: 'members' }),
    )
    this.validator = new GossipValidator(this.ctx, components, this.members)
    this.queue = new PublishQueue(this.ctx, this, () => {
      if (this.gossip === undefined) throw new NetworkError('ERR_NOT_STARTED', 'the network is not started')
      return this.gossip
    })
    this.server = new SyncServer(
      this.ctx,
      () => this.components.handlers,
      () => this.members.knownMembers(),
    )
  }

  /** Our PeerId string. */
  get peerId(): string {
    return this.selfId
  }

  private get libp2p(): Node {
    if (this.node === undefined || !this.running)
      throw new NetworkError('ERR_NOT_STARTED', 'the network is not started')
    return this.node
  }

  /** Is this peer (PeerId string) banned right now? */
  isBanned(peer: string): boolean {
    return this.members.isBanned(peer)
  }

  async start(): Promise<void> {
    if (this.running) return
    this.stopController = new AbortController()
    const node = await createHost(this.config, this.components.key, [this.txTopic, this.blockTopic, this.voteTopic, this.checkpointTopic], (p, hook) =>
      this.members.deny(p, hook),
    )
    this.node = node
    const gossip = new GossipsubAdapter(node.services.pubsub, node, () => this.metrics.count('streamRepairs', {}))
    gossip.install()
    this.gossip = gossip
    gossip.setValidator(this.txTopic, this.validator.validateTxs)
    gossip.setValidator(this.blockTopic, this.validator.validateBlock)
    gossip.setValidator(this.voteTopic, this.validator.validateVote)
    gossip.setValidator(this.checkpointTopic, this.validator.validateCheckpoint)
    await node.handle(this.syncProtocol, this.server.serve, { maxInboundStreams: 64 })
    this.members.attach(node)
    gossip.onSubscriptionChange(() => this.queue.wakeUp())
    // A connection closing while another to the same peer stays open leaves gossipsub without a stream.
    node.addEventListener('connection:close', (e) => {
      const peer = e.detail.remotePeer.toString()
      setImmediate(() => this.repairStreams(peer))
    })
    await node.start()
    // Without relayTxs the tx topic's validator stays (unsolicited batches are checked and penalised) but we
    // do not subscribe: our own batches go to subscribed peers (fanout), nobody sends us theirs to relay.
    if (this.config.relayTxs) gossip.subscribe(this.txTopic)
    gossip.subscribe(this.blockTopic)
    gossip.subscribe(this.voteTopic)
    gossip.subscribe(this.checkpointTopic)
    this.running = true
    await this.members.start()
    this.healTimer = setInterval(() => this.repairStreams(), this.config.maintenanceIntervalMs)
    this.healTimer.unref()
    this.log.info({ peerId: this.selfId, addrs: this.multiaddrs() }, 'network started')
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopController.abort()
    this.members.stop()
    clearInterval(this.healTimer)
    this.queue.drain()
    await this.node?.stop()
    this.node = undefined
    this.gossip = undefined
    this.log.info({ peerId: this.selfId }, 'network stopped')
  }

  /** Have gossipsub replace dead outbound streams (of every connected peer, or of one). */
  private repairStreams(peer?: string): void {
    if (this.running) this.gossip?.heal(peer)
  }

  /** Own listen addresses, each ending in /p2p/<peerId>. */
  multiaddrs(): string[] {
    return this.node?.getMultiaddrs().map(String) ?? []
  }

  /**
   * Drop the connections to one peer (or to every peer) so they are dialled again with fresh gossipsub
   * streams (the node's safety net when its own records stop getting committed).
   */
  async reconnect(peer?: string): Promise<void> {
    if (!this.node) return
    const node = this.node
    const targets = [...new Set(peer ? [peer] : this.peers().map((p) => p.peerId))]
    await Promise.all(targets.map((p) => node.hangUp(peerIdFromString(p)).catch(() => {})))
  }

  /** Open connections to members (one entry per connection). */
  peers(): PeerInfo[] {
    if (!this.node) return []
    return this.node
      .getConnections()
      .filter((c) => c.status === 'open')
      .map((c) => ({
        peerId: c.remotePeer.toString(),
        publicKey: publicKeyHexOfPeer(c.remotePeer) ?? '',
        addrs: [c.remoteAddr.toString()],
        direction: c.direction,
      }))
  }

  stats(): NetworkStats {
    return {
      ...this.metrics.snapshot(),
      bannedPeers: this.members.bannedCount(),
      peers: this.node ? this.node.getPeers().length : 0,
      publishQueueLength: this.queue.length,
    }
  }

  /**
   * Queue txs for gossip in batches of ≤ maxBatchBytes. Never drops: batches wait for subscribers.
   * Resolves when every batch has been handed to gossipsub (published: false if the network stopped first).
   */
  async publishTxs(txs: Transaction[]): Promise<PublishResult> {
    return this.queue.publishTxs(txs)
  }

  /** Queue a (stripped) block announcement; blocks go out before queued tx batches. */
  async publishBlock(block: Block | Uint8Array): Promise<PublishResult> {
    return this.queue.publishBlock(block)
  }

  /** Queue a vote (quorum co-signature) for the vote topic; it goes out before queued tx batches. */
  async publishVote(vote: Vote): Promise<PublishResult> {
    return this.queue.publishVote(encodeVote(vote))
  }

  /** Queue a signed checkpoint note (UTF-8) for the checkpoint topic (DESIGN §11). */
  async publishCheckpoint(note: Uint8Array): Promise<PublishResult> {
    return this.queue.publishCheckpoint(note)
  }

  /** Peer-exchange answer: every member with the addresses we know for it (our own included). */
  knownMembers(): MemberAddrs[] {
    return this.members.knownMembers()
  }

  /** Send one sync request to a connected (or dialable) member and decode its answer. */
  request<K extends SyncKind>(
    peer: string,
    req: SyncRequestOf<K>,
    opts: { timeoutMs?: number } = {},
  ): Promise<SyncResponses[K]> {
    return this.client.request(peer, req, opts)
  }
}
