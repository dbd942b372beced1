import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import {
  equalBytes,
  type KeyPair,
  nodeIdOf,
  readKeyFile,
  stripTx,
  toHex,
  type Transaction,
  txId,
} from '@profichain/core'
import { type ChainContext, type Consensus, createConsensus, type Genesis, isAllowedOrigin, loadGenesis } from '@profichain/consensus'
import { type ApiServer, createApiServer } from '@profichain/api'
import { fileIngest, type FileIngest, type ReceiptSource } from '@profichain/ingest'
import { createTxVerifier, type TxVerifier } from '@profichain/processing'
import { BlockProducer, type ProducerFailure } from '@profichain/producer'
import { type AddBlockResult, BlockTree, type ReorgInfo, type RetentionPolicy, type TxLocation } from '@profichain/store'
import { pino, type Logger } from 'pino'
import { ConfigError, type NodeConfig } from './config.js'
import { HealthMonitor, type Problem } from './health.js'
import { NodeMetrics } from './metrics.js'
import { NetworkBridge } from './network-bridge.js'

export const NODE_VERSION = '0.1.0'

/** A receipt that could not be written is retried alone after this delay, doubling per attempt up to the max. */
const RECEIPT_RETRY_MIN_MS = 1000
const RECEIPT_RETRY_MAX_MS = 30_000

export interface NodeInit {
  config: NodeConfig
  /** Override the logger (tests pass a silent one). */
  logger?: Logger
}

/** Events: 'block' (Block, newly canonical), 'committed' ({txIds}), 'ready', 'stopped'. */
export class ProfichainNode extends EventEmitter {
  readonly config: NodeConfig
  readonly logger: Logger
  readonly metrics = new NodeMetrics()
  /** What keeps the node from doing its job fully (disk full, failing receipts, a lost acknowledged block). */
  readonly health = new HealthMonitor()
  genesis!: Genesis
  consensus!: Consensus
  key!: KeyPair
  tree!: BlockTree
  verifier!: TxVerifier
  ingest?: FileIngest
  producer?: BlockProducer
  api?: ApiServer
  network?: NetworkBridge
  context!: ChainContext
  private timers: NodeJS.Timeout[] = []
  private receiptsBusy = false
  private receiptsAgain = false
  private retryBusy = false
  private started = false
  private stopping?: Promise<void>

  constructor(init: NodeInit) {
    super()
    this.config = init.config
    this.logger = init.logger ?? pino({ level: init.config.log.level, base: { node: undefined } })
  }

  get nodeId(): string {
    return nodeIdOf(this.key.publicKey)
  }

