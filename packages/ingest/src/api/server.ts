import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { AddressInfo, Socket } from 'node:net'
import { createServer, type Server, type TLSSocket } from 'node:tls'
import {
  type AckEntry,
  type DecodedIngestFrame,
  decodeFrameBody,
  DEFAULT_INGEST_LIMITS,
  encodeFrame,
  encodeFrames,
  equalBytes,
  FrameReader,
  INGEST_ALPN,
  type IngestCode,
  type IngestFrame,
  type IngestLimits,
  IngestWireError,
  type SubmitItem,
  toHex,
  type Transaction,
  verifyHello,
} from '@profichain/core'
import type { IngestLogger } from '../types.js'
import { IngestApiError } from './errors.js'
import { TokenBuckets } from './rate.js'

/** What the node knows of a key that says hello. */
export interface DeviceIdentity {
  /** member: a network member; device: a registered, non-revoked device; unknown; revoked. */
  status: 'member' | 'device' | 'unknown' | 'revoked'
  deviceId: string
  /** 1 + the highest seq seen from this origin (0 if none). */
  nextSeq: number
}

/** A tx of a submit as the gateway gets it: refused by the transport already (code), or to be checked and stored. */
export type GatewayItem = { tx: Transaction; refused?: IngestCode } | { tx?: undefined; refused: IngestCode }

export type ReceiptFrame = Extract<IngestFrame, { type: 'receipt' }>

/** A receipt to push, with the hex forms the caller has anyway (lower-case: device key, txId, block hash). */
export interface PushedReceipt {
  originHex: string
  receipt: ReceiptFrame
  txIdHex: string
  blockHex: string
}

/**
 * The node side of the ingest API (the node's ingest-api subsystem implements it): the server owns transport,
 * hello and limits; the gateway decides and stores.
 */
export interface IngestGateway {
  identify(publicKey: Uint8Array): Promise<DeviceIdentity>
  /**
   * Check and store the txs; resolves with one ack entry per item, in order, once the accepted ones are durable
   * (never rejects: failures are entries with code INTERNAL).
   */
  submit(items: GatewayItem[]): Promise<AckEntry[]>
  /** Receipts owed to this device for committed records (at most `limit`), leaving out those `skip` names (hex txId). */
  owedReceipts(origin: Uint8Array, limit: number, skip?: (txIdHex: string) => boolean): Promise<ReceiptFrame[]>
  /** The device stored these receipts: stop owing them. */
  receiptsAcked(origin: Uint8Array, txIds: Uint8Array[], txIdHexes?: string[]): Promise<void>
}

/** Counters the node wires to prom-client. */
export interface IngestApiMetrics {
  /** A refusal, by protocol code (connection-level errors and rejected ack entries). */
  rejected(code: string, n?: number): void
  /** Ack entries by status. */
  acked?(status: 'accepted' | 'duplicate' | 'rejected', n: number): void
}

export interface IngestApiInit {
  host?: string
  /** Default 7443; 0 = any free port. */
  port?: number
  /** Advertised in the server-hello. */
  limits?: Partial<IngestLimits>
  /** Authenticated connections, all devices together. Default 1024. */
  maxConnections?: number
  /** Connections still before their hello (TLS handshake or waiting for the hello). Default 256. */
  maxUnauthenticated?: number
  /** Connections of one device key. Default 4. */
  maxConnectionsPerDevice?: number
  /** Connections of keys that are neither members nor registered devices (anyone can make keys). Default 64. */
  maxUnregistered?: number
  /** Txs per second one device may send (token bucket, shared by its connections). Default 5000. */
  ratePerDevice?: number
  /** Bucket size (burst). Default 4 × maxBatch. */
  burstPerDevice?: number
  /** TLS handshake + hello must finish within this. Default 10 000 ms. */
  helloTimeoutMs?: number
  /** A connection with nothing in flight and no frame for this long is closed. Default 120 000 ms. */
  idleTimeoutMs?: number
  /** Bytes buffered for writing to one client before the server stops reading its frames. Default 1 MiB. */
  writeBufferBytes?: number
  /** A client whose write buffer stays above the bound this long is dropped. Default 30 000 ms. */
  slowReaderMs?: number
  /** Frames received and not yet answered, all connections together (bytes); reading pauses above. Default 256 MiB. */
  maxQueuedBytes?: number
  /** Receipts pushed after a hello, per page (the next page follows each receipt-ack). Default 256. */
  receiptPage?: number
}

