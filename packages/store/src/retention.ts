import { type StrippedTx, toHex } from '@profichain/core'
import type { RetentionPolicy, RetentionRule } from './types.js'

/** Whether the payload of `tx` is kept under `policy` (headers, stripped txs and leaves are always kept). */
export function retains(policy: RetentionPolicy, tx: StrippedTx): boolean {
  if (policy.mode === 'all') return true
  if (policy.mode === 'none') return false
  return policy.rules.some((r) => ruleMatches(r, tx))
}

/** A rule matches when every field it sets matches. */
export function ruleMatches(rule: RetentionRule, tx: StrippedTx): boolean {
  const b = tx.body
  if (rule.origin !== undefined && rule.origin.toLowerCase() !== toHex(b.origin)) return false
  if (rule.kind !== undefined && rule.kind !== b.kind) return false
  if (rule.metadata) {
    for (const [k, v] of Object.entries(rule.metadata)) if (b.metadata[k] !== v) return false
  }
  return true
}
