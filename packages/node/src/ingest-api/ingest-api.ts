import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { type Genesis, isAllowedOrigin } from '@profichain/consensus'
import { type AckEntry, type KeyPair, type StrippedTx, toHex, type Transaction } from '@profichain/core'
import {
  createIngestApiServer,
  type DeviceIdentity,
  ensureCertificate,
  type GatewayItem,
  type IngestApiAddress,
  type IngestApiInit,
  type IngestApiServer,
  type IngestCertificate,
} from '@profichain/ingest'
import { type BlockTree, checkIncomingTx, type OutboxIndexOp, type RetentionPolicy, retains } from '@profichain/store'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Startable } from '../types.js'
import { NodeIngestGateway, type OriginCheck, type Verifier } from './gateway.js'
import { migrateOwed, OwedReceipts } from './owed.js'

export interface IngestApiEvents {
  /** Receipts pushed to connected devices. */
  pushed: [{ count: number }]
}

export interface IngestApiSubsystemInit {
  /** `<data>/ingest-api`: certificate and key (the owed receipts live in the store; an older `owed` DB here is moved in). */
  dir: string
  genesis: Genesis
  confirmations: number
  anchorBase: () => string
  /** Off: only the gateway (HTTP POST /v1/records) runs, no TLS server. */
  tls: boolean
  server: IngestApiInit
  /** The store's retention policy: an owed entry keeps no copy of a record whose payload the store keeps. */
  retention?: RetentionPolicy
}

export interface IngestApiSubsystemComponents {
  tree: BlockTree
  key: KeyPair
  submitOwn(items: Array<{ tx: Transaction }>, opts?: { index?: OutboxIndexOp[] }): Promise<Array<{ txId: string; duplicate: boolean }>>
  verifier: Verifier
  /** Own records (device records included) confirmed: the chain service's `committed`. */
  committed: { on(event: 'committed', l: (e: { txIds: string[] }) => void): unknown; off(event: 'committed', l: (e: { txIds: string[] }) => void): unknown }
  /** Stateful origin check (h14-dev); default: the genesis members rule. */
  checkOrigin?: OriginCheck
  /** Who a key is (h14-dev's device registry); default: members, else unknown. */
  identify?: (publicKey: Uint8Array) => Promise<DeviceIdentity>
  logger: Logger
  registry?: Registry
}

export interface IngestApiSubsystem extends Startable, EventEmitter<IngestApiEvents> {
  /** The certificate clients pin (after start). */
  certificate(): IngestCertificate | undefined
  address(): IngestApiAddress | undefined
  server(): IngestApiServer | undefined
  /** The HTTP submit (POST /v1/records): same checks and durability as the TLS submit, no hello. */
  submit(items: GatewayItem[]): Promise<AckEntry[]>
  /** For the chain service's reorg recovery: a device record this node accepted (re-submit it, owe its receipt again). */
  isOwnRecord(tx: StrippedTx): Promise<boolean>
}

