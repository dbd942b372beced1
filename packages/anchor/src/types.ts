import type { EventEmitter } from 'node:events'
import type { AnchorError } from './errors.js'

/** What gets anchored: a network's checkpoint (origin, tree size, root). */
export interface AnchorRequest {
  origin: string
  size: number
  root: Uint8Array
}

/** A confirmed anchor: everything a receipt needs to re-check it on the public chain. */
export interface AnchorProof {
  kind: 'eth'
  chainId: number
  origin: string
  size: number
  /** Hex of the checkpoint root and of the tx calldata. */
  root: string
  calldata: string
  txHash: string
  from: string
  to: string
  nonce: number
  ethBlockNumber: number
  ethBlockHash: string
  /** Depth when it was confirmed. */
  confirmations: number
  gasUsed: string
  effectiveGasPrice: string
  anchoredAt: string
}

export interface PublicAnchorEvents {
  submitted: [{ txHash: string; size: number; nonce: number }]
  /** The tx was seen in a canonical block (again after a reorg). */
  mined: [{ txHash: string; blockNumber: number; depth: number }]
  reorg: [{ txHash: string; blockHash: string }]
  anchored: [AnchorProof]
  failure: [AnchorError]
}

/**
 * A public chain that anchors roots (DESIGN §13). Restart-safe: the anchor in flight is persisted before
 * it is sent and `resume()` finishes it with the very same transaction, so it is never paid twice.
 */
export interface PublicAnchor extends EventEmitter<PublicAnchorEvents> {
  readonly kind: 'eth'
  /** Anchor `req` (after finishing one left in flight) and wait until it is deep enough. */
  submit(req: AnchorRequest): Promise<AnchorProof>
  /** Finish the anchor left in flight by an earlier run; undefined when there is none. */
  resume(): Promise<AnchorProof | undefined>
  /** The anchor persisted but not yet confirmed, if any. */
  inFlight(): Promise<AnchorRequest | undefined>
  /** Confirmed anchors, newest first. */
  anchors(limit?: number): Promise<AnchorProof[]>
  latest(): Promise<AnchorProof | undefined>
  close(): Promise<void>
}
