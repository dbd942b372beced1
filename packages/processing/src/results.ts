import { toHex } from '@profichain/core'
import type { FreshVerified, TxCheck } from './types.js'
import type { CheckedBatch } from './work.js'

/** Append one chunk's CheckedBatch to `out` as TxCheck objects. */
export function appendChecks(batch: CheckedBatch, out: TxCheck[]): TxCheck[] {
  for (let i = 0; i < batch.ok.length; i++) {
    const check: TxCheck = { ok: batch.ok[i] === 1 }
    if (batch.decoded[i] === 1) check.txId = toHex(batch.ids.subarray(32 * i, 32 * i + 32))
    const error = batch.errors[i]
    if (error !== null) check.error = error
    out.push(check)
  }
  return out
}

/** validateTx's codes for a payload that is not the body's (its size or its SHA-256). */
const PAYLOAD_ERRORS: ReadonlySet<string> = new Set(['ERR_TX_PAYLOAD_SIZE', 'ERR_TX_PAYLOAD_HASH'])

/**
 * One chunk's CheckedBatch as verifyFreshTxs answers it, into `out` from index `at`: ok, badPayload (the
 * payload check failed), and the txId only where ok (`out.ids` stays zero elsewhere).
 */
export function putFresh(batch: CheckedBatch, out: FreshVerified, at = 0): void {
  for (let i = 0; i < batch.ok.length; i++) {
    const ok = batch.ok[i] === 1
    const error = batch.errors[i]
    out.ok[at + i] = ok
    out.badPayload[at + i] = error !== null && PAYLOAD_ERRORS.has(error)
    if (ok) out.ids.set(batch.ids.subarray(32 * i, 32 * i + 32), 32 * (at + i))
  }
}
