import { EventEmitter } from 'node:events'
import type { Genesis } from '@profichain/consensus'
import {
  type Block,
  type BlockHeader,
  blockHash,
  encodeVote,
  equalBytes,
  fromHex,
  type KeyPair,
  toHex,
  verifyVote,
  type Vote,
  voteForHeader,
} from '@profichain/core'
import type { Verdict } from '@profichain/network'
import type { AddBlockResult, BlockTree, VoteEvidence } from '@profichain/store'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Startable } from '../types.js'
import type { VoteRule } from './vote-rule.js'

/**
 * Votes (quorum consensus, DESIGN §5): this node co-signs each new canonical block it validated, if it is a
 * validator, and collects the co-signatures of the others.
 * - own vote: the store's vote guard (height → block, fsynced) BEFORE the signature leaves the node, so it
 *   never co-signs two blocks at one height, across restarts; then the signature goes on the stored header
 *   and out on the vote topic;
 * - received votes (already checked by the network: network, validator, signature): the block's height must
 *   match the vote's; the store records the vote (two votes by one validator at one height: evidence, that
 *   validator ignored from then on) and adds the signature to the stored header; a vote for a block not
 *   stored yet waits in a pending pool bounded by count and bytes until the block arrives;
 * - the quorum vote rule (`VoteRule`, shared with the producer): no vote on a branch without one of this
 *   validator's earlier votes until that vote is provably dead; late votes: after each new block or vote,
 *   canonical blocks above the final height where it has not voted yet are co-signed when the rule allows
 *   (finality, and the dead-proofs validators of the other branch are waiting for).
 */
export interface VotesEvents {
  /** This node co-signed a block and published its vote. */
  vote: [Vote]
  /** A block became the latest final block. */
  final: [{ height: number; hash: Uint8Array }]
  /** A validator co-signed two blocks at one height (both votes kept in the store). */
  equivocation: [VoteEvidence]
}

export type VotesStore = Pick<
  BlockTree,
  | 'guardVote'
  | 'recordVote'
  | 'addSignatures'
  | 'isEquivocator'
  | 'finalHeight'
  | 'finalHash'
  | 'getBlockMeta'
  | 'adoptQuorum'
  | 'getHashAtHeight'
  | 'getHeader'
  | 'getBlock'
  | 'head'
>

export interface VotesInit {
  genesis: Genesis
  /** Votes for unknown blocks kept at most (oldest dropped first). Default 4096. */
  maxPending?: number
  /** Encoded bytes of pending votes kept at most. Default 1 MiB. */
  maxPendingBytes?: number
}

export interface VotesComponents {
  store: VotesStore
  /** This node's key; it votes only if the consensus is quorum and the key is a genesis validator. */
  key: KeyPair
  /** Publish a vote on the vote topic (the gossip subsystem); absent on nodes without network. */
  publish?: (vote: Vote) => void
  /**
   * A side-branch block reached the quorum and the store made it the head (`adoptQuorum`): the chain service
   * takes the result like a produced block's (events, reorg recovery, receipts).
   */
  applied?: (result: AddBlockResult) => void
  /** The quorum vote rule (shared with the producer's `guardSealing`); absent: the vote guard alone. */
  rule?: VoteRule
  /**
   * Gossip a stored block again (the gossip subsystem). While finality stalls, a validator re-publishes the
   * blocks it signed above the final height that are off its canonical chain: their signatures are the
   * dead-proofs others may lack (a block sealed before any peer was connected is never gossiped, and sync
   * fetches canonical blocks only).
   */
  republish?: (block: Block) => void
  logger: Logger
  registry?: Registry
}