export interface IngestApiComponents {
  network: string
  certificate: { cert: string; key: string; fingerprint: Uint8Array }
  gateway: IngestGateway
  metrics?: IngestApiMetrics
  logger?: IngestLogger
}

export interface IngestApiEvents {
  /** A device said hello. */
  hello: [{ publicKey: string; status: DeviceIdentity['status'] }]
  /** A connection was refused or dropped with this code. */
  refused: [{ code: string; publicKey?: string }]
}

export interface IngestApiAddress {
  host: string
  port: number
}

export interface IngestApiStats {
  /** Open connections (TLS sockets). */
  connections: number
  authenticated: number
  unauthenticated: number
  /** Bytes of frames received and not yet answered. */
  queuedBytes: number
}

export interface IngestApiServer extends EventEmitter<IngestApiEvents> {
  start(): Promise<IngestApiAddress>
  stop(): Promise<void>
  address(): IngestApiAddress | undefined
  stats(): IngestApiStats
  /** Push a receipt to every open connection of `origin`; false if none took it (it stays owed). */
  pushReceipt(origin: Uint8Array, receipt: ReceiptFrame): boolean
  /**
   * Push many receipts (a block's): those of one connection go out in one socket write. The number of
   * receipts some connection took (the others stay owed).
   */
  pushReceipts(list: readonly PushedReceipt[]): number
  /** Whether the key (lower-case hex) has an authenticated connection. */
  isConnectedHex(originHex: string): boolean
  /** Whether `origin` has an authenticated connection. */
  isConnected(origin: Uint8Array): boolean
}

const PRE_HELLO_MAX_FRAME = 1024

interface Resolved {
  host: string
  port: number
  limits: IngestLimits
  maxConnections: number
  maxUnauthenticated: number
  maxConnectionsPerDevice: number
  maxUnregistered: number
  ratePerDevice: number
  burstPerDevice: number
  helloTimeoutMs: number
  idleTimeoutMs: number
  writeBufferBytes: number
  slowReaderMs: number
  maxQueuedBytes: number
  receiptPage: number
}

function resolve(init: IngestApiInit): Resolved {
  const limits = { ...DEFAULT_INGEST_LIMITS, ...init.limits }
  const r: Resolved = {
    host: init.host ?? '127.0.0.1',
    port: init.port ?? 7443,
    limits,
    maxConnections: init.maxConnections ?? 1024,
    maxUnauthenticated: init.maxUnauthenticated ?? 256,
    maxConnectionsPerDevice: init.maxConnectionsPerDevice ?? 4,
    maxUnregistered: init.maxUnregistered ?? 64,
    ratePerDevice: init.ratePerDevice ?? 5000,
    burstPerDevice: init.burstPerDevice ?? 4 * limits.maxBatch,
    helloTimeoutMs: init.helloTimeoutMs ?? 10_000,
    idleTimeoutMs: init.idleTimeoutMs ?? 120_000,
    writeBufferBytes: init.writeBufferBytes ?? 1024 * 1024,
    slowReaderMs: init.slowReaderMs ?? 30_000,
    maxQueuedBytes: init.maxQueuedBytes ?? 256 * 1024 * 1024,
    receiptPage: init.receiptPage ?? 256,
  }
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw new IngestApiError('ERR_INGEST_API_CONFIG', `ingest API port ${r.port} is not in 0..65535`)
  if (r.limits.maxFrameBytes < 1024 || r.limits.maxFrameBytes > 64 * 1024 * 1024) {
    throw new IngestApiError('ERR_INGEST_API_CONFIG', `ingest API maxFrameBytes must be in 1 KiB..64 MiB, got ${r.limits.maxFrameBytes}`)
  }
  for (const [k, v] of Object.entries({ ...r, ...r.limits })) {
    if (typeof v === 'number' && (!Number.isFinite(v) || v < 0)) throw new IngestApiError('ERR_INGEST_API_CONFIG', `ingest API ${k} must be a non-negative number, got ${v}`)
  }
  for (const k of ['maxBatch', 'maxInFlight'] as const) {
    if (!Number.isInteger(r.limits[k]) || r.limits[k] < 1) throw new IngestApiError('ERR_INGEST_API_CONFIG', `ingest API ${k} must be a positive integer`)
  }
  return r
}

