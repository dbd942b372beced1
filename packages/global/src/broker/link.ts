import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { equalBytes, type KeyPair, nodeIdOf, toHex, type TypedEmitterClass, type TypedEventEmitter } from '@profichain/core'
import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import { Counter, type Registry } from 'prom-client'
import {
  decodeEnvelope,
  type Envelope,
  isValidNetworkName,
  type Kind,
  MAX_TYPE_BYTES,
  MSG_ID_BYTES,
  type Plaintext,
  TOPIC_PREFIX,
  verifyEnvelopeSignature,
} from './envelope.js'
import { BrokerError } from './errors.js'
import { checkKey, type HpkeKeyPair } from './hpke.js'
import { openEnvelope, sealEnvelope } from './seal.js'

/** What the link logs through (a pino logger fits). */
export interface BrokerLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** A partner network as the link needs it (from the node's config). */
export interface BrokerPartner {
  network: string
  /** The partner network's X25519 public key (raw 32 bytes). */
  hpkePublicKey: Uint8Array
  /** Ed25519 public keys of the partner's nodes allowed to send for it. */
  signingKeys: Uint8Array[]
}

export interface BrokerLinkInit {
  /** mqtt://, mqtts://, ws:// or wss:// URL of the broker. */
  url: string
  /** PEM certificate(s) to trust for mqtts/wss (else the system CAs). */
  ca?: string
  /** Stable MQTT client id (see brokerClientId): the persistent session (clean: false) is keyed by it. */
  clientId: string
  self: {
    network: string
    /** The node's Ed25519 key: signs every envelope. */
    signingKey: KeyPair
    /** The network's X25519 key pair: messages to this network are encrypted to it, ours are authenticated by it. */
    hpkeKeyPair: HpkeKeyPair
  }
  /** The partners, asked at each message (config reloads take effect at once). */
  partners(): BrokerPartner[]
  /** Re-send an unanswered request or send this often. Default 2000 ms. */
  resendIntervalMs?: number
  /** Give up on a request or send after this long (ERR_BROKER_TIMEOUT). Default 30 000 ms. */
  requestTimeoutMs?: number
  /** Largest envelope sent or accepted, bytes. Default 1 MiB. */
  maxMessageBytes?: number
  /** Requests and sends waiting for an answer at most (ERR_BROKER_LIMIT beyond). Default 1024. */
  maxInFlight?: number
  /** Handled msgIds remembered (with their answer) at most; further requests are refused until some expire. Default 10 000. */
  maxRemembered?: number
  /** How long a handled msgId (and its answer) is remembered; older envelopes are refused as stale. Default 10 min. */
  rememberMs?: number
  /** Clock difference tolerated between sender and receiver. Default 60 000 ms. */
  maxClockSkewMs?: number
  /** Handlers running at once at most (beyond: refused as `busy`, the sender re-sends). Default 64. */
  maxConcurrentHandlers?: number
  /** Received messages waiting to be checked at most (beyond: dropped, counted `busy`; the sender re-sends). Default 256. */
  maxQueued?: number
}

export interface BrokerLinkComponents {
  logger?: BrokerLogger
  registry?: Registry
}

/** Who sent a request: the partner network and the node key that signed it. */
export interface BrokerSender {
  network: string
  signer: Uint8Array
}

export type BrokerHandler = (from: BrokerSender, body: Uint8Array) => Promise<Uint8Array>

export interface BrokerLinkEvents {
  /** Connected and subscribed to this network's topic (also after every reconnect). */
  connected: { url: string; sessionPresent: boolean }
  disconnected: { url: string }
  error: Error
}

/** Why an incoming message was refused (label of `profichain_broker_rejected_total`). */
export const BROKER_REJECT_REASONS = [
  'size', // larger than maxMessageBytes
  'malformed', // not a version-1 envelope (or plaintext)
  'recipient', // addressed to another network
  'unknown-sender', // sender network not a partner
  'signer', // signing key not allowed for the sender network
  'signature', // Ed25519 signature does not verify
  'stale', // sentAt outside the remembered window (a replay of an old message) or in the future
  'decrypt', // HPKE open failed (wrong key, tampered ciphertext)
  'unexpected', // an answer to nothing this link asked
  'busy', // queue or memory of handled messages full: the sender re-sends later
  'no-handler', // a request of a type nobody handles (refused back to the sender)
] as const
export type BrokerRejectReason = (typeof BROKER_REJECT_REASONS)[number]

export interface BrokerLink extends TypedEventEmitter<BrokerLinkEvents> {
  readonly url: string
  /** Whether the link is connected and subscribed right now. */
  readonly connected: boolean
  start(): Promise<void>
  stop(): Promise<void>
  /** Ask a partner network; re-sent until its reply arrives (ERR_BROKER_TIMEOUT after requestTimeoutMs). */
  request(network: string, type: string, body: Uint8Array): Promise<Uint8Array>
  /** One-way message; resolves once the partner's link acknowledged it (re-sent until then). */
  send(network: string, type: string, body: Uint8Array): Promise<void>
  /** Answer requests (and sends; their reply body is dropped) of `type`. One handler per type. */
  handle(type: string, handler: BrokerHandler): void
  /** Stop answering `type`. */
  unhandle(type: string): void
}

/** A stable MQTT client id for a node key: "pcb" + the node id's 16 base32 characters (MQTT 3.1.1 servers must accept 23 letters and digits). */
export function brokerClientId(publicKey: Uint8Array): string {
  return `pcb${nodeIdOf(publicKey).slice(2)}`
}

/** Create the partner link (not connected until start()). */
export function createBrokerLink(init: BrokerLinkInit, components: BrokerLinkComponents = {}): BrokerLink {
  return new Link(init, components)
}

interface InFlight {
  network: string
  type: string
  kind: 'request' | 'send'
  msgIdHex: string
  topic: string
  bytes: Uint8Array
  resolve(body: Uint8Array): void
  reject(err: Error): void
  resendTimer: NodeJS.Timeout
  deadline: NodeJS.Timeout
}

/** What the receiver remembers of a handled msgId: its answer once the handler finished. */
interface Remembered {
  answer?: Uint8Array
  expires: number
}

const noopLogger: BrokerLogger = { debug() {}, info() {}, warn() {}, error() {} }

class Link extends (EventEmitter as TypedEmitterClass<BrokerLinkEvents>) implements BrokerLink {
  readonly url: string
  private readonly log: BrokerLogger
  private readonly topic: string
  private readonly resendIntervalMs: number
  private readonly requestTimeoutMs: number
  private readonly maxMessageBytes: number
  private readonly maxInFlight: number
  private readonly maxRemembered: number
  private readonly rememberMs: number
  private readonly maxClockSkewMs: number
  private readonly maxQueued: number
  private readonly maxConcurrentHandlers: number
  private running = 0
  /** Requests being encrypted, not yet in inFlight. */
  private sealing = 0
  private readonly handlers = new Map<string, BrokerHandler>()
  /** msgId hex → our unanswered request/send. */
  private readonly inFlight = new Map<string, InFlight>()
  /** msgId hex of our requests answered lately: later copies of their answer are expected, not suspicious. */
  private readonly answered = new Map<string, number>()
  /** `${senderNetwork}/${msgId hex}` → handled (or being handled) incoming request/send, insertion order = age. */
  private readonly remembered = new Map<string, Remembered>()
  private queue: Promise<void> = Promise.resolve()
  private queued = 0
  private client?: MqttClient
  private isConnected = false
  private stopped = true
  private readonly metrics?: { rejected: Counter<'reason'>; sent: Counter<'kind'>; received: Counter<'kind'>; resent: Counter }

  constructor(
    private readonly init: BrokerLinkInit,
    components: BrokerLinkComponents,
  ) {
    super()
    if (!/^(mqtts?|wss?):\/\//.test(init.url)) {
      throw new BrokerError('ERR_BROKER_ARGUMENT', `broker URL ${init.url} must start with mqtt://, mqtts://, ws:// or wss://`)
    }
    if (!isValidNetworkName(init.self.network)) {
      throw new BrokerError('ERR_BROKER_ARGUMENT', `network name "${init.self.network}" cannot be an MQTT topic level: 1-256 bytes, no + # or NUL`)
    }
    if (typeof init.clientId !== 'string' || init.clientId.length === 0) {
      throw new BrokerError('ERR_BROKER_ARGUMENT', 'clientId must be a non-empty stable string (use brokerClientId(node public key))')
    }
    checkKey(init.self.hpkeKeyPair.publicKey, 'self.hpkeKeyPair.publicKey')
    checkKey(init.self.hpkeKeyPair.privateKey, 'self.hpkeKeyPair.privateKey')
    this.url = init.url
    this.log = components.logger ?? noopLogger
    this.topic = TOPIC_PREFIX + init.self.network
    this.resendIntervalMs = init.resendIntervalMs ?? 2000
    this.requestTimeoutMs = init.requestTimeoutMs ?? 30_000
    this.maxMessageBytes = init.maxMessageBytes ?? 1024 * 1024
    this.maxInFlight = init.maxInFlight ?? 1024
    this.maxRemembered = init.maxRemembered ?? 10_000
    this.rememberMs = init.rememberMs ?? 10 * 60_000
    this.maxClockSkewMs = init.maxClockSkewMs ?? 60_000
    this.maxQueued = init.maxQueued ?? 256
    this.maxConcurrentHandlers = init.maxConcurrentHandlers ?? 64
    const registry = components.registry
    if (registry) {
      const registers = [registry]
      this.metrics = {
        rejected: new Counter({
          name: 'profichain_broker_rejected_total',
          help: 'Broker messages refused, by reason (size, malformed, recipient, unknown-sender, signer, signature, stale, decrypt, unexpected, busy, no-handler)',
          labelNames: ['reason'],
          registers,
        }),
        sent: new Counter({ name: 'profichain_broker_sent_total', help: 'Envelopes published, by kind (first sends and answers)', labelNames: ['kind'], registers }),
        received: new Counter({ name: 'profichain_broker_received_total', help: 'Envelopes accepted, by kind', labelNames: ['kind'], registers }),
        resent: new Counter({ name: 'profichain_broker_resent_total', help: 'Requests and sends published again while unanswered', registers }),
      }
      for (const reason of BROKER_REJECT_REASONS) this.metrics.rejected.inc({ reason }, 0)
    }
  }

  get connected(): boolean {
    return this.isConnected
  }

  async start(): Promise<void> {
    if (!this.stopped) return
    this.stopped = false
    const opts: IClientOptions = {
      clientId: this.init.clientId,
      clean: false,
      protocolVersion: 4,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      resubscribe: false,
    }
    if (this.init.ca !== undefined) opts.ca = this.init.ca
    const client = connect(this.init.url, opts)
    this.client = client
    client.on('connect', (connack) => {
      // Subscribe on every connect: after a broker restart the session (and its subscription) is gone.
      client.subscribe(this.topic, { qos: 1 }, (err, granted) => {
        if (err || !granted || granted.some((g) => g.qos === 128)) {
          const e = err ?? new BrokerError('ERR_BROKER_ARGUMENT', `the broker refused the subscription to ${this.topic}`)
          this.log.warn({ err: e }, 'broker subscription failed')
          this.emitError(e)
          return
        }
        this.isConnected = true
        this.log.info({ url: this.url, sessionPresent: connack.sessionPresent }, 'broker link connected')
        this.emit('connected', { url: this.url, sessionPresent: connack.sessionPresent })
        for (const f of this.inFlight.values()) this.publish(f.bytes, f.kind, true, f.topic)
      })
    })
    client.on('close', () => {
      if (this.isConnected) {
        this.isConnected = false
        this.log.info({ url: this.url }, 'broker link disconnected')
        this.emit('disconnected', { url: this.url })
      }
    })
    client.on('error', (err) => {
      this.log.warn({ err }, 'broker link error')
      this.emitError(err)
    })
    client.on('message', (_topic, payload) => this.enqueue(payload))
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const f of this.inFlight.values()) {
      this.finish(f)
      f.reject(new BrokerError('ERR_BROKER_STOPPED', 'the broker link was stopped before the answer arrived'))
    }
    const client = this.client
    this.client = undefined
    this.isConnected = false
    if (client) await client.endAsync(true).catch(() => {})
    await this.queue
  }

  handle(type: string, handler: BrokerHandler): void {
    checkType(type)
    this.handlers.set(type, handler)
  }

  unhandle(type: string): void {
    this.handlers.delete(type)
  }

  request(network: string, type: string, body: Uint8Array): Promise<Uint8Array> {
    return this.ask('request', network, type, body)
  }

  async send(network: string, type: string, body: Uint8Array): Promise<void> {
    await this.ask('send', network, type, body)
  }

  private async ask(kind: 'request' | 'send', network: string, type: string, body: Uint8Array): Promise<Uint8Array> {
    if (this.stopped) throw new BrokerError('ERR_BROKER_STOPPED', 'the broker link is not started')
    checkType(type)
    if (!(body instanceof Uint8Array)) throw new BrokerError('ERR_BROKER_ARGUMENT', 'body must be a Uint8Array')
    const partner = this.partner(network)
    if (!partner) throw new BrokerError('ERR_BROKER_UNKNOWN_PARTNER', `network ${network} is not a partner: add it to the config first`, { network })
    // Counted from here (sealing is async): concurrent callers cannot overshoot the limit.
    if (this.inFlight.size + this.sealing >= this.maxInFlight) {
      throw new BrokerError('ERR_BROKER_LIMIT', `${this.inFlight.size + this.sealing} requests already wait for an answer (maxInFlight); retry later`)
    }
    const msgId = new Uint8Array(randomBytes(MSG_ID_BYTES))
    this.sealing++
    let bytes: Uint8Array
    try {
      bytes = await this.seal(kind, msgId, null, partner, { type, body })
    } finally {
      this.sealing--
    }
    if (this.stopped) throw new BrokerError('ERR_BROKER_STOPPED', 'the broker link was stopped')
    const msgIdHex = toHex(msgId)
    const topic = TOPIC_PREFIX + network
    return new Promise<Uint8Array>((resolve, reject) => {
      const f: InFlight = {
        network,
        type,
        kind,
        msgIdHex,
        topic,
        bytes,
        resolve,
        reject,
        resendTimer: setInterval(() => {
          if (this.isConnected) this.publish(bytes, kind, true, topic)
        }, this.resendIntervalMs),
        deadline: setTimeout(() => {
          this.finish(f)
          reject(
            new BrokerError(
              'ERR_BROKER_TIMEOUT',
              `no answer from network ${network} to ${type} within ${this.requestTimeoutMs} ms: are its nodes connected to ${this.url}?`,
              { network, type, msgId: msgIdHex },
            ),
          )
        }, this.requestTimeoutMs),
      }
      this.inFlight.set(msgIdHex, f)
      if (this.isConnected) this.publish(bytes, kind, false, topic)
    })
  }

  private finish(f: InFlight): void {
    clearInterval(f.resendTimer)
    clearTimeout(f.deadline)
    this.inFlight.delete(f.msgIdHex)
    this.answered.set(f.msgIdHex, Date.now() + this.rememberMs)
    if (this.answered.size > this.maxInFlight * 4) {
      const oldest = this.answered.keys().next().value as string
      this.answered.delete(oldest)
    }
  }

  private publish(bytes: Uint8Array, kind: Kind, resend: boolean, topic: string): void {
    const client = this.client
    if (!client) return
    client.publish(topic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 1 }, (err) => {
      if (err && !this.stopped) this.log.debug({ err }, 'broker publish failed (re-sent later)')
    })
    if (resend) this.metrics?.resent.inc()
    else this.metrics?.sent.inc({ kind })
  }

  private partner(network: string): BrokerPartner | undefined {
    return this.init.partners().find((p) => p.network === network)
  }

  private async seal(kind: Kind, msgId: Uint8Array, inReplyTo: Uint8Array | null, partner: BrokerPartner, plaintext: Plaintext): Promise<Uint8Array> {
    const { bytes } = await sealEnvelope({ kind, msgId, inReplyTo, sender: this.init.self, recipient: partner, plaintext })
    if (bytes.byteLength > this.maxMessageBytes) {
      throw new BrokerError('ERR_BROKER_LIMIT', `the message is ${bytes.byteLength} bytes, more than maxMessageBytes ${this.maxMessageBytes}: send less at once`)
    }
    return bytes
  }

  private async open(e: Envelope, partner: BrokerPartner): Promise<Plaintext | undefined> {
    try {
      return await openEnvelope(e, this.init.self.hpkeKeyPair, partner.hpkePublicKey)
    } catch (err) {
      this.reject(err instanceof BrokerError ? 'malformed' : 'decrypt', e)
      return undefined
    }
  }

  private reject(reason: BrokerRejectReason, e?: Envelope, detail?: string): void {
    this.metrics?.rejected.inc({ reason })
    this.log.debug({ reason, from: e?.senderNetwork, msgId: e ? toHex(e.msgId) : undefined, detail }, 'broker message refused')
  }

  private emitError(err: Error): void {
    // An 'error' event without a listener would throw: the link never crashes its node.
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  private enqueue(payload: Buffer): void {
    if (payload.byteLength > this.maxMessageBytes) return this.reject('size')
    if (this.queued >= this.maxQueued) return this.reject('busy')
    this.queued++
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)
    this.queue = this.queue
      .then(() => this.receive(bytes))
      .catch((err: unknown) => this.log.error({ err }, 'broker message handling failed'))
      .finally(() => {
        this.queued--
      })
  }

  /** Check one incoming envelope (cheap checks first, signature before decryption) and act on it. */
  private async receive(bytes: Uint8Array): Promise<void> {
    if (this.stopped) return
    let e: Envelope
    try {
      e = decodeEnvelope(bytes, this.maxMessageBytes)
    } catch (err) {
      return this.reject('malformed', undefined, (err as Error).message)
    }
    const self = this.init.self
    if (e.recipientNetwork !== self.network) return this.reject('recipient', e)
    const partner = this.partner(e.senderNetwork)
    if (!partner) return this.reject('unknown-sender', e)
    if (!partner.signingKeys.some((k) => equalBytes(k, e.senderSigningKey))) return this.reject('signer', e)
    if (!verifyEnvelopeSignature(e)) return this.reject('signature', e)
    const now = Date.now()
    if (e.sentAt < now - this.rememberMs || e.sentAt > now + this.maxClockSkewMs) return this.reject('stale', e)
    if (e.kind === 'request' || e.kind === 'send') return this.onAsk(e, partner, now)
    return this.onAnswer(e, partner)
  }

  private async onAsk(e: Envelope, partner: BrokerPartner, now: number): Promise<void> {
    const key = `${e.senderNetwork}\u0000${toHex(e.msgId)}`
    const seen = this.remembered.get(key)
    if (seen) {
      // A re-sent request: answer again with the same bytes (the handler ran once); still running: the answer follows.
      if (seen.answer) this.publish(seen.answer, 'reply', true, TOPIC_PREFIX + e.senderNetwork)
      return
    }
    this.expireRemembered(now)
    // Full of unexpired entries: refuse rather than forget one (a forgotten msgId could run its handler twice).
    if (this.remembered.size >= this.maxRemembered || this.running >= this.maxConcurrentHandlers) return this.reject('busy', e)
    const p = await this.open(e, partner)
    if (!p || !('body' in p)) return
    if (this.remembered.has(key)) return // a copy decrypted meanwhile
    // Kept for rememberMs plus the skew: a copy whose sentAt passes the stale check always finds its entry.
    const entry: Remembered = { expires: now + this.rememberMs + this.maxClockSkewMs }
    this.remembered.set(key, entry)
    this.metrics?.received.inc({ kind: e.kind })
    // The handler runs outside the receive queue: it may itself ask this partner and wait for the reply.
    this.running++
    void this.answer(e, partner, p.type, p.body, entry)
      .catch((err: unknown) => this.log.error({ err }, 'broker answer failed'))
      .finally(() => {
        this.running--
      })
  }

  private async answer(e: Envelope, partner: BrokerPartner, type: string, body: Uint8Array, entry: Remembered): Promise<void> {
    const answer = await this.runHandler(e, type, body)
    let bytes: Uint8Array
    try {
      bytes = await this.seal(answer.kind, new Uint8Array(randomBytes(MSG_ID_BYTES)), e.msgId, partner, answer.plaintext)
    } catch (err) {
      // The reply is too large for maxMessageBytes: tell the requester instead.
      const plaintext = { type, code: 'REPLY_TOO_LARGE', message: (err as Error).message.slice(0, 512) }
      bytes = await this.seal('refusal', new Uint8Array(randomBytes(MSG_ID_BYTES)), e.msgId, partner, plaintext)
    }
    entry.answer = bytes
    if (!this.stopped) this.publish(bytes, answer.kind, false, TOPIC_PREFIX + e.senderNetwork)
  }

  private async runHandler(e: Envelope, type: string, body: Uint8Array): Promise<{ kind: Kind; plaintext: Plaintext }> {
    const handler = this.handlers.get(type)
    if (!handler) {
      this.reject('no-handler', e)
      return { kind: 'refusal', plaintext: { type, code: 'NO_HANDLER', message: `network ${this.init.self.network} does not handle ${type}` } }
    }
    try {
      const reply = await handler({ network: e.senderNetwork, signer: e.senderSigningKey }, body)
      if (e.kind === 'send') return { kind: 'ack', plaintext: { type, body: new Uint8Array(0) } }
      if (!(reply instanceof Uint8Array)) throw new TypeError(`the handler of ${type} did not return bytes`)
      return { kind: 'reply', plaintext: { type, body: reply } }
    } catch (err) {
      this.log.warn({ err, type, from: e.senderNetwork }, 'broker handler failed')
      const code = err instanceof Error && typeof (err as { code?: unknown }).code === 'string' ? (err as unknown as { code: string }).code : 'HANDLER_FAILED'
      return { kind: 'refusal', plaintext: { type, code: code.slice(0, MAX_TYPE_BYTES), message: String((err as Error)?.message ?? err).slice(0, 512) } }
    }
  }

  private expireRemembered(now: number): void {
    for (const [k, r] of this.remembered) {
      if (r.expires > now) break // insertion order = expiry order
      this.remembered.delete(k)
    }
    for (const [k, t] of this.answered) {
      if (t > now) break
      this.answered.delete(k)
    }
  }

  private async onAnswer(e: Envelope, partner: BrokerPartner): Promise<void> {
    const id = toHex(e.inReplyTo as Uint8Array)
    const f = this.inFlight.get(id)
    if (!f || f.network !== e.senderNetwork) {
      // A second copy of an answer we already have is expected (the request was re-sent); anything else is not.
      if (!this.answered.has(id)) this.reject('unexpected', e)
      return
    }
    const expected: Kind[] = f.kind === 'request' ? ['reply', 'refusal'] : ['ack', 'refusal']
    if (!expected.includes(e.kind)) return this.reject('unexpected', e)
    const p = await this.open(e, partner)
    if (!p) return
    if (p.type !== f.type) return this.reject('malformed', e, `answer of type ${p.type} to a ${f.type}`)
    if (!this.inFlight.has(id)) return // answered meanwhile
    this.metrics?.received.inc({ kind: e.kind })
    this.finish(f)
    if ('body' in p) f.resolve(p.body)
    else {
      f.reject(
        new BrokerError('ERR_BROKER_REMOTE', `network ${f.network} refused ${f.type}: ${p.code}: ${p.message}`, {
          network: f.network,
          type: f.type,
          remoteCode: p.code,
        }),
      )
    }
  }
}

function checkType(type: string): void {
  if (typeof type !== 'string' || type.length === 0 || Buffer.byteLength(type) > MAX_TYPE_BYTES) {
    throw new BrokerError('ERR_BROKER_ARGUMENT', `message type must be 1-${MAX_TYPE_BYTES} bytes of text`)
  }
}
