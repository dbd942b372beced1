import { EventEmitter } from 'node:events'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import {
  type ChainpointProof,
  decodeFrameBody,
  encodeTransaction,
  type DecodedIngestFrame,
  encodeFrame,
  equalBytes,
  FrameReader,
  fromHex,
  getCrypto,
  INGEST_ALPN,
  INGEST_FIELD_LIMITS,
  isHex,
  type KeyPair,
  signHello,
  toHex,
  type Transaction,
  txId as txIdOf,
  type TypedEmitterClass,
  type TypedEventEmitter,
  verifyChainpointReceipt,
} from '@profichain/core'
import { ClientError } from './errors.js'
import { createRecord } from './record.js'
import { Spool, type StoredReceipt } from './spool.js'

export interface ClientInit {
  host: string
  port: number
  /** SHA-256 of the node's TLS certificate (DER), 64 hex (colons allowed): any other certificate is refused. */
  fingerprint: string
  network: string
  deviceKey: KeyPair
  /** Tier 2: the device's 32-byte data key; payloads are encrypted before signing. */
  dataKey?: Uint8Array
  /** Tier 2 key epoch (default 0). */
  epoch?: number
  /** Durable spool directory: records are fsynced there before `queue` resolves and survive crashes. */
  spoolDir?: string
  /** Spool limit (queued record bytes); default 64 MiB. */
  maxSpoolBytes?: number
  /** Without a spool: most records held in memory; default 10,000. */
  maxQueued?: number
  /** Most records per submit frame (the server's limit wins if lower); default 256. */
  maxBatch?: number
  /** The seq of the first record when neither the spool nor the node knows one (default: ask the node). */
  firstSeq?: number
  /** Reconnect back-off: first delay and cap in ms (default 100 → 10,000, doubling, with jitter). */
  backoffMs?: { initial?: number; max?: number }
  /** Ack codes that mean "try again later" instead of "refused for good" (default RATE_LIMITED, INTERNAL). */
  retryCodes?: string[]
  /** TLS SNI name (default: none). */
  servername?: string
  /** Give up a connection attempt (TCP + TLS + hello) after this many ms; default 10,000. */
  connectTimeoutMs?: number
}

export type ClientState = 'connecting' | 'connected' | 'waiting' | 'idle' | 'closed'

/** A record the node has acknowledged as durable. */
export interface SubmitResult {
  txId: string
  seq: number
  status: 'accepted' | 'duplicate'
}

/** A record signed and queued (fsynced to the spool if there is one). */
export interface QueuedRecord {
  txId: string
  seq: number
  tx: Transaction
  /** Tier 2: this record's key K (release it, hex, to let someone open this record and no other). */
  recordKey?: Uint8Array
  /** Resolves when the node acknowledges it; rejects with ERR_REJECTED (or ERR_CLOSED). */
  acked: Promise<SubmitResult>
}

/** A receipt pushed by the node and verified against the record. */
export interface ClientReceipt {
  txId: string
  height: number
  blockHash: string
  chainpoint: ChainpointProof
  /** Where it was stored (with a spool). */
  file?: string
}

export interface ClientEvents {
  /** Hello answered: the node knows this device (or not yet: `registered`). */
  connected: Welcome
  disconnected: { reason: string }
  /** A record was acknowledged (also those re-sent from the spool after a restart). */
  ack: SubmitResult
  /** A record was refused for good (also those re-sent from the spool after a restart). */
  rejected: { txId: string; seq: number; code: string }
  receipt: ClientReceipt
  /** Something went wrong that the client handles itself (reconnects, drops a bad receipt); for logs. */
  failure: ClientError
}

