import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  type ClientSession,
  type DataValue,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  type UserIdentityInfo,
  UserTokenType,
} from 'node-opcua'
import { Counter, type Registry, Registry as PromRegistry } from 'prom-client'
import type { BridgeGapMarker, JsonDataSetMessage, JsonNetworkMessage } from './dataset.js'
import { OpcuaError } from './errors.js'
import type { RecordOutput } from './output.js'

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const
export type SecurityModeName = (typeof SECURITY_MODES)[number]
export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const
export type SecurityPolicyName = (typeof SECURITY_POLICIES)[number]

/** One monitored variable. */
export interface ItemConfig {
  /** Node id, e.g. `ns=1;s=MachineTool/Monitoring/Spindle/ActSpeed`. */
  nodeId: string
  /** Field name in the DataSetMessage payload (default: the node id). */
  name?: string
  /** Requested sampling interval, ms (default 0: as fast as the server allows). */
  samplingIntervalMs?: number
  /** Publishing interval of the subscription that carries this item, ms (default 100). */
  publishingIntervalMs?: number
  /** Server-side queue of samples between two publishes (default 1000). */
  queueSize?: number
}

export interface ServerConfig {
  /** Name used in logs and gap markers (default: the endpoint URL). */
  name?: string
  endpointUrl: string
  securityMode?: SecurityModeName
  securityPolicy?: SecurityPolicyName
  /** User/password identity. */
  user?: string
  password?: string
  /** X.509 user identity: certificate (PEM or DER file) and its private key (PEM file). */
  userCertificateFile?: string
  userPrivateKeyFile?: string
  items: ItemConfig[]
}

export interface BridgeInit {
  /** PublisherId of the NetworkMessages and the name of the file chain. */
  publisherId: string
  servers: ServerConfig[]
  /** Samples (DataSetMessages) per record: the paper evaluated 1, 10, 100 and 1000. Default 10. */
  samplesPerRecord?: number
  /** A partial batch is written after this long, ms (default 1000). */
  maxRecordDelayMs?: number
  /** PKI folder of the bridge's application certificate (needed for Sign / SignAndEncrypt). */
  pkiDir?: string
  /** Reconnect back-off, ms (default 250 → 5000). */
  reconnectInitialDelayMs?: number
  reconnectMaxDelayMs?: number
  /** Samples waiting for the output at most (default 1,000,000): beyond it the output counts as failed (memory stays bounded). */
  maxQueuedSamples?: number
}

export interface BridgeLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface BridgeComponents {
  output: RecordOutput
  registry?: Registry
  logger?: BridgeLogger
}

export interface BridgeEvents {
  /** A record was handed to the output. */
  record: [{ samples: number }]
  gap: [BridgeGapMarker]
  connected: [{ server: string }]
  'connection-lost': [{ server: string }]
  /** The output failed: the bridge stops taking samples (nothing is acknowledged that was not written). */
  error: [Error]
}

export interface BridgeStats {
  /** Samples received from the servers and accepted (not duplicates). */
  received: number
  /** Samples handed to the output inside records. */
  written: number
  records: number
  duplicates: number
  gaps: number
  /** Per variable: samples, first and last arrival (ms since epoch). */
  perItem: Array<{ writerId: number; name: string; samples: number; firstAt: number; lastAt: number }>
}

export interface Bridge {
  start(): Promise<void>
  /** Write what is pending, close the sessions, flush the output. */
  stop(): Promise<void>
  stats(): BridgeStats
  readonly events: EventEmitter<BridgeEvents>
}

interface Writer {
  id: number
  name: string
  seq: number
  lastSrc: bigint
  lastValue: string
  samples: number
  firstAt: number
  lastAt: number
}

interface ServerState {
  cfg: ServerConfig
  name: string
  client: OPCUAClient
  session?: ClientSession
  subs: ClientSubscription[]
  lostAt?: string
}

const toMode: Record<SecurityModeName, MessageSecurityMode> = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
}
const toPolicy: Record<SecurityPolicyName, SecurityPolicy> = {
  None: SecurityPolicy.None,
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
  Aes256_Sha256_RsaPss: SecurityPolicy.Aes256_Sha256_RsaPss,
}

