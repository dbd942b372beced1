import { EventEmitter } from 'node:events'
import {
  type Block,
  blockHash,
  createBlock,
  type ErrorMetaArgs,
  type KeyPair,
  ProfichainError,
  stripTx,
  toHex,
  type Transaction,
  txId,
  txIdHex,
  type TypedEmitterClass,
} from '@profichain/core'
import { type ChainContext, type Consensus, isAllowedOrigin } from '@profichain/consensus'
import type { AddBlockResult, HeadInfo, Mempool } from '@profichain/store'

/** What the producer needs from the chain store. */
export interface ProducerChain {
  head(): HeadInfo
  readonly mempool: Mempool
  addBlock(block: Block, opts: { payloads: Map<string, Uint8Array>; signaturesChecked: boolean }): Promise<AddBlockResult>
  /** The txs a block on the head may carry under the stateful origin rule (devices, replays); members only without it. */
  filterOrigins?<T extends Transaction>(txs: T[]): T[]
}

export interface ProducerComponents {
  chain: ProducerChain
  context: ChainContext
  consensus: Consensus
  key: KeyPair
  /**
   * Seal a block even with nothing to commit while this says so. Quorum: while the head is not final, an
   * empty block on top lets split votes converge (a block at the next height finalises its ancestors);
   * without it a network with occasional records could leave its last records unfinal for good.
   */
  needsBlock?: () => boolean
  /** Merkle builds off the main thread (the worker pool); falls back to core when absent. */
  merkleRoot?: (txIds: Uint8Array[]) => Promise<Uint8Array>
  logger?: {
    info(o: object, m?: string): void
    warn(o: object, m?: string): void
    error?(o: object, m?: string): void
    debug(o: object, m?: string): void
  }
}

export interface ProducerInit {
  /** Produce blocks with no txs when idle (default false: no empty-block spam). */
  emptyBlocks?: boolean
  /** Upper bound on txs per block, on top of the genesis byte limit. */
  maxTxsPerBlock?: number
  /** Upper bound on the payload bytes one block commits (payloads travel beside blocks). Default 256 MiB. */
  maxPayloadBytesPerBlock?: number
  /** How often to look again when there is nothing to do, ms. */
  idlePollMs?: number
  /** Back-off after a failed attempt: starts here and doubles per failure in a row (default 100 ms). */
  retryMinMs?: number
  /** Upper bound of the back-off (default 5000 ms). */
  retryMaxMs?: number
}

/**
 * Every code of @profichain/producer: why an attempt to produce failed (the store is out of space, or any
 * other failure). The same codes are the producer's health codes and `ProducerFailure.code`.
 */
export const PRODUCER_ERROR_CODES = ['DISK_FULL', 'PRODUCE_FAILED'] as const
export type ProducerErrorCode = (typeof PRODUCER_ERROR_CODES)[number]
/** Why the producer is not healthy (the codes of PRODUCER_ERROR_CODES). */
export const PRODUCER_HEALTH_CODES = PRODUCER_ERROR_CODES
export type ProducerHealthCode = ProducerErrorCode

/** The metadata each code carries: failures in a row (this one included) and the back-off before the next. */
export interface ProducerErrorMeta {
  DISK_FULL: { consecutive: number; retryInMs: number }
  PRODUCE_FAILED: { consecutive: number; retryInMs: number }
}

/** One failed attempt to produce a block; the underlying error is its `cause`. */
export class ProducerError<C extends ProducerErrorCode = ProducerErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: ProducerErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<ProducerErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'ProducerError'
  }
}

/** Not ok while the last attempt to produce failed (the loop keeps retrying with a bounded back-off). */
export interface ProducerHealth {
  ok: boolean
  code?: ProducerHealthCode
  message?: string
}

/** Payload of the 'failure' event: one failed attempt, and how long the loop waits before the next. */
export interface ProducerFailure {
  err: unknown
  code: ProducerHealthCode
  /** Failures in a row, this one included. */
  consecutive: number
  retryInMs: number
  /** The same failure as a ProducerError (code, typed meta, message for operators; `cause` = `err`). */
  error: ProducerError
}

/** Payload of the 'recovered' event: an attempt succeeded after `failures` failed ones of code `code`. */
export interface ProducerRecovered {
  code: ProducerHealthCode
  failures: number
}

