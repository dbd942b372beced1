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

/** Bytes that are not a valid, canonical encoding of the expected structure. */
export class CodecError extends ProfichainError {
  constructor(message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('ERR_CODEC', message, meta, options)
    this.name = 'CodecError'
  }
}

/** A structure that decodes but breaks a rule (size, network, signature, hash, link). */
export class ValidationError extends ProfichainError {
  constructor(code: string, message: string, meta: Record<string, unknown> = {}) {
    super(code, message, meta)
    this.name = 'ValidationError'
  }
}

/** A receipt or Merkle proof that does not verify. */
export class ProofError extends ProfichainError {
  constructor(code: string, message: string, meta: Record<string, unknown> = {}) {
    super(code, message, meta)
    this.name = 'ProofError'
  }
}

/** A key file or key material that cannot be used. */
export class KeyError extends ProfichainError {
  constructor(code: string, message: string, meta: Record<string, unknown> = {}) {
    super(code, message, meta)
    this.name = 'KeyError'
  }
}