/** A Variant's value as JSON (OPC 10000-6 non-reversible forms for the common built-in types). */
export function jsonValue(v: unknown): unknown {
  if (v === null || v === undefined) return null
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v)
  if (typeof v === 'string' || typeof v === 'boolean') return v
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Date) return v.toISOString()
  if (Buffer.isBuffer(v)) return v.toString('base64')
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>, jsonValue)
  if (Array.isArray(v)) return v.map(jsonValue)
  const s = (v as { toString?: () => string }).toString?.()
  return typeof s === 'string' ? s : null
}

class BridgeImpl implements Bridge {
  readonly events = new EventEmitter<BridgeEvents>()
  private readonly batch: number
  private readonly maxDelayMs: number
  private readonly writers = new Map<string, Writer>()
  private readonly servers: ServerState[] = []
  private pending: JsonDataSetMessage[] = []
  private pendingSince = 0
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()
  private failed: Error | undefined
  private stopped = false
  private queued = 0
  private readonly st = { received: 0, written: 0, records: 0, duplicates: 0, gaps: 0 }
  private readonly metrics: { samples: Counter; records: Counter; duplicates: Counter; gaps: Counter; reconnects: Counter }

  constructor(
    private readonly init: BridgeInit,
    private readonly components: BridgeComponents,
  ) {
    this.batch = init.samplesPerRecord ?? 10
    if (!Number.isInteger(this.batch) || this.batch < 1 || this.batch > 10_000) {
      throw new OpcuaError('ERR_OPCUA_CONFIG', `samples per record must be an integer from 1 to 10000, got ${init.samplesPerRecord}`)
    }
    this.maxDelayMs = init.maxRecordDelayMs ?? 1000
    let id = 0
    for (const s of init.servers) {
      for (const it of s.items) {
        id++
        if (id > 0xffff) throw new OpcuaError('ERR_OPCUA_CONFIG', 'more than 65535 variables: DataSetWriterId is a UInt16; run a second bridge')
        const key = `${s.endpointUrl}|${it.nodeId}`
        if (this.writers.has(key)) throw new OpcuaError('ERR_OPCUA_CONFIG', `variable ${it.nodeId} is configured twice for ${s.endpointUrl}`)
        this.writers.set(key, { id, name: it.name ?? it.nodeId, seq: 0, lastSrc: -1n, lastValue: '', samples: 0, firstAt: 0, lastAt: 0 })
      }
    }
    const registry = components.registry ?? new PromRegistry()
    const counter = (name: string, help: string) => new Counter({ name: `profichain_opcua_${name}_total`, help, registers: [registry] })
    this.metrics = {
      samples: counter('samples', 'samples received from OPC UA servers'),
      records: counter('records', 'records handed to the output'),
      duplicates: counter('duplicates', 'samples dropped because a server re-sent them (same or older SourceTimestamp)'),
      gaps: counter('gaps', 'gap markers written (reconnects, bridge restarts)'),
      reconnects: counter('connection_losses', 'connections to OPC UA servers lost'),
    }
  }

  private log(level: 'info' | 'warn', obj: object, msg: string): void {
    this.components.logger?.[level](obj, msg)
  }

  async start(): Promise<void> {
    await this.components.output.start()
    const certificateManager = this.init.pkiDir
      ? new OPCUACertificateManager({ rootFolder: this.init.pkiDir, automaticallyAcceptUnknownCertificate: true })
      : undefined
    if (this.components.output.resumed) {
      const now = new Date().toISOString()
      // The previous run ended without a clean stop or stopped: samples of the time between are missing.
      for (const s of this.init.servers) this.enqueueGap({ server: s.name ?? s.endpointUrl, reason: 'bridge-restart', lostAt: now, restoredAt: now })
    }
    await Promise.all(this.init.servers.map((cfg) => this.connect(cfg, certificateManager)))
  }

