import type { Block } from '@profichain/core'
import { toHex } from '@profichain/core'
import type { AddBlockOptions } from './types.js'

export const DEFAULT_MAX_ORPHANS = 256
export const DEFAULT_MAX_ORPHAN_BYTES = 32 * 1024 * 1024

/** A block (valid on its own) whose parent is not stored yet. */
export interface Orphan {
  block: Block
  hash: Uint8Array
  leaves: Uint8Array[]
  opts: AddBlockOptions
  /** Encoded block size, counted against maxOrphanBytes. */
  bytes: number
}

/** What changed in the pool, for the metrics. */
export interface OrphanPoolEvents {
  added(): void
  evicted(n: number): void
  /** The pool's summed size and count after a change. */
  level(bytes: number, count: number): void
}

/**
 * Bounded pool of orphan blocks in memory (by count and by summed encoded size), oldest evicted first,
 * indexed by parent so a stored block unlocks its waiting children.
 */
export class OrphanPool {
  private readonly orphans = new Map<string, Orphan>()
  private readonly byParent = new Map<string, Set<string>>()
  private bytes_ = 0

  constructor(
    private readonly maxOrphans: number,
    private readonly maxOrphanBytes: number,
    private readonly events?: OrphanPoolEvents,
  ) {}

  has(hex: string): boolean {
    return this.orphans.has(hex)
  }

  get size(): number {
    return this.orphans.size
  }

  get bytes(): number {
    return this.bytes_
  }

  /** Keep an orphan; one larger than the whole byte budget is dropped. Evicts the oldest beyond the bounds. */
  add(o: Orphan): void {
    const hex = toHex(o.hash)
    const parentHex = toHex(o.block.header.prevHash)
    if (o.bytes > this.maxOrphanBytes) return
    this.orphans.set(hex, o)
    this.bytes_ += o.bytes
    this.events?.added()
    let set = this.byParent.get(parentHex)
    if (!set) {
      set = new Set()
      this.byParent.set(parentHex, set)
    }
    set.add(hex)
    let evicted = 0
    while (this.orphans.size > this.maxOrphans || this.bytes_ > this.maxOrphanBytes) {
      const [oldest, old] = this.orphans.entries().next().value as [string, Orphan]
      this.orphans.delete(oldest)
      this.bytes_ -= old.bytes
      evicted++
      const ph = toHex(old.block.header.prevHash)
      this.byParent.get(ph)?.delete(oldest)
      if (this.byParent.get(ph)?.size === 0) this.byParent.delete(ph)
    }
    if (evicted > 0) this.events?.evicted(evicted)
    this.events?.level(this.bytes_, this.orphans.size)
  }

  /** Remove and return the orphans waiting for `parentHex`, in arrival order. */
  takeChildren(parentHex: string): Orphan[] {
    const children = this.byParent.get(parentHex)
    if (!children) return []
    this.byParent.delete(parentHex)
    const out: Orphan[] = []
    for (const childHex of children) {
      const o = this.orphans.get(childHex)
      if (!o) continue
      this.orphans.delete(childHex)
      this.bytes_ -= o.bytes
      out.push(o)
    }
    if (out.length > 0) this.events?.level(this.bytes_, this.orphans.size)
    return out
  }
}
