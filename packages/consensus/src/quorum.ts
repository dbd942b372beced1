import {
  type BlockHeader,
  equalBytes,
  type KeyPair,
  signHeader,
  toHex,
  verifyHeaderSignature,
} from '@profichain/core'
import { AuthorityConsensus } from './authority.js'
import { checkProducerSignature, reject } from './common.js'
import { ConsensusError } from './errors.js'
import type { Genesis } from './types.js'

/**
 * Quorum: how long after its parent a block is exempt from the signer limit (20 block times). A validator
 * never co-signs two blocks at one height and its seal is its vote, so after a partition every validator the
 * signer limit allows on the head may have co-signed a block at the next height on the other side: nobody
 * could ever extend the head (and it may be final: it cannot be abandoned either). Past this delay any
 * validator that has not co-signed that height may seal it. Safety is unchanged: finality still needs the
 * threshold of signatures, and a late block from a single validator is never final by itself.
 */
export function signerLimitLiftMs(genesis: Pick<Genesis, 'blockTimeMs'>): number {
  return 20 * genesis.blockTimeMs
}

/**
 * Quorum consensus: blocks are produced exactly as under `authority` (in turn, back-off, signer limit), and
 * validators add their signatures afterwards (`cosign`). A header with `threshold` (> n/2) distinct valid
 * validator signatures is final.
 *
 * Finality only holds if the store refuses every reorg that would drop a final block: the store must never
 * switch to a branch that does not contain the latest final block, whatever its work (the store's BlockTree
 * does this with `isFinal`). And a validator must never cosign two different blocks at the same height
 * (the caller keeps that record: the store's vote guard, used by the node's votes subsystem and by its
 * producer through `guardSealing`): with threshold > n/2, two conflicting final blocks then need at least one
 * equivocating validator.
 */
export class QuorumConsensus extends AuthorityConsensus {
  readonly threshold: number

  constructor(genesis: Genesis) {
    super(genesis, 'quorum')
    const c = genesis.consensus
    this.threshold = c.type === 'quorum' ? c.threshold : Number.POSITIVE_INFINITY
  }

  /** Producer signature present and valid; every signature valid, by a validator, at most once each. */
  protected override checkSignatures(header: BlockHeader): void {
    checkProducerSignature(header)
    const seen = new Set<string>()
    for (const s of header.signatures) {
      const signer = toHex(s.signer)
      if (seen.has(signer))
        reject('ERR_SIGNATURE_DUPLICATE', `validator ${signer} signed the header twice`, header)
      seen.add(signer)
      if (this.validatorIndex(s.signer) < 0)
        reject('ERR_SIGNATURE_NOT_VALIDATOR', `signature by ${signer}, who is not a validator`, header)
      if (!verifyHeaderSignature(header, s))
        reject('ERR_SIGNATURE_INVALID', `invalid signature by validator ${signer}`, header)
    }
  }

  /** Number of distinct validators with a valid signature on the header. */
  votes(header: BlockHeader): number {
    const seen = new Set<string>()
    for (const s of header.signatures) {
      const signer = toHex(s.signer)
      if (seen.has(signer) || this.validatorIndex(s.signer) < 0) continue
      if (verifyHeaderSignature(header, s)) seen.add(signer)
    }
    return seen.size
  }

  /** A block at least `signerLimitLiftMs` after its parent is exempt from the signer limit (a stalled head). */
  protected override signerLimitLifted(header: BlockHeader, parent: BlockHeader): boolean {
    return header.timestamp >= parent.timestamp + signerLimitLiftMs(this.genesis)
  }

  override isFinal(header: BlockHeader): boolean {
    // Cheap bound first: too few signatures cannot reach the threshold.
    if (header.signatures.length < this.threshold) return false
    return this.votes(header) >= this.threshold
  }

  /** Add this validator's signature (unchanged if it already signed). Returns a new header object. */
  cosign(header: BlockHeader, key: KeyPair): BlockHeader {
    if (this.validatorIndex(key.publicKey) < 0) {
      throw new ConsensusError(
        'ERR_NOT_VALIDATOR',
        `key ${toHex(key.publicKey)} is not a validator of network "${this.genesis.network}"`,
      )
    }
    if (header.signatures.some((s) => equalBytes(s.signer, key.publicKey))) return header
    return { ...header, signatures: [...header.signatures, signHeader(header, key)] }
  }
}