  private async connect(cfg: ServerConfig, certificateManager: OPCUACertificateManager | undefined): Promise<void> {
    const name = cfg.name ?? cfg.endpointUrl
    const client = OPCUAClient.create({
      applicationName: `profichain-opcua-${this.init.publisherId}`,
      endpointMustExist: false,
      keepSessionAlive: true,
      securityMode: toMode[cfg.securityMode ?? 'None'],
      securityPolicy: toPolicy[cfg.securityPolicy ?? 'None'],
      connectionStrategy: {
        maxRetry: -1,
        initialDelay: this.init.reconnectInitialDelayMs ?? 250,
        maxDelay: this.init.reconnectMaxDelayMs ?? 5000,
        randomisationFactor: 0.1,
      },
      ...(certificateManager ? { clientCertificateManager: certificateManager } : {}),
    })
    const state: ServerState = { cfg, name, client, subs: [] }
    this.servers.push(state)
    client.on('connection_lost', () => {
      state.lostAt ??= new Date().toISOString()
      this.metrics.reconnects.inc()
      this.log('warn', { server: name }, 'OPC UA connection lost; reconnecting')
      this.events.emit('connection-lost', { server: name })
    })
    const restored = () => {
      if (state.lostAt === undefined) return
      const lostAt = state.lostAt
      state.lostAt = undefined
      this.log('info', { server: name, lostAt }, 'OPC UA connection restored; gap marked')
      this.enqueueGap({ server: name, reason: 'connection-lost', lostAt, restoredAt: new Date().toISOString() })
    }
    client.on('connection_reestablished', restored)
    client.on('after_reconnection', (err) => {
      if (!err) restored()
    })
    try {
      await client.connect(cfg.endpointUrl)
      state.session = await client.createSession(await this.identity(cfg))
      state.session.on('session_restored', restored)
    } catch (err) {
      await client.disconnect().catch(() => {})
      throw new OpcuaError('ERR_OPCUA_CONNECT', `cannot open a session on ${cfg.endpointUrl}: ${(err as Error).message} (check the URL, security mode/policy and credentials)`, { server: name }, { cause: err })
    }
    // One subscription per publishing interval.
    const byInterval = new Map<number, ItemConfig[]>()
    for (const it of cfg.items) {
      const p = it.publishingIntervalMs ?? 100
      byInterval.set(p, [...(byInterval.get(p) ?? []), it])
    }
    for (const [publishingInterval, items] of byInterval) {
      const sub = ClientSubscription.create(state.session, {
        requestedPublishingInterval: publishingInterval,
        requestedLifetimeCount: 6000,
        requestedMaxKeepAliveCount: 20,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      })
      state.subs.push(sub)
      for (const it of items) {
        const writer = this.writers.get(`${cfg.endpointUrl}|${it.nodeId}`)!
        const mi = ClientMonitoredItem.create(
          sub,
          { nodeId: it.nodeId, attributeId: AttributeIds.Value },
          { samplingInterval: it.samplingIntervalMs ?? 0, discardOldest: true, queueSize: it.queueSize ?? 1000 },
          TimestampsToReturn.Both,
        )
        mi.on('changed', (dv: DataValue) => this.onSample(writer, dv))
        mi.on('err', (msg: string) => this.log('warn', { server: name, nodeId: it.nodeId, err: msg }, 'monitored item failed (check the node id)'))
      }
    }
    this.log('info', { server: name, items: cfg.items.length }, 'OPC UA subscriptions created')
    this.events.emit('connected', { server: name })
  }

  private async identity(cfg: ServerConfig): Promise<UserIdentityInfo> {
    if (cfg.userCertificateFile && cfg.userPrivateKeyFile) {
      const certPem = await readFile(cfg.userCertificateFile)
      const b64 = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(certPem.toString('latin1'))
      const certificateData = b64 ? Buffer.from(b64[1].replace(/\s+/g, ''), 'base64') : certPem
      return { type: UserTokenType.Certificate, certificateData, privateKey: await readFile(cfg.userPrivateKeyFile, 'utf8') } as UserIdentityInfo
    }
    if (cfg.user !== undefined) return { type: UserTokenType.UserName, userName: cfg.user, password: cfg.password ?? '' }
    return { type: UserTokenType.Anonymous }
  }

