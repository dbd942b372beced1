/** Payloads seen in tx gossip, kept until their block arrives (archive nodes store them then). */
export class PayloadCache {
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
  /** Forget these payloads (a block this node produced: its payloads came from the local mempool). */
  drop(ids: string[]): void {
    for (const id of ids) {
      const p = this.map.get(id)
      if (p === undefined) continue
      this.map.delete(id)
      this.bytes -= p.byteLength
    }
  }

  get size(): number {
    return this.map.size
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
