import { mayVote, type VoteDecision } from '../src/index.js'

/**
 * A small simulator of quorum voting (no crypto, no time): validators with their own views of a block tree,
 * messages delivered in any order, partitions, validators going offline. Validators sign by `mayVote` (or,
 * for the counter-example, by the old timed lock) and choose their head by fork choice (the highest block
 * with a known quorum wins, then the longest branch above it, then the lowest hash). The global record of
 * who signed what is the ground truth for the safety check.
 */
export interface SimBlock {
  id: string
  parent: string
  height: number
  /** Tie-break for fork choice (stands for the block hash). */
  tie: number
}

interface Msg {
  to: number
  block: SimBlock
  /** A vote (signer) or a block with the signatures its sender knew. */
  signer?: number
  sigs?: number[]
}

export type Policy = { kind: 'rule' } | { kind: 'timed'; lockSteps: number }

class View {
  readonly known = new Map<string, SimBlock>()
  readonly sigs = new Map<string, Set<number>>()
  readonly waitingBlocks: Msg[] = []
  readonly waitingVotes: Msg[] = []
  /** height → block this validator signed; step it signed at (timed lock). */
  readonly own = new Map<number, { id: string; step: number }>()
  online = true
  group = 0
  constructor(
    readonly v: number,
    genesis: SimBlock,
  ) {
    this.known.set(genesis.id, genesis)
    this.sigs.set(genesis.id, new Set())
  }
}

export class Sim {
  readonly blocks = new Map<string, SimBlock>()
  readonly sigs = new Map<string, Set<number>>()
  readonly views: View[]
  readonly msgs: Msg[] = []
  /** Blocks that reached k signatures (global truth), in order. */
  readonly quorum: string[] = []
  /** A pair of conflicting blocks that both reached k signatures (safety broken), if any. */
  violation?: [string, string]
  step = 0
  private next = 1

  constructor(
    readonly n: number,
    readonly k: number,
    readonly policy: Policy,
    readonly rnd: () => number,
  ) {
    const g: SimBlock = { id: 'g', parent: '', height: 0, tie: 0 }
    this.blocks.set('g', g)
    this.sigs.set('g', new Set())
    this.views = Array.from({ length: n }, (_, v) => new View(v, g))
  }

  ancestor(id: string, height: number): string | undefined {
    let b = this.blocks.get(id)
    while (b && b.height > height) b = this.blocks.get(b.parent)
    return b && b.height === height ? b.id : undefined
  }

  conflict(a: string, b: string): boolean {
    const x = this.blocks.get(a) as SimBlock
    const y = this.blocks.get(b) as SimBlock
    return x.height <= y.height ? this.ancestor(b, x.height) !== a : this.ancestor(a, y.height) !== b
  }

  /** The validator's final block: the highest known block with k known signatures (genesis at least). */
  final(v: number): SimBlock {
    const view = this.views[v]
    let best = this.blocks.get('g') as SimBlock
    for (const b of view.known.values()) {
      if ((view.sigs.get(b.id)?.size ?? 0) < this.k) continue
      if (b.height > best.height || (b.height === best.height && b.tie < best.tie)) best = b
    }
    return best
  }

  /** Fork choice as the store's: the highest known block descending from the final block, then more known signatures, then the lowest tie. */
  head(v: number): SimBlock {
    const f = this.final(v)
    const view = this.views[v]
    const sigs = (b: SimBlock) => view.sigs.get(b.id)?.size ?? 0
    let best = f
    for (const b of view.known.values()) {
      if (b.height <= f.height || this.ancestor(b.id, f.height) !== f.id) continue
      if (b.height !== best.height) {
        if (b.height > best.height) best = b
      } else if (!this.lowestHashOnly && sigs(b) !== sigs(best)) {
        if (sigs(b) > sigs(best)) best = b
      } else if (b.tie < best.tie) best = b
    }
    return best
  }

  /** The fork choice before session 8: equal height → lowest hash, whatever the signatures. */
  lowestHashOnly = false

  /** Validator v's decision on signing `target` (a block, or a new child of `parent`). */
  decide(v: number, target: { height: number; id?: string }, parent: string): VoteDecision {
    const view = this.views[v]
    const f = this.final(v)
    if (this.policy.kind === 'timed') {
      // The old behaviour: one block per height, and for lockSteps after a vote no vote on a branch without it.
      const mine = view.own.get(target.height)
      if (mine && mine.id !== target.id) return { ok: false, reason: 'voted', height: target.height, hash: mine.id }
      if (this.ancestor(parent, f.height) !== f.id) return { ok: false, reason: 'not-final-branch' }
      for (const [h, o] of view.own) {
        if (h >= target.height || this.step - o.step >= this.policy.lockSteps) continue
        if (this.ancestor(parent, h) !== o.id) return { ok: false, reason: 'locked', height: h, hash: o.id, missing: 1 }
      }
      return { ok: true }
    }
    return mayVote({
      validators: this.n,
      threshold: this.k,
      target: { height: target.height, hash: target.id },
      // Ancestors of the target: through its parent (it is the parent itself at parent height).
      targetAncestor: (h) => this.ancestor(parent, h),
      final: { height: f.height, hash: f.id },
      own: [...view.own].filter(([h]) => h > f.height).map(([height, o]) => ({ height, hash: o.id })),
      ancestorOf: (x, h) => this.ancestor(x.hash, h),
      signersAt: (h) => {
        const out = new Map<string, string>()
        const twice = new Set<string>()
        for (const b of view.known.values()) {
          if (b.height !== h) continue
          for (const s of view.sigs.get(b.id) ?? []) {
            const key = String(s)
            if (out.has(key)) twice.add(key)
            out.set(key, b.id)
          }
        }
        for (const s of twice) out.delete(s)
        return out
      },
    })
  }

