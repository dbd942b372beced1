import { type CborValue, concatBytes, decodeCbor, encodeCbor, read, type Transaction, txBodyToCbor, utf8 } from '@profichain/core'
import { ClientError } from './errors.js'

/**
 * The client's view of the ingest protocol v1 frames (docs/ingest-protocol.md): u32 big-endian length,
 * then deterministic CBOR `[1, frameType, …]`. Encoders for what a client sends, strict decoders for
 * what a server sends (anything else is ERR_PROTOCOL).
 */
export const INGEST_PROTOCOL_VERSION = 1
export const INGEST_ALPN = 'profichain-ingest/1'
export const HELLO_CONTEXT = 'profichain-ingest/1 hello\n'

export const FRAME = { serverHello: 0, hello: 1, welcome: 2, submit: 3, ack: 4, receipt: 5, error: 6, receiptAck: 7 } as const
export const ACK_STATUS = { accepted: 0, duplicate: 1, rejected: 2 } as const

export interface ServerLimits { maxFrameBytes: number; maxBatch: number; maxInFlight: number }
export interface ServerHello { type: 'server-hello'; challenge: Uint8Array; network: string; limits: ServerLimits }
export interface Welcome { type: 'welcome'; deviceId: string; registered: boolean; nextSeq: number }
export interface AckEntry { txId: Uint8Array; status: 0 | 1 | 2; code: string }
export interface Ack { type: 'ack'; batchId: number; entries: AckEntry[] }
export interface ReceiptFrame { type: 'receipt'; txId: Uint8Array; height: number; blockHash: Uint8Array; chainpoint: string }
export interface ErrorFrame { type: 'error'; code: string; message: string }
export type ServerFrame = ServerHello | Welcome | Ack | ReceiptFrame | ErrorFrame

function frame(value: CborValue): Uint8Array {
  const body = encodeCbor(value)
  const out = new Uint8Array(4 + body.byteLength)
  new DataView(out.buffer).setUint32(0, body.byteLength)
  out.set(body, 4)
  return out
}

/** The bytes a device signs in its hello: binds the answer to this challenge, this server's certificate and network. */
export function helloMessage(challenge: Uint8Array, fingerprint: Uint8Array, network: string): Uint8Array {
  return concatBytes(utf8(HELLO_CONTEXT), challenge, fingerprint, utf8(network))
}

export function encodeHello(publicKey: Uint8Array, signature: Uint8Array): Uint8Array {
  return frame([INGEST_PROTOCOL_VERSION, FRAME.hello, publicKey, signature])
}

export function txToCbor(tx: Transaction): CborValue {
  return [[txBodyToCbor(tx.body), tx.signature], tx.payload]
}

export function encodeSubmit(batchId: number, txs: Transaction[]): Uint8Array {
  return frame([INGEST_PROTOCOL_VERSION, FRAME.submit, batchId, txs.map(txToCbor)])
}

export function encodeReceiptAck(txIds: Uint8Array[]): Uint8Array {
  return frame([INGEST_PROTOCOL_VERSION, FRAME.receiptAck, txIds])
}

function bad(message: string, cause?: unknown): ClientError<'ERR_PROTOCOL'> {
  return new ClientError('ERR_PROTOCOL', `the server sent a malformed frame (${message}); is host:port a Profichain ingest API of a compatible version?`, {}, { cause })
}

