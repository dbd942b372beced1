import type { CheckpointApi } from './checkpoint.js'
import type { EventEmitter } from 'node:events'
import type { Block, BlockHeader, ChainpointProof, NativeReceipt } from '@profichain/core'
import type { TxLocation } from '@profichain/store'
import type { Registry } from 'prom-client'
import type { RecordsSubmitter } from './records.js'

export interface ApiInit {
  /** Bind address. Default 127.0.0.1; any non-loopback address requires `token`. */
  host?: string
  /** TCP port; 0 picks a free one (see the address `start()` resolves with). Default 8545. */
  port?: number
  /** Bearer token required on every route but /healthz, anchor hash URIs (block hashes only) and the GraphiQL page. */
  token?: string
  /** Allowed CORS origins ('*' for any). CORS is off when empty. */
  cors?: string[]
  /** Deepest field nesting of a query. Default 8. */
  maxDepth?: number
  /** Static query cost cap (each field 1, times the list sizes above it; see docs/api.md). Default 5000. */
  maxComplexity?: number
  /** Aliased fields per operation. Default 30. */
  maxAliases?: number
  /** Directives per operation. Default 50. */
  maxDirectives?: number
  /** Blocks and txs one request may load, scan, hash or return (run-time budget). Default 1 000 000. */
  maxWork?: number
  /** Approximate result size one request may build, in bytes (run-time budget). Default 16 MiB. */
  maxResultBytes?: number
  /** Time one request may spend resolving, in ms (run-time budget). Default 10 000. */
  maxQueryMs?: number
  /** Lexical tokens per document (parse stops beyond). Default 5000. */
  maxTokens?: number
  /** Request body (and GET URL) size cap. Default 64 KiB. */
  maxBodyBytes?: number
  /** Largest payload `transaction.payload` returns inline; bigger ones via GET /tx/<id>/payload. Default 64 KiB. */
  payloadCapBytes?: number
  /** Blocks one `transactions` page may scan when filtering without an index. Default 2000. */
  maxScanBlocks?: number
  /** Txs one `transactions` page may look at. Default 200 000. */
  maxScanTxs?: number
  /** Open SSE subscription streams at once. Default 64. */
  maxSubscriptions?: number
}

/** The read side of the block tree the API needs (BlockTree from @profichain/store satisfies it). */
export interface ApiChain {
  head(): { hash: Uint8Array; height: number }
  getHeader(hash: Uint8Array): Promise<BlockHeader | undefined>
  getBlock(hash: Uint8Array): Promise<Block | undefined>
  getHashAtHeight(height: number): Promise<Uint8Array | undefined>
  getTx(txId: string): Promise<TxLocation | undefined>
  /** Many lookups at once, in order. */
  getTxs(txIds: string[]): Promise<Array<TxLocation | undefined>>
  getPayload(txId: string): Promise<Uint8Array | undefined>
  hasPayload(txId: string): Promise<boolean>
  txIdsByPayloadHash(payloadHash: Uint8Array): Promise<string[]>
  finalHeight(): number
  receipt(txId: string, format: 'chainpoint', anchorBase: string): Promise<ChainpointProof | undefined>
  receipt(txId: string, format: 'native', anchorBase: string): Promise<NativeReceipt | undefined>
  outbox: { size(): Promise<number> }
  mempool: { size(): number }
}

/** What the node reports about itself. */
export interface NodeStatus {
  type: string
  nodeId: string
  peerId?: string
  network: string
  version: string
  syncing: boolean
  /** Connected peers. */
  peers: number
  /** 'degraded' while the node runs but cannot do part of its job (see `problems`). Default 'ready'. */
  health?: 'ready' | 'degraded'
  /** What is wrong while degraded. Default []. */
  problems?: HealthProblem[]
  /** Device ingest API: certificate fingerprint (64 hex) and address, when it runs. */
  ingestFingerprint?: string
  ingestAddress?: string
}

/** One reason the node is degraded (e.g. it cannot write to disk). */
export interface HealthProblem {
  /** Stable machine-readable code, e.g. 'DISK_FULL'. */
  code: string
  /** What is wrong and what to do, for the operator. */
  message: string
  /** ms since the epoch when the problem started. */
  since?: number
}

/** What /healthz reports once the node is ready. */
export interface NodeHealth {
  status: 'ready' | 'degraded'
  problems: HealthProblem[]
}

export interface PeerInfo {
  peerId: string
  publicKey: string
  addrs: string[]
  direction: 'inbound' | 'outbound' | string
}

export interface ApiComponents {
  tree: ApiChain
  status(): NodeStatus
  peers(): PeerInfo[]
  /** Emits 'block' (a core Block that became canonical) and 'committed' ({ txIds: string[] }). */
  events: EventEmitter
  /** Where /metrics reads from; the API adds its own request metrics to it. */
  metrics?: Registry
  /** Base URL put in Chainpoint anchor URIs. */
  anchorBase(): string
  /** Whether the node is up (false while starting or stopping: /healthz answers 503 "starting"). */
  ready(): boolean
  /** Once ready: degraded answers /healthz with 503 and the problems. Absent: always ready. */
  health?: () => NodeHealth
  /** Device registry and device mutations (issue 14). Absent: `devices` is empty and the mutations are refused. */
  devices?: import('./schema-devices.js').ApiDevices
  /** Equivocation evidence the node keeps (quorum). Absent: GraphQL `evidence` is empty. */
  evidence?: () => Promise<EquivocationEvidence[]>
  /** The device ingest API's submit, for POST /v1/records. Absent: that route answers 404. */
  records?: RecordsSubmitter
  /** Block log, checkpoints and witness (GET /checkpoint, POST /add-checkpoint, …). Absent: those routes answer 404. */
  checkpoints?: CheckpointApi
  /** The canonical genesis encoding (serializeGenesis), served at /explorer/genesis.json. Absent: 404. */
  genesis?: () => string
  /** A receipt with its cross-chain branches (DESIGN §11, partners); undefined: fall back to `tree.receipt`. */
  crossReceipt?: (txId: string, form: 'chainpoint' | 'native') => Promise<object | undefined>
  /** Confirmed public-chain anchors, newest first (GraphQL publicAnchors; docs/anchoring.md). Absent: empty. */
  publicAnchors?: (first: number) => Promise<import('./schema-anchors.js').ApiPublicAnchor[]>
}

/** One validator caught co-signing two different blocks at one height (GraphQL `evidence`). */
export interface EquivocationEvidence {
  /** The validator's public key, hex. */
  validator: string
  height: number
  /** The two block hashes (hex) it signed at that height. */
  blockHashes: [string, string]
  /** ms since the epoch when this node caught it, when the node keeps that. */
  at?: number
}

export interface ApiAddress {
  host: string
  port: number
  url: string
}

export interface ApiServer {
  /** Listen; resolves with the bound address. */
  start(): Promise<ApiAddress>
  /** Close the listener, open SSE streams and keep-alive connections. Idempotent. */
  stop(): Promise<void>
  /** The bound address once started. */
  address(): ApiAddress | undefined
}

// Build-time check that the store's BlockTree still provides everything the API reads.
type BlockTreeFits = import('@profichain/store').BlockTree extends ApiChain ? true : never
export const blockTreeFitsApiChain: BlockTreeFits = true