/** Quorum consensus: authority production plus k-of-n validator signatures for finality. */
export function quorum(genesis: Genesis): QuorumConsensus {
  return new QuorumConsensus(genesis)
}

/** A block a validator signed (sealed or co-signed): its height and hash (hex). */
export interface SignedBlockRef {
  height: number
  hash: string
}

/**
 * What `mayVote` needs to know, all of it already loaded (the function is pure and synchronous). Hashes are
 * hex strings. Only blocks whose header (hence height) the validator has verified may appear in it.
 */
export interface VoteView {
  /** Number of validators (n) and the quorum threshold (k, > n/2). */
  validators: number
  threshold: number
  /** The block to sign: its height and hash; hash undefined for a block this validator is about to seal. */
  target: { height: number; hash?: string }
  /** Hash of the target's ancestor at a lower height (for a block to seal: its parent's chain). */
  targetAncestor(height: number): string | undefined
  /** The latest final block this validator knows; the target must descend from it. */
  final: SignedBlockRef
  /** Every block this validator signed above the final height (its persisted own votes, seals included). */
  own: readonly SignedBlockRef[]
  /** Hash of the ancestor of one of `own` at a lower height (undefined: unknown). */
  ancestorOf(block: SignedBlockRef, height: number): string | undefined
  /**
   * The valid signatures this validator knows at a height: signer (hex) → the block it signed there. Known
   * equivocators left out.
   */
  signersAt(height: number): ReadonlyMap<string, string>
}

/** The answer of `mayVote`. */
export type VoteDecision =
  | { ok: true }
  /** (a) this validator signed another block at the target's height. */
  | { ok: false; reason: 'voted'; height: number; hash: string }
  /** The target does not descend from the final block. */
  | { ok: false; reason: 'not-final-branch' }
  /**
   * (b) a block this validator signed conflicts with the target and is not provably dead: `missing` more
   * signatures on other blocks at its height are needed.
   */
  | { ok: false; reason: 'locked'; height: number; hash: string; missing: number }

/**
 * Is block `x` (signed by this validator) dead, as far as the view proves: it conflicts with the final
 * block, or more than n − k distinct validators signed another block at its height (they can never sign it:
 * one block per height). Returns the number of such signatures still missing (0: dead).
 */
export function deadProofMissing(view: VoteView, x: SignedBlockRef): number {
  const f = view.final
  if (x.height <= f.height) return 0 // pruned: an ancestor of the final block or in conflict with it
  const at = view.ancestorOf(x, f.height)
  if (at !== undefined && at !== f.hash) return 0 // conflicts with a known final block
  let others = 0
  for (const hash of view.signersAt(x.height).values()) if (hash !== x.hash) others++
  return Math.max(0, view.validators - view.threshold + 1 - others)
}

/**
 * The quorum vote rule (docs/architecture.md, "Quorum safety"): validator V may sign (seal or co-sign) block
 * B at height h only if (a) V signed no other block at h, and (b) every block x V signed before that
 * conflicts with B (neither is an ancestor of the other) is dead: it conflicts with a final block, or V knows
 * valid signatures by more than n − k distinct validators on other blocks at x's height. With k > n/2 and
 * every validator following the rule, no two conflicting blocks both collect k signatures; with f
 * equivocating validators, as long as 2k − n > f. The target must descend from the final block.
 */
export function mayVote(view: VoteView): VoteDecision {
  const { target, final } = view
  if (target.height <= final.height) return { ok: false, reason: 'not-final-branch' }
  if (view.targetAncestor(final.height) !== final.hash) return { ok: false, reason: 'not-final-branch' }
  let worst: VoteDecision = { ok: true }
  for (const x of view.own) {
    if (x.height <= final.height) continue
    if (x.height === target.height) {
      if (target.hash !== undefined && x.hash === target.hash) continue
      return { ok: false, reason: 'voted', height: x.height, hash: x.hash }
    }
    // Not in conflict: x is an ancestor of the target, or the target (an existing block) one of x.
    if (x.height < target.height && view.targetAncestor(x.height) === x.hash) continue
    if (x.height > target.height && target.hash !== undefined && view.ancestorOf(x, target.height) === target.hash) continue
    const missing = deadProofMissing(view, x)
    if (missing > 0 && (worst.ok || (worst.reason === 'locked' && x.height < worst.height)))
      worst = { ok: false, reason: 'locked', height: x.height, hash: x.hash, missing }
  }
  return worst
}
