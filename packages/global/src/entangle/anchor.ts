import { createTransaction, encodeAnchorPayload, type KeyPair, type Transaction } from '@profichain/core'

/**
 * Anchor tx (DESIGN §11 "Entanglement"): when this network's witness cosigns a partner checkpoint it records
 * it in its own chain as a tx of kind `anchor`, signed by the witness node, whose payload is
 *
 *     "profichain-anchor/1\n" (20 bytes) ‖ root (32 bytes, the checkpoint's root hash) ‖ note (UTF-8)
 *
 * (`encodeAnchorPayload` in @profichain/core), note = the partner's signed checkpoint with our cosignature
 * line. The raw root right after the magic lets Chainpoint `l`/`r` ops go from the root to the payload hash.
 */

export interface AnchorInit {
  /** This network's id (the tx's network). */
  network: string
  /** The witness node's key (the tx origin). */
  key: KeyPair
  seq: number
  /** The partner's origin and checkpoint as cosigned. */
  partnerOrigin: string
  size: number
  root: Uint8Array
  /** The partner's signed checkpoint with our cosignature. */
  note: string
  timestamp?: number
}

/** Idempotence key of an anchor in the outbox: one anchor per (partner origin, checkpoint size). */
export function anchorDedupeKey(partnerOrigin: string, size: number): string {
  return `anchor:${partnerOrigin}:${size}`
}

export function createAnchorTx(init: AnchorInit): Transaction {
  return createTransaction(init.key, {
    network: init.network,
    kind: 'anchor',
    seq: init.seq,
    timestamp: init.timestamp,
    payload: encodeAnchorPayload({ root: init.root, note: init.note }),
    metadata: { source: 'anchor', partner: init.partnerOrigin, size: String(init.size) },
  })
}
