import type { PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import {
  decodeSyncResponse,
  encodeSyncRequest,
  type SyncKind,
  type SyncRequestOf,
  type SyncResponses,
} from '@profichain/core'
import { errMessage } from './config.js'
import { NetworkError } from './errors.js'
import type { NetworkContext, Node } from './host.js'

const noop = () => {}

type FailCode = 'ERR_SYNC_TIMEOUT' | 'ERR_SYNC_PEER' | 'ERR_SYNC_DECODE' | 'ERR_SYNC_REMOTE'

/** Client side of the sync protocol: one request on a fresh stream, one decoded answer. */
export class SyncClient {
  constructor(
    private readonly ctx: NetworkContext,
    private readonly protocol: string,
    /** The running node (throws ERR_NOT_STARTED otherwise). */
    private readonly node: () => Node,
  ) {}

  /** Send one sync request to a connected (or dialable) member and decode its answer. */
  async request<K extends SyncKind>(
    peer: string,
    req: SyncRequestOf<K>,
    opts: { timeoutMs?: number } = {},
  ): Promise<SyncResponses[K]> {
    const node = this.node()
    const m = this.ctx.metrics
    m.count('syncRequests', { kind: req.kind })
    const meta = { peer, kind: req.kind as SyncKind }
    const fail = (code: FailCode, message: string, cause?: unknown, remoteCode?: string) => {
      m.count('syncRequestsFailed', { code })
      return code === 'ERR_SYNC_REMOTE'
        ? new NetworkError(code, message, { ...meta, remoteCode: remoteCode ?? '' }, { cause })
        : new NetworkError(code, message, meta, { cause })
    }
    let peerId: PeerId
    try {
      peerId = peerIdFromString(peer)
    } catch (err) {
      throw fail('ERR_SYNC_PEER', `not a peer id: ${peer}`, err)
    }
    const reqBytes = encodeSyncRequest(req)
    const timeoutMs = opts.timeoutMs ?? this.ctx.config.syncTimeoutMs
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = AbortSignal.any([timeout, this.ctx.stopSignal()])
    const max = this.ctx.config.maxMessageBytes
    let stream: Stream | undefined
    let resBytes: Uint8Array
    try {
      stream = await node.dialProtocol(peerId, this.protocol, { signal })
      const lp = lpStream(stream, { maxDataLength: max, maxBufferSize: max + 16 })
      await lp.write(reqBytes, { signal })
      resBytes = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(noop)
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      if (timeout.aborted)
        throw fail('ERR_SYNC_TIMEOUT', `sync ${req.kind} to ${peer} timed out after ${timeoutMs} ms`, err)
      throw fail('ERR_SYNC_PEER', `sync ${req.kind} to ${peer} failed: ${errMessage(err)}`, err)
    }
    m.count('syncBytesIn', {}, resBytes.byteLength)
    let res: ReturnType<typeof decodeSyncResponse<K>>
    try {
      res = decodeSyncResponse(req.kind as K, resBytes)
    } catch (err) {
      throw fail('ERR_SYNC_DECODE', `sync ${req.kind} from ${peer}: ${errMessage(err)}`, err)
    }
    if (!res.ok) throw fail('ERR_SYNC_REMOTE', `peer ${peer} answered ${res.code}: ${res.message}`, undefined, res.code)
    return res.value
  }
}
