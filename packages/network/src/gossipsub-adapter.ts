import { createHash } from 'node:crypto'
import {
  type GossipSub,
  type GossipsubOpts,
  gossipsub,
  type Message,
  StrictNoSign,
  type TopicValidatorResult,
} from '@libp2p/gossipsub'
import type { Connection, PeerId } from '@libp2p/interface'
import { NetworkError } from './errors.js'

/**
 * The one place that knows @libp2p/gossipsub beyond its public interface. Everything that reaches into
 * its internals (the private `streamsOutbound` map, the `onPeerConnected` topology callback, the text of
 * its publish errors) lives here, is checked by `assertGossipsubInternals` when the network starts, and is
 * pinned by test/gossipsub-adapter.test.ts against the real package, so an upgrade breaks loudly.
 */

/** The internals of the GossipSub class this adapter relies on (checked at start). */
interface GossipsubInternals {
  /** peerId string → the stream gossipsub sends on. */
  streamsOutbound: Map<string, { rawStream: { status: string; writeStatus: string } }>
  /** Topology callback: adds the peer and queues outbound-stream creation on `connection` (sequential queue). */
  onPeerConnected(peerId: PeerId, connection: Connection): void
}

type Internal = GossipSub & GossipsubInternals

/** What became of one publish. */
export type PublishOutcome =
  /** Handed to at least one peer's stream. */
  | { kind: 'sent'; recipients: number }
  /** Every send failed (streams closed under us); the bytes are now in gossipsub's seen cache. */
  | { kind: 'unsent' }
  /** These exact bytes were published (or received) before: gossipsub refuses to send them again. */
  | { kind: 'duplicate' }
  /** No subscribed peer to send to. */
  | { kind: 'no-peers' }

