import type { Connection, PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { type MemberAddrs, WIRE_LIMITS } from '@profichain/core'
import { errMessage } from './config.js'
import type { NetworkContext, Node } from './host.js'
import { peerIdObjectFromPublicKey } from './keys.js'
import { type Ban, PeerPenalties } from './peer-penalties.js'
import type { NetworkMember } from './types.js'

const P2P_CODE = 421
const noop = () => {}

/** A multiaddr without its /p2p/<peerId> part. */
export function stripP2p(ma: Multiaddr): string {
  return ma.decapsulateCode(P2P_CODE).toString()
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
  /** When the running dial began: one older than DIAL_STUCK_MS no longer blocks a new dial. */
  dialingSince: number
}

/** A dial has its own 10 s abort; one still "running" after this long is stuck (a promise that never settled). */
const DIAL_STUCK_MS = 30_000

/**
 * The allow-list and what we know of each member: the gater (members only, banned peers refused), bans,
 * peer exchange, and the maintenance loop that keeps `targetPeers` connections and redials lost ones.
 */
export class Members {
  private readonly members = new Map<string, MemberState>() // by peerId string
  private readonly penalties: PeerPenalties
  private timer?: NodeJS.Timeout

  constructor(
    private readonly ctx: NetworkContext,
    members: NetworkMember[],
    bootstrap: string[],
    /** Ask a peer for the members it knows (the `members` sync request). */
    private readonly askMembers: (peer: string) => Promise<MemberAddrs[]>,
  ) {
    const c = ctx.config
    this.penalties = new PeerPenalties(c.orphanLimit, c.orphanWindowMs, c.banMs)
    for (const m of members) {
      const peerId = peerIdObjectFromPublicKey(m.publicKey)
      this.members.set(peerId.toString(), {
        publicKey: m.publicKey.toLowerCase(),
        peerId,
        addrs: new Set((m.addrs ?? []).map((a) => stripP2p(multiaddr(a)))),
        lostAt: 0,
        nextDialAt: 0,
        backoffMs: c.redialBaseMs,
        dialing: false,
        dialingSince: 0,
      })
    }
    for (const b of bootstrap) {
      const ma = multiaddr(b)
      const id = ma.getComponents().find((x) => x.code === P2P_CODE)?.value
      const m = id === undefined ? undefined : this.members.get(id)
      if (m === undefined) {
        ctx.log.warn({ addr: b }, 'bootstrap address without /p2p/<member peerId>: ignored')
        continue
      }
      m.addrs.add(stripP2p(ma))
    }
  }

  isMember(peerId: PeerId): boolean {
    return this.members.has(peerId.toString())
  }

  /** Connection gater: refuse non-members and banned members (counted). */
  deny(peerId: PeerId, hook: string): boolean {
    const log = this.ctx.log
    if (!this.isMember(peerId)) {
      this.ctx.metrics.count('gaterDenied', {})
      log.warn({ peer: peerId.toString(), hook }, 'connection from/to a non-member refused')
      return true
    }
    const ban = this.penalties.banOf(peerId.toString())
    if (ban === undefined) return false
    this.ctx.metrics.count('gaterDenied', {})
    log.debug(
      { peer: peerId.toString(), hook, reason: ban.reason, until: new Date(ban.until).toISOString() },
      'connection from/to a banned member refused',
    )
    return true
  }

  isBanned(peer: string): boolean {
    return this.penalties.banOf(peer) !== undefined
  }

  bannedCount(): number {
    return this.penalties.bannedCount()
  }

  /** Count one orphan block against `peerId`; past the limit it is banned (returns the ban). */
  orphanFrom(peerId: PeerId, meta: Record<string, unknown>): Ban | undefined {
    const ban = this.penalties.offend(peerId.toString(), 'orphan-flood')
    if (ban !== undefined) this.ban(peerId, ban, meta)
    return ban
  }

  /** Disconnect a member and refuse it (gater, both ways) until the ban expires. */
  private ban(peerId: PeerId, ban: Ban, meta: Record<string, unknown>): void {
    const peer = peerId.toString()
    this.ctx.metrics.count('peerBans', { reason: ban.reason })
    this.ctx.log.warn(
      { peer, reason: ban.reason, ...meta, banMs: this.ctx.config.banMs, until: new Date(ban.until).toISOString() },
      `peer banned (${ban.reason}): disconnected and refused until the ban expires`,
    )
    // Hang up outside the validator that is handling this peer's message.
    setImmediate(() => void this.ctx.node()?.hangUp(peerId).catch(noop))
  }

  /** Listen to the node's connection events (before it starts, so that none is missed). */
  attach(node: Node): void {
    node.addEventListener('connection:open', (e) => this.onConnectionOpen(e.detail))
    node.addEventListener('peer:connect', (e) => this.onPeerConnect(e.detail))
    node.addEventListener('peer:disconnect', (e) => this.onPeerDisconnect(e.detail))
    node.addEventListener('peer:identify', (e) => {
      const m = this.members.get(e.detail.peerId.toString())
      if (m) this.addAddrs(m, e.detail.listenAddrs.map(stripP2p))
    })
  }

  /** Give libp2p the addresses we know and start the maintenance loop (the node is running). */
  async start(): Promise<void> {
    for (const m of this.members.values()) if (m.addrs.size > 0) await this.mergeAddrs(m)
    this.timer = setInterval(() => this.maintain(), this.ctx.config.maintenanceIntervalMs)
    this.timer.unref()
    this.maintain()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** Peer-exchange answer: every member with the addresses we know for it (our own included). */
  knownMembers(): MemberAddrs[] {
    const out: MemberAddrs[] = []
    const node = this.ctx.node()
    for (const [id, m] of this.members) {
      const addrs = id === this.ctx.selfId && node ? node.getMultiaddrs().map(stripP2p) : [...m.addrs]
      if (addrs.length > 0) out.push({ publicKey: m.publicKey, addrs: addrs.slice(-WIRE_LIMITS.addrsPerMember) })
    }
    return out
  }

  private addAddrs(m: MemberState, addrs: string[]): void {
    for (const a of addrs) {
      m.addrs.delete(a) // re-insert: most recent last, oldest evicted first
      m.addrs.add(a)
    }
    while (m.addrs.size > WIRE_LIMITS.addrsPerMember) m.addrs.delete(m.addrs.values().next().value as string)
  }

  private async mergeAddrs(m: MemberState): Promise<void> {
    const node = this.ctx.node()
    if (!node || m.addrs.size === 0) return
    try {
      await node.peerStore.merge(m.peerId, { multiaddrs: [...m.addrs].map((a) => multiaddr(a)) })
    } catch (err) {
      this.ctx.log.debug({ peer: m.peerId.toString(), err: errMessage(err) }, 'peer store merge failed')
    }
  }

  private onConnectionOpen(conn: Connection): void {
    const m = this.members.get(conn.remotePeer.toString())
    if (m === undefined) return
    m.direction = conn.direction
    m.backoffMs = this.ctx.config.redialBaseMs
    m.nextDialAt = 0
  }

  private onPeerConnect(peerId: PeerId): void {
    if (!this.ctx.running() || !this.isMember(peerId)) return
    void this.exchange(peerId.toString())
  }

  private onPeerDisconnect(peerId: PeerId): void {
    const m = this.members.get(peerId.toString())
    if (!this.ctx.running() || m === undefined) return
    m.lostAt = Date.now()
    // Only the side that dialled redials right away; the other waits (grace) to avoid duplicate connections.
    m.nextDialAt =
      Date.now() + (m.direction === 'outbound' ? m.backoffMs : m.backoffMs + this.ctx.config.redialMaxMs)
    setTimeout(() => this.maintain(), m.backoffMs).unref()
  }

  /** Peer exchange: learn the addresses the peer knows for other members, then top up connections. */
  private async exchange(peer: string): Promise<void> {
    try {
      const list = await this.askMembers(peer)
      this.ctx.metrics.count('peerExchanges', {})
      for (const entry of list) {
        const id = (() => {
          try {
            return peerIdObjectFromPublicKey(entry.publicKey).toString()
          } catch {
            return undefined
          }
        })()
        const m = id === undefined ? undefined : this.members.get(id)
        if (m === undefined || id === this.ctx.selfId) continue
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
      this.ctx.log.debug({ peer, err: errMessage(err) }, 'peer exchange failed')
    }
  }

  /** Keep `targetPeers` connections to members; redial lost ones with exponential backoff. */
  maintain(): void {
    const node = this.ctx.node()
    if (!this.ctx.running() || !node) return
    const connected = new Set(node.getConnections().map((c) => c.remotePeer.toString()))
    let want = this.ctx.config.targetPeers - [...connected].filter((id) => this.members.has(id)).length
    const now = Date.now()
    for (const [id, m] of this.members) {
      if (want <= 0) break
      if (m.dialing && now - m.dialingSince > DIAL_STUCK_MS) {
        // Never settled: without this the member would never be dialled again (a peer lost for good).
        this.ctx.log.warn({ peer: id, dialingMs: now - m.dialingSince }, 'a dial never settled: dialling again')
        m.dialing = false
      }
      if (id === this.ctx.selfId || connected.has(id) || m.dialing || m.addrs.size === 0 || m.nextDialAt > now)
        continue
      if (this.isBanned(id)) continue
      want--
      void this.dialMember(m)
    }
  }

  private async dialMember(m: MemberState): Promise<void> {
    const node = this.ctx.node()
    if (!node) return
    m.dialing = true
    m.dialingSince = Date.now()
    this.ctx.metrics.count('dials', {})
    try {
      await this.mergeAddrs(m)
      await node.dial(m.peerId, {
        signal: AbortSignal.any([AbortSignal.timeout(10_000), this.ctx.stopSignal()]),
      })
      m.backoffMs = this.ctx.config.redialBaseMs
    } catch (err) {
      this.ctx.metrics.count('dialFailures', {})
      m.nextDialAt = Date.now() + m.backoffMs
      this.ctx.log.debug({ peer: m.peerId.toString(), err: errMessage(err), retryInMs: m.backoffMs }, 'dial failed')
      if (this.ctx.running()) setTimeout(() => this.maintain(), m.backoffMs).unref()
      m.backoffMs = Math.min(m.backoffMs * 2, this.ctx.config.redialMaxMs)
    } finally {
      m.dialing = false
    }
  }
}