export interface VotesService extends Startable, EventEmitter<VotesEvents> {
  /** Whether this node co-signs blocks. */
  readonly voting: boolean
  /** A block became canonical (chain `block` event): co-sign it (validators), apply votes waiting for it. */
  onBlock(block: Block): Promise<void>
  /**
   * Blocks stored on any branch (chain `stored` event): their header signatures (the producer's seal
   * included) are recorded as votes — the dead-proofs of the quorum vote rule come from off-chain blocks too.
   */
  onStored(hashes: Uint8Array[]): Promise<void>
  /** A vote from the network (the gossip topic validator's callback). */
  onVote(vote: Vote, from?: string): Promise<Verdict>
  /** The co-signatures on headers a peer served (sync), each taken like a gossiped vote. */
  fromHeaders(headers: BlockHeader[], from: string): Promise<void>
  /** Votes waiting for their block. */
  pending(): { votes: number; bytes: number }
  /** Resolves when everything queued so far is done. */
  idle(): Promise<void>
}

/** Late votes look at most this many heights above the final block per pass. */
const CATCH_UP_HEIGHTS = 64
/** Own off-chain blocks gossiped again per tick at most. */
const REPUBLISH_MAX = 16

interface Pending {
  vote: Vote
  bytes: number
}

class Votes extends EventEmitter<VotesEvents> implements VotesService {
  readonly voting: boolean
  private readonly validators: Set<string>
  private readonly threshold: number
  private readonly network: string
  private readonly log: Logger
  private readonly maxPending: number
  private readonly maxPendingBytes: number
  /** blockHash hex → votes waiting for that block (insertion order = age). */
  private readonly waiting = new Map<string, Pending[]>()
  private pendingVotes = 0
  private pendingBytes = 0
  private queue: Promise<unknown> = Promise.resolve()
  private lastFinal: number
  private stopped = false
  private catchUpQueued = false
  private timer?: NodeJS.Timeout
  private finalAtTick = -1
  private readonly tickMs: number
  private readonly metrics?: {
    sent: Counter
    received: Counter
    rejected: Counter
    equivocations: Counter
    refused: Counter
    dropped: Counter
    adopted: Counter
    locked: Counter
  }

  constructor(
    init: VotesInit,
    private readonly components: VotesComponents,
  ) {
    super()
    const g = init.genesis
    this.log = components.logger
    this.validators = new Set(g.validators.map((v) => v.toLowerCase()))
    this.voting = g.consensus.type === 'quorum' && this.validators.has(toHex(components.key.publicKey))
    this.threshold = g.consensus.type === 'quorum' ? g.consensus.threshold : Number.POSITIVE_INFINITY
    this.network = g.network
    this.maxPending = init.maxPending ?? 4096
    this.maxPendingBytes = init.maxPendingBytes ?? 1024 * 1024
    this.lastFinal = components.store.finalHeight()
    this.tickMs = Math.max(1000, 2 * g.blockTimeMs)
    const registry = components.registry
    if (registry) {
      const registers = [registry]
      const c = (name: string, help: string) => new Counter({ name: `profichain_votes_${name}_total`, help, registers })
      this.metrics = {
        sent: c('sent', 'Votes (co-signatures) this node signed and published'),
        received: c('received', 'Valid votes received from peers and recorded'),
        rejected: c('rejected', 'Votes refused: forged, not by a validator, or for a block of another height'),
        equivocations: c('equivocations', 'Validators caught co-signing two blocks at one height (evidence kept)'),
        refused: c('guard_refused', 'Own votes not sent: this node already co-signed another block at that height'),
        dropped: c('pending_dropped', 'Votes for unknown blocks dropped from the full pending pool'),
        adopted: c('quorum_adopted', 'Side-branch blocks made the head on their signatures: the quorum, or more than the head at equal height (a stall avoided)'),
        locked: c('locked', 'Own votes and seals refused by the quorum vote rule: an earlier vote of this validator is on another branch and not provably dead'),
      }
      const rule = components.rule
      new Gauge({
        name: 'profichain_votes_lock_height',
        help: 'Height of the own vote this validator is locked on (quorum vote rule; 0: not locked)',
        registers,
        collect() {
          this.set(rule?.lock?.height ?? 0)
        },
      })
      new Gauge({
        name: 'profichain_votes_lock_missing',
        help: 'Signatures on other blocks at the locked height still needed to prove that vote dead (0: not locked)',
        registers,
        collect() {
          this.set(rule?.lock?.missing ?? 0)
        },
      })
      const pendingCount = () => this.pendingVotes
      new Gauge({
        name: 'profichain_votes_pending',
        help: 'Votes waiting for their block',
        registers,
        collect() {
          this.set(pendingCount())
        },
      })
    }
  }