/** Decode one frame body (without its length prefix) sent by a server. */
export function decodeServerFrame(body: Uint8Array): ServerFrame {
  let v: CborValue
  try {
    v = decodeCbor(body, 'ingest frame')
  } catch (err) {
    throw bad((err as Error).message, err)
  }
  try {
    if (!Array.isArray(v) || v.length < 2) throw bad('not an array [version, type, …]')
    if (v[0] !== INGEST_PROTOCOL_VERSION) throw bad(`protocol version ${String(v[0])}, this client speaks ${INGEST_PROTOCOL_VERSION}`)
    switch (v[1]) {
      case FRAME.serverHello: {
        const a = read.array(v, 5, 'server-hello')
        const l = a[4]
        if (l === null || typeof l !== 'object' || Array.isArray(l) || l instanceof Uint8Array) throw bad('server-hello limits: expected a map')
        const lim = l as Record<string, CborValue>
        return {
          type: 'server-hello',
          challenge: read.bytes(a[2], 'server-hello challenge', 32),
          network: read.text(a[3], 'server-hello network', 64),
          limits: {
            maxFrameBytes: read.uint(lim.maxFrameBytes, 'limits.maxFrameBytes'),
            maxBatch: read.uint(lim.maxBatch, 'limits.maxBatch'),
            maxInFlight: read.uint(lim.maxInFlight, 'limits.maxInFlight'),
          },
        }
      }
      case FRAME.welcome: {
        const a = read.array(v, 3, 'welcome')
        const m = a[2]
        if (m === null || typeof m !== 'object' || Array.isArray(m) || m instanceof Uint8Array) throw bad('welcome: expected a map')
        const w = m as Record<string, CborValue>
        if (typeof w.registered !== 'boolean') throw bad('welcome.registered: expected a boolean')
        return { type: 'welcome', deviceId: read.text(w.deviceId, 'welcome.deviceId', 1024), registered: w.registered, nextSeq: read.uint(w.nextSeq, 'welcome.nextSeq') }
      }
      case FRAME.ack: {
        const a = read.array(v, 4, 'ack')
        const entries = read.list(a[3], 1_000_000, 'ack entries').map((e, i) => {
          const x = read.array(e, 3, `ack entry ${i}`)
          const status = read.uint(x[1], `ack entry ${i} status`)
          if (status > 2) throw bad(`ack entry ${i}: unknown status ${status}`)
          return { txId: read.bytes(x[0], `ack entry ${i} txId`, 32), status: status as 0 | 1 | 2, code: read.text(x[2], `ack entry ${i} code`, 256) }
        })
        return { type: 'ack', batchId: read.uint(a[2], 'ack batchId'), entries }
      }
      case FRAME.receipt: {
        const a = read.array(v, 6, 'receipt')
        return {
          type: 'receipt',
          txId: read.bytes(a[2], 'receipt txId', 32),
          height: read.uint(a[3], 'receipt height'),
          blockHash: read.bytes(a[4], 'receipt blockHash', 32),
          chainpoint: read.text(a[5], 'receipt chainpoint', 16 * 1024 * 1024),
        }
      }
      case FRAME.error: {
        const a = read.array(v, 4, 'error')
        return { type: 'error', code: read.text(a[2], 'error code', 256), message: read.text(a[3], 'error message', 64 * 1024) }
      }
      default:
        throw bad(`unexpected frame type ${String(v[1])}`)
    }
  } catch (err) {
    if (err instanceof ClientError) throw err
    throw bad((err as Error).message, err)
  }
}

/**
 * Splits a byte stream into frame bodies. Refuses (ERR_PROTOCOL) a length prefix above `maxFrameBytes`
 * before buffering its body, so a hostile server cannot grow the client's memory.
 */
export class FrameReader {
  private chunks: Uint8Array[] = []
  private buffered = 0
  constructor(public maxFrameBytes: number) {}

  push(chunk: Uint8Array): Uint8Array[] {
    this.chunks.push(chunk)
    this.buffered += chunk.byteLength
    const out: Uint8Array[] = []
    for (;;) {
      if (this.buffered < 4) break
      const head = this.peek(4)
      const len = new DataView(head.buffer, head.byteOffset, 4).getUint32(0)
      if (len > this.maxFrameBytes) throw bad(`frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`)
      if (this.buffered < 4 + len) break
      const all = this.take(4 + len)
      out.push(all.subarray(4))
    }
    return out
  }

  private peek(n: number): Uint8Array {
    if (this.chunks[0].byteLength < n) this.chunks = [concatBytes(...this.chunks)]
    return this.chunks[0].subarray(0, n)
  }

  private take(n: number): Uint8Array {
    const all = this.chunks.length === 1 ? this.chunks[0] : concatBytes(...this.chunks)
    const rest = all.subarray(n)
    this.chunks = rest.byteLength > 0 ? [rest] : []
    this.buffered = rest.byteLength
    return all.subarray(0, n)
  }
}
