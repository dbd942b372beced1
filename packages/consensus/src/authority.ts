import { type Block, type BlockHeader, blockHash, type KeyPair, signHeader, toHex } from '@profichain/core'
import { checkLink, checkSoleProducerSignature, reject } from './common.js'
import { validatorKeys } from './genesis.js'
import { ConsensusError } from './errors.js'
import type { ChainContext, Consensus, Genesis } from './types.js'

/** Header difficulty (= fork-choice weight) of a block sealed by the in-turn validator. */
export const DIFFICULTY_IN_TURN = 2
/** Header difficulty of a block sealed by any other validator after the back-off. */
export const DIFFICULTY_OUT_OF_TURN = 1

/** Index into genesis.validators of the in-turn producer at `height`. */
export function inTurnIndex(height: number, validatorCount: number): number {
  return height % validatorCount
}

/**
 * How many of the most recent blocks a validator must not have produced before it may produce again:
 * ⌊n/2⌋, so any validator seals at most one of any ⌊n/2⌋+1 consecutive blocks (EIP-225 signer limit).
 */
export function signerLimit(validatorCount: number): number {
  return Math.floor(validatorCount / 2)
}

/**
 * Clique-like proof of authority (EIP-225 ideas, DESIGN §5), shared by `authority` and `quorum`:
 * - the in-turn producer for height h is validators[h mod n] and seals with difficulty 2, no earlier than
 *   parent.timestamp + blockTimeMs;
 * - any other validator may seal with difficulty 1 no earlier than parent.timestamp + blockTimeMs + backoffMs,
 *   so a missing in-turn validator stalls the chain only for the back-off;
 * - nobody seals two blocks within any ⌊n/2⌋+1 consecutive ones: a minority of validators cannot take over
 *   the chain, and a single compromised key cannot rewrite it alone.
 * Fork choice uses the difficulty as weight, so the chain with more in-turn blocks wins.
 */
export class AuthorityConsensus implements Consensus {
  readonly type: 'authority' | 'quorum'
  readonly genesis: Genesis
  readonly backoffMs: number
  protected readonly keys: Uint8Array[]
  private readonly index = new Map<string, number>()

  constructor(genesis: Genesis, type: 'authority' | 'quorum' = 'authority') {
    const c = genesis.consensus
    if (c.type === 'work' || c.type !== type)
      throw new ConsensusError('ERR_CONSENSUS_TYPE', `genesis consensus is "${c.type}", not "${type}"`)
    if (genesis.validators.length === 0)
      throw new ConsensusError('ERR_CONSENSUS_TYPE', `consensus "${type}" needs at least one validator`)
    this.type = type
    this.genesis = genesis
    this.backoffMs = c.backoffMs
    this.keys = validatorKeys(genesis)
    for (const [i, v] of genesis.validators.entries()) this.index.set(v, i)
  }

  /** Position of `key` in genesis.validators, or -1. */
  validatorIndex(key: Uint8Array): number {
    return this.index.get(toHex(key)) ?? -1
  }

  /** Whether `key` is the in-turn producer at `height`. */
  isInTurn(height: number, key: Uint8Array): boolean {
    return this.validatorIndex(key) === inTurnIndex(height, this.keys.length)
  }

  /** Earliest timestamp a child of `parent` may carry when sealed in turn / out of turn. */
  earliestTimestamp(parent: BlockHeader, inTurn: boolean): number {
    return parent.timestamp + this.genesis.blockTimeMs + (inTurn ? 0 : this.backoffMs)
  }

  /** Whether `key` produced any of the last ⌊n/2⌋ blocks ending at `parent`. */
  async signedRecently(parent: BlockHeader, key: Uint8Array, ctx: ChainContext): Promise<boolean> {
    const limit = signerLimit(this.keys.length)
    if (limit === 0) return false
    const recent = await ctx.ancestors(blockHash(parent), limit)
    const hex = toHex(key)
    return recent.some((h) => toHex(h.producer) === hex)
  }