/** Gossipsub scoring for quiet private networks: no penalty for few mesh deliveries; invalid messages weigh heavily. */
const TOPIC_SCORE = {
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

/** The gossipsub service as the network configures it (content-hash ids, no signatures, no self-delivery). */
export function gossipsubService(opts: { topics: string[]; maxMessageBytes: number }) {
  const init: Partial<GossipsubOpts> = {
    globalSignaturePolicy: StrictNoSign,
    msgIdFn: (msg: Message) => new Uint8Array(createHash('sha256').update(msg.data).digest()),
    allowPublishToZeroTopicPeers: false,
    // Duplicate must throw: an empty `recipients` then always means "sent to nobody".
    ignoreDuplicatePublishError: false,
    emitSelf: false,
    maxInboundDataLength: opts.maxMessageBytes + 64 * 1024,
    scoreParams: { topics: Object.fromEntries(opts.topics.map((t) => [t, TOPIC_SCORE])) },
  }
  return gossipsub(init)
}

/** Throw ERR_GOSSIPSUB_INTERNALS unless `ps` has the internals this adapter uses (a gossipsub upgrade changed them). */
export function assertGossipsubInternals(ps: GossipSub): asserts ps is Internal {
  const p = ps as Partial<GossipsubInternals>
  const missing = [
    p.streamsOutbound instanceof Map ? undefined : 'streamsOutbound (Map)',
    typeof p.onPeerConnected === 'function' ? undefined : 'onPeerConnected()',
  ].filter((x) => x !== undefined)
  if (missing.length > 0)
    throw new NetworkError(
      'ERR_GOSSIPSUB_INTERNALS',
      `@libp2p/gossipsub no longer has ${missing.join(', ')}: update packages/network/src/gossipsub-adapter.ts`,
      { missing },
    )
}

/** How long a new connection may go without a gossipsub outbound stream before `heal` steps in. */
const HEAL_GRACE_MS = 1000

function isWritable(stream: { rawStream?: { status?: string; writeStatus?: string } } | undefined): boolean {
  const raw = stream?.rawStream
  return raw?.status === 'open' && (raw.writeStatus === 'writable' || raw.writeStatus === 'paused')
}

/** Source of the connections libp2p has open (the libp2p node). */
export interface ConnectionSource {
  getConnections(peerId?: PeerId): Connection[]
}

/**
 * Our view of one running gossipsub service: publish with its errors classified, subscribers we can really
 * send to, and the repair of its outbound streams (see `install`).
 */
export class GossipsubAdapter {
  private readonly ps: Internal
  /** Outbound streams gossipsub tried to record after they had already closed (the race in `install`). */
  staleStreamsRefused = 0
  /** Peers whose missing outbound stream `heal` had gossipsub recreate. */
  streamsRecreated = 0

  constructor(
    ps: GossipSub,
    private readonly connections: ConnectionSource,
    /** Told of every dead stream refused or replaced (the network counts them). */
    private readonly onRepair: () => void = () => {},
  ) {
    assertGossipsubInternals(ps)
    this.ps = ps
  }

  /**
   * Close the outbound-stream race of gossipsub 17 (root cause of "gossip never resumes after a peer
   * restarts"): `createOutboundStream` awaits `connection.newStream()`, then records the stream in
   * `streamsOutbound` and only then listens for its 'close'. When the connection closes during that await
   * (a peer stopping right after connecting, a duplicate connection being dropped), `removePeer` has
   * already run, the stream arrives closed, its 'close' event has already fired, and the dead stream stays
   * recorded for good: every later `createOutboundStream` for that peer (on the new connection) returns
   * early because one "exists", and every send to the peer fails silently. So a closed stream is never
   * recorded; if the peer is still connected, gossipsub is asked to open a fresh one.
   */
  install(): void {
    const map = this.ps.streamsOutbound
    const set = map.set.bind(map)
    map.set = (id, stream) => {
      if (isWritable(stream)) return set(id, stream)
      this.staleStreamsRefused++
      this.onRepair()
      setImmediate(() => this.heal(id, true))
      return map
    }
  }

  /** Register the validator of a topic (gossipsub awaits it before delivering and forwarding). */
  setValidator(
    topic: string,
    fn: (peer: PeerId, msg: Message) => Promise<TopicValidatorResult> | TopicValidatorResult,
  ): void {
    this.ps.topicValidators.set(topic, fn)
  }

  subscribe(topic: string): void {
    this.ps.subscribe(topic)
  }

  /** Call `fn` whenever a peer's subscriptions change. */
  onSubscriptionChange(fn: () => void): void {
    this.ps.addEventListener('subscription-change', fn)
  }

  /** Subscribers we can actually send to (gossipsub drops sends to peers without an open outbound stream). */
  readySubscribers(topic: string): number {
    return this.ps.getSubscribers(topic).filter((p) => isWritable(this.ps.streamsOutbound.get(p.toString())))
      .length
  }

  /** Publish `data` on `topic`; gossipsub's refusals come back as outcomes, anything else is thrown. */
  async publish(topic: string, data: Uint8Array): Promise<PublishOutcome> {
    try {
      const { recipients } = await this.ps.publish(topic, data)
      return recipients.length > 0 ? { kind: 'sent', recipients: recipients.length } : { kind: 'unsent' }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      if (msg.includes('PublishError.Duplicate')) return { kind: 'duplicate' }
      if (msg.includes('PublishError.NoPeersSubscribedToTopic')) return { kind: 'no-peers' }
      throw err
    }
  }

  /**
   * Make sure gossipsub has a writable outbound stream to every connected peer (or to `peer`): forget a
   * dead one and let gossipsub open a new stream on an open connection. Covers the race in `install` and a
   * stream that closed with its connection while another connection to the same peer stays open (gossipsub
   * only opens streams when a connection is announced). A connection younger than a second is left to
   * gossipsub unless `now`. Returns how many peers were repaired.
   */
  heal(peer?: string, now = false): number {
    const open = new Map<string, Connection>()
    for (const c of this.connections.getConnections())
      if (c.status === 'open' && !open.has(c.remotePeer.toString())) open.set(c.remotePeer.toString(), c)
    let repaired = 0
    for (const [id, conn] of open) {
      if (peer !== undefined && id !== peer) continue
      const stream = this.ps.streamsOutbound.get(id)
      if (isWritable(stream)) continue
      // A young connection without a stream is gossipsub's own work in progress (identify, then the stream).
      if (stream === undefined && !now && Date.now() - conn.timeline.open < HEAL_GRACE_MS) continue
      if (stream !== undefined) this.ps.streamsOutbound.delete(id)
      // Idempotent: re-adds the peer if a read error removed it, queues the stream (skipped if one exists).
      this.ps.onPeerConnected(conn.remotePeer, conn)
      this.streamsRecreated++
      this.onRepair()
      repaired++
    }
    return repaired
  }
}