type State = 'hello' | 'open' | 'closing'

/** One TLS connection: hello, then submits answered in order; bounded in everything it holds. */
class Connection {
  state: State = 'hello'
  origin?: Uint8Array
  originHex?: string
  readonly challenge = new Uint8Array(randomBytes(32))
  private reader = new FrameReader(PRE_HELLO_MAX_FRAME)
  /** Frames received and waiting, in order (bounded: reading pauses at maxInFlight / the global budget). */
  private readonly queue: Array<{ body: Uint8Array }> = []
  queuedBytes = 0
  private working = false
  /**
   * Submits handed to the gateway and not yet acked: the next frames are read and handled meanwhile (a
   * submit no longer waits for the one before it to be durable), acks still go out in submit order. Their
   * bytes stay counted until acked; reading pauses at maxInFlight frames, queued and in flight together.
   */
  private inflight = 0
  private acks: Promise<void> = Promise.resolve()
  private helloTimer?: NodeJS.Timeout
  private idleTimer?: NodeJS.Timeout
  private slowTimer?: NodeJS.Timeout
  private pausedBy = new Set<'inflight' | 'writes' | 'budget'>()
  /** More owed receipts may be waiting (pushed after a receipt-ack or once the write buffer drained). */
  owedPending = false
  private pushingOwed = false
  /** Receipts sent on this connection and not yet receipt-acked (hex txId → hex block hash; bounded). */
  readonly sentReceipts = new Map<string, string>()
  /** Counted among the authenticated connections of its device. */
  admitted = false
  /** Its key is neither a member nor a registered device (limited apart). */
  unregistered = false

  constructor(
    readonly socket: TLSSocket,
    private readonly server: IngestApiServerImpl,
  ) {}

  begin(): void {
    const s = this.socket
    s.on('data', (chunk: Buffer) => this.onData(chunk))
    s.on('drain', () => this.onDrain())
    this.helloTimer = setTimeout(() => this.fail('HELLO_TIMEOUT', `no hello within ${this.server.opts.helloTimeoutMs} ms`), this.server.opts.helloTimeoutMs)
    this.send({ type: 'server-hello', challenge: this.challenge, network: this.server.network, limits: this.server.opts.limits })
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closing') return
    let bodies: Uint8Array[]
    try {
      bodies = this.reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    } catch (err) {
      const e = err as IngestWireError
      return this.fail(e.code ?? 'BAD_FRAME', e.message)
    }
    for (const body of bodies) {
      this.queue.push({ body })
      this.queuedBytes += body.byteLength
      this.server.queued(body.byteLength)
    }
    if (bodies.length > 0) {
      this.touch()
      this.flowControl()
      void this.work()
    }
  }

  /** Pause reading while too much is waiting; resume when it drained. */
  flowControl(): void {
    const inflight = this.queue.length + this.inflight >= this.server.opts.limits.maxInFlight
    this.setPaused('inflight', inflight)
    this.setPaused('budget', this.queue.length > 0 && this.server.overBudget())
  }

  setPaused(reason: 'inflight' | 'writes' | 'budget', on: boolean): void {
    if (on) this.pausedBy.add(reason)
    else this.pausedBy.delete(reason)
    if (this.pausedBy.size > 0) this.socket.pause()
    else if (this.state !== 'closing') this.socket.resume()
  }

