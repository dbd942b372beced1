import { ProfichainError } from '@profichain/core'

/** Every code an AnchorError can carry. */
export const ANCHOR_ERROR_CODES = [
  /** The anchor account cannot pay for the transaction: fund it (the anchor in flight is kept and retried). */
  'ERR_ANCHOR_FUNDS',
  /** The JSON-RPC endpoint did not answer or answered with an error (retried). */
  'ERR_ANCHOR_RPC',
  /** The key file is missing or not a 32-byte hex private key. */
  'ERR_ANCHOR_KEY',
  /** The anchor configuration is unusable (URL, interval, gas limits). */
  'ERR_ANCHOR_CONFIG',
  /** The public chain refused the transaction for another reason (the message says which). */
  'ERR_ANCHOR_REJECTED',
  /** The service was stopped while waiting. */
  'ERR_ANCHOR_STOPPED',
  /** An eth anchor of a receipt does not hold on the public chain (verify --eth-rpc). */
  'ERR_ANCHOR_CHECK',
] as const
export type AnchorErrorCode = (typeof ANCHOR_ERROR_CODES)[number]

export class AnchorError extends ProfichainError {
  declare readonly code: AnchorErrorCode
  constructor(code: AnchorErrorCode, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'AnchorError'
  }
}
