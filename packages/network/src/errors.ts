import { ProfichainError, type SyncKind } from '@profichain/core'

/** Every error code of @profichain/network (a caller's `switch` over `err.code` is checked). */
export const NETWORK_ERROR_CODES = [
  'ERR_SYNC_TIMEOUT',
  'ERR_SYNC_PEER',
  'ERR_SYNC_DECODE',
  'ERR_SYNC_REMOTE',
  'ERR_NOT_MEMBER',
  'ERR_NOT_STARTED',
  'ERR_TX_TOO_LARGE',
  'ERR_CONFIG',
  'ERR_GOSSIPSUB_INTERNALS',
  'ERR_GOSSIP_DECODE',
  'ERR_GOSSIP_ORIGIN',
  'ERR_GOSSIP_INVALID',
  'ERR_GOSSIP_ORPHAN',
  'ERR_GOSSIP_ORPHAN_FLOOD',
  'ERR_GOSSIP_BANNED',
  'ERR_GOSSIP_IGNORED',
  'ERR_GOSSIP_CALLBACK',
] as const

export type NetworkErrorCode = (typeof NETWORK_ERROR_CODES)[number]

type SyncMeta = { peer: string; kind: SyncKind }
type GossipMeta = { peer: string; topic: 'tx' | 'block' | 'vote' | 'checkpoint' }

/** The metadata each code carries. */
export interface NetworkErrorMeta {
  ERR_SYNC_TIMEOUT: SyncMeta
  ERR_SYNC_PEER: SyncMeta
  ERR_SYNC_DECODE: SyncMeta
  /** `remoteCode`: the code the peer answered with (ERR_BAD_REQUEST, ERR_TIMEOUT, ERR_INTERNAL, …). */
  ERR_SYNC_REMOTE: SyncMeta & { remoteCode: string }
  ERR_NOT_MEMBER: { peer?: string }
  ERR_NOT_STARTED: Record<string, never>
  ERR_TX_TOO_LARGE: { bytes: number; maxMessageBytes: number }
  ERR_CONFIG: { field?: string }
  ERR_GOSSIPSUB_INTERNALS: { missing: string[] }
  ERR_GOSSIP_DECODE: GossipMeta & { error: string }
  ERR_GOSSIP_ORIGIN: GossipMeta & { origin: string; txs: number }
  ERR_GOSSIP_INVALID: GossipMeta
  ERR_GOSSIP_ORPHAN: GossipMeta & { height: number }
  ERR_GOSSIP_ORPHAN_FLOOD: GossipMeta & { height: number; orphanLimit: number; orphanWindowMs: number }
  ERR_GOSSIP_BANNED: GossipMeta
  ERR_GOSSIP_IGNORED: GossipMeta
  ERR_GOSSIP_CALLBACK: GossipMeta & { error: string }
}

type MetaArgs<C extends NetworkErrorCode> =
  Record<string, never> extends NetworkErrorMeta[C]
    ? [meta?: NetworkErrorMeta[C], options?: { cause?: unknown }]
    : [meta: NetworkErrorMeta[C], options?: { cause?: unknown }]

/** A network failure with a stable code and the metadata of that code (see `NetworkErrorMeta`). */
export class NetworkError<C extends NetworkErrorCode = NetworkErrorCode> extends ProfichainError {
  declare readonly code: C
  /** Typed per code once the code is known (`NetworkError.is(err, code)`), still readable as a record. */
  declare readonly meta: NetworkErrorMeta[C] & Record<string, unknown>
  constructor(code: C, message: string, ...[meta, options]: MetaArgs<C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'NetworkError'
  }

  /** Narrow `err` to a NetworkError of `code` (so its `meta` is typed). */
  static is<K extends NetworkErrorCode>(err: unknown, code: K): err is NetworkError<K> {
    return err instanceof NetworkError && err.code === code
  }
}

/** What gossipsub does with a message that failed validation (Lodestar's GossipAction). */
export const GossipAction = {
  /** Drop it, do not forward it, and lower the sender's score: the sender sent something invalid. */
  REJECT: 'reject',
  /** Drop it and do not forward it, without penalty (duplicate, not ours to judge, our own failure). */
  IGNORE: 'ignore',
} as const
export type GossipAction = (typeof GossipAction)[keyof typeof GossipAction]

export type GossipErrorCode = Extract<NetworkErrorCode, `ERR_GOSSIP_${string}`>

/** Why a gossip message was not accepted, with the verdict (reject or ignore) it earns. */
export class GossipActionError<C extends GossipErrorCode = GossipErrorCode> extends NetworkError<C> {
  readonly action: GossipAction
  constructor(action: GossipAction, code: C, message: string, meta: NetworkErrorMeta[C]) {
    super(code, message, ...([meta] as MetaArgs<C>))
    this.name = 'GossipActionError'
    this.action = action
  }
}