  private async work(): Promise<void> {
    if (this.working) return
    this.working = true
    try {
      while (this.queue.length > 0 && this.state !== 'closing') {
        const { body } = this.queue[0]
        let kept = false
        try {
          kept = await this.handle(body)
        } finally {
          this.queue.shift()
          // A submit in flight keeps its bytes counted until its ack is sent.
          if (!kept) this.release(body.byteLength)
          this.flowControl()
        }
      }
    } catch (err) {
      const e = err as IngestWireError
      if (e instanceof IngestWireError) this.fail(e.code, e.message)
      else {
        this.server.log?.error({ err }, 'ingest API connection failed')
        this.fail('INTERNAL', 'internal error')
      }
    } finally {
      this.working = false
      this.touch()
    }
  }

  private release(bytes: number): void {
    this.queuedBytes -= bytes
    this.server.dequeued(bytes)
  }

  private decode(body: Uint8Array): DecodedIngestFrame {
    return decodeFrameBody(body, { maxBatch: this.server.opts.limits.maxBatch, maxFrameBytes: this.server.opts.limits.maxFrameBytes })
  }

  /** Handle one frame; true when it is a submit now in flight (its bytes are released once acked). */
  private async handle(body: Uint8Array): Promise<boolean> {
    const f = this.decode(body)
    if (this.state === 'hello') {
      if (f.type !== 'hello') throw new IngestWireError('BAD_HELLO', `expected a hello frame, got ${f.type}`)
      await this.onHello(f)
      return false
    }
    switch (f.type) {
      case 'submit':
        this.onSubmit(f, body.byteLength)
        return true
      case 'receipt-ack': {
        // The hex forms once, for the gateway (owed index) and for the sent and acked receipts here.
        const hexes = f.txIds.map(toHex)
        await this.server.gateway.receiptsAcked(this.origin as Uint8Array, f.txIds, hexes)
        for (const hex of hexes) {
          const block = this.sentReceipts.get(hex)
          if (block !== undefined) this.server.receiptAcked(hex, block)
          this.sentReceipts.delete(hex)
        }
        if (this.owedPending) await this.pushOwed()
        return false
      }
      case 'hello':
        throw new IngestWireError('BAD_HELLO', 'a second hello on one connection')
      default:
        throw new IngestWireError('BAD_FRAME', `a client does not send ${f.type} frames`)
    }
  }

  private async onHello(f: Extract<DecodedIngestFrame, { type: 'hello' }>): Promise<void> {
    clearTimeout(this.helloTimer)
    const srv = this.server
    if (!verifyHello(f.publicKey, f.signature, this.challenge, srv.fingerprint, srv.network)) {
      throw new IngestWireError('BAD_SIGNATURE', 'the hello signature does not verify for this challenge, server certificate and network')
    }
    const id = await srv.gateway.identify(f.publicKey)
    if (id.status === 'revoked') throw new IngestWireError('REVOKED', 'this device key is revoked; rotate to a new key')
    const hex = toHex(f.publicKey)
    this.unregistered = id.status === 'unknown'
    if (!srv.admit(this, hex)) return
    // Its own 32 bytes (not a view keeping the hello frame): the records of this connection share this object.
    this.origin = new Uint8Array(f.publicKey)
    this.originHex = hex
    this.state = 'open'
    this.reader.setMaxFrameBytes(srv.opts.limits.maxFrameBytes)
    srv.emit('hello', { publicKey: hex, status: id.status })
    this.send({ type: 'welcome', deviceId: id.deviceId, registered: id.status === 'member' || id.status === 'device', nextSeq: id.nextSeq })
    await this.pushOwed()
  }

  /**
   * Push a page of owed receipts not yet sent on this connection; more follow after a receipt-ack, or once
   * the write buffer drained when it filled up.
   */
  async pushOwed(): Promise<void> {
    if (!this.origin || this.state !== 'open' || this.pushingOwed) return
    this.pushingOwed = true
    try {
      const page = this.server.opts.receiptPage
      const owed = await this.server.gateway.owedReceipts(this.origin, page, (id) => this.sentReceipts.has(id))
      let stopped = false
      for (const r of owed) {
        if (!this.sendReceipt(r)) {
          stopped = true
          break
        }
      }
      this.owedPending = stopped || owed.length >= page
    } finally {
      this.pushingOwed = false
    }
  }

