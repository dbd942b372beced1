import { type Genesis, mayVote, deadProofMissing, type SignedBlockRef, type VoteDecision, type VoteView } from '@profichain/consensus'
import { fromHex, toHex } from '@profichain/core'
import type { BlockTree } from '@profichain/store'
import type { Logger } from 'pino'

export type VoteRuleStore = Pick<
  BlockTree,
  'guardVote' | 'ownVotesAbove' | 'votesAt' | 'getHeader' | 'getHashAtHeight' | 'finalHeight' | 'finalHash' | 'isEquivocator' | 'head'
>

/** Where this validator is locked (the lowest own vote on another branch not provably dead yet). */
export interface VoteLockState {
  height: number
  hash: string
  /** Signatures on other blocks at `height` still needed to prove it dead. */
  missing: number
}

/**
 * The quorum vote rule for this validator (docs/architecture.md, "Quorum safety"; the decision itself is
 * the pure `mayVote` of @profichain/consensus): before it seals or co-signs block B, (a) it signed no other
 * block at B's height and (b) every block it signed that conflicts with B is dead — it conflicts with the
 * final block, or more than n − k other validators signed another block at its height (valid signatures on
 * headers this node verified: recorded votes and stored header signatures). Check and vote guard run as one
 * step (`acquire`), so a seal and a co-signature can never pass the check side by side.
 *
 * State: this validator's own votes above the final height, loaded from the store's persisted record on
 * first use (safe across restarts) and pruned at finality; the blocks proven dead (dead stays dead); the
 * parents of blocks above the final height it walked (headers never change). All bounded by the blocks
 * above the final block.
 */
export class VoteRule {
  private own?: Map<number, string>
  private readonly dead = new Set<string>()
  private readonly parents = new Map<string, { parent: string; height: number }>()
  private readonly validators: Uint8Array[]
  private readonly n: number
  private readonly k: number
  private queue: Promise<unknown> = Promise.resolve()
  private prunedAt = -1
  /** Lock state of the latest decision at the head (undefined: not locked). */
  lock?: VoteLockState

  constructor(
    genesis: Genesis,
    private readonly store: VoteRuleStore,
    private readonly log?: Logger,
  ) {
    this.validators = genesis.validators.map((v) => fromHex(v))
    this.n = genesis.validators.length
    this.k = genesis.consensus.type === 'quorum' ? genesis.consensus.threshold : Number.POSITIVE_INFINITY
  }

  /** The block this validator signed at `height` above the final height, if any (hex). */
  async ownAt(height: number): Promise<string | undefined> {
    return this.serial(async () => (await this.load()).get(height))
  }

  /** Every block this validator signed above the final height (hex), lowest first. */
  async ownAbove(): Promise<Array<{ height: number; hash: string }>> {
    return this.serial(async () => [...(await this.load())].map(([height, hash]) => ({ height, hash })).sort((a, b) => a.height - b.height))
  }

  /** May this validator sign `target` (hash undefined: a block it is about to seal on `parent`)? */
  check(target: { height: number; hash?: Uint8Array }, parent: Uint8Array): Promise<VoteDecision> {
    return this.serial(() => this.decide(target, parent))
  }

