import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { merkleRoot } from '@profichain/core'
import { Piscina } from 'piscina'
import { ProcessingError } from './errors.js'
import { pack } from './pack.js'
import { appendChecks, putFresh } from './results.js'
import type { FreshVerified, TxCheck, TxVerifier } from './types.js'
import { VerifiedIds } from './verified.js'
import { type CheckedBatch, type SignedBatch, splitSignatures, type VerifiedBatch } from './work.js'
import type { Task } from './worker.js'

// Resolved against the package root so it is the built worker whether this module runs from dist/
// (production) or src/ (vitest): src/ and dist/ are siblings. `tsc -b` must have run first.
const WORKER_URL = new URL('../dist/worker.js', import.meta.url)

export interface PoolVerifierInit {
  threads: number
  batchSize: number
  merkleChunk: number
  /** Ids per generation of the verified-tx set (default 65,536; 0 = off); see VerifiedIds. */
  verifiedIds?: number
}

/** Spreads each batch over a piscina worker pool in chunks, packed into transferable buffers. */
export class PoolVerifier implements TxVerifier {
  readonly threads: number
  private readonly batchSize: number
  private readonly merkleChunk: number
  private readonly pool: Piscina
  /** Stripped txs already verified here (gossip checks, own signatures): blocks skip them. */
  readonly verified: VerifiedIds
  private closing: Promise<void> | undefined

  constructor(init: PoolVerifierInit) {
    if (!existsSync(fileURLToPath(WORKER_URL))) {
      throw new ProcessingError(
        'ERR_WORKER_MISSING',
        `processing worker not found at ${fileURLToPath(WORKER_URL)}; build first (tsc -b)`,
        { path: fileURLToPath(WORKER_URL) },
      )
    }
    this.threads = init.threads
    this.batchSize = init.batchSize
    this.merkleChunk = init.merkleChunk
    this.verified = new VerifiedIds(init.verifiedIds ?? 65_536)
    this.pool = new Piscina({
      filename: WORKER_URL.href,
      minThreads: init.threads,
      maxThreads: init.threads,
      // Long-lived: workers keep their per-key KeyObject caches warm.
      idleTimeout: Number.POSITIVE_INFINITY,
      // Two tasks per worker: the next chunk already waits in the worker's port when one finishes, so a
      // busy or descheduled main thread never leaves a worker idle between chunks.
      concurrentTasksPerWorker: 2,
      // No run/wait-time histograms: recording them cost ~1 % of a devnet full node's main thread.
      recordTiming: false,
    })
  }

  async verifyStrippedTxs(encoded: Uint8Array[], ids?: readonly Uint8Array[]): Promise<boolean[]> {
    this.assertOpen()
    if (ids !== undefined && ids.length !== encoded.length) throw new RangeError(`${ids.length} txIds for ${encoded.length} txs`)
    // Txs verified here before (a thin node checked them in gossip, or signed them) are not sent again.
    const out: boolean[] = new Array(encoded.length)
    const todo: number[] = []
    for (let i = 0; i < encoded.length; i++) {
      if (ids === undefined ? this.verified.hasStripped(encoded[i]) : this.verified.hasId(ids[i])) out[i] = true
      else todo.push(i)
    }
    if (todo.length === 0) return out
    const items = todo.length === encoded.length ? encoded : todo.map((i) => encoded[i])
    const parts = await Promise.all(
      this.chunks(items.length).map(([s, e]) => this.runPacked<VerifiedBatch>('verifyStripped', items, s, e)),
    )
    let k = 0
    for (const part of parts) {
      // Remembered: a tx verified here (e.g. by the ingest API) is not verified again when its block comes.
      this.verified.addFlat(part.ids, part.ok)
      for (const b of part.ok) out[todo[k++]] = b === 1
    }
    return out
  }

