import type { Block, BlockHeader, KeyPair } from '@profichain/core'

/** A member of the network as listed in genesis. */
export interface GenesisMember {
  /** Human name, unique in the network (e.g. "acme-press-7"). */
  name: string
  /** Ed25519 public key, 64 hex chars: also the libp2p identity. */
  publicKey: string
  /** What this member may be: 'validator' | 'producer' | 'archive' | 'full' | 'thin'. */
  roles: string[]
  /** Optional seed multiaddrs where this member listens, e.g. /ip4/127.0.0.1/tcp/7001. */
  addrs?: string[]
}

export type ConsensusParams =
  | { type: 'authority'; backoffMs: number }
  | { type: 'work'; initialDifficulty: number; retargetInterval: number; minDifficulty: number; maxDifficulty: number }
  | { type: 'quorum'; threshold: number; backoffMs: number }

/** The network's genesis file, validated (DESIGN §5). */
export interface Genesis {
  /** Format version of the genesis file. */
  version: 1
  network: string
  /** Genesis time, ms since epoch: the timestamp of block 0. */
  timestamp: number
  members: GenesisMember[]
  /** Validator public keys (hex), in order: the in-turn producer for height h is validators[h mod n]. */
  validators: string[]
  consensus: ConsensusParams
  blockTimeMs: number
  maxBlockBytes: number
  maxTxBytes: number
  /** Log origin of the network's block log checkpoints (a schema-less URL; also the note key name). */
  origin: string
  /** Block log (DESIGN §11): `depth` blocks deep enter the log (authority, work); checkpoints every `intervalMs`. */
  checkpoint: { depth: number; intervalMs: number }
}

/** Read access to the chain a consensus needs for rules that look back (signer limits, retargeting). */
export interface ChainContext {
  /** Up to `n` ancestors of the block with hash `hash`, nearest first, starting with that block itself. */
  ancestors(hash: Uint8Array, n: number): Promise<BlockHeader[]>
}

/**
 * What a consensus fixes (DESIGN §5): how a header is sealed, how it is validated against its parent,
 * the work it adds to fork choice, and when this node may produce.
 */
export interface Consensus {
  readonly type: ConsensusParams['type']
  readonly genesis: Genesis
  /** Fill in consensus fields (difficulty, nonce, producer) and signatures; may search a nonce (abortable). */
  seal(block: Block, parent: BlockHeader, key: KeyPair, ctx: ChainContext, signal?: AbortSignal): Promise<Block>
  /** Check a header against its parent and recent history; throws ConsensusError with a stable code. */
  validateHeader(header: BlockHeader, parent: BlockHeader, ctx: ChainContext, now?: number): Promise<void>
  /** Work this header adds to its chain; fork choice = most cumulative work, then lowest hash. */
  work(header: BlockHeader): bigint
  /**
   * Milliseconds from `now` until this key may produce on top of `parent`, or null when it may not at all
   * (not a validator, or it signed too recently).
   */
  producerDelay(parent: BlockHeader, key: Uint8Array, ctx: ChainContext, now: number): Promise<number | null>
  /** Whether a header is final (quorum: k of n signatures). Others: never final by signatures. */
  isFinal(header: BlockHeader): boolean
  /** Add this node's signature to a block it did not produce (quorum voting); others return it unchanged. */
  cosign?(header: BlockHeader, key: KeyPair): BlockHeader
}