  start(): void {
    if (!this.voting || !this.components.rule) return
    // A bounded re-check: late votes (a locked validator re-checks without new blocks or votes) and, while
    // finality stalls, own off-chain blocks gossiped again.
    this.timer = setInterval(() => this.tick(), this.tickMs)
    this.timer.unref()
  }

  private tick(): void {
    const { store, rule, republish } = this.components
    const final = store.finalHeight()
    const stalled = final === this.finalAtTick && store.head().height > final
    this.finalAtTick = final
    this.scheduleCatchUp()
    if (!stalled || !rule || !republish) return
    void this.serial(async () => {
      if (this.stopped) return
      let sent = 0
      for (const x of await rule.ownAbove()) {
        if (sent >= REPUBLISH_MAX) break
        const canonical = await store.getHashAtHeight(x.height)
        if (canonical && toHex(canonical) === x.hash) continue
        const block = await store.getBlock(fromHex(x.hash))
        if (!block) continue
        republish(block)
        sent++
      }
      if (sent > 0) this.log.debug({ blocks: sent, finalHeight: final }, 'finality stalled: own off-chain blocks gossiped again (dead-proofs for locked validators)')
    }).catch((err) => this.log.error({ err }, 're-publishing own blocks failed'))
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.stopped = true
    await this.idle()
  }

  idle(): Promise<void> {
    return this.queue.then(() => undefined)
  }

  pending(): { votes: number; bytes: number } {
    return { votes: this.pendingVotes, bytes: this.pendingBytes }
  }

  /** Run jobs one at a time (own votes and received votes touch the same store records). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => undefined)
    return next
  }

  onBlock(block: Block): Promise<void> {
    return this.serial(async () => {
      if (this.stopped) return
      const hash = blockHash(block.header)
      try {
        if (this.voting && block.header.height > this.components.store.finalHeight()) await this.castVote(block.header, hash, true)
        await this.applyPending(hash, block.header.height)
        await this.retryPending(block.header.height)
      } catch (err) {
        this.log.error({ err, height: block.header.height, blockHash: toHex(hash) }, 'voting on a block failed')
      }
      this.checkFinal()
      this.scheduleCatchUp()
    })
  }

  /**
   * Late votes: co-sign the canonical blocks above the final height where this validator has no vote yet,
   * when the rule allows (a block it could not sign when it came — locked, or missed while offline). Runs
   * after new blocks and votes (coalesced), at most `CATCH_UP_HEIGHTS` heights above the final block.
   */
  private scheduleCatchUp(): void {
    const rule = this.components.rule
    if (!this.voting || !rule || this.catchUpQueued || this.stopped) return
    this.catchUpQueued = true
    void this.serial(async () => {
      this.catchUpQueued = false
      if (this.stopped) return
      const { store } = this.components
      const from = store.finalHeight() + 1
      try {
        for (let h = from; h < from + CATCH_UP_HEIGHTS; h++) {
          const hash = await store.getHashAtHeight(h)
          if (!hash) break
          if ((await rule.ownAt(h)) !== undefined) continue
          const header = await store.getHeader(hash)
          if (!header) continue
          await this.castVote(header, hash, false)
        }
      } catch (err) {
        this.log.error({ err }, 'late votes failed')
      }
      this.checkFinal()
    })
  }


  onStored(hashes: Uint8Array[]): Promise<void> {
    if (!this.voting) return Promise.resolve()
    return this.serial(async () => {
      if (this.stopped) return
      try {
        for (const hash of hashes) {
          const h = await this.components.store.getHeader(hash)
          if (!h) continue
          for (const s of h.signatures) {
            if (this.components.store.isEquivocator(s.signer)) continue
            // Stored header signatures were verified with the block; recordVote keeps the first per validator and height.
            await this.apply({ network: h.network, height: h.height, blockHash: hash, signer: s.signer, signature: s.signature }, h.height)
          }
        }
      } catch (err) {
        this.log.error({ err }, 'recording the signatures of stored blocks failed')
      }
      this.checkFinal()
      this.scheduleCatchUp()
    })
  }

