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
