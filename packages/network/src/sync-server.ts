import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import {
  CodecError,
  decodeSyncRequest,
  encodeSyncError,
  encodeSyncResponse,
  type MemberAddrs,
  type SyncRequest,
} from '@profichain/core'
import { errMessage, ITEM_OVERHEAD } from './config.js'
import { NetworkError } from './errors.js'
import type { NetworkContext } from './host.js'
import type { SyncHandlers } from './types.js'

/** A sync request is small (≤ 256 txIds); anything bigger is garbage. */
const MAX_REQUEST_BYTES = 64 * 1024

/**
 * Server side of the sync protocol: read one request, answer it from the node's handlers within
 * `syncServeTimeoutMs`, cut to the message budget. A bad request gets an error answer, never a crash.
 */
export class SyncServer {
  constructor(
    private readonly ctx: NetworkContext,
    /** Read at each request (the node may swap its handlers). */
    private readonly handlers: () => SyncHandlers,
    /** Default peer-exchange answer. */
    private readonly knownMembers: () => MemberAddrs[],
  ) {}

  /** Stream handler of the sync protocol. */
  serve = async (stream: Stream, conn: Connection): Promise<void> => {
    const m = this.ctx.metrics
    const peer = conn.remotePeer.toString()
    const signal = AbortSignal.any([AbortSignal.timeout(this.ctx.config.syncServeTimeoutMs), this.ctx.stopSignal()])
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES, maxBufferSize: MAX_REQUEST_BYTES + 16 })
    let reqBytes: Uint8Array
    try {
      reqBytes = (await lp.read({ signal })).subarray()
    } catch (err) {
      // Broken framing or a stalled peer: nothing sensible to answer.
      m.count('syncBadRequests', {})
      this.ctx.log.debug({ peer, err: errMessage(err) }, 'unreadable sync request')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      return
    }
    let resp: Uint8Array
    try {
      const req = decodeSyncRequest(reqBytes)
      resp = await this.answer(req, signal, peer)
      m.count('syncServed', { kind: req.kind })
    } catch (err) {
      const code =
        err instanceof CodecError
          ? 'ERR_BAD_REQUEST'
          : signal.aborted
            ? 'ERR_TIMEOUT'
            : err instanceof NetworkError
              ? err.code
              : 'ERR_INTERNAL'
      if (code === 'ERR_BAD_REQUEST') m.count('syncBadRequests', {})
      else m.count('syncServeFailed', {})
      this.ctx.log.debug({ peer, code, err: errMessage(err) }, 'sync request failed')
      resp = encodeSyncError(code, err instanceof Error ? err.message : String(err))
    }
    try {
      await lp.write(resp, { signal })
      m.count('syncBytesOut', {}, resp.byteLength)
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private async answer(req: SyncRequest, signal: AbortSignal, peer: string): Promise<Uint8Array> {
    const h = this.handlers()
    const max = this.ctx.config.maxMessageBytes
    const budget = max - 64 * 1024
    const race = <T>(p: T | Promise<T>): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const timedOut = () => new NetworkError('ERR_SYNC_TIMEOUT', 'sync handler timed out', { peer, kind: req.kind })
        if (signal.aborted) return reject(timedOut())
        const onAbort = () => reject(timedOut())
        signal.addEventListener('abort', onAbort, { once: true })
        Promise.resolve(p).then(
          (v) => {
            signal.removeEventListener('abort', onAbort)
            resolve(v)
          },
          (e) => {
            signal.removeEventListener('abort', onAbort)
            reject(e)
          },
        )
      })
    // Responses are cut to the size budget; ranges/lists come back shorter and the client asks again.
    const fit = (items: Uint8Array[], count: number): Uint8Array[] => {
      const out: Uint8Array[] = []
      let size = 0
      for (const it of items.slice(0, count)) {
        size += it.byteLength + ITEM_OVERHEAD
        if (out.length > 0 && size > budget) break
        out.push(it)
      }
      return out
    }
    let bytes: Uint8Array
    switch (req.kind) {
      case 'headers':
        bytes = encodeSyncResponse('headers', fit(await race(h.headers(req.from, req.count)), req.count))
        break
      case 'blocks':
        bytes = encodeSyncResponse('blocks', fit(await race(h.blocks(req.from, req.count)), req.count))
        break
      case 'block':
        bytes = encodeSyncResponse('block', await race(h.block(req.hash)))
        break
      case 'payloads': {
        const got = await race(h.payloads(req.txIds))
        const entries = []
        let size = 0
        for (let i = 0; i < req.txIds.length; i++) {
          const payload = got[i] ?? null
          size += 48 + (payload?.byteLength ?? 0)
          if (entries.length > 0 && size > budget) break
          entries.push({ txId: req.txIds[i], payload })
        }
        bytes = encodeSyncResponse('payloads', entries)
        break
      }
      case 'status':
        bytes = encodeSyncResponse('status', await race(h.status()))
        break
      case 'members':
        bytes = encodeSyncResponse('members', h.members ? await race(h.members()) : this.knownMembers())
        break
    }
    if (bytes.byteLength > max) {
      throw new NetworkError('ERR_SYNC_PEER', `response of ${bytes.byteLength} bytes exceeds the ${max}-byte limit`, {
        peer,
        kind: req.kind,
      })
    }
    return bytes
  }
}
