import { equalBytes, type StrippedTx, sha256, toHex, txIdHex } from '@profichain/core'
import { type Batch, put } from './context.js'
import type { Counts, Subs } from './keys.js'
import type { StoreMempool } from './mempool.js'
import type { StoreOutbox } from './outbox.js'
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

/**
 * Stage the payloads of a block's txs kept by the retention policy, from the block's companions or the
 * mempool; counts them into `counts`, exactly: a payload stored already (a side branch, a reorg, `putPayload`)
 * is not written or counted again. An outbox entry's payload is stored with the entry (layout 3): no read,
 * nothing written for it here.
 */
export async function stagePayloads(
  b: Batch,
  from: { retention: RetentionPolicy; subs: Subs; mempool: StoreMempool; outbox: StoreOutbox },
  txs: StrippedTx[],
  ids: Uint8Array[],
  given: Map<string, Uint8Array> | undefined,
  counts: Counts,
): Promise<void> {
  const { retention, subs } = from
  if (retention.mode === 'none' || txs.length === 0) return
  const want: number[] = []
  const { outbox } = from
  for (let i = 0; i < txs.length; i++) if (!outbox.has(txIdHex(txs[i])) && retains(retention, txs[i])) want.push(i)
  if (want.length === 0) return
  // Point reads (getMany), not hasMany: its iterator seek steps over the tombstones of deleted payloads.
  const have = await subs.payload.getMany(want.map((i) => ids[i]))
  const found = new Map<number, Uint8Array>()
  // Payloads the mempool holds were checked against their tx when they entered it (own records by the
  // outbox, gossip in the worker pool): the very same bytes (the producer hands the mempool's own objects)
  // are not hashed again. Any other payload is untrusted.
  const checked = new Set<Uint8Array>()
  want.forEach((i, k) => {
    if (have[k] !== undefined) return
    const hex = txIdHex(txs[i])
    const pending = from.mempool.get(hex)?.payload
    const p = given?.get(hex) ?? pending
    if (p === undefined) return
    found.set(i, p)
    if (p === pending) checked.add(p)
  })
  for (const [i, p] of found) {
    const body = txs[i].body
    // Payloads from peers are untrusted: keep only the one the tx signed.
    if (!checked.has(p) && (p.byteLength !== body.payloadSize || !equalBytes(sha256(p), body.payloadHash))) continue
    put(b, subs.payload, ids[i], p)
    counts.payloads++
    counts.payloadBytes += p.byteLength
  }
}
