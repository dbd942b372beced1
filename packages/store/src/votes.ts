import {
  type CborValue,
  decodeCbor,
  decodeVote,
  encodeCbor,
  encodeVote,
  equalBytes,
  read,
  toHex,
  type Vote,
} from '@profichain/core'
import { put, type StoreContext, writeBatch } from './context.js'
import { readU64, u64, voteKey } from './keys.js'

/** Two votes by one validator for different blocks at one height (quorum consensus, DESIGN §5). */
export interface VoteEvidence {
  /** The validator's public key, hex. */
  signer: string
  height: number
  /** The first vote seen and the conflicting one. */
  votes: [Vote, Vote]
}

/** What `recordVote` made of a vote. */
export type VoteRecord =
  /** First vote by this validator at this height: remembered. */
  | { status: 'new' }
  /** The same block again. */
  | { status: 'duplicate' }
  /** Another block at a height it already voted at: both votes kept as evidence, the validator ignored from now on. */
  | { status: 'equivocation'; evidence: VoteEvidence }
  /** The validator equivocated before: its votes are ignored. */
  | { status: 'ignored' }

function encodeEvidence(a: Vote, b: Vote): Uint8Array {
  return encodeCbor([encodeVote(a), encodeVote(b)] as CborValue)
}

function decodeEvidence(key: Uint8Array, v: Uint8Array): VoteEvidence {
  const a = read.array(decodeCbor(v, 'evidence'), 2, 'evidence')
  const first = decodeVote(read.bytes(a[0], 'evidence[0]'))
  const second = decodeVote(read.bytes(a[1], 'evidence[1]'))
  return { signer: toHex(key.subarray(0, key.byteLength - 8)), height: readU64(key.subarray(key.byteLength - 8)), votes: [first, second] }
}

/**
 * Votes in the store: this node's vote guard (height → the block it co-signed, written with sync before the
 * signature leaves the node), the first vote seen per validator and height, and equivocation evidence. All
 * writes run in the store's write queue; the caller (BlockTree) wraps them.
 */
export class StoreVotes {
  private readonly equivocators = new Set<string>()

  constructor(private readonly ctx: StoreContext) {}

  async load(): Promise<void> {
    for await (const k of this.ctx.subs.evidence.keys()) this.equivocators.add(toHex(k.subarray(0, k.byteLength - 8)))
  }

  /** The block this node co-signed at `height`, if any. */
  async ownVote(height: number): Promise<Uint8Array | undefined> {
    return this.ctx.subs.ownVote.get(u64(height))
  }

  /**
   * This node's own votes (co-signatures and seals) above `height`, lowest first: the persisted record the
   * quorum vote rule starts from after a restart.
   */
  async ownVotesAbove(height: number): Promise<Array<{ height: number; hash: Uint8Array }>> {
    const out: Array<{ height: number; hash: Uint8Array }> = []
    for await (const [k, v] of this.ctx.subs.ownVote.iterator({ gt: u64(height) })) out.push({ height: readU64(k), hash: v })
    return out
  }

  /**
   * The first recorded vote of each of `signers` at `height` (votes are recorded only for blocks whose
   * header, hence height, this node verified). Equivocators included: the caller decides.
   */
  async votesAt(height: number, signers: readonly Uint8Array[]): Promise<Vote[]> {
    const values = await this.ctx.subs.vote.getMany(signers.map((s) => voteKey(s, height)))
    const out: Vote[] = []
    for (const v of values) if (v !== undefined) out.push(decodeVote(v))
    return out
  }

  /**
   * The vote guard: true when this node may co-sign `blockHash` at `height` (it has not co-signed another
   * block there); the answer is durable (fsync) before this resolves true for a new height.
   */
  async guard(height: number, blockHash: Uint8Array): Promise<boolean> {
    const prior = await this.ownVote(height)
    if (prior !== undefined) return equalBytes(prior, blockHash)
    await this.ctx.beforeWrite()
    const b = this.ctx.db.batch()
    put(b, this.ctx.subs.ownVote, u64(height), blockHash)
    await writeBatch(b, `storing the vote guard at height ${height}`, { sync: true })
    return true
  }

  isEquivocator(signer: Uint8Array | string): boolean {
    return this.equivocators.has(typeof signer === 'string' ? signer : toHex(signer))
  }

  /** Remember a (signature-checked, validator) vote; detects equivocation. */
  async record(vote: Vote): Promise<VoteRecord> {
    const signer = toHex(vote.signer)
    if (this.equivocators.has(signer)) return { status: 'ignored' }
    const key = voteKey(vote.signer, vote.height)
    const prior = await this.ctx.subs.vote.get(key)
    await this.ctx.beforeWrite()
    const b = this.ctx.db.batch()
    if (prior === undefined) {
      put(b, this.ctx.subs.vote, key, encodeVote(vote))
      await writeBatch(b, `storing a vote at height ${vote.height}`, { sync: true })
      return { status: 'new' }
    }
    const first = decodeVote(prior)
    if (equalBytes(first.blockHash, vote.blockHash)) return { status: 'duplicate' }
    put(b, this.ctx.subs.evidence, key, encodeEvidence(first, vote))
    await writeBatch(b, `storing equivocation evidence at height ${vote.height}`, { sync: true })
    this.equivocators.add(signer)
    return { status: 'equivocation', evidence: { signer, height: vote.height, votes: [first, vote] } }
  }

  /** Every piece of equivocation evidence, by validator then height. */
  async evidence(): Promise<VoteEvidence[]> {
    const out: VoteEvidence[] = []
    for await (const [k, v] of this.ctx.subs.evidence.iterator()) out.push(decodeEvidence(k, v))
    return out
  }
}
