import {
  type Block,
  type BlockHeader,
  blockHash,
  encodeHeaderBody,
  type KeyPair,
  sha256,
  signHeader,
  toHex,
} from '@profichain/core'
import { checkLink, checkSoleProducerSignature, reject } from './common.js'
import { ConsensusError } from './errors.js'
import type { ChainContext, Consensus, Genesis } from './types.js'

/** Timestamps must exceed the median of this many most recent blocks (Bitcoin's median-time-past). */
export const MEDIAN_TIME_SPAN = 11
/** Nonce attempts between yields to the event loop while sealing. */
const TRIES_PER_YIELD = 4096

export type WorkParams = Extract<Genesis['consensus'], { type: 'work' }>

/** Number of leading zero bits of a hash. */
export function leadingZeroBits(hash: Uint8Array): number {
  let bits = 0
  for (const b of hash) {
    if (b === 0) {
      bits += 8
      continue
    }
    return bits + Math.clz32(b) - 24
  }
  return bits
}

/**
 * One retarget step: +1 bit when the last interval took less than target/√2, −1 bit when it took more than
 * target·√2, else unchanged; clamped to min..max. A one-bit step doubles or halves the expected time, so the
 * √2 band always contains a stable difficulty and the chain does not oscillate around the target.
 * Integer arithmetic (BigInt) so every node computes the same result.
 */
export function retarget(
  current: number,
  actualMs: number,
  targetMs: number,
  p: Pick<WorkParams, 'minDifficulty' | 'maxDifficulty'>,
): number {
  const a2 = 2n * BigInt(Math.max(0, actualMs)) ** 2n
  const t2 = BigInt(targetMs) ** 2n
  let next = current
  if (a2 < t2)
    next = current + 1 // actual < target/√2
  else if (BigInt(Math.max(0, actualMs)) ** 2n > 2n * t2) next = current - 1 // actual > target·√2
  return Math.min(p.maxDifficulty, Math.max(p.minDifficulty, next))
}

/**
 * Proof of work on leading zero bits of the block hash (the paper's difficulty + nonce). Any member with the
 * role 'producer' or 'validator' may mine; the producer signs the sealed hash, so blocks stay attributable.
 * Work of a header = 2^difficulty; difficulty retargets every `retargetInterval` blocks.
 */
export class WorkConsensus implements Consensus {
  readonly type = 'work' as const
  readonly genesis: Genesis
  readonly params: WorkParams
  private readonly miners: Set<string>
  private readonly members: Set<string>

  constructor(genesis: Genesis) {
    if (genesis.consensus.type !== 'work')
      throw new ConsensusError(
        'ERR_CONSENSUS_TYPE',
        `genesis consensus is "${genesis.consensus.type}", not "work"`,
      )
    this.genesis = genesis
    this.params = genesis.consensus
    this.members = new Set(genesis.members.map((m) => m.publicKey))
    this.miners = new Set(
      genesis.members
        .filter((m) => m.roles.includes('producer') || m.roles.includes('validator'))
        .map((m) => m.publicKey),
    )
  }

  /** Whether `key` may mine (member with role producer or validator). */
  mayMine(key: Uint8Array): boolean {
    return this.miners.has(toHex(key))
  }

  /**
   * Required difficulty of the child of `parent`. At heights that are multiples of retargetInterval, the
   * time the last interval took (parent and the block `interval` before it) is compared with the target;
   * windows that reach back to the genesis block are skipped, since its timestamp is when the network
   * was configured, not when mining started.
   */
  async expectedDifficulty(parent: BlockHeader, ctx: ChainContext): Promise<number> {
    const p = this.params
    if (parent.height === 0) return p.initialDifficulty
    const height = parent.height + 1
    if (height % p.retargetInterval !== 0) return parent.difficulty
    const window = await ctx.ancestors(blockHash(parent), p.retargetInterval + 1)
    const first = window[p.retargetInterval]
    if (first === undefined || first.height === 0) return parent.difficulty
    return retarget(
      parent.difficulty,
      parent.timestamp - first.timestamp,
      this.genesis.blockTimeMs * p.retargetInterval,
      p,
    )
  }

  /** Median timestamp of the last MEDIAN_TIME_SPAN blocks ending at `parent`: a child must be later. */
  async medianTimePast(parent: BlockHeader, ctx: ChainContext): Promise<number> {
    const recent = await ctx.ancestors(blockHash(parent), MEDIAN_TIME_SPAN)
    const ts = (recent.length > 0 ? recent : [parent]).map((h) => h.timestamp).sort((a, b) => a - b)
    return ts[Math.floor(ts.length / 2)]
  }