  /**
   * Send a receipt unless the client is not reading (then it stays owed and follows once drained). A receipt
   * already sent on this connection and not yet receipt-acked, or receipt-acked lately, is not sent again (the
   * fresh-commit push and the owed-page push can both find one record): true, the client has it.
   */
  sendReceipt(r: ReceiptFrame): boolean {
    return this.sendReceipts([{ originHex: this.originHex as string, receipt: r, txIdHex: toHex(r.txId), blockHex: toHex(r.blockHash) }]) > 0
  }

  /**
   * sendReceipt for many: the frames taken go out in one socket write (one TLS record run, one write request,
   * instead of one per record). The number the client has now (sent, or sent or acked before).
   */
  sendReceipts(list: readonly PushedReceipt[]): number {
    if (this.state !== 'open') return 0
    const bound = this.server.opts.writeBufferBytes
    const frames: ReceiptFrame[] = []
    // Bytes of the frames taken so far (their JSON's length: the size up to the UTF-8 of non-ASCII text and ~80 bytes of the rest).
    let bytes = 0
    let n = 0
    for (const { receipt, txIdHex: hex, blockHex: block } of list) {
      if (this.sentReceipts.get(hex) === block || this.server.wasAcked(hex, block)) {
        n++
        continue
      }
      // The frames of this call count as written: past the bound the rest stay owed.
      if (this.socket.writableLength + bytes > bound) {
        this.owedPending = true
        continue
      }
      if (this.sentReceipts.size >= 100_000) this.sentReceipts.clear()
      this.sentReceipts.set(hex, block)
      frames.push(receipt)
      bytes += 80 + receipt.chainpoint.length
      n++
    }
    if (frames.length === 0) return n
    return this.write(encodeFrames(frames)) ? n : 0
  }

  /** Hand a submit to the gateway without waiting for it; its ack follows those of the submits before it. */
  private onSubmit(f: Extract<DecodedIngestFrame, { type: 'submit' }>, bytes: number): void {
    const srv = this.server
    const origin = this.origin as Uint8Array
    const items: GatewayItem[] = f.items.map((it: SubmitItem): GatewayItem => {
      if (!it.ok) return { refused: 'BAD_TX' }
      if (!equalBytes(it.tx.body.origin, origin)) return { tx: it.tx, refused: 'WRONG_ORIGIN' }
      // The same bytes, as the connection's one object: what is memoised per origin object downstream (its hex:
      // the origin rule, the mempool, the owed receipts) is then made once per connection, not per record.
      it.tx.body.origin = origin
      return { tx: it.tx }
    })
    // Rate per device: the txs beyond the bucket are refused alone (resend later: idempotent).
    const want = items.filter((i) => i.refused === undefined).length
    let allowed = srv.rates.take(this.originHex as string, want)
    for (const it of items) {
      if (it.refused !== undefined) continue
      if (allowed > 0) allowed--
      else it.refused = 'RATE_LIMITED'
    }
    const pending = srv.gateway.submit(items)
    this.inflight++
    this.acks = this.acks
      .then(() => pending)
      .then((results) => {
        srv.countAck(results)
        this.send({ type: 'ack', batchId: f.batchId, results })
      })
      .catch((err) => {
        srv.log?.error({ err }, 'ingest API submit failed')
        this.fail('INTERNAL', 'internal error')
      })
      .finally(() => {
        this.inflight--
        this.release(bytes)
        this.flowControl()
        this.touch()
      })
  }

  /** Write a frame; past the write bound, stop reading and start the slow-reader deadline. */
  send(frame: IngestFrame): boolean {
    return this.write(encodeFrame(frame))
  }

