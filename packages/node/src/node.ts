import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { type Block, CodecError, type KeyPair, nodeIdOf, readKeyFile, toHex, ValidationError } from '@profichain/core'
import { type Consensus, ConsensusError, createConsensus, type Genesis, genesisHash, isAllowedOrigin, loadGenesis, serializeGenesis } from '@profichain/consensus'
import { type ApiServer, createApiServer, type NodeStatus } from '@profichain/api'
import { createFileIngest, type FileIngest } from '@profichain/ingest'
import { createTxVerifier, type TxVerifier } from '@profichain/processing'
import { type BlockProducer, createBlockProducer, type ProducerFailure } from '@profichain/producer'
import { type BlockTree, createBlockTree, type RetentionPolicy } from '@profichain/store'
import { pino, type Logger } from 'pino'
import { type ChainService, createChainService } from './chain/index.js'
import { type CheckpointsService, createCheckpoints } from './checkpoints/index.js'
import { ConfigError, type NodeConfig } from './config.js'
import { NodeError } from './errors.js'
import { createDeviceApi } from './device-api.js'
import { createGossip, type GossipService, PayloadCache } from './gossip/index.js'
import { HealthMonitor, type Problem } from './health.js'
import { createIngestApi, type IngestApiSubsystem } from './ingest-api/index.js'
import { NodeMetrics } from './metrics.js'
import { createReceiptsWriter, type ReceiptsWriter } from './receipts/index.js'
import { createSync, createSyncHandlers, createWatchdog, type SyncService, trackImports, type Watchdog } from './sync/index.js'
import { createVotes, guardSealing, VoteRule, type VotesService } from './votes/index.js'
import { createPartnersWiring, type PartnersWiring } from './partners/wiring.js'
import { createPublicAnchoring, type PublicAnchoring } from './anchor/index.js'
import { createEthAnchor } from '@profichain/anchor'
import { isAbsolute, join, resolve as resolvePath } from 'node:path'

export const NODE_VERSION = '0.1.0'

export interface NodeInit {
  config: NodeConfig
  /** Override the logger (tests pass a silent one). */
  logger?: Logger
}

/** The node's events (what the API's subscriptions follow). */
export interface NodeEvents {
  /** A block became canonical. */
  block: [Block]
  /** Own records confirmed and their receipts written. */
  committed: [{ txIds: string[] }]
  /** Quorum: a block became the latest final block (enough validator co-signatures). */
  final: [{ height: number; hash: Uint8Array }]
  ready: []
  stopped: []
}

/**
 * A node composes its subsystems per node type and owns nothing else. The path of a record this node
 * signs (read `start()` top to bottom):
 *
 *   ingest signs it → chain.submitOwn: outbox (durable, deduplicated)
 *     → local producer's mempool (producer nodes)      → producer seals a block → chain.applied
 *     → gossip.publishOwn (networked nodes; re-gossiped on every requeue until committed)
 *   any block (produced / gossip / sync) → chain: verify signatures → store (consensus, fork choice)
 *     → events `block` / `reorg` (a reorg puts own records of the abandoned branch back into the outbox)
 *     → receipts writer: confirmed own records → receipt files → outbox ack → ack watermark → `committed`
 */
export class ProfichainNode extends EventEmitter<NodeEvents> {
  readonly config: NodeConfig
  readonly logger: Logger
  readonly metrics = new NodeMetrics()
  /** What keeps the node from doing its job fully (disk full, failing receipts, a lost acknowledged block). */
  readonly health = new HealthMonitor()
  /** The parts, set once each by `start()`; read through the getters below. */
  private readonly parts: {
    genesis?: Genesis
    consensus?: Consensus
    key?: KeyPair
    tree?: BlockTree
    verifier?: TxVerifier
    chain?: ChainService
    receipts?: ReceiptsWriter
    ingest?: FileIngest
    producer?: BlockProducer
    api?: ApiServer
    network?: GossipService
    sync?: SyncService
    watchdog?: Watchdog
    votes?: VotesService
    ingestApi?: IngestApiSubsystem
    checkpoints?: CheckpointsService
    partners?: PartnersWiring
    anchoring?: PublicAnchoring
  } = {}
  private started = false
  private stopping?: Promise<void>
  private rule?: VoteRule

  constructor(init: NodeInit) {
    super()
    this.config = init.config
    this.logger = init.logger ?? pino({ level: init.config.log.level, base: { node: undefined } })
  }