  /** Open everything in order; on failure, close what was opened and rethrow. */
  async start(): Promise<void> {
    const c = this.config
    this.genesis = await loadGenesis(c.paths.genesis)
    this.key = await readKeyFile(c.paths.key)
    this.consensus = createConsensus(this.genesis)
    const pub = toHex(this.key.publicKey)
    if (c.enabled.producer && !this.genesis.validators.includes(pub) && this.genesis.consensus.type !== 'work') {
      throw new ConfigError(`this node (${pub.slice(0, 16)}…) is configured as a producer but is not a validator in ${c.paths.genesis}`)
    }
    if (c.enabled.ingest && !isAllowedOrigin(this.genesis, this.key.publicKey)) {
      throw new ConfigError(
        `this node (${pub.slice(0, 16)}…) ingests files but its key is not a member in ${c.paths.genesis}: the network would refuse every record it signs. Add its public key to genesis members, or disable ingest ([modules] ingest = false)`,
      )
    }
    this.tree = await BlockTree.open({
      path: c.paths.db,
      genesis: this.genesis,
      consensus: this.consensus,
      retention: this.retention(),
      genesisSource: c.paths.genesis,
      log: (message, fields) => this.logger.child({ component: 'store' }).info(fields ?? {}, message),
    })
    try {
      this.checkAcknowledged()
      this.health.add({ name: 'store', health: () => this.tree.health() })
      this.context = this.tree.chain
      this.verifier = createTxVerifier({ threads: c.processing.threads })
      if (c.enabled.producer) {
        this.producer = new BlockProducer(
          {
            chain: this.tree,
            context: this.context,
            consensus: this.consensus,
            key: this.key,
            merkleRoot: (ids) => this.verifier.merkleRoot(ids),
            logger: this.logger.child({ component: 'producer' }),
          },
          {
            emptyBlocks: c.producer.empty_blocks,
            maxTxsPerBlock: c.producer.max_txs_per_block,
            maxPayloadBytesPerBlock: c.producer.max_block_payload_mib * 1024 * 1024,
          },
        )
        this.producer.on('block', ({ result }) => this.onChainUpdate(result))
        this.producer.on('failure', (f: ProducerFailure) => {
          this.metrics.producerFailures.inc()
          this.logger.error({ err: f.err, code: f.code, consecutive: f.consecutive, retryInMs: f.retryInMs }, 'producing a block failed; retrying')
        })
        this.producer.on('recovered', (r: { code: string; failures: number }) =>
          this.logger.info({ code: r.code, failures: r.failures }, 'block production works again'),
        )
        const producer = this.producer
        this.health.add({ name: 'producer', health: () => producer.health() })
      }
      if (c.enabled.ingest) {
        await mkdir(c.paths.inbox, { recursive: true })
        this.ingest = fileIngest({
          inbox: c.paths.inbox,
          include: c.ingest.include,
          exclude: c.ingest.exclude,
          maxFileBytes: Math.min(c.ingest.max_file_bytes ?? this.genesis.maxTxBytes, this.genesis.maxTxBytes),
          lineMode: c.ingest.line_mode.length ? { patterns: c.ingest.line_mode } : undefined,
          stableMs: c.ingest.stable_ms,
        })({
          network: this.genesis.network,
          key: this.key,
          outbox: {
            addMany: async (items) => {
              const r = await this.tree.outbox.addMany(items)
              this.onOwnTxs(items.filter((_, i) => !r[i].duplicate).map((x) => x.tx))
              return r
            },
            lookup: (k) => this.tree.outbox.lookup(k),
            lookupMany: (ks) => this.tree.outbox.lookupMany(ks),
            nextSeq: (o) => this.tree.outbox.nextSeq(o),
          },
          logger: this.logger, // ingest adds its own component field
          metrics: {
            filesAccepted: (n) => this.metrics.filesAccepted.inc(n),
            filesRejected: (n) => this.metrics.filesRejected.inc(n),
            recordsCreated: (n) => this.metrics.recordsCreated.inc(n),
          },
        })
      }
      if (this.ingest) {
        const ingest = this.ingest
        this.health.add({ name: 'ingest', health: () => ingest.health() })
      }
      // Anything left in the outbox from before a crash goes to the mempool again.
      await this.requeueOutbox()
      if (c.enabled.api) {
        this.api = createApiServer(
          { host: c.api.host, port: c.api.port, token: c.api.token, cors: c.api.cors },
          {
            tree: this.tree,
            status: () => this.status(),
            peers: () => this.peers(),
            events: this,
            metrics: this.metrics.registry,
            anchorBase: () => this.anchorBase(),
            ready: () => this.started && !this.stopping,
            health: () => {
              const problems = this.problems()
              return { status: problems.length > 0 ? 'degraded' : 'ready', problems }
            },
          },
        )
        await this.api.start()
      }
      if (c.enabled.network) {
        this.network = new NetworkBridge(this)
        await this.network.start()
      }
      this.producer?.start()
      await this.ingest?.start()
      this.timers.push(setInterval(() => void this.requeueOutbox().catch((err) => this.logger.warn({ err }, 'requeue failed')), 5000))
      this.timers.push(setInterval(() => this.updateGauges(), 1000))
      this.timers.push(setInterval(() => void this.retryReceipts(), RECEIPT_RETRY_MIN_MS))
      void this.writeReceipts()
      this.started = true
      const head = this.tree.head()
      this.logger.info(
        { type: c.type, nodeId: this.nodeId, network: this.genesis.network, height: head.height, modules: c.enabled },
        'node started',
      )
      this.emit('ready')
    } catch (err) {
      await this.ingest?.stop().catch(() => {})
      await this.producer?.stop().catch(() => {})
      await this.network?.stop().catch(() => {})
      await this.api?.stop().catch(() => {})
      await this.closeAll()
      throw err
    }
  }