  /** Write encoded frames; past the write bound, stop reading and start the slow-reader deadline. */
  private write(bytes: Uint8Array): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false
    this.socket.write(bytes)
    if (this.socket.writableLength > this.server.opts.writeBufferBytes) {
      this.setPaused('writes', true)
      this.slowTimer ??= setTimeout(() => {
        this.server.refuse('SLOW_READER', this.originHex)
        this.close(true)
      }, this.server.opts.slowReaderMs)
    }
    return true
  }

  /** Whether a receipt push now would only grow the buffer of a client that is not reading. */
  get congested(): boolean {
    return this.socket.writableLength > this.server.opts.writeBufferBytes
  }

  private onDrain(): void {
    if (this.slowTimer) clearTimeout(this.slowTimer)
    this.slowTimer = undefined
    this.setPaused('writes', false)
    if (this.owedPending) {
      this.pushOwed().catch((err) => this.server.log?.warn({ err }, 'pushing owed receipts failed; they follow after the next hello'))
    }
  }

  touch(): void {
    if (this.state !== 'open') return
    // One timer per connection, re-armed in place (a new Timeout per frame and per ack was garbage per submit).
    if (this.idleTimer) {
      this.idleTimer.refresh()
      return
    }
    this.idleTimer = setTimeout(() => {
      if (this.queue.length > 0 || this.working || this.inflight > 0) return this.touch()
      this.fail('IDLE_TIMEOUT', `no frame for ${this.server.opts.idleTimeoutMs} ms`)
    }, this.server.opts.idleTimeoutMs)
  }

  /** Send an error frame, count it, close. */
  fail(code: IngestCode | string, message: string): void {
    if (this.state === 'closing') return
    this.server.refuse(code, this.originHex)
    this.send({ type: 'error', code, message: message.slice(0, 1000) })
    this.close(false)
  }

  close(hard: boolean): void {
    if (this.state !== 'closing') {
      this.state = 'closing'
      this.socket.pause()
    }
    clearTimeout(this.helloTimer)
    clearTimeout(this.idleTimer)
    clearTimeout(this.slowTimer)
    if (hard) this.socket.destroy()
    else {
      this.socket.end()
      // A peer that never reads the close must not keep the socket: cut it after a short grace.
      setTimeout(() => this.socket.destroy(), 2000).unref()
    }
  }

  /** Forget the frames not yet being handled (the connection is gone); the one in hand finishes and is released. */
  dropQueued(): void {
    const dropped = this.queue.splice(this.working ? 1 : 0)
    for (const d of dropped) {
      this.queuedBytes -= d.body.byteLength
      this.server.dequeued(d.body.byteLength)
    }
  }

  /** Resolves once the queued frames are answered (graceful stop). */
  async settle(deadline: number): Promise<void> {
    while ((this.working || this.queue.length > 0 || this.inflight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  }
}

class IngestApiServerImpl extends EventEmitter<IngestApiEvents> implements IngestApiServer {
  readonly opts: Resolved
  readonly network: string
  readonly fingerprint: Uint8Array
  readonly gateway: IngestGateway
  readonly log?: IngestLogger
  readonly rates: TokenBuckets
  private readonly metrics?: IngestApiMetrics
  private server?: Server
  private bound?: IngestApiAddress
  private stopping?: Promise<void>
  private readonly conns = new Set<Connection>()
  private readonly byDevice = new Map<string, Set<Connection>>()
  /** Open TCP sockets (handshaking, before hello, authenticated). */
  private tcp = 0
  private authenticated = 0
  private unregistered = 0
  private queuedBytes = 0
  /**
   * Receipts (hex txId and block hash) devices acked lately, all connections together (bounded): a
   * fresh-commit push built before the ack arrived is not sent after it; one for another block (reorg) is.
   */
  private readonly acked = new Map<string, string>() // hex txId → hex block hash (a few, comma-separated, after reorgs)
  private static readonly ACKED_MAX = 16_384

  constructor(
    init: IngestApiInit,
    private readonly components: IngestApiComponents,
  ) {
    super()
    this.opts = resolve(init)
    this.network = components.network
    this.fingerprint = components.certificate.fingerprint
    this.gateway = components.gateway
    this.log = components.logger?.child({ component: 'ingest-api' })
    this.metrics = components.metrics
    this.rates = new TokenBuckets(this.opts.ratePerDevice, this.opts.burstPerDevice)
  }

  address(): IngestApiAddress | undefined {
    return this.bound
  }

  stats(): IngestApiStats {
    return {
      connections: this.tcp,
      authenticated: this.authenticated,
      unauthenticated: this.tcp - this.authenticated,
      queuedBytes: this.queuedBytes,
    }
  }

  async start(): Promise<IngestApiAddress> {
    if (this.bound) return this.bound
    if (this.stopping) throw new IngestApiError('ERR_INGEST_API_STOPPED', 'the ingest API server was stopped; create a new one')
    const o = this.opts
    const server = createServer({
      cert: this.components.certificate.cert,
      key: this.components.certificate.key,
      minVersion: 'TLSv1.3',
      ALPNProtocols: [INGEST_ALPN],
      handshakeTimeout: o.helloTimeoutMs,
      // The TCP-level cap: authenticated + unauthenticated; beyond it the kernel socket is closed at once.
      pauseOnConnect: false,
    })
    server.maxConnections = o.maxConnections + o.maxUnauthenticated
    // Every TCP socket counts until it closes; those not (yet) authenticated are limited on their own, so
    // idle or handshaking sockets cannot take the places of devices.
    server.on('connection', (sock: Socket) => {
      this.tcp++
      sock.once('close', () => this.tcp--)
      if (this.tcp - this.authenticated > o.maxUnauthenticated || this.stopping) {
        this.refuse('TOO_MANY_CONNECTIONS')
        sock.destroy()
      }
    })
    // With a listener, node:tls leaves the socket open: close it here (handshake timeout, bad ClientHello, no TLS 1.3).
    server.on('tlsClientError', (err: Error, sock: TLSSocket) => {
      this.refuse(/timeout/i.test(err.message) ? 'HELLO_TIMEOUT' : 'BAD_HELLO')
      this.log?.debug({ err: err.message }, 'TLS handshake failed')
      sock.destroy()
    })
    server.on('secureConnection', (socket: TLSSocket) => this.onSecure(socket))
    this.server = server
    await new Promise<void>((res, rej) => {
      const onError = (err: NodeJS.ErrnoException) =>
        rej(
          new IngestApiError(
            'ERR_INGEST_API_LISTEN',
            err.code === 'EADDRINUSE' ? `ingest API port ${o.port} on ${o.host} is already in use: set ingest_api.port` : `cannot listen on ${o.host}:${o.port}: ${err.message}`,
            { host: o.host, port: o.port },
            { cause: err },
          ),
        )
      server.once('error', onError)
      server.listen(o.port, o.host, () => {
        server.off('error', onError)
        server.on('error', (err) => this.log?.error({ err }, 'ingest API server error'))
        res()
      })
    })
    const a = server.address() as AddressInfo
    this.bound = { host: a.address, port: a.port }
    return this.bound
  }

  private onSecure(socket: TLSSocket): void {
    const conn = new Connection(socket, this)
    this.conns.add(conn)
    socket.setNoDelay(true)
    socket.on('error', () => {}) // resets etc.: 'close' follows
    socket.once('close', () => {
      this.conns.delete(conn)
      if (conn.admitted) {
        this.authenticated--
        if (conn.unregistered) this.unregistered--
        const set = this.byDevice.get(conn.originHex as string)
        set?.delete(conn)
        if (set?.size === 0) this.byDevice.delete(conn.originHex as string)
      }
      conn.close(true)
      conn.dropQueued()
    })
    if (socket.alpnProtocol !== INGEST_ALPN) {
      conn.fail('BAD_HELLO', `ALPN "${INGEST_ALPN}" is required`)
      return
    }
    if (this.stopping) {
      conn.fail('SHUTTING_DOWN', 'the node is stopping')
      return
    }
    conn.begin()
  }

  /** After a good hello: the connection limits (total authenticated, per device). */
  admit(conn: Connection, hex: string): boolean {
    const set = this.byDevice.get(hex)
    if (this.authenticated >= this.opts.maxConnections) {
      conn.fail('TOO_MANY_CONNECTIONS', `the node has ${this.opts.maxConnections} device connections; retry later`)
      return false
    }
    if (conn.unregistered && this.unregistered >= this.opts.maxUnregistered) {
      conn.fail('TOO_MANY_CONNECTIONS', `the node has ${this.opts.maxUnregistered} connections of unregistered keys; register the device first`)
      return false
    }
    if ((set?.size ?? 0) >= this.opts.maxConnectionsPerDevice) {
      conn.fail('TOO_MANY_CONNECTIONS', `this device already has ${this.opts.maxConnectionsPerDevice} connections`)
      return false
    }
    this.authenticated++
    if (conn.unregistered) this.unregistered++
    conn.admitted = true
    if (set) set.add(conn)
    else this.byDevice.set(hex, new Set([conn]))
    return true
  }

  queued(n: number): void {
    this.queuedBytes += n
  }

  dequeued(n: number): void {
    const was = this.overBudget()
    this.queuedBytes -= n
    if (was && !this.overBudget()) for (const c of this.conns) c.flowControl()
  }

  overBudget(): boolean {
    return this.queuedBytes > this.opts.maxQueuedBytes
  }

  refuse(code: string, publicKey?: string): void {
    this.metrics?.rejected(code)
    this.emit('refused', { code, publicKey })
  }

  countAck(results: AckEntry[]): void {
    const n = { accepted: 0, duplicate: 0, rejected: 0 }
    for (const r of results) {
      n[r.status]++
      if (r.status === 'rejected') this.metrics?.rejected(r.code)
    }
    for (const s of ['accepted', 'duplicate', 'rejected'] as const) if (n[s] > 0) this.metrics?.acked?.(s, n[s])
  }

  receiptAcked(txIdHex: string, blockHex: string): void {
    // Keyed by txId alone: no "txId:block" string built and hashed per receipt pushed and per receipt acked.
    const had = this.acked.get(txIdHex)
    if (had === undefined) {
      if (this.acked.size >= IngestApiServerImpl.ACKED_MAX) this.acked.delete(this.acked.keys().next().value as string)
      this.acked.set(txIdHex, blockHex)
    } else if (!had.split(',').includes(blockHex)) this.acked.set(txIdHex, `${had},${blockHex}`)
  }

  wasAcked(txIdHex: string, blockHex: string): boolean {
    const had = this.acked.get(txIdHex)
    return had !== undefined && (had === blockHex || (had.length > blockHex.length && had.split(',').includes(blockHex)))
  }

  pushReceipt(origin: Uint8Array, receipt: ReceiptFrame): boolean {
    const set = this.byDevice.get(toHex(origin))
    if (!set) return false
    let sent = false
    for (const c of set) sent = c.sendReceipt(receipt) || sent
    return sent
  }

  pushReceipts(list: readonly PushedReceipt[]): number {
    // By device, in order (one block's receipts: many devices, many records each).
    const byOrigin = new Map<string, PushedReceipt[]>()
    for (const p of list) {
      if (!this.byDevice.has(p.originHex)) continue
      const l = byOrigin.get(p.originHex)
      if (l) l.push(p)
      else byOrigin.set(p.originHex, [p])
    }
    let n = 0
    for (const [hex, l] of byOrigin) {
      let most = 0
      for (const c of this.byDevice.get(hex) ?? []) most = Math.max(most, c.sendReceipts(l))
      n += most
    }
    return n
  }

  isConnected(origin: Uint8Array): boolean {
    return this.byDevice.has(toHex(origin))
  }

  isConnectedHex(originHex: string): boolean {
    return this.byDevice.has(originHex)
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const server = this.server
      if (!server) return
      const closed = new Promise<void>((res) => server.close(() => res()))
      // Answer what is in flight (acks of durable records), then say goodbye.
      const deadline = Date.now() + 5000
      await Promise.all([...this.conns].map((c) => c.settle(deadline)))
      for (const c of this.conns) {
        if (c.state === 'closing') c.close(true)
        else c.fail('SHUTTING_DOWN', 'the node is stopping; reconnect later')
      }
      const cut = setTimeout(() => {
        for (const c of this.conns) c.close(true)
      }, 2000)
      await closed
      clearTimeout(cut)
      this.bound = undefined
    })()
    return this.stopping
  }
}

/** Create (not start) the ingest API server (docs/ingest-protocol.md). */
export function createIngestApiServer(init: IngestApiInit, components: IngestApiComponents): IngestApiServer {
  return new IngestApiServerImpl(init, components)
}