  private onSample(w: Writer, dv: DataValue): void {
    if (this.stopped || this.failed) return
    const srcDate = dv.sourceTimestamp ?? dv.serverTimestamp
    const src = srcDate ? BigInt(srcDate.getTime()) * 1_000_000_000n + BigInt(dv.sourcePicoseconds ?? 0) : -1n
    const value = jsonValue(dv.value?.value)
    const valueKey = JSON.stringify(value)
    // A republish after a reconnect may repeat samples the bridge already has: older than the last one, or the
    // same timestamp and value (two distinct samples may share a timestamp when a server has no finer clock).
    if (src >= 0n && (src < w.lastSrc || (src === w.lastSrc && valueKey === w.lastValue))) {
      this.st.duplicates++
      this.metrics.duplicates.inc()
      return
    }
    if (src >= 0n) w.lastSrc = src
    w.lastValue = valueKey
    const now = Date.now()
    w.samples++
    if (w.firstAt === 0) w.firstAt = now
    w.lastAt = now
    w.seq = w.seq >= 0xffffffff ? 1 : w.seq + 1
    this.st.received++
    this.metrics.samples.inc()
    const field: Record<string, unknown> = { Value: value, StatusCode: dv.statusCode?.value ?? 0 }
    if (dv.sourceTimestamp) field.SourceTimestamp = dv.sourceTimestamp.toISOString()
    if (dv.sourcePicoseconds) field.SourcePicoseconds = dv.sourcePicoseconds
    if (dv.serverTimestamp) field.ServerTimestamp = dv.serverTimestamp.toISOString()
    if (dv.serverPicoseconds) field.ServerPicoseconds = dv.serverPicoseconds
    if (this.pending.length === 0) this.pendingSince = now
    this.pending.push({
      DataSetWriterId: w.id,
      DataSetWriterName: w.name,
      SequenceNumber: w.seq,
      Timestamp: new Date(now).toISOString(),
      MessageType: 'ua-deltaframe',
      Payload: { [w.name]: field as unknown as JsonDataSetMessage['Payload'][string] },
    })
    if (this.pending.length >= this.batch) this.cutRecords(false)
    else this.armTimer()
  }

  private armTimer(): void {
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.pending.length > 0) this.cutRecords(true)
    }, Math.max(1, this.maxDelayMs - (Date.now() - this.pendingSince)))
  }

  /** Turn pending samples into records (full batches; the partial rest too when `all`) and queue them for the output. */
  private cutRecords(all: boolean): void {
    const lines: string[] = []
    let samples = 0
    while (this.pending.length >= this.batch || (all && this.pending.length > 0)) {
      const msgs = this.pending.splice(0, this.batch)
      const nm: JsonNetworkMessage = { MessageId: randomUUID(), MessageType: 'ua-data', PublisherId: this.init.publisherId, Messages: msgs }
      lines.push(JSON.stringify(nm))
      samples += msgs.length
    }
    if (this.pending.length === 0 && this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.pending.length > 0) this.pendingSince = Date.now()
    if (lines.length > 0) this.enqueue(lines, samples)
  }

  private enqueueGap(g: Omit<BridgeGapMarker, 'profichainOpcua' | 'type' | 'publisherId'>): void {
    // Samples received before the gap go into records before the marker.
    this.cutRecords(true)
    const marker: BridgeGapMarker = { profichainOpcua: 1, type: 'gap', publisherId: this.init.publisherId, ...g }
    this.st.gaps++
    this.metrics.gaps.inc()
    this.events.emit('gap', marker)
    this.enqueue([JSON.stringify(marker)], 0)
  }

  private enqueue(lines: string[], samples: number): void {
    this.queued += samples
    const max = this.init.maxQueuedSamples ?? 1_000_000
    if (this.queued > max && !this.failed) {
      this.failed = new OpcuaError('ERR_OPCUA_OUTPUT', `more than ${max} samples wait for the output (it is too slow or stuck); stopping intake`)
      this.log('warn', { queued: this.queued }, this.failed.message)
      this.events.emit('error', this.failed)
    }
    this.writing = this.writing.then(async () => {
      this.queued -= samples
      if (this.failed) return
      try {
        await this.components.output.write(lines)
        if (samples > 0) {
          const records = lines.length
          this.st.records += records
          this.st.written += samples
          this.metrics.records.inc(records)
          this.events.emit('record', { samples })
        }
      } catch (err) {
        this.failed = err as Error
        this.log('warn', { err: String(err) }, 'the bridge output failed; no more samples are taken')
        this.events.emit('error', err as Error)
      }
    })
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    await Promise.all(
      this.servers.map(async (s) => {
        for (const sub of s.subs) await sub.terminate().catch(() => {})
        await s.session?.close().catch(() => {})
        await s.client.disconnect().catch(() => {})
      }),
    )
    this.cutRecords(true)
    await this.writing
    await this.components.output.stop()
    if (this.failed) throw this.failed
  }

  stats(): BridgeStats {
    return {
      ...this.st,
      perItem: [...this.writers.values()].map((w) => ({ writerId: w.id, name: w.name, samples: w.samples, firstAt: w.firstAt, lastAt: w.lastAt })),
    }
  }
}

/** The OPC UA bridge (DESIGN §14): subscriptions on one or more servers → PubSub JSON records → the output. */
export function createBridge(init: BridgeInit, components: BridgeComponents): Bridge {
  return new BridgeImpl(init, components)
}