export interface ProducedBlock {
  block: Block
  result: AddBlockResult
  sealMs: number
}

/** The events a BlockProducer emits, event name → payload. */
export interface ProducerEvents {
  /** A block was produced and stored. */
  block: ProducedBlock
  /** An attempt failed; the loop backs off and retries. */
  failure: ProducerFailure
  /** An attempt succeeded after failed ones. */
  recovered: ProducerRecovered
}

/**
 * Block production loop driven by the consensus (DESIGN §1 producer). Emits 'block' (ProducedBlock) after
 * each stored block, 'failure' (ProducerFailure) after each failed attempt and 'recovered' once an attempt
 * succeeds again. No error stops the loop: it logs, counts, backs off (bounded) and retries.
 */
class BlockProducer extends (EventEmitter as TypedEmitterClass<ProducerEvents>) {
  private running = false
  private loop?: Promise<void>
  private abort?: AbortController
  private wake?: () => void
  produced = 0
  /** Failed attempts since start (any error: store I/O, disk full, seal, consensus). */
  errors = 0
  /** Mempool txs left out because their origin may not originate records. */
  skippedOrigins = 0
  private failure?: { code: ProducerHealthCode; message: string; consecutive: number }

  constructor(
    private readonly components: ProducerComponents,
    private readonly init: ProducerInit = {},
  ) {
    super()
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.abort = new AbortController()
    this.loop = this.run().catch((err) => {
      // Unreachable unless a listener throws inside the error path itself: say so rather than go silent.
      this.components.logger?.warn({ err }, 'producer loop stopped by an unexpected error')
    })
  }

  /** Not ok while the last attempt failed; `code` says why ('DISK_FULL' for ENOSPC). */
  health(): ProducerHealth {
    const f = this.failure
    return f === undefined ? { ok: true } : { ok: false, code: f.code, message: f.message }
  }

  /** Finish the block in flight, then stop. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.abort?.abort()
    this.wake?.()
    await this.loop
  }

  /** Called when new txs arrive, so an idle producer does not wait a full poll interval. */
  notify(): void {
    this.wake?.()
  }