  /** What /graphql `status` and `profichain status` report. */
  status(): {
    type: string
    nodeId: string
    peerId?: string
    network: string
    version: string
    syncing: boolean
    peers: number
    health: 'ready' | 'degraded'
    problems: Problem[]
  } {
    const problems = this.problems()
    return {
      health: problems.length > 0 ? 'degraded' : 'ready',
      problems,
      type: this.config.type,
      nodeId: this.nodeId,
      network: this.genesis.network,
      peerId: this.network?.peerId,
      version: NODE_VERSION,
      syncing: this.network?.isSyncing() ?? false,
      peers: this.peers().length,
    }
  }

  /** Current problems (empty when the node works fully). */
  problems(): Problem[] {
    return this.health.problems()
  }

  /**
   * Power-cut check: the store remembers (outside LevelDB) the highest block for which this node issued
   * receipts. If the chain no longer holds that block, records this node acknowledged may be gone: say so
   * loudly, at every start, until an operator repairs the data dir.
   */
  private checkAcknowledged(): void {
    const ack = this.tree.ackCheck()
    if (ack.ok) return
    this.logger.fatal(
      { code: ack.code, acknowledged: ack.acknowledged, head: ack.head },
      `DATA LOSS SUSPECTED: ${ack.message}. Receipts this node issued may not hold any more; run \`profichain audit\` and restore the data dir from a backup or resync it from peers`,
    )
    this.health.raise(ack.code, ack.message)
  }

  peers(): Array<{ peerId: string; publicKey: string; addrs: string[]; direction: string }> {
    return this.network?.net.peers() ?? []
  }

  private retention(): RetentionPolicy {
    const r = this.config.store.retention
    if (this.config.enabled.archive) return { mode: 'all' }
    if (r === 'all' || r === 'none') return { mode: r }
    // Default for non-archive nodes: keep the payloads of our own records.
    const own = { origin: toHex(this.key.publicKey) }
    return { mode: 'rules', rules: [own, ...(r ?? [])] }
  }

  /** New txs of our own: hand them to the local producer (the network publishes them in networked nodes). */
  private onOwnTxs(txs: Transaction[]): void {
    if (txs.length === 0) return
    if (this.producer) {
      void this.tree.mempool
        .add(txs)
        .then(() => this.producer?.notify())
        .catch((err) => this.logger.warn({ err }, 'mempool add failed'))
    }
    this.emit('own-txs', txs)
  }

  private async requeueOutbox(): Promise<void> {
    const pending = await this.tree.outbox.uncommitted(100_000)
    if (pending.length === 0) return
    if (this.producer) {
      const added = await this.tree.mempool.add(pending)
      if (added > 0) this.producer.notify()
    }
    this.emit('requeue', pending)
  }

  /** Called after every block this node applied (produced, gossiped or synced). */
  onChainUpdate(result: AddBlockResult): void {
    for (const b of result.newCanonical) {
      this.metrics.blocks.inc()
      this.metrics.txsCommitted.inc(b.txs.length)
      this.emit('block', b)
    }
    if (result.reorg) {
      this.metrics.reorgs.inc()
      this.logger.warn({ depth: result.reorg.depth, removed: result.reorg.removedTxIds.length }, 'chain reorganised')
      void this.recoverOwnTxs(result.reorg).catch((err) => this.logger.error({ err }, 'recovering records after a reorg failed'))
    }
    void this.writeReceipts()
  }

