/** Base class of every error Profichain throws on purpose: callers branch on `code`, never on text. */
export class ProfichainError extends Error {
  readonly code: string
  readonly meta: Record<string, unknown>

  constructor(code: string, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ProfichainError'
    this.code = code
    this.meta = meta
  }
}

/**
 * The constructor tail of an error whose metadata is typed per code (`M` maps code → meta): the meta
 * argument may be left out only when every field of that code's meta is optional.
 */
export type ErrorMetaArgs<M, C extends keyof M> =
  Record<string, never> extends M[C]
    ? [meta?: M[C], options?: { cause?: unknown }]
    : [meta: M[C], options?: { cause?: unknown }]

/** Whether `err` is a ProfichainError whose code is one of `codes` (a package's `X_ERROR_CODES`). */
export function hasErrorCode<C extends string>(err: unknown, codes: readonly C[]): err is ProfichainError & { code: C } {
  return err instanceof ProfichainError && (codes as readonly string[]).includes(err.code)
}

/**
 * A caller's mistake (wrong argument type or range) in Node's style: the TypeError/RangeError itself, with a
 * stable `code` from the package's union attached (like Node's `RangeError [ERR_OUT_OF_RANGE]`).
 */
export function codedError<E extends Error, C extends string>(error: E, code: C): E & { readonly code: C } {
  return Object.assign(error, { code })
}

/** Every code a @profichain/core error can carry (a caller's `switch` over `err.code` is checked). */
export const CORE_ERROR_CODES = [
  // CodecError: bytes that are not a canonical encoding of the expected structure
  'ERR_CODEC',
  // TypeError with a code (codedError): a caller passed malformed input (not hex, not 32 bytes)
  'ERR_INVALID_ARGUMENT',
  // ValidationError: a tx or block that decodes but breaks a rule
  'ERR_TX_NETWORK',
  'ERR_TX_TOO_LARGE',
  'ERR_TX_PAYLOAD_SIZE',
  'ERR_TX_PAYLOAD_HASH',
  'ERR_TX_SIGNATURE',
  'ERR_BLOCK_NETWORK',
  'ERR_BLOCK_TX_COUNT',
  'ERR_BLOCK_DUPLICATE_TX',
  'ERR_BLOCK_TOO_LARGE',
  'ERR_BLOCK_MERKLE_ROOT',
  'ERR_BLOCK_SIGNATURE',
  // raised by the store (it checks the link and replays against its chain) with core's ValidationError
  'ERR_BLOCK_HEIGHT',
  'ERR_BLOCK_TX_REPLAY',
  // KeyError: a key file or key material that cannot be used
  'ERR_KEY_INVALID',
  'ERR_KEY_EXISTS',
  'ERR_KEY_UNREADABLE',
  'ERR_KEY_PERMISSIONS',
  // ProofError: a Merkle proof or receipt that does not verify (or cannot be built)
  'ERR_PROOF_INDEX',
  'ERR_PROOF_LENGTH',
  'ERR_PROOF_MALFORMED',
  'ERR_RECEIPT_BUILD',
  'ERR_RECEIPT_FORMAT',
  'ERR_RECEIPT_STRUCTURE',
  'ERR_RECEIPT_PAYLOAD',
  'ERR_RECEIPT_ANCHOR',
  'ERR_RECEIPT_TX_SIGNATURE',
  'ERR_RECEIPT_TXID',
  'ERR_RECEIPT_TREE_SIZE',
  'ERR_RECEIPT_MERKLE',
  'ERR_RECEIPT_BLOCK_HASH',
  'ERR_RECEIPT_HEADER',
  'ERR_RECEIPT_PRODUCER_SIGNATURE',
  'ERR_RECEIPT_SIGNATURE',
  'ERR_RECEIPT_NOT_VALIDATOR',
] as const

export type CoreErrorCode = (typeof CORE_ERROR_CODES)[number]

