import type { Block, KeyPair, MemberAddrs, SyncStatus, Transaction, Vote } from '@profichain/core'
import type { Registry } from 'prom-client'

export type MaybePromise<T> = T | Promise<T>

/** What a gossip callback decides: accept (deliver + forward), ignore (drop silently), reject (drop + penalise sender). */
export type Verdict = 'accept' | 'reject' | 'ignore'

/**
 * What the block callback decides: a `Verdict`, or 'orphan' (parent unknown: dropped without forwarding
 * like 'ignore', and counted against the sender; past `orphanLimit` per `orphanWindowMs` it is banned).
 */
export type BlockVerdict = Verdict | 'orphan'

/** Why a gossip message was rejected (`NetworkStats.rejected` counts each). */
export type RejectReason =
  /** Not decodable as a tx batch / block announcement. */
  | 'decode'
  /** The callback said 'reject' (bad signature, consensus rule, …). */
  | 'invalid'
  /** A tx whose origin key may not originate records (`originAllowed` said no). */
  | 'origin'
  /** The orphan block that took its sender over the orphan limit. */
  | 'orphan-flood'
  /** Sent by a peer that is banned (in flight when the ban began). */
  | 'banned'

/** Why a gossip message was ignored (dropped without penalty). */
export type IgnoreReason =
  /** The callback said 'ignore' (duplicate, already known, …). */
  | 'verdict'
  /** An orphan block (parent unknown) within its sender's orphan allowance. */
  | 'orphan'
  /** The callback threw: our failure, not the sender's. */
  | 'callback-error'

/** Server side of the sync protocol: the node wires these to its store. Encoded pieces come back as-is. */
export interface SyncHandlers {
  /** Encoded headers of the canonical chain from height `from`, at most `count`. */
  headers(from: number, count: number): MaybePromise<Uint8Array[]>
  /** Encoded (stripped) block by hash, or null. */
  block(hash: Uint8Array): MaybePromise<Uint8Array | null>
  /** Encoded (stripped) canonical blocks from height `from`, at most `count`. */
  blocks(from: number, count: number): MaybePromise<Uint8Array[]>
  /** Payloads aligned with `txIds` (null where this node does not keep it). */
  payloads(txIds: Uint8Array[]): MaybePromise<Array<Uint8Array | null>>
  status(): MaybePromise<SyncStatus>
  /** Optional override of the peer-exchange answer; by default the network answers from what it knows. */
  members?(): MaybePromise<MemberAddrs[]>
}

/** pino-compatible subset. */
export interface NetworkLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface NetworkMember {
  /** Ed25519 public key, hex. */
  publicKey: string
  /** Known listen multiaddrs (without /p2p), e.g. from genesis. */
  addrs?: string[]
}

export interface NetworkInit {
  /** Network id from genesis; part of every topic and protocol name. */
  network: string
  /** Listen multiaddrs, e.g. ['/ip4/127.0.0.1/tcp/7001'] (tcp/0 = random port). */
  listen: string[]
  /** Seed multiaddrs ending in /p2p/<peerId>; dialled (with retries) until connected. */
  bootstrap?: string[]
  /** Connections to keep to members. Default 8. */
  targetPeers?: number
  /**
   * Subscribe to the tx topic: receive peers' tx batches, validate them (`onTxBatch`) and forward them to
   * our mesh. false: no subscription, so honest peers send us no tx batches and we forward none; our own
   * batches still go to every subscribed peer (gossipsub fanout), and a tx batch a peer sends anyway is still
   * validated (garbage rejected, the sender penalised) but reaches nobody. Default true.
   */
  relayTxs?: boolean
  /** The allow-list from genesis. Only these keys may connect, either way. */
  members: NetworkMember[]
  /**
   * Genesis validators (Ed25519 public keys, hex): only their votes pass the vote topic. Without any, every
   * vote is rejected (a network without quorum consensus has no votes).
   */
  validators?: string[]
  /** Largest gossip message or sync response. Default 16 MiB. */
  maxMessageBytes?: number
  /** Tx batches are cut at this size. Default 1 MiB. */
  maxBatchBytes?: number
  /** Publish pacing (token bucket). Default 64 MiB/s. */
  publishBytesPerSecond?: number
  /**
   * Bytes each publish queue (blocks, tx batches) may hold while no peer can take them (e.g. a node alone,
   * or all peers down). Over it the oldest messages are dropped: own records stay in the durable outbox and
   * are re-gossiped, peers sync missing blocks. Default 64 MiB.
   */
  maxQueuedBytes?: number
  /** Client-side sync request timeout. Default 15 s. */
  syncTimeoutMs?: number
  /** Server-side budget to read a request and answer it. Default 15 s. */
  syncServeTimeoutMs?: number
  /** Redial backoff: first delay and cap. Defaults 250 ms, 10 s. */
  redialBaseMs?: number
  redialMaxMs?: number
  /** Period of the connection-maintenance loop. Default 2 s. */
  maintenanceIntervalMs?: number
  /**
   * Orphan blocks (unknown parent) one peer may gossip per `orphanWindowMs` before it is banned: a few are
   * normal while a node catches up, a flood costs memory. Defaults 64 per 60 s.
   */
  orphanLimit?: number
  orphanWindowMs?: number
  /** How long a banned peer stays disconnected (the gater refuses it both ways). Default 10 min. */
  banMs?: number
}