  async validateHeader(
    header: BlockHeader,
    parent: BlockHeader,
    ctx: ChainContext,
    now: number = Date.now(),
  ): Promise<void> {
    checkLink(this.genesis, header, parent, now)
    if (header.nonce !== 0)
      reject('ERR_HEADER_NONCE', `nonce must be 0 under "${this.type}", got ${header.nonce}`, header)
    const vi = this.validatorIndex(header.producer)
    if (vi < 0)
      reject('ERR_PRODUCER_NOT_VALIDATOR', `producer ${toHex(header.producer)} is not a validator`, header)
    const inTurn = vi === inTurnIndex(header.height, this.keys.length)
    const expected = inTurn ? DIFFICULTY_IN_TURN : DIFFICULTY_OUT_OF_TURN
    if (header.difficulty !== expected) {
      reject(
        'ERR_HEADER_DIFFICULTY',
        `difficulty ${header.difficulty} but the producer is ${inTurn ? 'in turn (2)' : 'out of turn (1)'}`,
        header,
      )
    }
    const earliest = this.earliestTimestamp(parent, inTurn)
    if (header.timestamp < earliest) {
      const why = inTurn ? 'block time' : 'block time + out-of-turn back-off'
      reject(
        'ERR_HEADER_TIMESTAMP_EARLY',
        `timestamp ${header.timestamp} is ${earliest - header.timestamp} ms before parent + ${why} (${earliest})`,
        header,
      )
    }
    this.checkSignatures(header)
    if (!this.signerLimitLifted(header, parent) && (await this.signedRecently(parent, header.producer, ctx))) {
      reject(
        'ERR_PRODUCER_RECENT',
        `producer ${toHex(header.producer)} sealed one of the last ${signerLimit(this.keys.length)} blocks`,
        header,
      )
    }
  }

  /** Whether the signer limit does not apply to `header` (never under authority; see QuorumConsensus). */
  protected signerLimitLifted(_header: BlockHeader, _parent: BlockHeader): boolean {
    return false
  }

  /** Signature rules: authority wants exactly the producer's. */
  protected checkSignatures(header: BlockHeader): void {
    checkSoleProducerSignature(header)
  }

  work(header: BlockHeader): bigint {
    return BigInt(header.difficulty)
  }

  async producerDelay(
    parent: BlockHeader,
    key: Uint8Array,
    ctx: ChainContext,
    now: number,
  ): Promise<number | null> {
    if (this.validatorIndex(key) < 0) return null
    if (await this.signedRecently(parent, key, ctx)) return null
    const earliest = this.earliestTimestamp(parent, this.isInTurn(parent.height + 1, key))
    return Math.max(0, earliest - now)
  }

  isFinal(_header: BlockHeader): boolean {
    return false
  }

  /** Sets difficulty, nonce 0 and producer, then signs; the caller's timestamp is kept (too early = error). */
  async seal(
    block: Block,
    parent: BlockHeader,
    key: KeyPair,
    ctx: ChainContext,
    _signal?: AbortSignal,
  ): Promise<Block> {
    const h = block.header
    checkLink(this.genesis, h, parent, Number.POSITIVE_INFINITY)
    if (this.validatorIndex(key.publicKey) < 0) {
      throw new ConsensusError(
        'ERR_NOT_VALIDATOR',
        `key ${toHex(key.publicKey)} is not a validator of network "${this.genesis.network}"`,
      )
    }
    if (!this.signerLimitLifted(h, parent) && (await this.signedRecently(parent, key.publicKey, ctx))) {
      throw new ConsensusError(
        'ERR_PRODUCER_RECENT',
        `this validator sealed one of the last ${signerLimit(this.keys.length)} blocks; it must wait`,
        {
          height: h.height,
        },
      )
    }
    const inTurn = this.isInTurn(h.height, key.publicKey)
    const earliest = this.earliestTimestamp(parent, inTurn)
    if (h.timestamp < earliest) {
      throw new ConsensusError(
        'ERR_HEADER_TIMESTAMP_EARLY',
        `timestamp ${h.timestamp} is before the earliest allowed ${earliest} (${inTurn ? 'in' : 'out of'} turn)`,
        {
          height: h.height,
          earliest,
        },
      )
    }
    // A fresh object: blockHash is memoised per header object, so never mutate a hashed header.
    const header: BlockHeader = {
      ...h,
      difficulty: inTurn ? DIFFICULTY_IN_TURN : DIFFICULTY_OUT_OF_TURN,
      nonce: 0,
      producer: key.publicKey,
      signatures: [],
    }
    header.signatures = [signHeader(header, key)]
    return { header, txs: block.txs }
  }
}

/** Proof-of-authority consensus (the default for private networks). */
export function authority(genesis: Genesis): AuthorityConsensus {
  return new AuthorityConsensus(genesis, 'authority')
}