type NoMeta = Record<string, never>
type TxMeta = { txId: string }
type BlockMeta = { height?: number; blockHash: string; txId?: string }
type KeyMeta = { path?: string }

/** The metadata each code carries. */
export interface CoreErrorMeta {
  /** `what`: the structure being decoded, when the decoder names it. */
  ERR_CODEC: { what?: string }
  ERR_INVALID_ARGUMENT: NoMeta
  ERR_TX_NETWORK: TxMeta
  ERR_TX_TOO_LARGE: TxMeta
  ERR_TX_PAYLOAD_SIZE: TxMeta
  ERR_TX_PAYLOAD_HASH: TxMeta
  ERR_TX_SIGNATURE: TxMeta
  ERR_BLOCK_NETWORK: BlockMeta
  ERR_BLOCK_TX_COUNT: BlockMeta
  ERR_BLOCK_DUPLICATE_TX: BlockMeta
  ERR_BLOCK_TOO_LARGE: BlockMeta
  ERR_BLOCK_MERKLE_ROOT: BlockMeta
  ERR_BLOCK_SIGNATURE: BlockMeta
  ERR_BLOCK_HEIGHT: BlockMeta
  ERR_BLOCK_TX_REPLAY: BlockMeta
  ERR_KEY_INVALID: KeyMeta
  ERR_KEY_EXISTS: KeyMeta
  ERR_KEY_UNREADABLE: KeyMeta
  ERR_KEY_PERMISSIONS: KeyMeta
  ERR_PROOF_INDEX: NoMeta
  ERR_PROOF_LENGTH: NoMeta
  ERR_PROOF_MALFORMED: NoMeta
  ERR_RECEIPT_BUILD: { txId?: string }
  ERR_RECEIPT_FORMAT: NoMeta
  ERR_RECEIPT_STRUCTURE: NoMeta
  ERR_RECEIPT_PAYLOAD: NoMeta
  ERR_RECEIPT_ANCHOR: NoMeta
  ERR_RECEIPT_TX_SIGNATURE: NoMeta
  ERR_RECEIPT_TXID: NoMeta
  ERR_RECEIPT_TREE_SIZE: NoMeta
  ERR_RECEIPT_MERKLE: NoMeta
  ERR_RECEIPT_BLOCK_HASH: NoMeta
  ERR_RECEIPT_HEADER: NoMeta
  ERR_RECEIPT_PRODUCER_SIGNATURE: NoMeta
  ERR_RECEIPT_SIGNATURE: NoMeta
  ERR_RECEIPT_NOT_VALIDATOR: NoMeta
}

export type ValidationErrorCode = Extract<CoreErrorCode, `ERR_TX_${string}` | `ERR_BLOCK_${string}`>
export type KeyErrorCode = Extract<CoreErrorCode, `ERR_KEY_${string}`>
export type ProofErrorCode = Extract<CoreErrorCode, `ERR_PROOF_${string}` | `ERR_RECEIPT_${string}`>

/** Bytes that are not a valid, canonical encoding of the expected structure. */
export class CodecError extends ProfichainError {
  declare readonly code: 'ERR_CODEC'
  declare readonly meta: CoreErrorMeta['ERR_CODEC'] & Record<string, unknown>
  constructor(message: string, meta: CoreErrorMeta['ERR_CODEC'] = {}, options?: { cause?: unknown }) {
    super('ERR_CODEC', message, meta, options)
    this.name = 'CodecError'
  }
}

/** A structure that decodes but breaks a rule (size, network, signature, hash, link). */
export class ValidationError<C extends ValidationErrorCode = ValidationErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: CoreErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<CoreErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'ValidationError'
  }
}

/** A receipt or Merkle proof that does not verify. */
export class ProofError<C extends ProofErrorCode = ProofErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: CoreErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<CoreErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'ProofError'
  }
}

/** A key file or key material that cannot be used. */
export class KeyError<C extends KeyErrorCode = KeyErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: CoreErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<CoreErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'KeyError'
  }
}
