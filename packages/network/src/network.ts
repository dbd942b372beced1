import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import {
  type GossipSub,
  gossipsub,
  type Message,
  StrictNoSign,
  TopicValidatorResult,
} from '@libp2p/gossipsub'
import { type Identify, identify } from '@libp2p/identify'
import type { Connection, Libp2p, PeerId, Startable, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import {
  type Block,
  CodecError,
  decodeBlockAnnouncement,
  decodeSyncRequest,
  decodeSyncResponse,
  decodeTxBatch,
  decodeTxBatchItems,
  encodeBlock,
  encodeBlockAnnouncement,
  encodeSyncError,
  encodeSyncRequest,
  encodeSyncResponse,
  encodeTransaction,
  encodeTxBatch,
  type MemberAddrs,
  type SyncKind,
  type SyncRequest,
  type SyncRequestOf,
  type SyncResponses,
  type Transaction,
  toHex,
  WIRE_LIMITS,
} from '@profichain/core'
import { createLibp2p } from 'libp2p'
import { NetworkError } from './errors.js'
import { libp2pPrivateKey, peerIdObjectFromPublicKey, publicKeyHexOfPeer } from './keys.js'
import { type Ban, PeerPenalties } from './peer-penalties.js'
import type {
  BlockVerdict,
  NetworkComponents,
  NetworkInit,
  NetworkLogger,
  NetworkStats,
  PeerInfo,
  PublishResult,
  RejectReason,
  Verdict,
} from './types.js'

type Node = Libp2p<{ identify: Identify; pubsub: GossipSub }>

const MiB = 1024 * 1024
const P2P_CODE = 421
/** A sync request is small (≤ 256 txIds); anything bigger is garbage. */
const MAX_REQUEST_BYTES = 64 * 1024
/** Batch framing overhead allowance: CBOR array + per-item byte-string headers. */
const BATCH_OVERHEAD = 16
const ITEM_OVERHEAD = 9

interface Pending {
  topic: string
  data: Uint8Array
  done: (published: boolean) => void
}

interface MemberState {
  publicKey: string
  peerId: PeerId
  addrs: Set<string>
  /** Direction of the latest connection (recorded on open: peer:disconnect can fire before connection:close). */
  direction?: 'inbound' | 'outbound'
  lostAt: number
  nextDialAt: number
  backoffMs: number
  dialing: boolean
}

const noop = () => {}
const silentLogger: NetworkLogger = { debug: noop, info: noop, warn: noop, error: noop }

function verdictToResult(v: Verdict): TopicValidatorResult {
  return v === 'accept'
    ? TopicValidatorResult.Accept
    : v === 'reject'
      ? TopicValidatorResult.Reject
      : TopicValidatorResult.Ignore
}

function stripP2p(ma: Multiaddr): string {
  return ma.decapsulateCode(P2P_CODE).toString()
}

/** Split an encoded tx batch into two batches (different bytes, so new gossip message ids); undefined for 1 item. */
function splitBatch(data: Uint8Array): [Uint8Array, Uint8Array] | undefined {
  const items = decodeTxBatchItems(data)
  if (items.length < 2) return undefined
  const mid = items.length >> 1
  return [encodeTxBatch(items.slice(0, mid)), encodeTxBatch(items.slice(mid))]
}

function errMessage(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

/** libp2p host of one Profichain node: gossip, permissioning, peer exchange, sync protocol (DESIGN §7). */
export class P2PNetwork implements Startable {
  readonly txTopic: string
  readonly blockTopic: string
  readonly syncProtocol: string

  private readonly init: Required<Omit<NetworkInit, 'bootstrap'>> & { bootstrap: string[] }
  private readonly components: NetworkComponents
  private readonly log: NetworkLogger
  private readonly members = new Map<string, MemberState>() // by peerId string
  private readonly selfId: string
  private node?: Node
  private running = false
  private stopController = new AbortController()
  private maintenanceTimer?: NodeJS.Timeout
  private readonly penalties: PeerPenalties
  private readonly counters: Omit<NetworkStats, 'peers' | 'publishQueueLength' | 'bannedPeers' | 'rejected'> = {
    gossipIn: 0,
    gossipBytesIn: 0,
    gossipOut: 0,
    gossipBytesOut: 0,
    gossipAccepted: 0,
    gossipRejected: 0,
    gossipIgnored: 0,
    gossipDecodeFailed: 0,
    gossipCallbackErrors: 0,
    publishQueued: 0,
    publishRetries: 0,
    publishErrors: 0,
    publishUnsent: 0,
    syncServed: 0,
    syncServeFailed: 0,
    syncBadRequests: 0,
    syncBytesOut: 0,
    syncRequests: 0,
    syncRequestsFailed: 0,
    syncBytesIn: 0,
    gaterDenied: 0,
    orphanBlocks: 0,
    peerBans: 0,
    dials: 0,
    dialFailures: 0,
    peerExchanges: 0,
  }
  private readonly rejected: Record<RejectReason, number> = {
    decode: 0,
    invalid: 0,
    origin: 0,
    'orphan-flood': 0,
    banned: 0,
  }
  // Publish queue: blocks go before txs. Paced by a token bucket (gossipsub has no back-pressure).
  private readonly blockQueue: Pending[] = []
  private readonly txQueue: Pending[] = []
  private pumping = false
  private tokens = 0
  private tokensAt = 0
  private wake?: () => void

  constructor(init: NetworkInit, components: NetworkComponents) {
    if (!init.network) throw new NetworkError('ERR_CONFIG', 'network id is required')
    this.init = {
      network: init.network,
      listen: init.listen,
      bootstrap: init.bootstrap ?? [],
      targetPeers: init.targetPeers ?? 8,
      members: init.members,
      maxMessageBytes: init.maxMessageBytes ?? 16 * MiB,
      maxBatchBytes: init.maxBatchBytes ?? 1 * MiB,
      publishBytesPerSecond: init.publishBytesPerSecond ?? 64 * MiB,
      syncTimeoutMs: init.syncTimeoutMs ?? 15_000,
      syncServeTimeoutMs: init.syncServeTimeoutMs ?? 15_000,
      redialBaseMs: init.redialBaseMs ?? 250,
      redialMaxMs: init.redialMaxMs ?? 10_000,
      maintenanceIntervalMs: init.maintenanceIntervalMs ?? 2_000,
      orphanLimit: init.orphanLimit ?? 64,
      orphanWindowMs: init.orphanWindowMs ?? 60_000,
      banMs: init.banMs ?? 10 * 60_000,
    }
    if (!(this.init.orphanLimit >= 1 && this.init.orphanWindowMs > 0 && this.init.banMs >= 0))
      throw new NetworkError('ERR_CONFIG', 'orphanLimit must be ≥ 1, orphanWindowMs > 0 and banMs ≥ 0')
    this.penalties = new PeerPenalties(this.init.orphanLimit, this.init.orphanWindowMs, this.init.banMs)
    if (this.init.maxBatchBytes > this.init.maxMessageBytes)
      throw new NetworkError('ERR_CONFIG', 'maxBatchBytes must not exceed maxMessageBytes')
    this.components = components
    this.log = components.logger ?? silentLogger
    this.txTopic = `/profichain/${init.network}/tx/1`
    this.blockTopic = `/profichain/${init.network}/block/1`
    this.syncProtocol = `/profichain/${init.network}/sync/1`
    for (const m of init.members) {
      const peerId = peerIdObjectFromPublicKey(m.publicKey)
      this.members.set(peerId.toString(), {
        publicKey: m.publicKey.toLowerCase(),
        peerId,
        addrs: new Set((m.addrs ?? []).map((a) => stripP2p(multiaddr(a)))),
        lostAt: 0,
        nextDialAt: 0,
        backoffMs: this.init.redialBaseMs,
        dialing: false,
      })
    }
    this.selfId = peerIdObjectFromPublicKey(components.key.publicKey).toString()
    for (const b of this.init.bootstrap) {
      const ma = multiaddr(b)
      const id = ma.getComponents().find((c) => c.code === P2P_CODE)?.value
      const m = id === undefined ? undefined : this.members.get(id)
      if (m === undefined) {
        this.log.warn({ addr: b }, 'bootstrap address without /p2p/<member peerId>: ignored')
        continue
      }
      m.addrs.add(stripP2p(ma))
    }
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

  private isMember(peerId: PeerId): boolean {
    return this.members.has(peerId.toString())
  }

  private deny(peerId: PeerId, hook: string): boolean {
    if (!this.isMember(peerId)) {
      this.counters.gaterDenied++
      this.log.warn({ peer: peerId.toString(), hook }, 'connection from/to a non-member refused')
      return true
    }
    const ban = this.penalties.banOf(peerId.toString())
    if (ban === undefined) return false
    this.counters.gaterDenied++
    this.log.debug(
      { peer: peerId.toString(), hook, reason: ban.reason, until: new Date(ban.until).toISOString() },
      'connection from/to a banned member refused',
    )
    return true
  }

  /** Disconnect a member and refuse it (gater, both ways) until the ban expires. */
  private ban(peerId: PeerId, ban: Ban, meta: Record<string, unknown>): void {
    const peer = peerId.toString()
    this.counters.peerBans++
    this.log.warn(
      { peer, reason: ban.reason, ...meta, banMs: this.init.banMs, until: new Date(ban.until).toISOString() },
      `peer banned (${ban.reason}): disconnected and refused until the ban expires`,
    )
    // Hang up outside the validator that is handling this peer's message.
    setImmediate(() => void this.node?.hangUp(peerId).catch(noop))
  }

  /** Is this peer (PeerId string) banned right now? */
  isBanned(peer: string): boolean {
    return this.penalties.banOf(peer) !== undefined
  }

  async start(): Promise<void> {
    if (this.running) return
    this.stopController = new AbortController()
    const maxMsg = this.init.maxMessageBytes
    const msgId = (msg: Message) => new Uint8Array(createHash('sha256').update(msg.data).digest())
    // Quiet private networks: no penalty for few mesh deliveries; invalid messages weigh heavily.
    const topicScore = {
      topicWeight: 1,
      timeInMeshWeight: 0.01,
      timeInMeshQuantum: 1000,
      timeInMeshCap: 3600,
      firstMessageDeliveriesWeight: 1,
      firstMessageDeliveriesDecay: 0.5,
      firstMessageDeliveriesCap: 100,
      meshMessageDeliveriesWeight: 0,
      meshMessageDeliveriesDecay: 0.5,
      meshMessageDeliveriesCap: 100,
      meshMessageDeliveriesThreshold: 1,
      meshMessageDeliveriesWindow: 10,
      meshMessageDeliveriesActivation: 5000,
      meshFailurePenaltyWeight: 0,
      meshFailurePenaltyDecay: 0.5,
      invalidMessageDeliveriesWeight: -10,
      invalidMessageDeliveriesDecay: 0.5,
    }
    const node = (await createLibp2p({
      start: false,
      privateKey: libp2pPrivateKey(this.components.key),
      addresses: { listen: this.init.listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: {
        denyDialPeer: (p) => this.deny(p, 'dial'),
        // First inbound hook that knows the PeerId (after Noise); see the spike FINDINGS on responder gating.
        denyInboundEncryptedConnection: (p) => this.deny(p, 'inbound'),
        denyOutboundEncryptedConnection: (p) => this.deny(p, 'outbound'),
      },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: StrictNoSign,
          msgIdFn: msgId,
          allowPublishToZeroTopicPeers: false,
          // Duplicate must throw: an empty `recipients` then always means "sent to nobody".
          ignoreDuplicatePublishError: false,
          emitSelf: false,
          maxInboundDataLength: maxMsg + 64 * 1024,
          scoreParams: { topics: { [this.txTopic]: topicScore, [this.blockTopic]: topicScore } },
        }),
      },
    })) as Node
    this.node = node
    const ps = node.services.pubsub
    ps.topicValidators.set(this.txTopic, (peer, msg) => this.validateTxs(peer, msg))
    ps.topicValidators.set(this.blockTopic, (peer, msg) => this.validateBlock(peer, msg))
    await node.handle(this.syncProtocol, (stream, conn) => this.serveSync(stream, conn), {
      maxInboundStreams: 64,
    })
    node.addEventListener('connection:open', (e) => this.onConnectionOpen(e.detail))
    node.addEventListener('peer:connect', (e) => this.onPeerConnect(e.detail))
    node.addEventListener('peer:disconnect', (e) => this.onPeerDisconnect(e.detail))
    node.addEventListener('peer:identify', (e) => {
      const m = this.members.get(e.detail.peerId.toString())
      if (m) this.addAddrs(m, e.detail.listenAddrs.map(stripP2p))
    })
    ps.addEventListener('subscription-change', () => this.wake?.())
    await node.start()
    ps.subscribe(this.txTopic)
    ps.subscribe(this.blockTopic)
    this.running = true
    for (const m of this.members.values()) if (m.addrs.size > 0) await this.mergeAddrs(m)
    this.maintenanceTimer = setInterval(() => this.maintain(), this.init.maintenanceIntervalMs)
    this.maintenanceTimer.unref()
    this.maintain()
    this.log.info({ peerId: this.selfId, addrs: this.multiaddrs() }, 'network started')
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopController.abort()
    clearInterval(this.maintenanceTimer)
    this.wake?.()
    for (const q of [this.blockQueue, this.txQueue]) for (const p of q.splice(0)) p.done(false)
    await this.node?.stop()
    this.node = undefined
    this.log.info({ peerId: this.selfId }, 'network stopped')
  }

  /** Own listen addresses, each ending in /p2p/<peerId>. */
  multiaddrs(): string[] {
    return this.node?.getMultiaddrs().map(String) ?? []
  }

  /**
   * Drop the connections to one peer (or to every peer) so they are dialled again with fresh gossipsub
   * streams. The node uses it when its own records stop getting committed although they are published:
   * a stream bound to a connection that closed under gossipsub can swallow messages silently.
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
      ...this.counters,
      rejected: { ...this.rejected },
      bannedPeers: this.penalties.bannedCount(),
      peers: this.node ? this.node.getPeers().length : 0,
      publishQueueLength: this.blockQueue.length + this.txQueue.length,
    }
  }

  // ------------------------------------------------------------------------------------------ gossip

  private async validateTxs(peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
    this.counters.gossipIn++
    this.counters.gossipBytesIn += msg.data.byteLength
    if (this.isBanned(peer.toString())) return this.reject('banned')
    let txs: Transaction[]
    try {
      txs = decodeTxBatch(msg.data)
    } catch (err) {
      return this.decodeFailed(peer, 'tx batch', err)
    }
    // Only allowed keys (genesis members) may originate records: one stranger's tx rejects the batch.
    const stranger = txs.find((t) => !this.components.originAllowed(t.body.origin))
    if (stranger !== undefined) {
      this.log.warn(
        { peer: peer.toString(), origin: toHex(stranger.body.origin), txs: txs.length },
        'tx batch rejected: a tx origin is not an allowed key (not a genesis member)',
      )
      return this.reject('origin')
    }
    return this.verdict(peer, () => this.components.onTxBatch(txs, peer.toString()))
  }

  private async validateBlock(peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
    this.counters.gossipIn++
    this.counters.gossipBytesIn += msg.data.byteLength
    if (this.isBanned(peer.toString())) return this.reject('banned')
    let block: Block
    try {
      block = decodeBlockAnnouncement(msg.data)
    } catch (err) {
      return this.decodeFailed(peer, 'block', err)
    }
    return this.verdict(peer, () => this.components.onBlock(block, peer.toString()), block)
  }

  private reject(reason: RejectReason): TopicValidatorResult {
    this.counters.gossipRejected++
    this.rejected[reason]++
    return TopicValidatorResult.Reject
  }

  private decodeFailed(peer: PeerId, what: string, err: unknown): TopicValidatorResult {
    this.counters.gossipDecodeFailed++
    this.log.warn({ peer: peer.toString(), err: errMessage(err) }, `undecodable ${what} gossip rejected`)
    return this.reject('decode')
  }

  private async verdict(
    peer: PeerId,
    fn: () => BlockVerdict | Promise<BlockVerdict>,
    block?: Block,
  ): Promise<TopicValidatorResult> {
    let v: BlockVerdict
    try {
      v = await fn()
    } catch (err) {
      // A callback failure is our problem, not the sender's: drop without penalty.
      this.counters.gossipCallbackErrors++
      this.log.error({ peer: peer.toString(), err: errMessage(err) }, 'gossip callback failed')
      v = 'ignore'
    }
    if (v === 'orphan') {
      this.counters.orphanBlocks++
      const ban = this.penalties.offend(peer.toString(), 'orphan-flood')
      if (ban !== undefined) {
        this.ban(peer, ban, {
          height: block?.header.height,
          orphanLimit: this.init.orphanLimit,
          orphanWindowMs: this.init.orphanWindowMs,
        })
        return this.reject('orphan-flood') // also lowers its gossipsub score
      }
      v = 'ignore'
    }
    if (v === 'accept') this.counters.gossipAccepted++
    else if (v === 'reject') return this.reject('invalid')
    else this.counters.gossipIgnored++
    return verdictToResult(v)
  }

  /**
   * Queue txs for gossip in batches of ≤ maxBatchBytes. Never drops: batches wait for subscribers.
   * Resolves when every batch has been handed to gossipsub (published: false if the network stopped first).
   */
  async publishTxs(txs: Transaction[]): Promise<PublishResult> {
    const encoded = txs.map((t) => encodeTransaction(t))
    const limit = this.init.maxBatchBytes
    const batches: Uint8Array[][] = []
    let cur: Uint8Array[] = []
    let size = BATCH_OVERHEAD
    for (const e of encoded) {
      if (e.byteLength + ITEM_OVERHEAD + BATCH_OVERHEAD > this.init.maxMessageBytes) {
        throw new NetworkError(
          'ERR_TX_TOO_LARGE',
          `a ${e.byteLength}-byte tx exceeds the ${this.init.maxMessageBytes}-byte gossip message limit`,
        )
      }
      if (
        cur.length > 0 &&
        (size + e.byteLength + ITEM_OVERHEAD > limit || cur.length >= WIRE_LIMITS.txBatchItems)
      ) {
        batches.push(cur)
        cur = []
        size = BATCH_OVERHEAD
      }
      cur.push(e)
      size += e.byteLength + ITEM_OVERHEAD
    }
    if (cur.length > 0) batches.push(cur)
    return this.enqueue(
      this.txQueue,
      this.txTopic,
      batches.map((b) => encodeTxBatch(b)),
    )
  }

  /** Queue a (stripped) block announcement; blocks go out before queued tx batches. */
  async publishBlock(block: Block | Uint8Array): Promise<PublishResult> {
    const data = encodeBlockAnnouncement(block instanceof Uint8Array ? block : encodeBlock(block))
    if (data.byteLength > this.init.maxMessageBytes) {
      throw new NetworkError(
        'ERR_TX_TOO_LARGE',
        `a ${data.byteLength}-byte block exceeds the ${this.init.maxMessageBytes}-byte gossip message limit`,
      )
    }
    return this.enqueue(this.blockQueue, this.blockTopic, [data])
  }

  private enqueue(queue: Pending[], topic: string, messages: Uint8Array[]): Promise<PublishResult> {
    if (!this.running)
      return Promise.reject(new NetworkError('ERR_NOT_STARTED', 'the network is not started'))
    if (messages.length === 0) return Promise.resolve({ batches: 0, published: true })
    let left = messages.length
    let ok = true
    return new Promise((resolve) => {
      for (const data of messages) {
        this.counters.publishQueued++
        queue.push({
          topic,
          data,
          done: (published) => {
            ok &&= published
            if (--left === 0) resolve({ batches: messages.length, published: ok })
          },
        })
      }
      this.pump().catch((err: unknown) => this.log.error({ err: errMessage(err) }, 'publish loop failed'))
    })
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      const signal = this.stopController.signal
      function done() {
        clearTimeout(t)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done)
    })
  }

  /** Subscribers we can actually send to (gossipsub drops sends to peers whose outbound stream is not open yet). */
  private readySubscribers(topic: string): number {
    const ps = this.libp2p.services.pubsub as GossipSub & { streamsOutbound?: Map<string, unknown> }
    const subs = ps.getSubscribers(topic)
    const out = ps.streamsOutbound
    return out instanceof Map ? subs.filter((p) => out.has(p.toString())).length : subs.length
  }

  /** Wait until a subscription changes (or a short poll interval passes, or we stop). */
  private waitForSubscribers(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(finish, 100)
      // A named inner function compares itself against this.wake, so it needs `self`.
      // eslint-disable-next-line @typescript-eslint/no-this-alias
      const self = this
      function finish() {
        clearTimeout(t)
        if (self.wake === finish) self.wake = undefined
        resolve()
      }
      this.wake = finish
    })
  }

  /** Milliseconds to wait before `n` bytes may go out (0 = go, tokens taken). */
  private takeTokens(n: number): number {
    const rate = this.init.publishBytesPerSecond
    const capacity = Math.max(this.init.maxMessageBytes, rate / 4)
    const now = performance.now()
    this.tokens = Math.min(capacity, this.tokens + ((now - this.tokensAt) * rate) / 1000)
    this.tokensAt = now
    if (this.tokens >= n) {
      this.tokens -= n
      return 0
    }
    return Math.max(1, Math.ceil(((n - this.tokens) * 1000) / rate))
  }

  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    let sinceYield = 0
    let errorDelay = 100
    try {
      while (this.running) {
        const queue = this.blockQueue.length > 0 ? this.blockQueue : this.txQueue
        const item = queue[0]
        if (item === undefined) break
        const ps = this.libp2p.services.pubsub
        if (this.readySubscribers(item.topic) === 0) {
          await this.waitForSubscribers()
          continue
        }
        const wait = this.takeTokens(item.data.byteLength)
        if (wait > 0) {
          await this.sleep(wait)
          continue
        }
        try {
          const { recipients } = await ps.publish(item.topic, item.data)
          queue.shift()
          if (recipients.length > 0) {
            this.counters.gossipOut++
            this.counters.gossipBytesOut += item.data.byteLength
            item.done(true)
          } else {
            // Every send failed (streams closed under us). The bytes are now in gossipsub's seen cache, so
            // an identical re-publish would be refused: re-split a tx batch into halves (new message ids);
            // a single item stays in the message cache for IHAVE gossip and the durable outbox re-sends it.
            this.counters.publishUnsent++
            const halves = item.topic === this.txTopic ? splitBatch(item.data) : undefined
            if (halves) {
              queue.unshift(
                { topic: item.topic, data: halves[0], done: noop },
                { topic: item.topic, data: halves[1], done: item.done },
              )
            } else {
              this.log.warn({ topic: item.topic }, 'gossip message reached no peer')
              item.done(false)
            }
          }
          errorDelay = 100
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err)
          if (msg.includes('Duplicate')) {
            queue.shift() // already seen/sent: the network has it
            item.done(true)
          } else if (msg.includes('NoPeersSubscribedToTopic')) {
            this.counters.publishRetries++
            await this.waitForSubscribers()
          } else {
            if (!this.running) break
            this.counters.publishErrors++
            this.log.warn({ err: errMessage(err), topic: item.topic }, 'gossip publish failed; will retry')
            await this.sleep(errorDelay)
            errorDelay = Math.min(errorDelay * 2, 5000)
          }
        }
        // Let sockets drain between publishes (measured best in the spike: yield every few dozen).
        if (++sinceYield >= 16) {
          sinceYield = 0
          await new Promise((r) => setImmediate(r))
        }
      }
    } finally {
      this.pumping = false
    }
  }

  // ---------------------------------------------------------------------------------------- sync server

  private async serveSync(stream: Stream, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    const signal = AbortSignal.any([
      AbortSignal.timeout(this.init.syncServeTimeoutMs),
      this.stopController.signal,
    ])
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES, maxBufferSize: MAX_REQUEST_BYTES + 16 })
    let reqBytes: Uint8Array
    try {
      reqBytes = (await lp.read({ signal })).subarray()
    } catch (err) {
      // Broken framing or a stalled peer: nothing sensible to answer.
      this.counters.syncBadRequests++
      this.log.debug({ peer, err: errMessage(err) }, 'unreadable sync request')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      return
    }
    let resp: Uint8Array
    try {
      const req = decodeSyncRequest(reqBytes)
      resp = await this.answer(req, signal)
      this.counters.syncServed++
    } catch (err) {
      const code =
        err instanceof CodecError
          ? 'ERR_BAD_REQUEST'
          : signal.aborted
            ? 'ERR_TIMEOUT'
            : err instanceof NetworkError
              ? err.code
              : 'ERR_INTERNAL'
      if (code === 'ERR_BAD_REQUEST') this.counters.syncBadRequests++
      else this.counters.syncServeFailed++
      this.log.debug({ peer, code, err: errMessage(err) }, 'sync request failed')
      resp = encodeSyncError(code, err instanceof Error ? err.message : String(err))
    }
    try {
      await lp.write(resp, { signal })
      this.counters.syncBytesOut += resp.byteLength
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private async answer(req: SyncRequest, signal: AbortSignal): Promise<Uint8Array> {
    const h = this.components.handlers
    const budget = this.init.maxMessageBytes - 64 * 1024
    const race = <T>(p: T | Promise<T>): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        if (signal.aborted) return reject(new NetworkError('ERR_SYNC_TIMEOUT', 'sync handler timed out'))
        const onAbort = () => reject(new NetworkError('ERR_SYNC_TIMEOUT', 'sync handler timed out'))
        signal.addEventListener('abort', onAbort, { once: true })
        Promise.resolve(p).then(
          (v) => {
            signal.removeEventListener('abort', onAbort)
            resolve(v)
          },
          (e) => {
            signal.removeEventListener('abort', onAbort)
            reject(e)
          },
        )
      })
    // Responses are cut to the size budget; ranges/lists come back shorter and the client asks again.
    const fit = (items: Uint8Array[], max: number): Uint8Array[] => {
      const out: Uint8Array[] = []
      let size = 0
      for (const it of items.slice(0, max)) {
        size += it.byteLength + ITEM_OVERHEAD
        if (out.length > 0 && size > budget) break
        out.push(it)
      }
      return out
    }
    let bytes: Uint8Array
    switch (req.kind) {
      case 'headers':
        bytes = encodeSyncResponse('headers', fit(await race(h.headers(req.from, req.count)), req.count))
        break
      case 'blocks':
        bytes = encodeSyncResponse('blocks', fit(await race(h.blocks(req.from, req.count)), req.count))
        break
      case 'block':
        bytes = encodeSyncResponse('block', await race(h.block(req.hash)))
        break
      case 'payloads': {
        const got = await race(h.payloads(req.txIds))
        const entries = []
        let size = 0
        for (let i = 0; i < req.txIds.length; i++) {
          const payload = got[i] ?? null
          size += 48 + (payload?.byteLength ?? 0)
          if (entries.length > 0 && size > budget) break
          entries.push({ txId: req.txIds[i], payload })
        }
        bytes = encodeSyncResponse('payloads', entries)
        break
      }
      case 'status':
        bytes = encodeSyncResponse('status', await race(h.status()))
        break
      case 'members':
        bytes = encodeSyncResponse('members', h.members ? await race(h.members()) : this.knownMembers())
        break
    }
    if (bytes.byteLength > this.init.maxMessageBytes) {
      throw new NetworkError(
        'ERR_SYNC_PEER',
        `response of ${bytes.byteLength} bytes exceeds the ${this.init.maxMessageBytes}-byte limit`,
      )
    }
    return bytes
  }

  /** Peer-exchange answer: every member with the addresses we know for it (our own included). */
  knownMembers(): MemberAddrs[] {
    const out: MemberAddrs[] = []
    for (const [id, m] of this.members) {
      const addrs = id === this.selfId && this.node ? this.node.getMultiaddrs().map(stripP2p) : [...m.addrs]
      if (addrs.length > 0)
        out.push({ publicKey: m.publicKey, addrs: addrs.slice(-WIRE_LIMITS.addrsPerMember) })
    }
    return out
  }

  // ---------------------------------------------------------------------------------------- sync client

  /** Send one sync request to a connected (or dialable) member and decode its answer. */
  async request<K extends SyncKind>(
    peer: string,
    req: SyncRequestOf<K>,
    opts: { timeoutMs?: number } = {},
  ): Promise<SyncResponses[K]> {
    const node = this.libp2p
    this.counters.syncRequests++
    const meta = { peer, kind: req.kind }
    const fail = (
      code: 'ERR_SYNC_TIMEOUT' | 'ERR_SYNC_PEER' | 'ERR_SYNC_DECODE' | 'ERR_SYNC_REMOTE',
      message: string,
      extra = {},
      cause?: unknown,
    ) => {
      this.counters.syncRequestsFailed++
      return new NetworkError(code, message, { ...meta, ...extra }, { cause })
    }
    let peerId: PeerId
    try {
      peerId = peerIdFromString(peer)
    } catch (err) {
      throw fail('ERR_SYNC_PEER', `not a peer id: ${peer}`, {}, err)
    }
    const reqBytes = encodeSyncRequest(req)
    const timeoutMs = opts.timeoutMs ?? this.init.syncTimeoutMs
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = AbortSignal.any([timeout, this.stopController.signal])
    const max = this.init.maxMessageBytes
    let stream: Stream | undefined
    let resBytes: Uint8Array
    try {
      stream = await node.dialProtocol(peerId, this.syncProtocol, { signal })
      const lp = lpStream(stream, { maxDataLength: max, maxBufferSize: max + 16 })
      await lp.write(reqBytes, { signal })
      resBytes = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(noop)
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      if (timeout.aborted)
        throw fail('ERR_SYNC_TIMEOUT', `sync ${req.kind} to ${peer} timed out after ${timeoutMs} ms`, {}, err)
      throw fail('ERR_SYNC_PEER', `sync ${req.kind} to ${peer} failed: ${errMessage(err)}`, {}, err)
    }
    this.counters.syncBytesIn += resBytes.byteLength
    let res: ReturnType<typeof decodeSyncResponse<K>>
    try {
      res = decodeSyncResponse(req.kind as K, resBytes)
    } catch (err) {
      throw fail('ERR_SYNC_DECODE', `sync ${req.kind} from ${peer}: ${errMessage(err)}`, {}, err)
    }
    if (!res.ok)
      throw fail('ERR_SYNC_REMOTE', `peer ${peer} answered ${res.code}: ${res.message}`, {
        remoteCode: res.code,
      })
    return res.value
  }

  // -------------------------------------------------------------------------------- peers and dialling

  private addAddrs(m: MemberState, addrs: string[]): void {
    for (const a of addrs) {
      m.addrs.delete(a) // re-insert: most recent last, oldest evicted first
      m.addrs.add(a)
    }
    while (m.addrs.size > WIRE_LIMITS.addrsPerMember) m.addrs.delete(m.addrs.values().next().value as string)
  }

  private async mergeAddrs(m: MemberState): Promise<void> {
    if (!this.node || m.addrs.size === 0) return
    try {
      await this.node.peerStore.merge(m.peerId, { multiaddrs: [...m.addrs].map((a) => multiaddr(a)) })
    } catch (err) {
      this.log.debug({ peer: m.peerId.toString(), err: errMessage(err) }, 'peer store merge failed')
    }
  }

  private onConnectionOpen(conn: Connection): void {
    const m = this.members.get(conn.remotePeer.toString())
    if (m === undefined) return
    m.direction = conn.direction
    m.backoffMs = this.init.redialBaseMs
    m.nextDialAt = 0
  }

  private onPeerConnect(peerId: PeerId): void {
    if (!this.running || !this.isMember(peerId)) return
    void this.exchange(peerId.toString())
  }

  private onPeerDisconnect(peerId: PeerId): void {
    const m = this.members.get(peerId.toString())
    if (!this.running || m === undefined) return
    m.lostAt = Date.now()
    // Only the side that dialled redials right away; the other waits (grace) to avoid duplicate connections.
    m.nextDialAt =
      Date.now() + (m.direction === 'outbound' ? m.backoffMs : m.backoffMs + this.init.redialMaxMs)
    setTimeout(() => this.maintain(), m.backoffMs).unref()
  }

  /** Peer exchange: learn the addresses the peer knows for other members, then top up connections. */
  private async exchange(peer: string): Promise<void> {
    try {
      const list = await this.request(peer, { kind: 'members' })
      this.counters.peerExchanges++
      for (const entry of list) {
        const id = (() => {
          try {
            return peerIdObjectFromPublicKey(entry.publicKey).toString()
          } catch {
            return undefined
          }
        })()
        const m = id === undefined ? undefined : this.members.get(id)
        if (m === undefined || id === this.selfId) continue
        const valid = entry.addrs.flatMap((a) => {
          try {
            return [stripP2p(multiaddr(a))]
          } catch {
            return []
          }
        })
        this.addAddrs(m, valid)
        await this.mergeAddrs(m)
      }
      this.maintain()
    } catch (err) {
      this.log.debug({ peer, err: errMessage(err) }, 'peer exchange failed')
    }
  }

  /** Keep `targetPeers` connections to members; redial lost ones with exponential backoff. */
  private maintain(): void {
    if (!this.running || !this.node) return
    const node = this.node
    const connected = new Set(node.getConnections().map((c) => c.remotePeer.toString()))
    let want = this.init.targetPeers - [...connected].filter((id) => this.members.has(id)).length
    const now = Date.now()
    for (const [id, m] of this.members) {
      if (want <= 0) break
      if (id === this.selfId || connected.has(id) || m.dialing || m.addrs.size === 0 || m.nextDialAt > now)
        continue
      if (this.isBanned(id)) continue
      want--
      void this.dialMember(m)
    }
  }

  private async dialMember(m: MemberState): Promise<void> {
    const node = this.node
    if (!node) return
    m.dialing = true
    this.counters.dials++
    try {
      await this.mergeAddrs(m)
      await node.dial(m.peerId, {
        signal: AbortSignal.any([AbortSignal.timeout(10_000), this.stopController.signal]),
      })
      m.backoffMs = this.init.redialBaseMs
    } catch (err) {
      this.counters.dialFailures++
      m.nextDialAt = Date.now() + m.backoffMs
      this.log.debug(
        { peer: m.peerId.toString(), err: errMessage(err), retryInMs: m.backoffMs },
        'dial failed',
      )
      if (this.running) setTimeout(() => this.maintain(), m.backoffMs).unref()
      m.backoffMs = Math.min(m.backoffMs * 2, this.init.redialMaxMs)
    } finally {
      m.dialing = false
    }
  }
}