class IngestApi extends EventEmitter<IngestApiEvents> implements IngestApiSubsystem {
  private cert?: IngestCertificate
  private srv?: IngestApiServer
  private gateway?: NodeIngestGateway
  private owed?: OwedReceipts
  private readonly onCommitted = (e: { txIds: string[] }) => void this.push(e.txIds)
  private pushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly init: IngestApiSubsystemInit,
    private readonly c: IngestApiSubsystemComponents,
  ) {
    super()
  }

  certificate(): IngestCertificate | undefined {
    return this.cert
  }

  address(): IngestApiAddress | undefined {
    return this.srv?.address()
  }

  server(): IngestApiServer | undefined {
    return this.srv
  }

  async start(): Promise<void> {
    const { init, c } = this
    const genesis = init.genesis
    const tree = c.tree
    // The owed receipts live in the store, written with the outbox; an older node's own DB is moved in first.
    const index = tree.outbox.index
    if (index) {
      const moved = await migrateOwed(join(init.dir, 'owed'), index)
      if (moved > 0) c.logger.info({ entries: moved }, 'owed receipts moved from ingest-api/owed into the store')
    }
    const owed = (this.owed = new OwedReceipts(index ?? join(init.dir, 'owed')))
    await owed.open()
    // Who a key is: a genesis member, else the canonical device registry (docs/devices.md). nextSeq: what this
    // node has accepted from the origin (its outbox's per-origin counter).
    const identify =
      c.identify ??
      (async (pub: Uint8Array): Promise<DeviceIdentity> => {
        const hex = toHex(pub)
        const nextSeq = await tree.outbox.nextSeq(pub)
        const member = genesis.members.find((m) => m.publicKey.toLowerCase() === hex)
        if (member) return { status: 'member', deviceId: member.name, nextSeq }
        const device = tree.devices.get(hex)
        if (!device) return { status: 'unknown', deviceId: '', nextSeq }
        return { status: device.revoked ? 'revoked' : 'device', deviceId: device.deviceId, nextSeq }
      })
    // The stateful origin rule as of the canonical head (members, registered devices, revoked keys, replays).
    const incoming = { store: tree, signatureChecked: true }
    const checkOrigin: OriginCheck = c.checkOrigin ?? ((tx) => checkIncomingTx(tx, incoming))
    this.gateway = new NodeIngestGateway(
      {
        network: genesis.network,
        maxTxBytes: genesis.maxTxBytes,
        confirmations: init.confirmations,
        anchorBase: init.anchorBase,
        ...(init.retention ? { payloadKept: (tx: StrippedTx) => retains(init.retention as RetentionPolicy, tx) } : {}),
      },
      { tree: c.tree, submitOwn: c.submitOwn, verifier: c.verifier, owed, identify, checkOrigin, isMember: (o) => isAllowedOrigin(genesis, o), logger: c.logger },
    )
    const registers = c.registry ? [c.registry] : []
    const rejected = new Counter({
      name: 'profichain_ingest_api_rejected_total',
      help: 'Ingest API refusals by protocol code (connection errors and rejected txs)',
      labelNames: ['code'],
      registers,
    })
    const acked = new Counter({ name: 'profichain_ingest_api_txs_total', help: 'Ingest API ack entries by status', labelNames: ['status'], registers })
    if (init.tls) {
      this.cert = await ensureCertificate(init.dir)
      const srv = (this.srv = createIngestApiServer(init.server, {
        network: genesis.network,
        certificate: this.cert,
        gateway: this.gateway,
        metrics: { rejected: (code, n = 1) => rejected.inc({ code }, n), acked: (status, n) => acked.inc({ status }, n) },
        logger: c.logger,
      }))
      new Gauge({
        name: 'profichain_ingest_api_connections',
        help: 'Open ingest API connections by state',
        labelNames: ['state'],
        registers,
        collect() {
          const s = srv.stats()
          this.set({ state: 'authenticated' }, s.authenticated)
          this.set({ state: 'unauthenticated' }, s.unauthenticated)
        },
      })
      new Gauge({
        name: 'profichain_ingest_api_receipts_owed',
        help: 'Receipts owed to devices (accepted records whose receipt the device has not receipt-acked)',
        registers,
        collect() {
          this.set(owed.size)
        },
      })
      await srv.start()
      c.committed.on('committed', this.onCommitted)
      c.logger.info({ ...srv.address(), fingerprint: this.cert.fingerprintHex }, 'ingest API listening (clients pin this certificate fingerprint)')
    }
  }

  /** Push receipts of freshly committed records to the devices connected now (the rest stay owed). */
  private push(txIds: string[]): Promise<void> {
    this.pushing = this.pushing.then(async () => {
      const srv = this.srv
      const gw = this.gateway
      if (!srv || !gw) return
      try {
        const list = await gw.committedReceipts(txIds, (originHex) => srv.isConnectedHex(originHex))
        const n = list.length > 0 ? srv.pushReceipts(list) : 0
        if (n > 0) this.emit('pushed', { count: n })
      } catch (err) {
        this.c.logger.warn({ err }, 'pushing receipts to devices failed; they stay owed until the next hello')
      }
    })
    return this.pushing
  }

  async isOwnRecord(tx: StrippedTx): Promise<boolean> {
    return this.gateway ? this.gateway.isOwnRecord(tx) : false
  }

  async submit(items: GatewayItem[]): Promise<AckEntry[]> {
    if (!this.gateway) throw new Error('the ingest API is not started')
    return this.gateway.submit(items)
  }

  async stop(): Promise<void> {
    this.c.committed.off('committed', this.onCommitted)
    await this.srv?.stop()
    await this.pushing
    await this.owed?.close().catch(() => {})
  }
}

/** Create (not start) the ingest API subsystem: TLS server + gateway + owed receipts. */
export function createIngestApi(init: IngestApiSubsystemInit, components: IngestApiSubsystemComponents): IngestApiSubsystem {
  return new IngestApi(init, components)
}