  get genesis(): Genesis {
    return this.need('genesis')
  }
  get consensus(): Consensus {
    return this.need('consensus')
  }
  get key(): KeyPair {
    return this.need('key')
  }
  /** The store (blocks, outbox, mempool, receipts): read-only use outside the chain service. */
  get tree(): BlockTree {
    return this.need('tree')
  }
  get chain(): ChainService | undefined {
    return this.parts.chain
  }
  get receipts(): ReceiptsWriter | undefined {
    return this.parts.receipts
  }
  get ingest(): FileIngest | undefined {
    return this.parts.ingest
  }
  get producer(): BlockProducer | undefined {
    return this.parts.producer
  }
  get api(): ApiServer | undefined {
    return this.parts.api
  }
  /** Gossip and the libp2p host (`network.net`), networked nodes only. */
  get network(): GossipService | undefined {
    return this.parts.network
  }
  get sync(): SyncService | undefined {
    return this.parts.sync
  }
  /** Quorum votes: own co-signatures, received votes, equivocation evidence, finality events. */
  get votes(): VotesService | undefined {
    return this.parts.votes
  }

  /** The device ingest API (TLS server, gateway, receipts owed), when [modules] ingest_api is on. */
  get ingestApi(): IngestApiSubsystem | undefined {
    return this.parts.ingestApi
  }

  /** Block log, signed checkpoints, witness service and partners (DESIGN §11). */
  get checkpoints(): CheckpointsService | undefined {
    return this.parts.checkpoints
  }

  /** Public anchoring (DESIGN §13): checkpoints into an Ethereum tx; undefined without `[anchor] rpc_url`. */
  get anchoring(): PublicAnchoring | undefined {
    return this.parts.anchoring
  }

  /** Partner links (validators): checkpoints offered to partners, anchors, entanglement proofs (DESIGN §11). */
  get partners(): PartnersWiring['service'] | undefined {
    return this.parts.partners?.service
  }

  private need<K extends 'genesis' | 'consensus' | 'key' | 'tree'>(k: K): NonNullable<ProfichainNode['parts'][K]> {
    const v = this.parts[k]
    if (v === undefined) throw new NodeError('ERR_NOT_STARTED', `the node is not started: no ${k} yet`, { part: k })
    return v as NonNullable<ProfichainNode['parts'][K]>
  }

  get nodeId(): string {
    return nodeIdOf(this.key.publicKey)
  }