  async verifyFreshTxs(encoded: Uint8Array[]): Promise<FreshVerified> {
    const n = encoded.length
    const out: FreshVerified = { ok: new Array(n), badPayload: new Array(n), ids: new Uint8Array(32 * n) }
    if (n === 0) return out
    // At least FRESH_MIN_TASK txs per task: a call of a few device records was split into one task per thread
    // (each task ~40 µs of piscina and message-port work on the calling thread, more than verifying one tx
    // costs a worker), so the ingest API made ~0.4 tasks per record. Concurrent calls still spread the threads.
    // The worker's check is checkTransactions' (decode, payload size and hash, signature, txId).
    const parts = await Promise.all(
      this.chunks(n, PoolVerifier.FRESH_MIN_TASK).map(([s, e]) => this.runPacked<CheckedBatch>('checkTx', encoded, s, e)),
    )
    let k = 0
    for (const part of parts) {
      this.verified.addFlat(part.ids, part.ok)
      putFresh(part, out, k)
      k += part.ok.length
    }
    return out
  }

  /** Fewest txs per task of verifyFreshTxs (verifying 128 is ~15 ms of a worker). */
  private static readonly FRESH_MIN_TASK = 128

  async checkTransactions(encoded: Uint8Array[]): Promise<TxCheck[]> {
    const parts = await Promise.all(
      this.chunks(encoded.length).map(([s, e]) => this.runPacked<CheckedBatch>('checkTx', encoded, s, e)),
    )
    const out: TxCheck[] = []
    for (const part of parts) {
      this.verified.addFlat(part.ids, part.ok)
      appendChecks(part, out)
    }
    return out
  }

  async signMessages(seed: Uint8Array, messages: Uint8Array[]): Promise<Uint8Array[]> {
    if (seed.byteLength !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
    const parts = await Promise.all(
      this.chunks(messages.length).map(async ([s, e]) => {
        const packed = pack(messages, s, e)
        // The seed is copied (not transferred): the caller keeps its key.
        const task = { op: 'sign' as const, seed: new Uint8Array(seed), ...packed }
        return (await this.run(task, [packed.data, packed.offsets])) as SignedBatch
      }),
    )
    const out: Uint8Array[] = []
    for (const part of parts) {
      this.verified.addFlat(part.ids, part.own)
      for (const sig of splitSignatures(part.sigs)) out.push(sig)
    }
    return out
  }

  async merkleRoot(txIds: Uint8Array[]): Promise<Uint8Array> {
    this.assertOpen()
    const n = txIds.length
    if (n === 0) return merkleRoot([])
    // A power-of-two chunk aligned at a multiple of its size is a complete RFC 6962 subtree (and the last,
    // partial chunk is the subtree the bottom-up build promotes), so workers return subtree roots and
    // the main thread only combines a handful of them. 4-8 chunks per thread keep the threads evenly loaded.
    let chunk = this.merkleChunk
    while (chunk * this.threads * 8 < n) chunk *= 2
    const tasks: Promise<Uint8Array>[] = []
    for (let s = 0; s < n; s += chunk)
      tasks.push(this.runPacked<Uint8Array>('merkle', txIds, s, Math.min(n, s + chunk)))
    const roots = await Promise.all(tasks)
    return roots.length === 1 ? roots[0] : merkleRoot(roots)
  }

  close(): Promise<void> {
    this.closing ??= this.pool.destroy()
    return this.closing
  }

  /**
   * Split n items into at most batchSize-sized chunks, but spread small batches over all threads (chunks of
   * at least `min` items, when given).
   */
  private chunks(n: number, min = 1): Array<[number, number]> {
    this.assertOpen()
    const size = Math.max(1, Math.min(this.batchSize, Math.max(min, Math.ceil(n / this.threads))))
    const out: Array<[number, number]> = []
    for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)])
    return out
  }

  private async runPacked<T>(
    op: 'verifyStripped' | 'checkTx' | 'merkle',
    items: readonly Uint8Array[],
    start: number,
    end: number,
  ): Promise<T> {
    const packed = pack(items, start, end)
    return (await this.run({ op, ...packed }, [packed.data, packed.offsets])) as T
  }

  /** Run one task; any pool failure (worker crash, pool torn down) becomes ProcessingError ERR_POOL. */
  async run(task: Task, transferList: ArrayBuffer[] = []): Promise<unknown> {
    this.assertOpen()
    try {
      return await this.pool.run(task, { transferList })
    } catch (err) {
      throw new ProcessingError(
        'ERR_POOL',
        `processing worker failed: ${(err as Error).message}`,
        { op: task.op },
        { cause: err },
      )
    }
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new ProcessingError('ERR_POOL_CLOSED', 'the verifier is closed')
  }
}
