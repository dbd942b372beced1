import { sha256 } from '@profichain/core'

/**
 * txIds (SHA-256 of the canonical stripped encoding [body, signature]) of stripped txs this process has
 * already seen verify: txs that passed `checkTransactions` (gossip) and own records made by `signMessages`.
 * A block's tx whose encoding hashes to one of them needs no second Ed25519 verification (a thin node
 * re-verified every tx of every block, its own and those it had just checked in gossip: ~2 of the devnet's
 * 5 verifications per record). Sound because the id is a hash of the exact bytes: equal id, equal bytes,
 * which decoded and verified before. Bounded: two generations of at most `perGeneration` ids each (a
 * record's block arrives seconds after its gossip; a miss only means verifying again).
 */
export class VerifiedIds {
  private cur = new Set<string>()
  private prev = new Set<string>()
  /** Lookups answered from the set (no worker task for them). */
  hits = 0

  constructor(readonly perGeneration: number) {}

  get size(): number {
    return this.cur.size + this.prev.size
  }

  /** Remember the 32-byte ids in `flat` at every i where `flags[i] === 1`. */
  addFlat(flat: Uint8Array, flags: Uint8Array): void {
    if (this.perGeneration === 0) return
    const b = Buffer.from(flat.buffer, flat.byteOffset, flat.byteLength)
    for (let i = 0; i < flags.length; i++) {
      if (flags[i] !== 1) continue
      if (this.cur.size >= this.perGeneration) {
        this.prev = this.cur
        this.cur = new Set()
      }
      this.cur.add(b.toString('base64', 32 * i, 32 * i + 32))
    }
  }

  /** Has the stripped tx encoded by `bytes` verified before? (One SHA-256; false at once while empty.) */
  hasStripped(bytes: Uint8Array): boolean {
    if (this.cur.size === 0 && this.prev.size === 0) return false
    return this.hasId(sha256(bytes))
  }

  /** Has the stripped tx whose txId (SHA-256 of its exact encoding) is `id` verified before? */
  hasId(id: Uint8Array): boolean {
    if (this.cur.size === 0 && this.prev.size === 0) return false
    if (id.byteLength !== 32) throw new RangeError(`a txId is 32 bytes, got ${id.byteLength}`)
    const k = Buffer.from(id.buffer, id.byteOffset, 32).toString('base64')
    if (this.cur.has(k) || this.prev.has(k)) {
      this.hits++
      return true
    }
    return false
  }
}