  /** Open everything in order; on failure, close what was opened and rethrow. */
  async start(): Promise<void> {
    const c = this.config
    this.parts.genesis = await loadGenesis(c.paths.genesis)
    this.parts.key = await readKeyFile(c.paths.key)
    this.parts.consensus = createConsensus(this.genesis)
    this.checkRoles()
    const log = (component: string) => this.logger.child({ component })
    const registry = this.metrics.registry
    this.parts.tree = await createBlockTree({
      path: c.paths.db,
      genesis: this.genesis,
      consensus: this.consensus,
      retention: this.retention(),
      genesisSource: c.paths.genesis,
      log: (message, fields) => log('store').info(fields ?? {}, message),
    }, { registry })
    try {
      const tree = this.tree
      this.checkAcknowledged()
      this.health.add({ name: 'store', health: () => tree.health() })
      const verifier = (this.parts.verifier = createTxVerifier({ threads: c.processing.threads }))

      // Block production (producer nodes): seals blocks from the mempool; the chain service takes them.
      if (c.enabled.producer) {
        const producer = (this.parts.producer = createBlockProducer(
          {
            emptyBlocks: c.producer.empty_blocks,
            maxTxsPerBlock: c.producer.max_txs_per_block,
            maxPayloadBytesPerBlock: c.producer.max_block_payload_mib * 1024 * 1024,
          },
          {
            chain: tree,
            context: tree.chain,
            consensus: guardSealing(this.consensus, tree, this.voteRule(), Math.max(5000, 10 * this.genesis.blockTimeMs)),
            key: this.key,
            merkleRoot: (ids) => verifier.merkleRoot(ids),
            logger: log('producer'),
            // Quorum: keep sealing (empty blocks if need be) until the head is final, so votes that split
            // at one height converge on the next and no record stays unfinal for lack of a later block.
            needsBlock: this.genesis.consensus.type === 'quorum' ? () => tree.finalHeight() < tree.head().height : undefined,
          },
        ))
        producer.on('failure', (f: ProducerFailure) => {
          this.metrics.producerFailures.inc()
          this.logger.error({ err: f.err, code: f.code, consecutive: f.consecutive, retryInMs: f.retryInMs }, 'producing a block failed; retrying')
        })
        producer.on('recovered', (r: { code: string; failures: number }) => this.logger.info({ code: r.code, failures: r.failures }, 'block production works again'))
        this.health.add({ name: 'producer', health: () => producer.health() })
      }

      // File ingest: signs records and hands them to the chain service (outbox first).
      if (c.enabled.ingest) {
        await mkdir(c.paths.inbox, { recursive: true })
        const ingest = (this.parts.ingest = createFileIngest({
          inbox: c.paths.inbox,
          include: c.ingest.include,
          exclude: c.ingest.exclude,
          maxFileBytes: Math.min(c.ingest.max_file_bytes ?? this.genesis.maxTxBytes, this.genesis.maxTxBytes),
          lineMode: c.ingest.line_mode.length ? { patterns: c.ingest.line_mode } : undefined,
          stableMs: c.ingest.stable_ms,
        }, {
          network: this.genesis.network,
          key: this.key,
          outbox: {
            addMany: (items) => this.requireChain().submitOwn(items),
            lookup: (k) => tree.outbox.lookup(k),
            lookupMany: (ks) => tree.outbox.lookupMany(ks),
            nextSeq: (o) => tree.outbox.nextSeq(o),
          },
          signer: (msgs) => verifier.signMessages(this.key.seed, msgs), // issue 12: sign in the worker pool
          logger: this.logger, // ingest adds its own component field
          metrics: {
            filesAccepted: (n) => this.metrics.filesAccepted.inc(n),
            filesRejected: (n) => this.metrics.filesRejected.inc(n),
            recordsCreated: (n) => this.metrics.recordsCreated.inc(n),
          },
        }))
        this.health.add({ name: 'ingest', health: () => ingest.health() })
      }

      // Receipts: confirmed own records → receipt files (parked and retried alone when a write fails).
      const receipts = (this.parts.receipts = createReceiptsWriter(
        { confirmations: c.store.confirmations, anchorBase: () => this.anchorBase() },
        { store: tree, ingest: this.ingest, ownOrigin: this.key.publicKey, health: this.health, logger: log('receipts'), registry },
      ))

      // The chain service: every block and every own record goes through it.
      const payloads = c.enabled.archive && c.enabled.network ? new PayloadCache(256 * 1024 * 1024) : undefined
      const chain = (this.parts.chain = createChainService(
        {},
        {
          store: tree,
          verifier,
          ownOrigin: this.key.publicKey,
          // Device records accepted over the ingest API are recovered after a reorg like own records.
          isOwnRecord: async (tx) => (this.ingestApi ? this.ingestApi.isOwnRecord(tx) : false),
          receipts,
          producer: this.producer,
          payloads,
          isInvalidBlockError: (err): err is ValidationError | ConsensusError | CodecError =>
            err instanceof ValidationError || err instanceof ConsensusError || err instanceof CodecError,
          logger: log('chain'),
          registry,
        },
      ))
      chain.on('block', (b) => this.emit('block', b))
      // Quorum: validators co-sign each new canonical block; every node collects the votes (finality).
      if (this.genesis.consensus.type === 'quorum') {
        const votes = (this.parts.votes = createVotes(
          { genesis: this.genesis },
          { store: tree, key: this.key, publish: (v) => this.network?.publishVote(v), applied: (r) => chain.applied(r), rule: this.voteRule(), republish: (b) => this.network?.publishBlock(b), logger: log('votes'), registry },
        ))
        chain.on('block', (b) => void votes.onBlock(b))
        chain.on('stored', (hashes) => void votes.onStored(hashes))
        votes.start()
        votes.on('final', (f) => {
          this.logger.debug({ height: f.height, blockHash: toHex(f.hash) }, 'final block')
          this.emit('final', f)
        })
      }
      chain.on('committed', (e) => this.emit('committed', e))
      this.producer?.on('block', ({ result }) => chain.applied(result))
      // Anything left in the outbox from before a crash goes to the mempool again.
      await chain.requeue()

      // Device ingest API (docs/ingest-protocol.md): device-signed records → the same outbox as own records.
      if (c.enabled.ingestApi) {
        const a = c.ingest_api
        const ingestApi = (this.parts.ingestApi = createIngestApi(
          {
            dir: c.paths.ingestApi,
            genesis: this.genesis,
            confirmations: c.store.confirmations,
            anchorBase: () => this.anchorBase(),
            tls: true,
            retention: this.retention(),
            server: {
              host: a.host,
              port: a.port,
              limits: { maxFrameBytes: a.max_frame_bytes, maxBatch: a.max_batch, maxInFlight: a.max_in_flight },
              maxConnections: a.max_connections,
              maxUnauthenticated: a.max_unauthenticated,
              maxConnectionsPerDevice: a.max_connections_per_device,
              maxUnregistered: a.max_unregistered,
              ratePerDevice: a.rate_per_device,
              burstPerDevice: a.burst_per_device,
              helloTimeoutMs: a.hello_timeout_ms,
              idleTimeoutMs: a.idle_timeout_ms,
              writeBufferBytes: a.write_buffer_bytes,
              slowReaderMs: a.slow_reader_ms,
            },
          },
          { tree, key: this.key, submitOwn: (items, opts) => chain.submitOwn(items, opts), verifier, committed: chain, logger: log('ingest-api'), registry },
        ))
        await ingestApi.start()
      }
      // Block log and checkpoints (DESIGN §11): final blocks into the log, validators sign, witness for partners.
      const checkpoints = (this.parts.checkpoints = await createCheckpoints(
        { genesis: this.genesis, dataDir: c.dataDir, partners: c.partners, witnesses: c.witnesses },
        { store: tree, key: this.key, logger: log('checkpoints'), registry, publish: (note) => this.network?.publishCheckpoint(note) },
      ))
      this.health.add({ name: 'checkpoints', health: () => checkpoints.health() })
      // Partners (validators): our checkpoints to their witnesses, anchors of theirs, entanglement proofs back.
      this.parts.partners = await createPartnersWiring(
        { config: c, genesis: this.genesis, anchorBase: () => this.anchorBase() },
        { checkpoints, chain, store: tree, key: this.key, ingest: this.ingest, logger: log('partners'), registry },
      )
      // Public anchoring (DESIGN §13): the latest checkpoint into an Ethereum tx at an interval.
      if (c.anchor.rpc_url) {
        const a = c.anchor
        const anchor = createEthAnchor(
          {
            rpcUrl: a.rpc_url as string,
            keyFile: isAbsolute(a.key_file) ? a.key_file : resolvePath(c.dataDir, a.key_file),
            dir: join(c.dataDir, 'anchor'),
            confirmations: a.confirmations,
            gasLimit: a.gas_limit,
            maxFeePerGas: BigInt(Math.round(a.max_fee_gwei * 1e9)),
          },
          { registry, logger: log('anchor') },
        )
        await anchor.open()
        const anchoring = (this.parts.anchoring = createPublicAnchoring(
          { intervalMs: a.interval_s * 1000, dataDir: c.dataDir },
          {
            checkpoints,
            store: tree,
            anchor,
            logger: log('anchor'),
            ingest: this.ingest,
            ownKey: this.key.publicKey,
            receiptFor: (id) => this.crossReceiptFn(tree)?.(id, 'chainpoint') ?? Promise.resolve(undefined),
          },
        ))
        this.health.add({ name: 'anchor', health: () => anchoring.health() })
      }

      if (c.enabled.api) {
        const api = (this.parts.api = createApiServer(
          { host: c.api.host, port: c.api.port, token: c.api.token, cors: c.api.cors },
          {
            tree,
            status: () => this.status(),
            peers: () => this.peers(),
            events: this,
            metrics: registry,
            anchorBase: () => this.anchorBase(),
            genesis: () => serializeGenesis(this.genesis), // for the explorer's in-browser verification
            ready: () => this.started && !this.stopping,
            health: () => {
              const problems = this.problems()
              return { status: problems.length > 0 ? 'degraded' : 'ready', problems }
            },
            // Device registry and device txs signed with this node's member key (GraphQL devices / registerDevice).
            devices: createDeviceApi({ genesis: this.genesis, key: this.key, tree, submit: (items) => this.requireChain().submitOwn(items) }),
            // Equivocation evidence kept by the store (quorum), for GraphQL `evidence`.
            records: this.ingestApi && {
              maxBatch: c.ingest_api.max_batch,
              maxFrameBytes: c.ingest_api.max_frame_bytes,
              submit: (items) => (this.ingestApi as IngestApiSubsystem).submit(items.map((it) => (it.ok ? { tx: it.tx } : { refused: it.error.code }))),
            },
            evidence: async () =>
              (await tree.evidence()).map((e) => ({
                validator: e.signer,
                height: e.height,
                blockHashes: [toHex(e.votes[0].blockHash), toHex(e.votes[1].blockHash)] as [string, string],
              })),
            checkpoints: { ...checkpoints.api(), ...this.parts.partners?.routes() },
            crossReceipt: this.crossReceiptFn(tree),
            publicAnchors: this.parts.anchoring ? (limit) => this.parts.anchoring!.anchors(limit) : undefined,
          },
        ))
        await api.start()
      }

      // Networked nodes: gossip in/out and sync (server answers from the store, client catches up).
      if (c.enabled.network) {
        // Blocks from peers (gossip, sync) go to the chain service through one tracker: the watchdog sees how
        // long the oldest import has waited.
        const imports = trackImports((block: Block, opts?: { from?: string }) => chain.addBlock(block, opts))
        const gossip = (this.parts.network = createGossip(
          { genesis: this.genesis, listen: [`/ip4/${c.p2p.host}/tcp/${c.p2p.port}`], bootstrap: c.p2p.bootstrap, targetPeers: c.p2p.target_peers, relayTxs: c.p2p.relay_txs },
          {
            key: this.key,
            handlers: createSyncHandlers({ genesisHash: genesisHash(this.genesis) }, { store: tree }),
            chain: { addBlock: imports.addBlock },
            verifier,
            mempool: this.producer ? tree.mempool : undefined,
            origins: { known: (o) => tree.devices.known(o), check: (txs) => tree.checkOrigins(txs) },
            producer: this.producer,
            payloads,
            votes: this.votes,
            checkpoints,
            logger: log('network'),
            registry,
          },
        ))
        const sync = (this.parts.sync = createSync(
          { genesisHash: genesisHash(this.genesis), fetchPayloads: c.enabled.archive },
          { net: gossip.net, store: tree, chain: { addBlock: imports.addBlock, importing: imports.importing }, votes: this.votes, logger: log('sync') },
        ))
        this.parts.watchdog = createWatchdog(
          {},
          {
            chainWaitMs: imports.oldestWaitMs,
            syncRoundMs: () => sync.roundMs(),
            heights: this.genesis.consensus.type === 'quorum' ? () => ({ head: tree.head().height, final: tree.finalHeight() }) : undefined,
            logger: log('watchdog'),
            registry,
          },
        )
        chain.on('own-txs', (txs) => gossip.publishOwn(txs))
        chain.on('requeue', (txs) => gossip.publishOwn(txs, true))
        chain.on('block', (block) => gossip.canonical(block))
        this.producer?.on('block', ({ block }) => gossip.publishBlock(block))
        gossip.on('orphan', ({ from }) => sync.orphanParents(from))
        if (c.enabled.archive) gossip.on('applied', ({ blocks, from }) => void sync.fetchPayloads(blocks, from))
        await gossip.start()
        sync.start()
        this.parts.watchdog.start()
      }
      this.metrics.levels({
        height: () => tree.head().height,
        mempool: () => tree.mempool.size(),
        outbox: () => tree.outbox.size(),
        peers: this.network ? () => this.peers().length : undefined,
      })

      this.producer?.start()
      await this.ingest?.start()
      chain.start()
      receipts.start()
      checkpoints.start()
      await this.parts.partners?.start()
      await this.parts.anchoring?.start()
      this.started = true
      const head = tree.head()
      this.logger.info({ type: c.type, nodeId: this.nodeId, network: this.genesis.network, height: head.height, modules: c.enabled }, 'node started')
      this.emit('ready')
    } catch (err) {
      await this.ingestApi?.stop().catch(() => {})
      await this.ingest?.stop().catch(() => {})
      await this.producer?.stop().catch(() => {})
      await this.parts.watchdog?.stop()
      await this.sync?.stop().catch(() => {})
      await this.network?.stop().catch(() => {})
      await this.chain?.stop().catch(() => {})
      await this.votes?.stop().catch(() => {})
      await this.parts.anchoring?.stop().catch(() => {})
      await this.parts.partners?.stop().catch(() => {})
      await this.checkpoints?.stop().catch(() => {})
      await this.api?.stop().catch(() => {})
      await this.closeAll()
      throw err
    }
  }

