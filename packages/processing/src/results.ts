import { toHex } from '@profichain/core'
import type { TxCheck } from './types.js'
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