  /** Wait `ms`; notify() ends the wait early unless `onlyStop` (a back-off), stop() always does. */
  private sleep(ms: number, onlyStop = false): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abort?.signal
      const t = setTimeout(done, Math.max(0, ms))
      function done() {
        clearTimeout(t)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      if (signal?.aborted) return done()
      signal?.addEventListener('abort', done)
      if (!onlyStop) this.wake = done
    })
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.step()
      } catch (err) {
        if (!this.running) break
        await this.failed(err)
      }
    }
  }

  /** One turn of the loop: wait for our slot, or produce one block. Throws when producing fails. */
  private async step(): Promise<void> {
    const { chain, consensus, key, context } = this.components
    const head = chain.head()
    const delay = await consensus.producerDelay(head.header, key.publicKey, context, Date.now())
    if (delay === null) return this.sleep(consensus.genesis.blockTimeMs)
    if (delay > 0) return this.sleep(Math.min(delay, consensus.genesis.blockTimeMs))
    if (chain.head().hash !== head.hash) return
    const txs = this.allowedOnly(
      await chain.mempool.select(
        this.byteBudget(),
        this.init.maxTxsPerBlock,
        this.init.maxPayloadBytesPerBlock ?? 256 * 1024 * 1024,
      ),
    )
    if (txs.length === 0 && !this.init.emptyBlocks && !(this.components.needsBlock?.() ?? false)) {
      // Nothing left to write: whatever failed before no longer holds anything back.
      this.succeeded()
      return this.sleep(this.init.idlePollMs ?? 50)
    }
    if (!this.running) return
    await this.produce(head, txs)
    this.succeeded()
  }

  /** Never seal a tx whose origin may not originate records (block import would refuse the block). */
  private allowedOnly(txs: Transaction[]): Transaction[] {
    const genesis = this.components.consensus.genesis
    const chain = this.components.chain
    const out = chain.filterOrigins ? chain.filterOrigins(txs) : txs.filter((tx) => isAllowedOrigin(genesis, tx.body.origin))
    const skipped = txs.length - out.length
    if (skipped > 0) {
      this.skippedOrigins += skipped
      this.components.logger?.warn(
        { skipped, total: this.skippedOrigins },
        'left out mempool txs the origin rule refuses (not a member, unknown or revoked device, replay)',
      )
    }
    return out
  }

  private async failed(err: unknown): Promise<void> {
    this.errors++
    const code: ProducerHealthCode = isDiskFull(err) ? 'DISK_FULL' : 'PRODUCE_FAILED'
    const consecutive = (this.failure?.consecutive ?? 0) + 1
    const min = this.init.retryMinMs ?? 100
    const max = Math.max(min, this.init.retryMaxMs ?? 5000)
    const retryInMs = Math.min(max, min * 2 ** Math.min(consecutive - 1, 30))
    const detail = err instanceof Error ? err.message : String(err)
    const message =
      code === 'DISK_FULL'
        ? `cannot store new blocks: the disk of the data dir is full (${detail}); free space there, production resumes by itself`
        : `producing a block failed (${detail}); retrying`
    this.failure = { code, message, consecutive }
    const log = this.components.logger
    const fields = { err, code, consecutive, errors: this.errors, retryInMs }
    if (log?.error) log.error(fields, 'producing a block failed; retrying after a back-off')
    else log?.warn(fields, 'producing a block failed; retrying after a back-off')
    try {
      const error = new ProducerError(code, message, { consecutive, retryInMs }, { cause: err })
      this.emit('failure', { err, code, consecutive, retryInMs, error })
    } catch (listenerErr) {
      log?.warn({ err: listenerErr }, "a 'failure' listener threw")
    }
    await this.sleep(retryInMs, true)
  }

  private succeeded(): void {
    const f = this.failure
    if (f === undefined) return
    this.failure = undefined
    this.components.logger?.info({ code: f.code, failures: f.consecutive }, 'producer recovered')
    this.emit('recovered', { code: f.code, failures: f.consecutive })
  }

  /** Stripped-block budget: header, signatures and CBOR framing stay well under 1 KiB; the rest is for txs. */
  private byteBudget(): number {
    return this.components.consensus.genesis.maxBlockBytes - 1024
  }

  private async produce(head: HeadInfo, txs: Transaction[]): Promise<void> {
    const { chain, consensus, key, context } = this.components
    const t0 = performance.now()
    const stripped = txs.map(stripTx)
    const ids = stripped.map((t) => txId(t))
    const merkleRoot = this.components.merkleRoot ? await this.components.merkleRoot(ids) : undefined
    const timestamp = Math.max(Date.now(), head.header.timestamp + 1)
    const draft = createBlock({
      network: consensus.genesis.network,
      height: head.height + 1,
      timestamp,
      prevHash: blockHash(head.header),
      producer: key.publicKey,
      txs: stripped,
      merkleRoot,
    })
    const block = await consensus.seal(draft, head.header, key, context, this.abort?.signal)
    const payloads = new Map<string, Uint8Array>()
    for (let i = 0; i < txs.length; i++) payloads.set(txIdHex(txs[i]), txs[i].payload)
    const sealMs = performance.now() - t0
    const result = await chain.addBlock(block, { payloads, signaturesChecked: true })
    const storeMs = performance.now() - t0 - sealMs
    this.produced++
    this.components.logger?.info(
      { height: block.header.height, txs: txs.length, hash: toHex(blockHash(block.header)).slice(0, 16), sealMs: Math.round(sealMs), storeMs: Math.round(storeMs) },
      'produced block',
    )
    this.emit('block', { block, result, sealMs })
  }
}

/** Whether an error (or any error in its cause chain) is ENOSPC: the disk is full. */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    const x = e as { code?: unknown; message?: unknown; meta?: { causeCode?: unknown; levelCode?: unknown }; cause?: unknown }
    if (x.code === 'ENOSPC' || x.meta?.causeCode === 'ENOSPC' || x.meta?.levelCode === 'ENOSPC') return true
    if (typeof x.message === 'string' && /ENOSPC|no space left on device/i.test(x.message)) return true
    e = x.cause
  }
  return false
}

export type { BlockProducer }

/** Create (not start) the block producer. */
export function createBlockProducer(init: ProducerInit, components: ProducerComponents): BlockProducer {
  return new BlockProducer(components, init)
}
