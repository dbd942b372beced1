/**
 * Token buckets by key (device public key hex): `rate` tokens per second up to `burst`. Memory is bounded:
 * past `maxKeys` entries, the full (idle) buckets are dropped, since a full bucket is the same as none.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Take up to `n` tokens for `key`; returns how many were granted (0..n). */
  take(key: string, n: number): number {
    if (n <= 0) return 0
    const t = this.now()
    let b = this.buckets.get(key)
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.prune(t)
      b = { tokens: this.burst, at: t }
      this.buckets.set(key, b)
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate)
      b.at = t
    }
    const granted = Math.min(n, Math.floor(b.tokens))
    b.tokens -= granted
    return granted
  }

  get size(): number {
    return this.buckets.size
  }

  private prune(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(k)
    }
  }
}
