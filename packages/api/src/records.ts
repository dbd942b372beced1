import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  type AckEntry,
  decodeFrameBody,
  encodeFrameBody,
  type IngestCode,
  IngestWireError,
  type SubmitItem,
} from '@profichain/core'

/**
 * `POST /v1/records` (docs/ingest-protocol.md §4): the ingest API's submit over HTTP. Body: a submit frame
 * body (CBOR, no length prefix); answer: the ack frame body, with the same per-tx semantics as over TLS
 * (accepted = in the durable outbox). Each tx's own signature authenticates it; the API token guards the route.
 */
export interface RecordsSubmitter {
  maxBatch: number
  maxFrameBytes: number
  /** Requests handled at once (each may buffer maxFrameBytes); beyond: 503. Default 16. */
  maxConcurrent?: number
  /** One ack entry per item, in order, once the accepted ones are durable. */
  submit(items: SubmitItem[]): Promise<AckEntry[]>
}

export const CBOR_TYPE = 'application/cbor'

type Send = (status: number, type: string, body: string | Uint8Array, headers?: Record<string, string>) => void

function errorBody(code: IngestCode, message: string): Uint8Array {
  return encodeFrameBody({ type: 'error', code, message: message.slice(0, 1000) })
}

/** Read at most `max` bytes of the body; undefined (and the request drained no further) when it is longer. */
async function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.byteLength
    if (n > max) return undefined
    chunks.push(chunk)
  }
  const b = Buffer.concat(chunks)
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

export async function handleRecords(
  req: IncomingMessage,
  res: ServerResponse,
  submitter: RecordsSubmitter | undefined,
  send: Send,
  refused: (reason: string) => void,
): Promise<void> {
  const method = req.method ?? 'GET'
  if (method !== 'POST') return send(405, 'text/plain; charset=utf-8', `${method} is not allowed on /v1/records; POST a CBOR submit\n`, { allow: 'POST' })
  if (!submitter) {
    return send(404, 'text/plain; charset=utf-8', 'the device ingest API is off on this node: set [modules] ingest_api = true in config.toml\n')
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type !== CBOR_TYPE) {
    refused('records_content_type')
    return send(415, 'text/plain; charset=utf-8', `content-type must be ${CBOR_TYPE}\n`)
  }
  const busy = inFlight.get(submitter) ?? 0
  if (busy >= (submitter.maxConcurrent ?? 16)) {
    refused('records_busy')
    res.setHeader('connection', 'close')
    return send(503, CBOR_TYPE, errorBody('RATE_LIMITED', 'too many submits at once; retry shortly'), { 'retry-after': '1' })
  }
  inFlight.set(submitter, busy + 1)
  try {
    await submitOne(req, res, submitter, send, refused)
  } finally {
    inFlight.set(submitter, (inFlight.get(submitter) ?? 1) - 1)
  }
}

/** Requests in progress per submitter (one per node). */
const inFlight = new WeakMap<RecordsSubmitter, number>()

async function submitOne(req: IncomingMessage, res: ServerResponse, submitter: RecordsSubmitter, send: Send, refused: (reason: string) => void): Promise<void> {
  const max = submitter.maxFrameBytes
  const declared = Number(req.headers['content-length'] ?? Number.NaN)
  const tooLarge = () => {
    refused('records_too_large')
    res.setHeader('connection', 'close')
    send(413, CBOR_TYPE, errorBody('FRAME_TOO_LARGE', `a submit body is at most ${max} bytes; send smaller batches`))
  }
  if (Number.isFinite(declared) && declared > max) return tooLarge()
  const body = await readBody(req, max)
  if (body === undefined) return tooLarge()
  let items: SubmitItem[]
  let batchId: number
  try {
    const f = decodeFrameBody(body, { maxBatch: submitter.maxBatch, maxFrameBytes: max })
    if (f.type !== 'submit') throw new IngestWireError('BAD_FRAME', `expected a submit frame [1, 3, batchId, txs], got ${f.type}`)
    items = f.items
    batchId = f.batchId
  } catch (err) {
    if (!(err instanceof IngestWireError)) throw err
    refused(`records_${err.code.toLowerCase()}`)
    return send(err.code === 'FRAME_TOO_LARGE' ? 413 : 400, CBOR_TYPE, errorBody(err.code, err.message))
  }
  const results = await submitter.submit(items)
  send(200, CBOR_TYPE, encodeFrameBody({ type: 'ack', batchId, results }))
}
