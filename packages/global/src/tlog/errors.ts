import { ProfichainError } from '@profichain/core'

/** Every code a tlog error can carry (a caller's `switch` over `err.code` is checked). */
export const TLOG_ERROR_CODES = [
  // signed notes (c2sp.org/signed-note)
  'ERR_NOTE_MALFORMED', // not UTF-8, control characters, no blank line before signatures, bad signature line
  'ERR_NOTE_BASE64', // a signature that is not canonical standard base64
  'ERR_NOTE_TOO_LONG', // the note exceeds NOTE_MAX_BYTES
  'ERR_NOTE_TOO_MANY_SIGNATURES', // more than NOTE_MAX_SIGNATURES signature lines
  'ERR_NOTE_BAD_SIGNATURE', // a signature from a known key (name and key ID match) fails to verify
  'ERR_NOTE_UNVERIFIED', // no signature from any known key verifies
  'ERR_VKEY_MALFORMED', // a verifier key that is not name+hex8+base64(type||key), or whose ID does not match
  'ERR_KEY_NAME', // a key name that is empty or holds a space, '+' or a control character
  // checkpoints (c2sp.org/tlog-checkpoint)
  'ERR_CHECKPOINT_MALFORMED',
  // cosignatures (c2sp.org/tlog-cosignature)
  'ERR_COSIGNATURE_MALFORMED', // not a signature line, wrong length, timestamp ≥ 2^63
  'ERR_COSIGNATURE_KEY', // the line's name or key ID is not the verifier's
  'ERR_COSIGNATURE_INVALID', // the Ed25519 signature does not verify
  // tlog-witness request bodies
  'ERR_WITNESS_REQUEST_MALFORMED',
  // proofs (RFC 6962 / RFC 9162)
  'ERR_PROOF_RANGE', // index/size arguments out of range for proof generation
  'ERR_COMPACT_RANGE', // a CompactRange state that is not valid (fromJSON)
] as const

export type TlogErrorCode = (typeof TLOG_ERROR_CODES)[number]

/** A transparency-log structure (note, vkey, checkpoint, cosignature, witness request) that is not valid. */
export class TlogError<C extends TlogErrorCode = TlogErrorCode> extends ProfichainError {
  declare readonly code: C
  constructor(code: C, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'TlogError'
  }
}