  /** Receipts for the API: partners' cross-chain branches, then the eth branch of public anchoring. */
  private crossReceiptFn(tree: BlockTree): ((id: string, form: 'chainpoint' | 'native') => Promise<object | undefined>) | undefined {
    const partners = this.parts.partners
    const anchoring = this.parts.anchoring
    if (!partners && !anchoring) return undefined
    return async (id, form) => {
      const base = partners
        ? await partners.service.crossReceipt(id, form)
        : form === 'chainpoint'
          ? await tree.receipt(id, 'chainpoint', this.anchorBase())
          : await tree.receipt(id, 'native', this.anchorBase())
      return anchoring ? anchoring.withEth(id, base, form) : base
    }
  }

  /** Quorum: the vote rule of this validator, shared by its producer and its votes subsystem. */
  private voteRule(): VoteRule | undefined {
    if (this.genesis.consensus.type !== 'quorum' || !this.parts.tree) return undefined
    this.rule ??= new VoteRule(this.genesis, this.parts.tree, this.logger.child({ component: 'votes' }))
    return this.rule
  }

  private requireChain(): ChainService {
    if (!this.chain) throw new NodeError('ERR_NOT_STARTED', 'the chain service is not running', { part: 'chain' })
    return this.chain
  }

  /** A producer must be a validator (except under proof of work); an ingesting node must be a member. */
  private checkRoles(): void {
    const c = this.config
    const pub = toHex(this.key.publicKey)
    if (c.enabled.producer && !this.genesis.validators.includes(pub) && this.genesis.consensus.type !== 'work') {
      throw new ConfigError(`this node (${pub.slice(0, 16)}…) is configured as a producer but is not a validator in ${c.paths.genesis}`)
    }
    if (c.enabled.ingest && !isAllowedOrigin(this.genesis, this.key.publicKey)) {
      throw new ConfigError(
        `this node (${pub.slice(0, 16)}…) ingests files but its key is not a member in ${c.paths.genesis}: the network would refuse every record it signs. Add its public key to genesis members, or disable ingest ([modules] ingest = false)`,
      )
    }
  }

