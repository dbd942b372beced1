/** Outcome of checking one full transaction. */
export interface TxCheck {
  ok: boolean
  /** Hex txId, present whenever the item decoded (even if a later check failed). */
  txId?: string
  /** Stable error code (CodecError / ValidationError code) when not ok. */
  error?: string
}

/** What verifyFreshTxs found. */
export interface FreshVerified {
  /** Decodes, payload size and hash match the body, signature verifies. */
  ok: boolean[]
  /** Decodes, but its payload's size or SHA-256 is not what the body says (its signature was not checked). */
  badPayload: boolean[]
  /** 32 bytes per item: the txId where ok, zeros otherwise. */
  ids: Uint8Array
}

/** Batch checks behind one interface, with an inline and a worker-pool implementation (Lodestar style). */
export interface TxVerifier {
  /**
   * For each encoded stripped tx: true if it decodes (canonical encoding) and its signature verifies. `ids`, when
   * the caller has them: ids[i] is the txId of encoded[i] (the SHA-256 of exactly those bytes), so the pool's
   * verified-tx set is asked without hashing each tx again (a block's txIds are known at import).
   */
  verifyStrippedTxs(encoded: Uint8Array[], ids?: readonly Uint8Array[]): Promise<boolean[]>
  /**
   * Full transactions fresh from outside (the ingest API's device records; `encoded`: encodeTransaction):
   * decode, payload size and SHA-256 against the body, signature, and the txId of each that passed (`ids`: 32
   * bytes per item, zeros where not ok; the SHA-256 of the exact stripped bytes that verified), all off the
   * calling thread in a pool. No lookup in the verified-tx set first (a lookup is a SHA-256 on the calling
   * thread per tx, and a fresh tx is almost never there); a pool still remembers the ids. A small call is one
   * worker task, not one per thread.
   */
  verifyFreshTxs(encoded: Uint8Array[]): Promise<FreshVerified>
  /** For each encoded full transaction: decode, payload size and hash, signature; one result per item. */
  checkTransactions(encoded: Uint8Array[]): Promise<TxCheck[]>
  /**
   * Ed25519 signatures of `messages` (e.g. encoded tx bodies) with the key of `seed`, in order: new own
   * records are signed here instead of on the main thread (issue 12). The seed is copied to the workers.
   */
  signMessages(seed: Uint8Array, messages: Uint8Array[]): Promise<Uint8Array[]>
  /** RFC 6962 Merkle root over leafHash(txId) of the given txIds. */
  merkleRoot(txIds: Uint8Array[]): Promise<Uint8Array>
  /** Worker threads in use; 0 = inline on the calling thread. */
  readonly threads: number
  /** Stop the workers; idempotent. Calls after close reject with ProcessingError ERR_POOL_CLOSED. */
  close(): Promise<void>
}

export interface ProcessingInit {
  /** Worker threads; 0 = inline on the main thread. Default min(2, os.availableParallelism()). */
  threads?: number
  /** Max items per worker task (default 512). */
  batchSize?: number
  /** Smallest Merkle chunk per worker task, a power of two (default 1024: below it dispatch costs more than hashing). */
  merkleChunk?: number
  /**
   * Pool only: remember the txIds of txs that passed checkTransactions or verifyStrippedTxs or were signed by
   * signMessages, up to 2 × this many (default 65,536), so verifyStrippedTxs does not verify them again (0 = off).
   */
  verifiedIds?: number
}