export interface NetworkComponents {
  key: KeyPair
  logger?: NetworkLogger
  /**
   * Where to register the network's prom-client Counters (`profichain_network_<what>_total`, listed in
   * docs/api.md). Without it the network only counts for `stats()`.
   */
  registry?: Registry
  handlers: SyncHandlers
  /**
   * May a tx with this origin (Ed25519 public key) be relayed? Checked for every tx of a gossiped batch
   * before `onTxBatch`; one refused origin rejects the whole batch (and penalises the sender).
   */
  originAllowed(origin: Uint8Array): boolean
  /** Called from the tx topic validator with the decoded batch; signature checks are the callee's. */
  onTxBatch(txs: Transaction[], from: string): MaybePromise<Verdict>
  /** Called from the block topic validator with the decoded stripped block. */
  onBlock(block: Block, from: string): MaybePromise<BlockVerdict>
  /**
   * Called from the vote topic validator with a decoded vote of this network whose signer is a validator
   * and whose signature over the block hash is valid. Without it votes are ignored (not relayed).
   */
  onVote?(vote: Vote, from: string): MaybePromise<Verdict>
  /**
   * Called from the checkpoint topic validator with the raw signed checkpoint note (UTF-8, ≤ 64 KiB; DESIGN §11);
   * the node verifies it. Without it checkpoints are ignored (not relayed).
   */
  onCheckpoint?(note: Uint8Array, from: string): MaybePromise<Verdict>
}

export interface PeerInfo {
  peerId: string
  /** Hex Ed25519 public key. */
  publicKey: string
  addrs: string[]
  direction: 'inbound' | 'outbound'
}

export interface PublishResult {
  /** Gossip messages the txs were split into. */
  batches: number
  /** False when the network stopped before every batch went out. */
  published: boolean
}

/** Plain counters; `stats()` returns a snapshot. */
export interface NetworkStats {
  gossipIn: number
  gossipBytesIn: number
  gossipOut: number
  gossipBytesOut: number
  gossipAccepted: number
  gossipRejected: number
  /** `gossipRejected` split by reason. */
  rejected: Record<RejectReason, number>
  gossipIgnored: number
  gossipDecodeFailed: number
  gossipCallbackErrors: number
  publishQueued: number
  publishRetries: number
  publishErrors: number
  /** Publishes that reached no peer (a tx batch is then re-sent with new bytes, see `publishRenewed`). */
  publishUnsent: number
  /** Tx batches refused by gossipsub's seen cache (a republish) and sent again in another order. */
  publishRenewed: number
  /** Tx batches refused as seen with no other order to try: folded into the next batch or retried later. */
  publishDeferred: number
  /** Queued messages dropped (oldest first) because the publish queue was over `maxQueuedBytes`. */
  publishDropped: number
  /** Dead gossipsub outbound streams refused or replaced by the adapter (docs/network.md, "Restarts"). */
  streamRepairs: number
  syncServed: number
  syncServeFailed: number
  syncBadRequests: number
  syncBytesOut: number
  syncRequests: number
  syncRequestsFailed: number
  syncBytesIn: number
  gaterDenied: number
  /** Orphan blocks received by gossip (counted against their senders). */
  orphanBlocks: number
  /** Bans imposed since start (each logged with its reason). */
  peerBans: number
  /** Peers banned right now. */
  bannedPeers: number
  dials: number
  dialFailures: number
  peerExchanges: number
  peers: number
  publishQueueLength: number
}
