import type { BlockRules } from '@profichain/core'
import type { BinaryDb, Sub, Subs } from './keys.js'
import type { StoreMetrics } from './metrics.js'
import { type HeadInfo, StoreError } from './types.js'

/** Runs async jobs one at a time: every write path of the store goes through one queue. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn)
    this.tail = next.catch(() => undefined)
    return next
  }

  /** Resolves once everything queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined)
  }
}

/** What the outbox, mempool and audit share with the block tree. */
export interface StoreContext {
  db: BinaryDb
  subs: Subs
  serial: Serial
  rules: BlockRules
  head(): HeadInfo
  /** Write health: set by a failed write, cleared by the next successful one. */
  health: WriteHealth
  /** Run before building a batch: reopens the DB after a failed write (LevelDB may keep a sticky error). */
  beforeWrite(): Promise<void>
  metrics: StoreMetrics
}

export type StoreHealth = { ok: true } | { ok: false; code: 'DISK_FULL' | 'WRITE_FAILED'; message: string }

/** Last write outcome of the store, for /healthz. */
export class WriteHealth {
  state: StoreHealth = { ok: true }
  /** A write failed since the DB was last (re)opened. */
  reopen = false

  failed(err: StoreError): void {
    this.reopen = true
    const c = err.meta as { levelCode?: string; causeCode?: string }
    const text = `${err.message} ${c.causeCode ?? ''} ${c.levelCode ?? ''}`
    const full = /ENOSPC|no space left/i.test(text)
    this.state = {
      ok: false,
      code: full ? 'DISK_FULL' : 'WRITE_FAILED',
      message: full
        ? `the disk is full: ${err.message}; free space on the data volume, the store retries by itself`
        : `a store write failed: ${err.message}; the store retries on the next write`,
    }
  }

  succeeded(): void {
    if (!this.state.ok) this.state = { ok: true }
  }
}

export type Batch = ReturnType<BinaryDb['batch']>

const prefixes = new WeakMap<Sub, Uint8Array>()

/** The sublevel's key prefix as bytes: batches write prefixed keys on the root DB, ~10x cheaper per op. */
function prefixed(sub: Sub, key: Uint8Array): Uint8Array {
  let p = prefixes.get(sub)
  if (p === undefined) {
    p = new Uint8Array(Buffer.from(sub.prefix, 'utf8'))
    prefixes.set(sub, p)
  }
  const k = new Uint8Array(p.byteLength + key.byteLength)
  k.set(p, 0)
  k.set(key, p.byteLength)
  return k
}

/** classic-level's chained batch: its private `_put`/`_del` append an already encoded op to the native batch. */
interface NativeOps {
  _put(key: Uint8Array, value: Uint8Array): void
  _del(key: Uint8Array): void
}

/** Batches whose ops after the first go straight to the native batch (see `direct`). */
const directBatches = new WeakSet<Batch>()

/**
 * Whether the ops of `b` (which holds one op already) may skip abstract-level's public `put`/`del`: ~0.6–1.2
 * µs of JS per op (an op object, option spreads, encodings, key checks) where the native append is ~0.1, and
 * an own record is 6–8 ops. Only for classic-level's own chained batch (its `_put`/`_del` defined on its
 * prototype), on a DB with no prewrite hook and no 'write' listener (then abstract-level would run or emit
 * each op; this store uses neither): the keys are already prefixed for the root DB (`prefixed`) and 'view'
 * encoding passes Uint8Arrays through, so the native batch gets the very bytes the public path gave it. The
 * first op of every batch takes the public path, so the batch's length is never 0 with ops in it and its
 * `write` writes them (it skips an empty batch); `length` counts only that first op (callers here only
 * test for 0).
 */
function direct(b: Batch): boolean {
  if (directBatches.has(b)) return true
  const proto = Object.getPrototypeOf(b) as object
  const db = b.db as unknown as { hooks?: { prewrite?: { noop?: boolean } }; listenerCount?: (e: string) => number }
  const ok =
    b.length > 0 &&
    Object.prototype.hasOwnProperty.call(proto, '_put') &&
    Object.prototype.hasOwnProperty.call(proto, '_del') &&
    (proto as { constructor?: { name?: string } }).constructor?.name === 'ChainedBatch' &&
    db.hooks?.prewrite?.noop === true &&
    (db.listenerCount?.('write') ?? 1) === 0
  if (ok) directBatches.add(b)
  return ok
}

export function put(b: Batch, sub: Sub, key: Uint8Array, value: Uint8Array): void {
  const k = prefixed(sub, key)
  if (direct(b)) (b as unknown as NativeOps)._put(k, value)
  else b.put(k, value)
}

export function del(b: Batch, sub: Sub, key: Uint8Array): void {
  const k = prefixed(sub, key)
  if (direct(b)) (b as unknown as NativeOps)._del(k)
  else b.del(k)
}

/** Turn low-level storage failures (disk full, I/O, corruption) into a StoreError that keeps the cause. */
export function ioError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } }
  const detail = e.cause?.message ?? e.message ?? String(err)
  return new StoreError(
    'ERR_STORE_IO',
    `${what} failed: ${detail}`,
    { levelCode: e.code, causeCode: e.cause?.code },
    { cause: err },
  )
}

const healthByDb = new WeakMap<object, WriteHealth>()

/** Every batch written on `db` (mempool writes too) reports to `health`. */
export function trackHealth(db: BinaryDb, health: WriteHealth): void {
  healthByDb.set(db, health)
}

/**
 * Write a batch. `sync: true` (fsync of LevelDB's log before resolving) for every write after which the
 * node acknowledges something (blocks, outbox add/ack/defer): without it a power cut can drop it.
 */
export async function writeBatch(
  b: Batch,
  what: string,
  opts: { sync?: boolean } = {},
): Promise<void> {
  // A failed write can leave a torn record in LevelDB's log; the store must reopen before writing again.
  const health = healthByDb.get(b.db)
  try {
    await b.write({ sync: opts.sync === true })
  } catch (err) {
    const e = ioError(err, what)
    health?.failed(e)
    throw e
  }
  health?.succeeded()
}
