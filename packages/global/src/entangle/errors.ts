import { ProfichainError } from '@profichain/core'

export const ENTANGLE_ERROR_CODES = [
  'ERR_ENTANGLE_MALFORMED', // an entanglement proof that does not decode (CBOR, version, fields, limits)
  'ERR_ENTANGLE_HEADER', // the partner's header: bad hash, bad signature, producer not a partner validator
  'ERR_ENTANGLE_TX', // the anchor tx: not an anchor, bad signature, origin not a partner validator, payload mismatch
  'ERR_ENTANGLE_INCLUSION', // the anchor tx is not in the partner's block (audit path)
  'ERR_ENTANGLE_CHECKPOINT', // the note is not our checkpoint (origin, root) or lacks our validators' signatures
  'ERR_ENTANGLE_COSIGNATURE', // the note has no valid cosignature of the partner
] as const

export type EntangleErrorCode = (typeof ENTANGLE_ERROR_CODES)[number]

/** An entanglement proof (or anchor payload) that cannot be accepted; the message says which check failed. */
export class EntangleError<C extends EntangleErrorCode = EntangleErrorCode> extends ProfichainError {
  declare readonly code: C
  constructor(code: C, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'EntangleError'
  }
}