  onVote(vote: Vote, from?: string): Promise<Verdict> {
    return this.serial(async () => {
      const signer = toHex(vote.signer)
      if (!this.validators.has(signer) || !verifyVote(vote)) {
        this.metrics?.rejected.inc()
        this.log.warn({ from, signer, height: vote.height }, 'rejected a forged or non-validator vote')
        return 'reject'
      }
      if (this.components.store.isEquivocator(signer)) return 'ignore'
      const meta = await this.components.store.getBlockMeta(vote.blockHash)
      if (!meta) {
        this.addPending(vote)
        return 'accept'
      }
      const verdict = await this.apply(vote, meta.height, from)
      this.checkFinal()
      if (verdict === 'accept') this.scheduleCatchUp()
      return verdict
    })
  }

  async fromHeaders(headers: BlockHeader[], from: string): Promise<void> {
    for (const h of headers) {
      if (h.network !== this.network) continue
      const hash = blockHash(h)
      for (const s of h.signatures) {
        // A header signature is a signature over the block hash, like a vote's.
        await this.onVote({ network: h.network, height: h.height, blockHash: hash, signer: s.signer, signature: s.signature }, from)
      }
    }
  }

  /**
   * The vote rule and the guard first (durable), then sign, store the signature, publish. `fresh`: the block
   * just became canonical (a refusal is counted); false for late votes (retried quietly).
   */
  private async castVote(header: BlockHeader, hash: Uint8Array, fresh: boolean): Promise<void> {
    const { store, key, publish, rule } = this.components
    const height = header.height
    if (rule) {
      const d = await rule.acquire({ height, hash }, header.prevHash)
      if (!d.ok) {
        if (!fresh) return
        if (d.reason === 'locked') {
          this.metrics?.locked.inc()
          this.log.debug({ height, blockHash: toHex(hash), lockedHeight: d.height, missing: d.missing }, 'not co-signing: an earlier vote of this node is on another branch (quorum vote rule)')
        } else if (d.reason === 'voted') {
          this.metrics?.refused.inc()
          this.log.warn({ height, blockHash: toHex(hash) }, 'not co-signing: this node already co-signed another block at this height')
        }
        return
      }
    } else if (!(await store.guardVote(height, hash))) {
      this.metrics?.refused.inc()
      this.log.warn({ height, blockHash: toHex(hash) }, 'not co-signing: this node already co-signed another block at this height')
      return
    }
    const vote = voteForHeader(header, key)
    await store.recordVote(vote)
    await store.addSignatures(hash, [{ signer: vote.signer, signature: vote.signature }])
    // The producer's own signature is already in the block every peer has: no vote needed.
    if (!equalBytes(header.producer, key.publicKey)) publish?.(vote)
    this.metrics?.sent.inc()
    this.emit('vote', vote)
  }