  async validateHeader(
    header: BlockHeader,
    parent: BlockHeader,
    ctx: ChainContext,
    now: number = Date.now(),
  ): Promise<void> {
    checkLink(this.genesis, header, parent, now)
    const producer = toHex(header.producer)
    if (!this.mayMine(header.producer)) {
      const why = this.members.has(producer)
        ? 'has neither the role "producer" nor "validator"'
        : 'is not a member'
      reject('ERR_PRODUCER_NOT_MEMBER', `producer ${producer} ${why}`, header)
    }
    const expected = await this.expectedDifficulty(parent, ctx)
    if (header.difficulty !== expected)
      reject('ERR_HEADER_DIFFICULTY', `difficulty ${header.difficulty}, expected ${expected}`, header, {
        expected,
      })
    const bits = leadingZeroBits(blockHash(header))
    if (bits < header.difficulty)
      reject(
        'ERR_INSUFFICIENT_WORK',
        `block hash has ${bits} leading zero bits, needs ${header.difficulty}`,
        header,
      )
    const mtp = await this.medianTimePast(parent, ctx)
    if (header.timestamp <= mtp)
      reject(
        'ERR_HEADER_TIMESTAMP_EARLY',
        `timestamp ${header.timestamp} is not after the median of recent blocks (${mtp})`,
        header,
      )
    checkSoleProducerSignature(header)
  }

  work(header: BlockHeader): bigint {
    return 2n ** BigInt(header.difficulty)
  }

  /** Miners may start at once (the difficulty paces blocks); others never. */
  async producerDelay(
    _parent: BlockHeader,
    key: Uint8Array,
    _ctx: ChainContext,
    _now: number,
  ): Promise<number | null> {
    return this.mayMine(key) ? 0 : null
  }

  isFinal(_header: BlockHeader): boolean {
    return false
  }

  /** Searches a nonce meeting the expected difficulty, yielding to the event loop; abortable; then signs. */
  async seal(
    block: Block,
    parent: BlockHeader,
    key: KeyPair,
    ctx: ChainContext,
    signal?: AbortSignal,
  ): Promise<Block> {
    const h = block.header
    checkLink(this.genesis, h, parent, Number.POSITIVE_INFINITY)
    if (!this.mayMine(key.publicKey)) {
      throw new ConsensusError(
        'ERR_NOT_VALIDATOR',
        `key ${toHex(key.publicKey)} may not mine on network "${this.genesis.network}"`,
      )
    }
    const mtp = await this.medianTimePast(parent, ctx)
    if (h.timestamp <= mtp) {
      throw new ConsensusError(
        'ERR_HEADER_TIMESTAMP_EARLY',
        `timestamp ${h.timestamp} is not after the median of recent blocks (${mtp})`,
        { height: h.height },
      )
    }
    const difficulty = await this.expectedDifficulty(parent, ctx)
    const template: BlockHeader = { ...h, difficulty, producer: key.publicKey, nonce: 0, signatures: [] }
    for (let nonce = 0; nonce <= Number.MAX_SAFE_INTEGER; nonce++) {
      if (nonce % TRIES_PER_YIELD === 0) {
        if (signal?.aborted)
          throw new ConsensusError(
            'ERR_SEAL_ABORTED',
            `sealing height ${h.height} aborted after ${nonce} nonces`,
            { height: h.height },
          )
        if (nonce > 0) await new Promise<void>((resolve) => setImmediate(resolve))
        if (signal?.aborted)
          throw new ConsensusError(
            'ERR_SEAL_ABORTED',
            `sealing height ${h.height} aborted after ${nonce} nonces`,
            { height: h.height },
          )
      }
      template.nonce = nonce
      // Hash without blockHash's per-object memo: the template object is reused across nonces.
      if (leadingZeroBits(sha256(encodeHeaderBody(template))) >= difficulty) {
        const header: BlockHeader = { ...template, signatures: [] }
        header.signatures = [signHeader(header, key)]
        return { header, txs: block.txs }
      }
    }
    throw new ConsensusError(
      'ERR_INSUFFICIENT_WORK',
      `no nonce meets difficulty ${difficulty} at height ${h.height}`,
      { height: h.height },
    )
  }
}

/** Proof-of-work consensus. */
export function work(genesis: Genesis): WorkConsensus {
  return new WorkConsensus(genesis)
}