  private sign(v: number, id: string): void {
    const b = this.blocks.get(id) as SimBlock
    this.views[v].own.set(b.height, { id, step: this.step })
    this.addSig(this.views[v], id, v)
    const all = this.sigs.get(id) as Set<number>
    all.add(v)
    if (all.size === this.k) {
      for (const q of this.quorum) if (this.conflict(q, id)) this.violation ??= [q, id]
      this.quorum.push(id)
    }
  }

  private broadcast(from: number, m: Omit<Msg, 'to'>): void {
    for (let to = 0; to < this.n; to++) if (to !== from) this.msgs.push({ ...m, to })
  }

  /** Validator v seals a new block on `parentId` (default: its head) if the policy lets it. */
  produce(v: number, parentId?: string): string | undefined {
    const view = this.views[v]
    const parent = view.known.get(parentId ?? this.head(v).id)
    if (!view.online || !parent) return undefined
    const height = parent.height + 1
    if (!this.decide(v, { height }, parent.id).ok) return undefined
    const b: SimBlock = { id: `b${this.next++}`, parent: parent.id, height, tie: this.rnd() }
    this.blocks.set(b.id, b)
    this.sigs.set(b.id, new Set())
    view.known.set(b.id, b)
    this.sign(v, b.id)
    this.broadcast(v, { block: b, sigs: [v] })
    return b.id
  }

  /** Validator v co-signs the blocks of its canonical chain above its final block where it has no vote (late votes included). */
  cosign(v: number): void {
    const view = this.views[v]
    if (!view.online) return
    const f = this.final(v)
    const chain: SimBlock[] = []
    for (let b = this.head(v); b.height > f.height; b = view.known.get(b.parent) as SimBlock) chain.unshift(b)
    for (const b of chain) {
      if (view.own.get(b.height)?.id === b.id) continue
      if (!this.decide(v, { height: b.height, id: b.id }, b.parent).ok) continue
      this.sign(v, b.id)
      this.broadcast(v, { block: b, signer: v })
    }
  }

  private addSig(view: View, id: string, s: number): void {
    const set = view.sigs.get(id) ?? new Set<number>()
    set.add(s)
    view.sigs.set(id, set)
  }

  /** Deliver message i (if its link is up and the receiver online); true when delivered. */
  deliver(i: number): boolean {
    const m = this.msgs[i]
    const to = this.views[m.to]
    if (!to.online) return false
    if (this.cut(m)) return false
    this.msgs.splice(i, 1)
    this.receive(to, m)
    return true
  }

  private cut(m: Msg): boolean {
    // The sender of a block message is whoever signed first; a vote's is its signer.
    const from = m.signer ?? (m.sigs?.[0] as number)
    return this.views[from].group !== this.views[m.to].group
  }

  private receive(view: View, m: Msg): void {
    const b = m.block
    if (!view.known.has(b.id)) {
      if (!view.known.has(b.parent)) {
        // Votes for a block of unknown height wait; a block waits for its parent.
        ;(m.signer === undefined ? view.waitingBlocks : view.waitingVotes).push(m)
        return
      }
      if (m.signer !== undefined) {
        view.waitingVotes.push(m)
        return
      }
      view.known.set(b.id, b)
    }
    if (m.signer !== undefined) this.addSig(view, b.id, m.signer)
    for (const s of m.sigs ?? []) this.addSig(view, b.id, s)
    // Anything that was waiting for this block.
    const ready: Msg[] = []
    for (const list of [view.waitingBlocks, view.waitingVotes]) {
      for (let i = list.length - 1; i >= 0; i--) {
        const w = list[i]
        if (w.block.parent === b.id || w.block.id === b.id) ready.push(...list.splice(i, 1))
      }
    }
    for (const w of ready) this.receive(view, w)
  }

  /** Deliver the messages that match (a scripted schedule). */
  deliverWhere(pred: (m: { to: number; block: string; vote: boolean }) => boolean): void {
    for (let i = this.msgs.length - 1; i >= 0; i--) {
      const m = this.msgs[i]
      if (pred({ to: m.to, block: m.block.id, vote: m.signer !== undefined })) this.deliver(i)
    }
  }

  /** Deliver every deliverable message (bounded). */
  flush(limit = 100_000): void {
    for (let n = 0; n < limit; n++) {
      const i = this.msgs.findIndex((m) => this.views[m.to].online && !this.cut(m))
      if (i < 0) return
      this.deliver(i)
    }
  }

  partition(groups: number[]): void {
    groups.forEach((g, v) => {
      this.views[v].group = g
    })
  }

  /** Highest height of a block with k signatures (global truth). */
  finalHeight(): number {
    let h = 0
    for (const id of this.quorum) h = Math.max(h, (this.blocks.get(id) as SimBlock).height)
    return h
  }

  /** One random step (the property test's scheduler). */
  randomStep(): void {
    this.step++
    const r = this.rnd()
    const v = Math.floor(this.rnd() * this.n)
    if (r < 0.5) {
      if (this.msgs.length > 0) this.deliver(Math.floor(this.rnd() * this.msgs.length))
    } else if (r < 0.72) this.cosign(v)
    else if (r < 0.9) {
      // Usually on the head; sometimes on a random known block (forks of every shape).
      const known = [...this.views[v].known.keys()]
      this.produce(v, this.rnd() < 0.75 ? undefined : known[Math.floor(this.rnd() * known.length)])
    } else if (r < 0.96) this.partition(this.views.map(() => Math.floor(this.rnd() * (1 + Math.floor(this.rnd() * 3)))))
    else this.views[v].online = !this.views[v].online
  }
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