  /** What /graphql `status` and `profichain status` report. */
  status(): Required<Pick<NodeStatus, 'health' | 'problems'>> & NodeStatus {
    const problems = this.problems()
    return {
      health: problems.length > 0 ? 'degraded' : 'ready',
      problems,
      type: this.config.type,
      nodeId: this.nodeId,
      network: this.genesis.network,
      peerId: this.network?.peerId,
      version: NODE_VERSION,
      syncing: this.sync?.isSyncing() ?? false,
      peers: this.peers().length,
      ingestFingerprint: this.ingestApi?.certificate()?.fingerprintHex,
      ingestAddress: ((a) => (a ? `${a.host}:${a.port}` : undefined))(this.ingestApi?.address()),
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

  /** Base URL for Chainpoint anchor URIs: the public API URL, else the local API address. */
  anchorBase(): string {
    const a = this.config.api
    return a.public_url ?? `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`
  }

  /** Graceful stop: finish in-flight work, write the receipts due, close the DB. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.api?.stop()
      await this.ingestApi?.stop()
      await this.ingest?.stop()
      await this.producer?.stop()
      await this.parts.watchdog?.stop()
      await this.sync?.stop()
      await this.chain?.idle()
      await this.parts.anchoring?.stop()
      await this.parts.partners?.stop()
      await this.checkpoints?.stop()
      await this.votes?.stop()
      await this.network?.stop()
      await this.chain?.stop()
      if (this.started) await this.receipts?.stop()
      await this.closeAll()
      this.logger.info('node stopped')
      this.emit('stopped')
    })()
    return this.stopping
  }

  private async closeAll(): Promise<void> {
    await this.parts.verifier?.close().catch(() => {})
    await this.parts.tree?.close().catch((err) => this.logger.warn({ err }, 'closing the store failed'))
  }
}

export async function createNode(init: NodeInit): Promise<ProfichainNode> {
  return new ProfichainNode(init)
}
