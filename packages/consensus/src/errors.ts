import { type ErrorMetaArgs, ProfichainError } from '@profichain/core'

/** Every code a @profichain/consensus error can carry (callers, e.g. peer scoring, branch on the reason). */
export const CONSENSUS_ERROR_CODES = [
  // ConsensusError: a header the consensus rules refuse (peer's fault) ...
  'ERR_HEADER_HEIGHT',
  'ERR_HEADER_PREV_HASH',
  'ERR_HEADER_NETWORK',
  'ERR_HEADER_NONCE',
  'ERR_HEADER_DIFFICULTY',
  'ERR_HEADER_TIMESTAMP_EARLY',
  'ERR_HEADER_TIMESTAMP_FUTURE',
  'ERR_PRODUCER_NOT_VALIDATOR',
  'ERR_PRODUCER_NOT_MEMBER',
  'ERR_PRODUCER_SIGNATURE',
  'ERR_PRODUCER_RECENT',
  'ERR_SIGNATURE_INVALID',
  'ERR_SIGNATURE_DUPLICATE',
  'ERR_SIGNATURE_NOT_VALIDATOR',
  'ERR_SIGNATURE_EXTRA',
  'ERR_INSUFFICIENT_WORK',
  'ERR_ORIGIN_NOT_MEMBER',
  // device origins (issue 14; an unregistered key is ERR_ORIGIN_NOT_MEMBER): a record signed by a revoked
  // device key, a second tx with an (origin, seq) already used by another tx (replay), a device/device-revoke
  // tx that breaks the registry rules
  'ERR_ORIGIN_REVOKED',
  'ERR_ORIGIN_REPLAY',
  'ERR_DEVICE_TX',
  // ... or this node cannot seal (not a validator, wrong consensus, aborted)
  'ERR_SEAL_ABORTED',
  'ERR_NOT_VALIDATOR',
  'ERR_CONSENSUS_TYPE',
  // GenesisError: a genesis file that cannot be read or is invalid
  'ERR_GENESIS',
] as const

export type ConsensusErrorCode = Exclude<(typeof CONSENSUS_ERROR_CODES)[number], 'ERR_GENESIS'>
/** Every code of the package (ConsensusError's and GenesisError's). */
export type ConsensusPackageErrorCode = (typeof CONSENSUS_ERROR_CODES)[number]

/** The header a rule refused (`blockHash` absent while sealing, before the header is final). */
type HeaderMeta = { height: number; blockHash?: string }
type NoMeta = Record<string, never>
/**
 * The first tx the origin rule refused; `height`/`blockHash` when it came in a block; `parentUnknown` when the
 * block's parent is not stored (an unknown key may then be a device registered in a block not received yet).
 */
type OriginMeta = { txId: string; origin: string; index: number; height?: number; blockHash?: string; parentUnknown?: boolean }

/** The metadata each code carries. */
export interface ConsensusErrorMeta {
  ERR_HEADER_HEIGHT: HeaderMeta
  ERR_HEADER_PREV_HASH: HeaderMeta
  ERR_HEADER_NETWORK: HeaderMeta
  ERR_HEADER_NONCE: HeaderMeta
  /** `expected`: the difficulty the rules demand (work). */
  ERR_HEADER_DIFFICULTY: HeaderMeta & { expected?: number }
  /** `earliest`: the first timestamp the rules allow (authority, while sealing). */
  ERR_HEADER_TIMESTAMP_EARLY: HeaderMeta & { earliest?: number }
  ERR_HEADER_TIMESTAMP_FUTURE: HeaderMeta
  ERR_PRODUCER_NOT_VALIDATOR: HeaderMeta
  ERR_PRODUCER_NOT_MEMBER: HeaderMeta
  ERR_PRODUCER_SIGNATURE: HeaderMeta
  ERR_PRODUCER_RECENT: HeaderMeta
  ERR_SIGNATURE_INVALID: HeaderMeta
  ERR_SIGNATURE_DUPLICATE: HeaderMeta
  ERR_SIGNATURE_NOT_VALIDATOR: HeaderMeta
  ERR_SIGNATURE_EXTRA: HeaderMeta
  ERR_INSUFFICIENT_WORK: HeaderMeta
  /** The first tx whose origin is not a genesis member; `height`/`blockHash` when it came in a block. */
  ERR_ORIGIN_NOT_MEMBER: OriginMeta
  ERR_ORIGIN_REVOKED: OriginMeta
  /** `seq`: the reused sequence number; `otherTxId`: the tx that used it first. */
  ERR_ORIGIN_REPLAY: OriginMeta & { seq: number; otherTxId: string }
  /** `deviceKey`: the device key the tx names (when it names one). */
  ERR_DEVICE_TX: OriginMeta & { deviceKey?: string }
  ERR_SEAL_ABORTED: { height: number }
  ERR_NOT_VALIDATOR: NoMeta
  ERR_CONSENSUS_TYPE: NoMeta
  /** `issues`: each invalid field; `source`: the file; `cause`: the errno code of a failed read. */
  ERR_GENESIS: { source?: string; issues?: Array<{ path: string; message: string }>; cause?: string }
}

/** A header, block or seal the consensus rules refuse, with the rule's code. */
export class ConsensusError<C extends ConsensusErrorCode = ConsensusErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: ConsensusErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<ConsensusErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'ConsensusError'
  }
}

/** A genesis file that cannot be read or does not validate; the message names the file and each bad field. */
export class GenesisError extends ProfichainError {
  declare readonly code: 'ERR_GENESIS'
  declare readonly meta: ConsensusErrorMeta['ERR_GENESIS'] & Record<string, unknown>
  constructor(message: string, meta: ConsensusErrorMeta['ERR_GENESIS'] = {}) {
    super('ERR_GENESIS', message, meta)
    this.name = 'GenesisError'
  }
}