export interface ProfichainClient extends TypedEventEmitter<ClientEvents> {
  /** Connect (and keep reconnecting) and re-send what the spool holds. */
  start(): Promise<void>
  /** Sign (tier 2: encrypt first) and queue a record; resolves once it is durable in the spool. */
  queue(payload: Uint8Array, metadata?: Record<string, string>): Promise<QueuedRecord>
  /** Queue a record and wait until the node acknowledges it. */
  submit(payload: Uint8Array, metadata?: Record<string, string>): Promise<SubmitResult>
  /** Resolves when nothing is left unacknowledged (optionally also: no receipt outstanding). */
  drain(opts?: { receipts?: boolean; timeoutMs?: number }): Promise<void>
  /** Records not yet acknowledged. */
  readonly pending: number
  /** Acknowledged records whose receipt has not arrived (spool or this session). */
  readonly awaitingReceipts: number
  readonly connected: boolean
  /** connecting | connected | waiting (back-off before a reconnect) | idle (closed by the node's idle timeout; the next record reconnects) | closed */
  readonly state: ClientState
  /** Stop reconnecting, close the socket and the spool (unacknowledged spooled records stay for the next start). */
  close(): Promise<void>
}

/** The node's answer to the hello. */
export interface Welcome {
  deviceId: string
  registered: boolean
  nextSeq: number
}

type ServerFrame = DecodedIngestFrame
type ServerHello = Extract<ServerFrame, { type: 'server-hello' }>
type Ack = Extract<ServerFrame, { type: 'ack' }>
type ReceiptFrame = Extract<ServerFrame, { type: 'receipt' }>

interface Rec {
  seq: number
  txId: Uint8Array
  tx: Transaction
  resolve?: (r: SubmitResult) => void
  reject?: (e: unknown) => void
}

interface Conn {
  socket: TLSSocket
  reader: FrameReader
  timeout: NodeJS.Timeout
  /** The code of the error frame the server closed this connection with. */
  serverCode?: string
  /** The certificate matched the pin: only then is any frame read or written. */
  pinned: boolean
  hello?: ServerHello
  welcome?: Welcome
  inflight: Map<number, Rec[]>
  nextBatchId: number
  maxBatch: number
  maxInFlight: number
  maxFrameBytes: number
}

/** Normalise a pinned fingerprint ("AB:CD…" or "abcd…") to 32 bytes. */
export function parseFingerprint(fp: string): Uint8Array {
  const hex = fp.replace(/:/g, '').toLowerCase()
  if (!isHex(hex, 32)) throw new ClientError('ERR_INVALID_ARGUMENT', `fingerprint must be the certificate's SHA-256 as 64 hex characters (profichain status prints it), got "${fp}"`)
  return fromHex(hex)
}

const DEFAULT_RETRY = ['RATE_LIMITED', 'INTERNAL']
/** Bytes of a submit frame around its txs: length prefix, [1, 3, batchId, array header]. */
const FRAME_OVERHEAD = 32

/** Create a client for the Profichain ingest API (docs/client.md). Call `start()` to connect. */
export function createClient(init: ClientInit): ProfichainClient {
  return new Client(init)
}

class Client extends (EventEmitter as TypedEmitterClass<ClientEvents>) implements ProfichainClient {
  private readonly fp: Uint8Array
  private readonly retry: Set<string>
  private spool: Spool | undefined
  private nextSeq: number | undefined
  private seqWaiters: Array<() => void> = []
  /** Not acknowledged, not in flight: sent on the next chance, in seq order. */
  private unsent: Rec[] = []
  private readonly recs = new Map<number, Rec>()
  /** Acknowledged this session, receipt not yet seen (no spool): txId hex → seq. */
  private readonly owed = new Map<string, number>()
  private conn: Conn | undefined
  private stopped = false
  private started = false
  private attempt = 0
  private timer: NodeJS.Timeout | undefined
  private receiptAcks: Uint8Array[] = []
  private receiptAckTimer: NodeJS.Timeout | undefined
  private changeWaiters: Array<() => void> = []
  private retryTimer: NodeJS.Timeout | undefined
  /** Closed by the node for idleness with nothing to do: reconnect on the next record only. */
  private idle = false

