import { EventEmitter } from 'node:events'
import { open, readFile, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { type AnchorError, type AnchorProof, ethAnchorInput, type PublicAnchor } from '@profichain/anchor'
import {
  buildEthChainpoint,
  buildEthNative,
  type ChainpointProof,
  type EthAnchorInput,
  type NativeReceipt,
  toHex,
  txId as txIdOf,
} from '@profichain/core'
import type { FileIngest } from '@profichain/ingest'
import type { BlockTree } from '@profichain/store'
import type { Logger } from 'pino'
import type { CheckpointsService } from '../checkpoints/index.js'

/** `[anchor]` of config.toml, resolved (docs/anchoring.md). */
export interface PublicAnchoringInit {
  /** How often the latest checkpoint is considered (ms); it is anchored only when it grew. */
  intervalMs: number
  /** Data dir: `anchor-receipts.json` (how far receipt files were upgraded) lives there. Absent: no file upgrades. */
  dataDir?: string
}

export interface PublicAnchoringComponents {
  checkpoints: CheckpointsService
  store: BlockTree
  anchor: PublicAnchor
  logger: Logger
  /** File ingest and this node's public key: receipt files of own records gain the eth branch once anchored. */
  ingest?: FileIngest
  ownKey?: Uint8Array
  /** The full Chainpoint receipt the API serves (partners' branches, then eth), used to rewrite receipt files. */
  receiptFor?: (txId: string) => Promise<object | undefined>
}

export interface PublicAnchoringEvents {
  anchored: [AnchorProof]
  /** Receipt files of own records in blocks below `size` were rewritten with the eth branch. */
  upgraded: [{ size: number; files: number }]
  failure: [AnchorError | Error]
}

/**
 * The public-anchoring subsystem (DESIGN §13): at every interval, the latest signed checkpoint (with the
 * cosignatures the network collected) goes to the public chain when its size grew since the last anchor. A
 * restart first finishes the anchor left in flight (same tx). Receipts gain an `eth` branch from the oldest
 * confirmed anchor covering the record's block.
 */
export class PublicAnchoring extends EventEmitter<PublicAnchoringEvents> {
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private stopped = false
  private lastError?: string
  private anchoredSize = 0

  constructor(private readonly init: PublicAnchoringInit, private readonly c: PublicAnchoringComponents) {
    super()
    // An RPC outage is retried inside submit (it never throws for it): show it in health meanwhile.
    c.anchor.on('failure', (err) => {
      this.lastError = err.message
    })
    c.anchor.on('anchored', (p) => {
      this.cache = undefined
      this.lastError = undefined
      this.anchoredSize = Math.max(this.anchoredSize, p.size)
      this.c.logger.info({ txHash: p.txHash, size: p.size, block: p.ethBlockNumber }, 'checkpoint anchored on the public chain')
      this.emit('anchored', p)
      this.upgrading = this.upgrading.then(() => this.upgrade(p.size)).catch((err: Error) => {
        this.c.logger.warn({ err: err.message }, 'eth receipt upgrade failed; retried after the next anchor')
      })
    })
  }

  private upgrading: Promise<void> = Promise.resolve()
  private cache?: Promise<AnchorProof[]>

  private get progressFile(): string | undefined {
    return this.init.dataDir ? join(this.init.dataDir, 'anchor-receipts.json') : undefined
  }

  /** Rewrite the receipt files of own file records in blocks [upgraded, size) with their eth branch. */
  private async upgrade(size: number): Promise<void> {
    const file = this.progressFile
    const ingest = this.c.ingest
    const receiptFor = this.c.receiptFor
    if (!file || !ingest || !this.c.ownKey || !receiptFor) return
    let from = 0
    try {
      from = (JSON.parse(await readFile(file, 'utf8')) as { upgradedSize: number }).upgradedSize
    } catch {
      from = 0
    }
    if (size <= from) return
    const own = toHex(this.c.ownKey)
    let files = 0
    let batch: Array<{ txId: string; metadata: Record<string, string> }> = []
    const flush = async () => {
      if (batch.length === 0) return
      const out = await ingest.writeReceipts(batch, receiptFor)
      files += out.written.length
      if (out.failed.length > 0) throw new Error(`${out.failed.length} receipt files not written (${out.failed[0].message})`)
      batch = []
    }
    for await (const b of this.c.store.blocks(from, size - 1)) {
      for (const tx of b.txs) {
        if (toHex(tx.body.origin) !== own || tx.body.metadata.source !== 'file') continue
        batch.push({ txId: toHex(txIdOf(tx)), metadata: tx.body.metadata })
      }
      if (batch.length >= 1000) await flush()
    }
    await flush()
    // Atomic and synced: a crash repeats at most one upgrade (rewriting a file is idempotent).
    const tmp = `${file}.tmp`
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(`${JSON.stringify({ v: 1, upgradedSize: size })}\n`)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
    const dir = await open(dirname(file), 'r')
    await dir.sync().finally(() => dir.close())
    this.emit('upgraded', { size, files })
  }

  async start(): Promise<void> {
    this.anchoredSize = (await this.c.anchor.latest())?.size ?? 0
    this.schedule(0)
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule(this.init.intervalMs))
    }, ms)
    this.timer.unref?.()
  }

  /** One round: finish an anchor in flight, then anchor the latest checkpoint if it grew. */
  async tick(): Promise<void> {
    try {
      if (await this.c.anchor.inFlight()) await this.c.anchor.resume()
      const latest = await this.c.checkpoints.checkpoints.latest()
      if (latest && latest.checkpoint.size > this.anchoredSize) {
        const { origin, size, root } = latest.checkpoint
        await this.c.anchor.submit({ origin, size, root })
      }
      this.lastError = undefined
    } catch (err) {
      if (this.stopped) return
      this.lastError = (err as Error).message
      this.c.logger.warn({ err: this.lastError, code: (err as AnchorError).code }, 'public anchoring failed; retried at the next interval')
      this.emit('failure', err as Error)
    }
  }

  /** `ANCHOR_FAILING` while the last round failed (e.g. the anchor account has no funds). */
  health(): { ok: true } | { ok: false; code: 'ANCHOR_FAILING'; message: string } {
    return this.lastError ? { ok: false, code: 'ANCHOR_FAILING', message: this.lastError } : { ok: true }
  }

  /** Confirmed anchors, newest first (GraphQL publicAnchors). */
  anchors(limit = 100): Promise<AnchorProof[]> {
    return this.c.anchor.anchors(limit)
  }

  /** The eth anchor input for a record in block `height`: the oldest confirmed anchor whose checkpoint covers it. */
  async inputFor(height: number): Promise<EthAnchorInput | undefined> {
    // Newest first; kept in memory (refreshed on each new anchor): receipt rewrites ask once per record.
    this.cache ??= this.c.anchor.anchors(100_000)
    const all = await this.cache
    const p = all.filter((a) => a.size > height).at(-1)
    if (!p) return undefined
    return ethAnchorInput(p, height, await this.c.checkpoints.log.inclusionProof(height, p.size))
  }

  /** Add the eth branch to a receipt (Chainpoint or native) of the tx `txId`, when an anchor covers its block. */
  async withEth<R extends ChainpointProof | NativeReceipt>(txId: string, r: R | undefined, form: 'chainpoint' | 'native'): Promise<R | undefined> {
    if (!r) return r
    const loc = await this.c.store.getTx(txId)
    if (!loc) return r
    const input = await this.inputFor(loc.height)
    if (!input) return r
    return (form === 'chainpoint' ? buildEthChainpoint(r as ChainpointProof, input) : buildEthNative(r as NativeReceipt, input)) as R
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.c.anchor.close()
    await this.upgrading
    await this.running?.catch(() => undefined)
  }
}

export function createPublicAnchoring(init: PublicAnchoringInit, components: PublicAnchoringComponents): PublicAnchoring {
  return new PublicAnchoring(init, components)
}