  /**
   * A reorg can move own records that were already confirmed (receipt written, outbox entry cleared): out of
   * the chain, or into another block of the new branch (e.g. gossip that crossed a healed partition). Put
   * every own record of the abandoned branch back into the outbox: one that is already in the new chain is
   * confirmed again at once and its receipt rewritten for its new block; one that is not is gossiped and
   * committed again. Nothing accepted is ever lost, and no receipt keeps pointing at an abandoned block.
   */
  private async recoverOwnTxs(reorg: ReorgInfo): Promise<void> {
    const own = this.key.publicKey
    const again: Array<{ tx: Transaction }> = []
    let hash: Uint8Array | undefined = reorg.oldHead
    for (let depth = 0; hash && depth < reorg.depth; depth++) {
      const block = await this.tree.getBlock(hash)
      if (!block) break
      for (const tx of block.txs) {
        if (!equalBytes(tx.body.origin, own)) continue
        const id = toHex(txId(tx))
        const payload = await this.tree.getPayload(id)
        if (!payload) {
          this.logger.error({ txId: id }, 'own record left its block in a reorg and its payload is not stored: it cannot be re-sent')
          continue
        }
        again.push({ tx: { ...stripTx(tx), payload } })
      }
      hash = block.header.height > 0 ? block.header.prevHash : undefined
    }
    if (again.length === 0) return
    const r = await this.tree.outbox.addMany(again)
    this.logger.warn({ records: again.length }, 'own records were in blocks a reorg abandoned: tracked again until confirmed')
    this.onOwnTxs(again.filter((_, i) => !r[i].duplicate).map((x) => x.tx))
    void this.writeReceipts()
  }

  /**
   * Receipts for confirmed own txs, then drop them from the outbox. A receipt that cannot be written is
   * parked in the store's durable retry list (and retried alone), so it never blocks the others.
   * Serialised; reruns if asked meanwhile.
   */
  private async writeReceipts(): Promise<void> {
    if (this.receiptsBusy) {
      this.receiptsAgain = true
      return
    }
    this.receiptsBusy = true
    try {
      do {
        this.receiptsAgain = false
        for (;;) {
          const done = await this.tree.outbox.confirmed(this.config.store.confirmations, 10_000)
          if (done.length === 0) break
          const failed = await this.writeReceiptFiles(done)
          const failedIds = new Set(failed.map((f) => f.txId))
          const ok = done.filter((d) => !failedIds.has(d.txId))
          if (failed.length > 0) await this.tree.outbox.deferReceipts(failed)
          await this.tree.outbox.ack(ok.map((d) => d.txId))
          await this.acknowledge(done)
          this.emit('committed', { txIds: done.map((d) => d.txId) })
        }
      } while (this.receiptsAgain)
    } catch (err) {
      if (!this.stopping) this.logger.error({ err }, 'writing receipts failed; will retry')
    } finally {
      this.receiptsBusy = false
    }
  }

  /** Write the receipt files of these confirmed txs; returns the ones that failed (logged and counted). */
  private async writeReceiptFiles(locs: TxLocation[]): Promise<Array<{ txId: string; code: string; message: string }>> {
    if (!this.ingest) return []
    const byId = new Map(locs.map((d) => [d.txId, d]))
    const sources: ReceiptSource[] = locs
      .filter((d) => d.tx.body.metadata.source === 'file')
      .map((d) => ({ txId: d.txId, metadata: d.tx.body.metadata }))
    if (sources.length === 0) return []
    const outcome = await this.ingest.writeReceipts(sources, (id) => {
      const loc = byId.get(id)
      return loc ? this.tree.receiptAt(loc, 'chainpoint', this.anchorBase()) : this.tree.receipt(id, 'chainpoint', this.anchorBase())
    })
    if (outcome.failed.length > 0) {
      this.metrics.receiptsFailed.inc(outcome.failed.length)
      const first = outcome.failed[0]
      this.logger.error(
        { failed: outcome.failed.length, txId: first.txId, code: first.code, err: first.message },
        'receipts could not be written; they are retried alone and the others go on',
      )
    }
    this.metrics.receiptsWritten.inc(outcome.written.length)
    return outcome.failed
  }

