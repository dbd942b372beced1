import { ProcessingError } from './errors.js'
import { appendChecks, putFresh } from './results.js'
import type { FreshVerified, TxCheck, TxVerifier } from './types.js'
import { checkTxItems, merkleRootOfItems, signItems, splitSignatures, verifyStrippedItems } from './work.js'

/** Runs every check on the calling thread: for tiny deployments, tests, and as the reference. */
export class InlineVerifier implements TxVerifier {
  readonly threads = 0
  private closed = false

  async verifyStrippedTxs(encoded: Uint8Array[]): Promise<boolean[]> {
    this.assertOpen()
    return Array.from(verifyStrippedItems(encoded), (b) => b === 1)
  }

  async verifyFreshTxs(encoded: Uint8Array[]): Promise<FreshVerified> {
    this.assertOpen()
    const out: FreshVerified = { ok: new Array(encoded.length), badPayload: new Array(encoded.length), ids: new Uint8Array(32 * encoded.length) }
    putFresh(checkTxItems(encoded), out)
    return out
  }

  async checkTransactions(encoded: Uint8Array[]): Promise<TxCheck[]> {
    this.assertOpen()
    return appendChecks(checkTxItems(encoded), [])
  }

  async signMessages(seed: Uint8Array, messages: Uint8Array[]): Promise<Uint8Array[]> {
    this.assertOpen()
    return splitSignatures(signItems(seed, messages))
  }

  async merkleRoot(txIds: Uint8Array[]): Promise<Uint8Array> {
    this.assertOpen()
    return merkleRootOfItems(txIds)
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private assertOpen(): void {
    if (this.closed) throw new ProcessingError('ERR_POOL_CLOSED', 'the verifier is closed')
  }
}
