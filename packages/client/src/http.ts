import { type AckEntry, decodeFrameBody, encodeFrameBody, type Transaction, txId } from '@profichain/core'
import { ClientError } from './errors.js'

export interface HttpSubmitInit {
  /** The node's API base URL, e.g. http://127.0.0.1:8545 */
  url: string
  /** The node's API token (`[api] token`). */
  token?: string
  /** A fetch implementation (default: the global one: browsers, Node ≥ 18). */
  fetch?: typeof fetch
}

/**
 * Submit signed records over HTTP (`POST /v1/records`, docs/ingest-protocol.md §4): no TLS socket, no hello,
 * so it runs wherever `fetch` does. Resolves with one ack entry per tx (accepted entries are durable);
 * throws ERR_SERVER (meta.code from the node's error frame, or HTTP_<status>) or ERR_PROTOCOL.
 */
export async function postRecords(init: HttpSubmitInit, txs: readonly Transaction[], batchId = 1): Promise<AckEntry[]> {
  const f = init.fetch ?? globalThis.fetch
  const res = await f(`${init.url.replace(/\/+$/, '')}/v1/records`, {
    method: 'POST',
    headers: { 'content-type': 'application/cbor', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    // cborg allocates plain ArrayBuffers; the DOM typing of BodyInit (loaded by browser tooling) wants that type.
    body: encodeFrameBody({ type: 'submit', batchId, txs }) as Uint8Array<ArrayBuffer>,
  })
  const body = new Uint8Array(await res.arrayBuffer())
  const cbor = (res.headers.get('content-type') ?? '').startsWith('application/cbor')
  if (res.status !== 200) {
    let code = `HTTP_${res.status}`
    let message = new TextDecoder().decode(body.subarray(0, 500)).trim()
    if (cbor) {
      try {
        const e = decodeFrameBody(body)
        if (e.type === 'error') ({ code, message } = e)
      } catch {
        // keep the HTTP status
      }
    }
    throw new ClientError('ERR_SERVER', `POST /v1/records answered ${res.status}: ${code}: ${message}`, { code })
  }
  let ack
  try {
    ack = decodeFrameBody(body)
  } catch (err) {
    throw new ClientError('ERR_PROTOCOL', `POST /v1/records answered a body that is not an ingest frame: ${(err as Error).message}`, {}, { cause: err })
  }
  if (ack.type !== 'ack' || ack.batchId !== batchId || ack.results.length !== txs.length) {
    throw new ClientError('ERR_PROTOCOL', 'POST /v1/records answered something other than the ack of this batch')
  }
  ack.results.forEach((r, i) => {
    if (r.status !== 'rejected' || r.code !== 'BAD_TX') {
      const want = txId(txs[i])
      if (r.txId.byteLength !== want.byteLength || r.txId.some((b, k) => b !== want[k])) throw new ClientError('ERR_PROTOCOL', `ack entry ${i} names another tx`)
    }
  })
  return ack.results
}