  /** Remember the highest block this node issued receipts for (checked at the next start). */
  private async acknowledge(done: TxLocation[]): Promise<void> {
    let top: TxLocation | undefined
    for (const d of done) if (!top || d.height > top.height) top = d
    if (top) await this.tree.acknowledge({ height: top.height, hash: toHex(top.blockHash) })
  }

  /** Retry parked receipts whose back-off has passed; clear them once written. */
  private async retryReceipts(): Promise<void> {
    if (this.retryBusy || this.stopping) return
    this.retryBusy = true
    try {
      const parked = await this.tree.outbox.deferredReceipts(1000)
      this.metrics.receiptsDeferred.set(parked.length)
      if (parked.length === 0) {
        this.health.clear('RECEIPTS_FAILING')
        return
      }
      const now = Date.now()
      const due = parked.filter((p) => now - p.lastFailedAt >= Math.min(RECEIPT_RETRY_MIN_MS * 2 ** (p.attempts - 1), RECEIPT_RETRY_MAX_MS))
      const locs: TxLocation[] = []
      const gone: string[] = []
      for (const p of due) {
        const loc = await this.tree.getTx(p.txId)
        if (loc) locs.push(loc)
        else gone.push(p.txId) // no longer canonical: the reorg recovery tracks it again
      }
      const failed = await this.writeReceiptFiles(locs)
      const failedIds = new Set(failed.map((f) => f.txId))
      if (failed.length > 0) await this.tree.outbox.deferReceipts(failed)
      await this.tree.outbox.clearDeferred([...gone, ...locs.filter((l) => !failedIds.has(l.txId)).map((l) => l.txId)])
      const left = await this.tree.outbox.deferredCount()
      this.metrics.receiptsDeferred.set(left)
      if (left === 0) this.health.clear('RECEIPTS_FAILING')
      else {
        const worst = failed[0] ?? parked[0]
        this.health.raise('RECEIPTS_FAILING', `${left} receipt(s) cannot be written (${worst.code}: ${worst.message}); retrying`)
      }
    } catch (err) {
      if (!this.stopping) this.logger.warn({ err }, 'retrying parked receipts failed; will retry')
    } finally {
      this.retryBusy = false
    }
  }

  /** Base URL for Chainpoint anchor URIs: the public API URL, else the local API address. */
  anchorBase(): string {
    const a = this.config.api
    return a.public_url ?? `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
  }

  private updateGauges(): void {
    const head = this.tree.head()
    this.metrics.height.set(head.height)
    this.metrics.mempool.set(this.tree.mempool.size())
    void this.tree.outbox.size().then((n) => this.metrics.outbox.set(n))
    if (this.network) {
      const st = this.network.net.stats()
      this.metrics.peers.set(st.peers)
      this.metrics.gossipIn.set(st.gossipIn)
      this.metrics.gossipOut.set(st.gossipOut)
      this.metrics.syncServed.set(st.syncServed)
      this.metrics.syncRequests.set(st.syncRequests)
    }
  }

  /** Graceful stop: finish in-flight work, flush, close the DB. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t)
      await this.api?.stop()
      await this.ingest?.stop()
      await this.producer?.stop()
      await this.network?.stop()
      if (this.started) await this.writeReceipts()
      await this.closeAll()
      this.logger.info('node stopped')
      this.emit('stopped')
    })()
    return this.stopping
  }

  private async closeAll(): Promise<void> {
    await this.verifier?.close().catch(() => {})
    await this.tree?.close().catch((err) => this.logger.warn({ err }, 'closing the store failed'))
  }
}

export async function createNode(init: NodeInit): Promise<ProfichainNode> {
  return new ProfichainNode(init)
}
