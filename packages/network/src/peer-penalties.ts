/** Why a peer was banned (a member of the `BanReason` union is logged and counted). */
export type BanReason = 'orphan-flood'

export interface Ban {
  reason: BanReason
  /** Epoch ms when the gater lets the peer in again. */
  until: number
}

interface Bucket {
  level: number
  at: number
}

/**
 * Per-peer offence accounting: a leaky bucket per peer that drains `limit` offences per `windowMs`, so a
 * peer may commit up to `limit` offences in any window (a few orphans during sync are normal) and is
 * banned for `banMs` on the next one. Bans expire by themselves.
 */
export class PeerPenalties {
  private readonly buckets = new Map<string, Bucket>()
  private readonly bans = new Map<string, Ban>()

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly banMs: number,
  ) {}

  /** Count one offence; returns the new ban when this one crosses the limit, else undefined. */
  offend(peer: string, reason: BanReason, now = Date.now()): Ban | undefined {
    const b = this.buckets.get(peer) ?? { level: 0, at: now }
    b.level = Math.max(0, b.level - ((now - b.at) * this.limit) / this.windowMs) + 1
    b.at = now
    if (b.level <= this.limit) {
      this.buckets.set(peer, b)
      return undefined
    }
    this.buckets.delete(peer)
    const ban = { reason, until: now + this.banMs }
    this.bans.set(peer, ban)
    return ban
  }

  /** The peer's ban if it is still in force (an expired ban is forgotten). */
  banOf(peer: string, now = Date.now()): Ban | undefined {
    const ban = this.bans.get(peer)
    if (ban === undefined) return undefined
    if (ban.until > now) return ban
    this.bans.delete(peer)
    return undefined
  }

  /** Peers banned right now. */
  bannedCount(now = Date.now()): number {
    let n = 0
    for (const peer of [...this.bans.keys()]) if (this.banOf(peer, now)) n++
    return n
  }
}