  /**
   * Check, then take the vote guard (durable) for `hash` at `height`: ok means this validator may sign now
   * and the record is on disk. Answers 'voted' when the guard already holds another block.
   */
  acquire(target: { height: number; hash: Uint8Array }, parent: Uint8Array): Promise<VoteDecision> {
    return this.serial(async () => {
      const d = await this.decide(target, parent)
      if (!d.ok) return d
      const hex = toHex(target.hash)
      if (!(await this.store.guardVote(target.height, target.hash))) return { ok: false, reason: 'voted', height: target.height, hash: hex }
      ;(await this.load()).set(target.height, hex)
      return d
    })
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => undefined)
    return next
  }

  private async load(): Promise<Map<number, string>> {
    const finalHeight = this.store.finalHeight()
    if (!this.own) {
      this.own = new Map()
      for (const v of await this.store.ownVotesAbove(finalHeight)) this.own.set(v.height, toHex(v.hash))
      this.prunedAt = finalHeight
    }
    if (finalHeight > this.prunedAt) {
      // Below the final height every own vote is an ancestor of the final block or conflicts with it.
      for (const h of this.own.keys()) if (h <= finalHeight) this.own.delete(h)
      for (const [hash, p] of this.parents) if (p.height <= finalHeight) this.parents.delete(hash)
      for (const hash of this.dead) if (!this.parents.has(hash)) this.dead.delete(hash)
      this.prunedAt = finalHeight
    }
    return this.own
  }

  /** Parent (hex) of a stored block, cached above the final height. */
  private async parentOf(hash: string): Promise<{ parent: string; height: number } | undefined> {
    const hit = this.parents.get(hash)
    if (hit) return hit
    const header = await this.store.getHeader(fromHex(hash))
    if (!header) return undefined
    const p = { parent: toHex(header.prevHash), height: header.height }
    if (header.height > this.store.finalHeight()) this.parents.set(hash, p)
    return p
  }

  /** The ancestors of `hash` (at `height`) down to `low`, by height (headers only: never a moving index). */
  private async ancestry(hash: string, height: number, low: number): Promise<Map<number, string>> {
    const out = new Map<number, string>([[height, hash]])
    let h = hash
    for (let ht = height; ht > low; ht--) {
      const p = await this.parentOf(h)
      if (!p) break
      h = p.parent
      out.set(ht - 1, h)
    }
    return out
  }

  /**
   * The ancestor at `low` of `hash` (at `height`); `memo` (block → its ancestor at `low`) is shared by the
   * walks of one decision, so own votes along one branch cost one walk, not one each.
   */
  private async ancestorAt(hash: string, height: number, low: number, memo: Map<string, string | undefined>): Promise<string | undefined> {
    const path: string[] = []
    let h: string | undefined = hash
    let found: string | undefined
    for (let ht = height; ; ht--) {
      if (h === undefined || ht < low) break
      if (ht === low) {
        found = h
        break
      }
      if (memo.has(h)) {
        found = memo.get(h)
        break
      }
      path.push(h)
      h = (await this.parentOf(h))?.parent
    }
    for (const p of path) memo.set(p, found)
    return found
  }

  /** signer (hex) → block (hex) at `height`: recorded votes and the signatures on the headers they name and the canonical one. */
  private async signersAt(height: number): Promise<Map<string, string>> {
    const blocks = new Set<string>()
    const out = new Map<string, string>()
    const twice = new Set<string>()
    const note = (signer: string, block: string) => {
      const prior = out.get(signer)
      if (prior !== undefined && prior !== block) twice.add(signer)
      out.set(signer, block)
    }
    for (const v of await this.store.votesAt(height, this.validators)) {
      if (v.height !== height) continue
      const b = toHex(v.blockHash)
      note(toHex(v.signer), b)
      blocks.add(b)
    }
    const canonical = await this.store.getHashAtHeight(height)
    if (canonical) blocks.add(toHex(canonical))
    for (const b of blocks) {
      const header = await this.store.getHeader(fromHex(b))
      if (!header || header.height !== height) continue
      for (const s of header.signatures) note(toHex(s.signer), b)
    }
    for (const s of [...out.keys()]) if (twice.has(s) || this.store.isEquivocator(s)) out.delete(s)
    return out
  }

  private async decide(target: { height: number; hash?: Uint8Array }, parent: Uint8Array): Promise<VoteDecision> {
    const own = await this.load()
    const final: SignedBlockRef = { height: this.store.finalHeight(), hash: toHex(this.store.finalHash()) }
    const mine = [...own].filter(([h, x]) => h > final.height && !this.dead.has(x)).map(([height, hash]) => ({ height, hash }))
    const targetHash = target.hash && toHex(target.hash)
    // Everything mayVote asks, loaded first (it is synchronous). The target's ancestry down to the final height
    // covers every own vote it may hold: `mine` is above the final height.
    const up = await this.ancestry(toHex(parent), target.height - 1, final.height)
    if (targetHash !== undefined) up.set(target.height, targetHash)
    const atFinal = new Map<string, string | undefined>()
    const atTarget = new Map<string, string | undefined>()
    const xFinal = new Map<string, string | undefined>()
    const xTarget = new Map<string, string | undefined>()
    const signers = new Map<number, Map<string, string>>()
    for (const x of mine) {
      // An ancestor of the target (the usual case: own votes along the chain) needs nothing else.
      if (x.height < target.height && up.get(x.height) === x.hash) continue
      if (x.height === target.height) continue
      const af = await this.ancestorAt(x.hash, x.height, final.height, atFinal)
      xFinal.set(x.hash, af)
      if (x.height > target.height) {
        const at = await this.ancestorAt(x.hash, x.height, target.height, atTarget)
        xTarget.set(x.hash, at)
        if (targetHash !== undefined && at === targetHash) continue
      }
      const conflictsFinal = af !== undefined && af !== final.hash
      if (!conflictsFinal && !signers.has(x.height)) signers.set(x.height, await this.signersAt(x.height))
    }
    const view: VoteView = {
      validators: this.n,
      threshold: this.k,
      target: { height: target.height, hash: targetHash },
      targetAncestor: (h) => up.get(h),
      final,
      own: mine,
      ancestorOf: (x, h) => (h === final.height ? xFinal.get(x.hash) : h === target.height ? xTarget.get(x.hash) : undefined),
      signersAt: (h) => signers.get(h) ?? new Map(),
    }
    const d = mayVote(view)
    for (const x of mine) if (signers.has(x.height) && deadProofMissing(view, x) === 0) this.dead.add(x.hash)
    // The lock state (gauges, log line) follows decisions at the head: a late vote lower down says nothing of it.
    if (target.height >= this.store.head().height) this.noteLock(d)
    return d
  }

  private noteLock(d: VoteDecision): void {
    const next = !d.ok && d.reason === 'locked' ? { height: d.height, hash: d.hash, missing: d.missing } : undefined
    const prev = this.lock
    if (prev?.height === next?.height && prev?.hash === next?.hash && prev?.missing === next?.missing) return
    this.lock = next
    if (next)
      this.log?.info(
        { height: next.height, blockHash: next.hash, missing: next.missing },
        'quorum vote rule: locked — this validator signed this block on another branch; it signs no block without it until that many more signatures on other blocks at its height prove it dead',
      )
    else if (prev) this.log?.info({ height: prev.height, blockHash: prev.hash }, 'quorum vote rule: unlocked')
  }
}