  /** A vote whose block is stored at `height`. */
  private async apply(vote: Vote, height: number, from?: string): Promise<Verdict> {
    const { store } = this.components
    const signer = toHex(vote.signer)
    if (height !== vote.height) {
      // The signature covers the block hash only: a relabelled height could fake an equivocation.
      this.metrics?.rejected.inc()
      this.log.warn({ from, signer, height: vote.height, blockHeight: height }, 'rejected a vote whose height is not its block\'s')
      return 'reject'
    }
    const rec = await store.recordVote(vote)
    switch (rec.status) {
      case 'ignored':
      case 'duplicate':
        return 'ignore'
      case 'equivocation': {
        this.metrics?.equivocations.inc()
        const [a, b] = rec.evidence.votes
        this.log.error(
          { audit: 'equivocation', signer, height: vote.height, blockHashes: [toHex(a.blockHash), toHex(b.blockHash)], from },
          'EQUIVOCATION: a validator co-signed two blocks at one height; both votes kept as evidence, its votes are ignored from now on',
        )
        this.emit('equivocation', rec.evidence)
        // Relay it: every node should see the evidence.
        return 'accept'
      }
      case 'new': {
        this.metrics?.received.inc()
        const r = await store.addSignatures(vote.blockHash, [{ signer: vote.signer, signature: vote.signature }])
        // The quorum on a block that is not canonical (it lost fork choice before its votes came): adopt it,
        // or the network can stall for good (its signers may never co-sign another block at its height).
        // Likewise a side block that now has more signatures than the head at its height (fork choice).
        if (r && !r.becameFinal && height > r.finalHeight && (r.signatures >= this.threshold || (r.added > 0 && height === store.head().height)))
          await this.adopt(vote.blockHash)
        return 'accept'
      }
    }
  }

  private async adopt(hash: Uint8Array): Promise<void> {
    const result = await this.components.store.adoptQuorum(hash)
    if (!result) return
    this.metrics?.adopted.inc()
    this.log.warn(
      { height: result.head.height, blockHash: toHex(hash), depth: result.reorg?.depth ?? 0 },
      'a block off the canonical chain won on its signatures (the quorum, or more than the head at its height): its branch is canonical now',
    )
    this.components.applied?.(result)
  }

  private addPending(vote: Vote): void {
    const hex = toHex(vote.blockHash)
    const list = this.waiting.get(hex) ?? []
    if (list.some((p) => equalBytes(p.vote.signer, vote.signer))) return
    const bytes = encodeVote(vote).byteLength
    list.push({ vote, bytes })
    this.waiting.set(hex, list)
    this.pendingVotes++
    this.pendingBytes += bytes
    // Over a bound: drop the votes of the oldest waiting block first.
    while (this.pendingVotes > this.maxPending || this.pendingBytes > this.maxPendingBytes) {
      const [oldest, votes] = this.waiting.entries().next().value as [string, Pending[]]
      const drop = votes.shift() as Pending
      this.pendingVotes--
      this.pendingBytes -= drop.bytes
      this.metrics?.dropped.inc()
      if (votes.length === 0) this.waiting.delete(oldest)
    }
  }

  private async applyPending(hash: Uint8Array, height: number): Promise<void> {
    const hex = toHex(hash)
    const list = this.waiting.get(hex)
    if (!list) return
    this.waiting.delete(hex)
    for (const p of list) {
      this.pendingVotes--
      this.pendingBytes -= p.bytes
      if (this.components.store.isEquivocator(p.vote.signer)) continue
      await this.apply(p.vote, height)
    }
  }

  /**
   * Votes for blocks that were stored without becoming canonical (a side branch: e.g. the second block of an
   * equivocating validator) never see a `block` event: look them up again once the chain has passed their
   * height. The pool is small (votes usually arrive after their block) and bounded.
   */
  private async retryPending(height: number): Promise<void> {
    for (const [hex, list] of [...this.waiting.entries()]) {
      if (list[0].vote.height > height) continue
      const meta = await this.components.store.getBlockMeta(list[0].vote.blockHash)
      if (meta) await this.applyPending(list[0].vote.blockHash, meta.height)
      else if (list[0].vote.height + 64 < height) this.dropPending(hex)
    }
  }

  private dropPending(hex: string): void {
    for (const p of this.waiting.get(hex) ?? []) {
      this.pendingVotes--
      this.pendingBytes -= p.bytes
      this.metrics?.dropped.inc()
    }
    this.waiting.delete(hex)
  }

  private checkFinal(): void {
    const { store } = this.components
    const h = store.finalHeight()
    if (h <= this.lastFinal) return
    this.lastFinal = h
    this.emit('final', { height: h, hash: store.finalHash() })
  }
}

/** Create the votes subsystem (quorum co-signatures, equivocation evidence, finality events). */
export function createVotes(init: VotesInit, components: VotesComponents): VotesService {
  return new Votes(init, components)
}