  constructor(private readonly init: ClientInit) {
    super()
    this.fp = parseFingerprint(init.fingerprint)
    if (init.deviceKey?.seed?.byteLength !== 32 || init.deviceKey.publicKey?.byteLength !== 32) {
      throw new ClientError('ERR_INVALID_ARGUMENT', 'deviceKey must be an Ed25519 KeyPair (32-byte seed and public key)')
    }
    if (init.dataKey !== undefined && init.dataKey.byteLength !== 32) throw new ClientError('ERR_INVALID_ARGUMENT', 'dataKey must be 32 bytes')
    this.retry = new Set(init.retryCodes ?? DEFAULT_RETRY)
    if (init.firstSeq !== undefined) this.nextSeq = init.firstSeq
  }

  get connected(): boolean {
    return this.conn?.welcome !== undefined
  }

  get state(): ClientState {
    if (this.stopped) return 'closed'
    if (this.conn?.welcome) return 'connected'
    if (this.conn) return 'connecting'
    return this.idle ? 'idle' : 'waiting'
  }

  get pending(): number {
    return this.recs.size
  }

  get awaitingReceipts(): number {
    return this.spool ? this.spool.awaitingReceipt().length : this.owed.size
  }

  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    if (this.init.spoolDir !== undefined) {
      this.spool = await Spool.open({ dir: this.init.spoolDir, maxBytes: this.init.maxSpoolBytes })
      if (this.spool.knowsSeq) this.bumpSeq(this.spool.nextSeq)
      for (const r of this.spool.queued()) {
        const rec: Rec = { seq: r.seq, txId: r.txId, tx: r.tx as Transaction }
        this.recs.set(rec.seq, rec)
        this.unsent.push(rec)
      }
    }
    this.connectNow()
  }

  async queue(payload: Uint8Array, metadata: Record<string, string> = {}): Promise<QueuedRecord> {
    if (!this.started) throw new ClientError('ERR_INVALID_ARGUMENT', 'call start() before queue()/submit()')
    if (this.stopped) throw new ClientError('ERR_CLOSED', 'the client is closed')
    if (!this.spool && this.recs.size >= (this.init.maxQueued ?? 10_000)) {
      throw new ClientError('ERR_QUEUE_FULL', `${this.recs.size} records wait for the node's acknowledgement; wait (drain) or use a spool`, { limit: this.init.maxQueued ?? 10_000 })
    }
    this.spool?.checkRoom(payload.byteLength + 512)
    await this.seqKnown()
    if (this.stopped) throw new ClientError('ERR_CLOSED', 'the client is closed')
    const seq = this.nextSeq as number
    this.nextSeq = seq + 1
    const { tx, recordKey } = createRecord({ deviceKey: this.init.deviceKey, network: this.init.network, seq, payload, metadata, dataKey: this.init.dataKey, epoch: this.init.epoch })
    if (this.spool) await this.spool.append(tx)
    const rec: Rec = { seq, txId: txIdOf(tx), tx }
    const acked = new Promise<SubmitResult>((resolve, reject) => {
      rec.resolve = resolve
      rec.reject = reject
    })
    acked.catch(() => {}) // the caller may only care about `queued`; errors also go to events
    this.recs.set(seq, rec)
    this.unsent.push(rec)
    if (this.idle) {
      this.idle = false
      this.connectNow()
    }
    this.pump()
    return { txId: toHex(rec.txId), seq, tx, acked, recordKey }
  }

  async submit(payload: Uint8Array, metadata?: Record<string, string>): Promise<SubmitResult> {
    return (await this.queue(payload, metadata)).acked
  }

  async drain(opts: { receipts?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
    while (this.recs.size > 0 || (opts.receipts === true && this.awaitingReceipts > 0)) {
      if (this.stopped) throw new ClientError('ERR_CLOSED', 'the client is closed')
      const left = deadline - Date.now()
      if (left <= 0) throw new ClientError('ERR_TIMEOUT', `drain timed out: ${this.recs.size} unacknowledged, ${this.awaitingReceipts} receipts outstanding`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000))
        this.changeWaiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  async close(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearTimeout(this.timer)
    clearTimeout(this.retryTimer)
    this.flushReceiptAcks()
    clearTimeout(this.receiptAckTimer)
    const c = this.conn
    this.conn = undefined
    if (c) {
      await new Promise<void>((resolve) => {
        c.socket.once('close', () => resolve())
        c.socket.end()
        setTimeout(() => c.socket.destroy(), 1000).unref()
      })
    }
    for (const r of this.recs.values()) r.reject?.(new ClientError('ERR_CLOSED', 'the client was closed before the node acknowledged this record' + (this.spool ? ' (it stays in the spool and is re-sent on the next start)' : '')))
    for (const w of this.seqWaiters.splice(0)) w()
    this.changed()
    await this.spool?.close()
  }

  // ---- seq ----

  private bumpSeq(n: number): void {
    if (this.nextSeq === undefined || n > this.nextSeq) this.nextSeq = n
    for (const w of this.seqWaiters.splice(0)) w()
  }

  private async seqKnown(): Promise<void> {
    while (this.nextSeq === undefined && !this.stopped) await new Promise<void>((resolve) => this.seqWaiters.push(resolve))
  }

  private changed(): void {
    for (const w of this.changeWaiters.splice(0)) w()
  }

  // ---- connection ----

  private fail(err: ClientError): void {
    this.emit('failure', err)
  }

  /**
   * A spool write failed. After close() the spool is closed: an ack or receipt still being handled then is not
   * written, by design, and is no failure (the record stays in the spool and is re-sent, answered duplicate; the
   * receipt, not acknowledged, is pushed again after the next hello). Anything else is reported.
   */
  private spoolFailed(err: unknown): void {
    if (this.stopped && err instanceof ClientError && err.code === 'ERR_CLOSED') return
    this.fail(spoolFailure(err))
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer) return
    const initial = this.init.backoffMs?.initial ?? 100
    const max = this.init.backoffMs?.max ?? 10_000
    const delay = Math.min(max, initial * 2 ** Math.min(this.attempt, 20))
    this.attempt++
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.connectNow()
    }, delay / 2 + Math.random() * (delay / 2))
  }

  private connectNow(): void {
    if (this.stopped || this.conn) return
    const socket = tlsConnect({
      host: this.init.host,
      port: this.init.port,
      servername: this.init.servername,
      ALPNProtocols: [INGEST_ALPN],
      minVersion: 'TLSv1.3',
      // The certificate is self-signed: trust comes from the pinned fingerprint, checked below before
      // a single byte is sent.
      rejectUnauthorized: false,
    })
    // Until the welcome, the whole handshake is bounded by one timer (cleared in onFrame).
    const timeout = setTimeout(() => {
      this.fail(new ClientError('ERR_TIMEOUT', `no welcome from ${this.init.host}:${this.init.port} within ${this.init.connectTimeoutMs ?? 10_000} ms`))
      socket.destroy()
    }, this.init.connectTimeoutMs ?? 10_000)
    const c: Conn = { socket, reader: new FrameReader(INGEST_FIELD_LIMITS.chainpointBytes + 64 * 1024), timeout, pinned: false, inflight: new Map(), nextBatchId: 1, maxBatch: 1, maxInFlight: 1, maxFrameBytes: 4 * 1024 * 1024 }
    this.conn = c
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate(false)
      const actual = cert?.raw ? getCrypto().sha256(cert.raw) : new Uint8Array(0)
      if (!equalBytes(actual, this.fp)) {
        this.fail(new ClientError('ERR_FINGERPRINT_MISMATCH', `the server at ${this.init.host}:${this.init.port} presented certificate ${toHex(actual)}, not the pinned ${toHex(this.fp)}; nothing was sent. Check the node's fingerprint (profichain status)`, { expected: toHex(this.fp), actual: toHex(actual) }))
        socket.destroy()
        return
      }
      if (socket.alpnProtocol !== false && socket.alpnProtocol !== INGEST_ALPN) {
        this.fail(new ClientError('ERR_PROTOCOL', `the server chose ALPN ${String(socket.alpnProtocol)}, not ${INGEST_ALPN}`))
        socket.destroy()
        return
      }
      c.pinned = true
    })
    socket.on('data', (chunk: Buffer) => {
      if (this.conn !== c || !c.pinned) return
      try {
        for (const body of c.reader.push(chunk)) this.onFrame(c, decodeFrameBody(body))
      } catch (err) {
        this.fail(err instanceof ClientError ? err : new ClientError('ERR_PROTOCOL', `the server at ${this.init.host}:${this.init.port} broke the ingest protocol (${(err as Error).message}); is it a Profichain ingest API of protocol version 1?`, {}, { cause: err }))
        socket.destroy()
      }
    })
    let reason = 'closed'
    socket.on('error', (err) => {
      reason = err.message
    })
    socket.on('close', () => {
      clearTimeout(timeout)
      if (this.conn !== c) return
      this.conn = undefined
      // In-flight records go back to the front: re-sent (with their original signature and seq) next time.
      const back = [...c.inflight.values()].flat()
      if (back.length > 0) this.unsent = [...back, ...this.unsent].sort((a, b) => a.seq - b.seq)
      this.emit('disconnected', { reason: c.serverCode ?? reason })
      // Closed for idleness with nothing to send and no receipt awaited: stay away until the next record.
      if (c.serverCode === 'IDLE_TIMEOUT' && this.recs.size === 0 && this.awaitingReceipts === 0) this.idle = true
      else this.scheduleReconnect()
    })
  }

  private send(c: Conn, bytes: Uint8Array): void {
    c.socket.write(bytes)
  }

  private onFrame(c: Conn, f: ServerFrame): void {
    switch (f.type) {
      case 'server-hello': {
        if (c.hello) throw new ClientError('ERR_PROTOCOL', 'a second server-hello')
        if (f.network !== this.init.network) {
          throw new ClientError('ERR_PROTOCOL', `the server is on network "${f.network}", this client on "${this.init.network}"`)
        }
        c.hello = f
        c.maxFrameBytes = f.limits.maxFrameBytes
        c.maxBatch = Math.max(1, Math.min(f.limits.maxBatch, this.init.maxBatch ?? 256))
        c.maxInFlight = Math.max(1, f.limits.maxInFlight)
        const k = this.init.deviceKey
        this.send(c, encodeFrame({ type: 'hello', publicKey: k.publicKey, signature: signHello(k.seed, f.challenge, this.fp, this.init.network) }))
        return
      }
      case 'welcome': {
        if (!c.hello || c.welcome) throw new ClientError('ERR_PROTOCOL', 'an unexpected welcome')
        c.welcome = { deviceId: f.deviceId, registered: f.registered, nextSeq: f.nextSeq }
        clearTimeout(c.timeout)
        this.attempt = 0
        if (this.nextSeq === undefined || f.nextSeq > this.nextSeq) this.bumpSeq(f.nextSeq)
        this.emit('connected', c.welcome)
        this.pump()
        return
      }
      case 'ack':
        this.onAck(c, f)
        return
      case 'receipt':
        void this.onReceipt(f)
        return
      case 'hello':
      case 'submit':
      case 'receipt-ack':
        throw new ClientError('ERR_PROTOCOL', `the server sent a ${f.type} frame, which only clients send`)
      case 'error': {
        c.serverCode = f.code
        // The node closing an idle connection is routine, not a failure (see the close handler).
        if (f.code !== 'IDLE_TIMEOUT') this.fail(new ClientError('ERR_SERVER', `the node refused the connection: ${f.code}: ${f.message}`, { code: f.code }))
        c.socket.destroy()
        return
      }
    }
  }

  private pump(): void {
    const c = this.conn
    if (!c?.welcome || this.stopped) return
    while (this.unsent.length > 0 && c.inflight.size < c.maxInFlight) {
      const batch: Rec[] = []
      let bytes = FRAME_OVERHEAD
      while (batch.length < c.maxBatch && this.unsent.length > 0) {
        const size = encodeTransaction(this.unsent[0].tx).byteLength
        if (FRAME_OVERHEAD + size > c.maxFrameBytes) {
          // Alone it is above the node's frame limit: sending it would only get the connection closed, forever.
          this.refuse(this.unsent.shift() as Rec, 'FRAME_TOO_LARGE')
          continue
        }
        if (bytes + size > c.maxFrameBytes) break
        bytes += size
        batch.push(this.unsent.shift() as Rec)
      }
      if (batch.length === 0) continue
      const id = c.nextBatchId++
      c.inflight.set(id, batch)
      this.send(c, encodeFrame({ type: 'submit', batchId: id, txs: batch.map((r) => r.tx) }))
    }
  }

  /** A record refused for good: out of the spool, its promise rejected, event `rejected`. */
  private refuse(rec: Rec, code: string): void {
    this.recs.delete(rec.seq)
    const txId = toHex(rec.txId)
    void this.spool?.rejected(rec.seq, code).catch((err) => this.spoolFailed(err))
    rec.reject?.(new ClientError('ERR_REJECTED', `the node refused record seq ${rec.seq} (${txId}): ${code}`, { code, txId, seq: rec.seq }))
    this.emit('rejected', { txId, seq: rec.seq, code })
    this.changed()
  }

  private onAck(c: Conn, f: Ack): void {
    const batch = c.inflight.get(f.batchId)
    if (!batch) throw new ClientError('ERR_PROTOCOL', `ack for unknown batch ${f.batchId}`)
    if (f.results.length !== batch.length) throw new ClientError('ERR_PROTOCOL', `ack for batch ${f.batchId} has ${f.results.length} entries, the batch ${batch.length}`)
    for (const [i, e] of f.results.entries()) {
      if (!equalBytes(e.txId, batch[i].txId)) throw new ClientError('ERR_PROTOCOL', `ack entry ${i} of batch ${f.batchId} names another tx`)
    }
    c.inflight.delete(f.batchId)
    const retryLater: Rec[] = []
    for (const [i, e] of f.results.entries()) {
      const rec = batch[i]
      if (e.status === 'rejected' && this.retry.has(e.code)) {
        retryLater.push(rec)
        continue
      }
      if (e.status === 'rejected') {
        this.refuse(rec, e.code)
        continue
      }
      this.recs.delete(rec.seq)
      const txId = toHex(rec.txId)
      const result: SubmitResult = { txId, seq: rec.seq, status: e.status }
      if (this.spool) void this.spool.acked(rec.seq, e.status === 'accepted' ? 0 : 1).catch((err) => this.spoolFailed(err))
      else {
        // Without a spool, remember a bounded number of acknowledged txs awaiting receipts (for awaitingReceipts).
        if (this.owed.size >= 100_000) this.owed.delete(this.owed.keys().next().value as string)
        this.owed.set(txId, rec.seq)
      }
      rec.resolve?.(result)
      this.emit('ack', result)
    }
    if (retryLater.length > 0) {
      // Back off once for the whole lot, then put them back in seq order.
      clearTimeout(this.retryTimer)
      this.retryTimer = setTimeout(() => {
        this.unsent = [...retryLater, ...this.unsent].sort((a, b) => a.seq - b.seq)
        this.pump()
      }, 200 + Math.random() * 300)
    }
    this.changed()
    this.pump()
  }

  /** Receipts being verified and stored, by txId: a receipt pushed twice (owed + fresh) is handled once. */
  private readonly receiving = new Map<string, Promise<boolean>>()

  private async onReceipt(f: ReceiptFrame): Promise<void> {
    const txId = toHex(f.txId)
    const running = this.receiving.get(txId)
    if (running) {
      if (await running) this.queueReceiptAck(f.txId)
      return
    }
    const p = this.handleReceipt(f)
    this.receiving.set(txId, p)
    try {
      if (await p) this.queueReceiptAck(f.txId)
    } finally {
      this.receiving.delete(txId)
    }
    this.changed()
  }

  private queueReceiptAck(id: Uint8Array): void {
    this.receiptAcks.push(id)
    if (this.receiptAcks.length >= 256) this.flushReceiptAcks()
    else this.receiptAckTimer ??= setTimeout(() => this.flushReceiptAcks(), 20)
  }

  /** Verify, store and emit one pushed receipt; whether it may be acknowledged. */
  private async handleReceipt(f: ReceiptFrame): Promise<boolean> {
    const txId = toHex(f.txId)
    let proof: ChainpointProof
    try {
      proof = JSON.parse(f.chainpoint) as ChainpointProof
      const v = verifyChainpointReceipt(proof)
      if (v.txId !== txId) throw new Error(`it proves tx ${v.txId}`)
      if (v.blockHash !== toHex(f.blockHash) || v.height !== f.height) throw new Error(`it proves block ${v.height} ${v.blockHash}, the frame names ${f.height} ${toHex(f.blockHash)}`)
      if (!equalBytes(v.tx.body.origin, this.init.deviceKey.publicKey)) throw new Error('the tx is not this device\'s')
    } catch (err) {
      this.fail(new ClientError('ERR_RECEIPT_INVALID', `the node pushed a receipt for ${txId} that does not verify (${(err as Error).message}); not stored, not acknowledged`, { txId }, { cause: err }))
      return false
    }
    // Already stored (the receipt-ack was lost): acknowledge again, do not report it twice.
    if (this.spool && !this.spool.get(f.txId) && (await this.spool.readReceipt(txId)) !== undefined) return true
    // A receipt implies the ack (e.g. the ack was lost in a crash): settle the record first.
    const seq = this.spool?.get(f.txId)?.seq ?? this.owed.get(txId) ?? [...this.recs.values()].find((r) => equalBytes(r.txId, f.txId))?.seq
    const rec = seq === undefined ? undefined : this.recs.get(seq)
    if (rec) {
      this.recs.delete(rec.seq)
      this.unsent = this.unsent.filter((r) => r !== rec)
      rec.resolve?.({ txId, seq: rec.seq, status: 'accepted' })
    }
    const r: ClientReceipt = { txId, height: f.height, blockHash: toHex(f.blockHash), chainpoint: proof }
    if (this.spool) {
      const stored: StoredReceipt = { txId, height: f.height, blockHash: r.blockHash, chainpoint: proof }
      try {
        r.file = await this.spool.storeReceipt(stored)
      } catch (err) {
        this.spoolFailed(err)
        return false
      }
    }
    this.owed.delete(txId)
    this.emit('receipt', r)
    return true
  }

  private flushReceiptAcks(): void {
    clearTimeout(this.receiptAckTimer)
    this.receiptAckTimer = undefined
    const ids = this.receiptAcks.splice(0)
    for (let i = 0; i < ids.length && this.conn?.welcome; i += INGEST_FIELD_LIMITS.receiptAckIds) {
      this.send(this.conn, encodeFrame({ type: 'receipt-ack', txIds: ids.slice(i, i + INGEST_FIELD_LIMITS.receiptAckIds) }))
    }
  }
}

function spoolFailure(err: unknown): ClientError {
  return err instanceof ClientError ? err : new ClientError('ERR_SPOOL_IO', `writing the spool failed: ${(err as Error).message}; check the disk (space, permissions)`, {}, { cause: err })
}
