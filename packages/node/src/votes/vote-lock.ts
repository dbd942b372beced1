import { equalBytes } from '@profichain/core'

/**
 * A short lock on this validator's own votes (seals included). Votes are not locked by the protocol: a
 * validator may co-sign block X at height h and, a moment later, seal or co-sign a block of another branch
 * (one without X) at h+1. If X's quorum was already forming, the other branch's block can collect one too:
 * two conflicting final blocks, and each side refuses the other's branch for good (seen in the 2|2 partition
 * test's network: start-up forks where the quorum of the earlier block reached the nodes 0.1–1.4 s after they
 * had voted on the other branch). So for `lockMs` after a vote at h this validator does not vote or seal
 * above h on a chain without its block at h: the votes of X arrive first, and if X has its quorum the node
 * adopts X's branch (votes → adoptQuorum). Past the lock the validator votes freely again (a branch that lost
 * for good must not stop it forever): a partition longer than the lock is healed by fork choice and sync.
 */
export class VoteLock {
  /** height → the block this node co-signed there and when (only the last `lockMs`). */
  private readonly recent = new Map<number, { hash: Uint8Array; at: number }>()

  constructor(
    readonly lockMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** This node co-signed (or sealed) `hash` at `height`. */
  noteVote(height: number, hash: Uint8Array): void {
    this.recent.set(height, { hash, at: this.now() })
    this.expire()
  }

  /**
   * How long (ms) this validator must still wait before voting or sealing at `height` on the chain whose
   * block at each lower height is `canonicalAt(h)`; 0 when it may.
   */
  async waitMs(height: number, canonicalAt: (h: number) => Promise<Uint8Array | undefined>): Promise<number> {
    this.expire()
    let wait = 0
    for (const [h, v] of this.recent) {
      if (h >= height) continue
      const onChain = await canonicalAt(h)
      if (onChain && equalBytes(onChain, v.hash)) continue
      wait = Math.max(wait, v.at + this.lockMs - this.now())
    }
    return Math.max(0, wait)
  }

  private expire(): void {
    const now = this.now()
    for (const [h, v] of this.recent) if (now - v.at >= this.lockMs) this.recent.delete(h)
  }
}
