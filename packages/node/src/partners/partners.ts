import { EventEmitter } from 'node:events'
import {
  buildCrossChainpoint,
  buildCrossNative,
  type ChainpointProof,
  decodeHeader,
  decodeStrippedTx,
  entangleLabel,
  fromHex,
  type KeyPair,
  type NativeReceipt,
  ProfichainError,
  type Transaction,
  toHex,
  txId,
  utf8,
} from '@profichain/core'
import {
  anchorDedupeKey,
  BROKER_TYPES,
  type Checkpoint,
  cosignerVerifier,
  createAnchorTx,
  decodeEntanglementProof,
  decodeWitnessReply,
  type EntanglementProof,
  encodeEntanglementProof,
  encodeWitnessReply,
  formatAddCheckpoint,
  type NoteVerifier,
  type Partner,
  parseNote,
  parseVkey,
  verifyEntanglementProof,
  type VerifiedEntanglement,
} from '@profichain/global'
import type { ReceiptSource } from '@profichain/ingest'
import type { TxLocation } from '@profichain/store'
import { Counter, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { Startable } from '../types.js'
import { PartnersStateFile, type PendingAnchor } from './state.js'

/** A partner as the registry describes it (global's `Partner`). */
export type PartnerInfo = Partner

/** Our latest signed checkpoint (h13-log's checkpoint store). */
export interface OwnCheckpoint {
  checkpoint: Checkpoint
  text: string
  note: string
}

/** The broker link (h13-broker `createBrokerLink`), as far as partners use it. */
export interface PartnerLink {
  request(network: string, type: string, body: Uint8Array): Promise<Uint8Array>
  send(network: string, type: string, body: Uint8Array): Promise<void>
  handle(type: string, handler: (from: { network: string; signer: Uint8Array }, body: Uint8Array) => Promise<Uint8Array>): void
}

export interface PartnersInit {
  /** Where state and entanglement proofs live (`<dataDir>/partners`). */
  dir: string
  /** Our network id and log origin. */
  network: string
  origin: string
  /** Our genesis hash (sent in entanglement proofs). */
  genesisHash: Uint8Array
  /** Our validators' note vkeys (checks that a returned note is our checkpoint). */
  ownVkeys: string[]
  /** Blocks on top of an anchor tx before its proof is sent back (≥ the receipts' confirmations). */
  confirmations: number
  /** Quorum: the anchor's block must also be final (votes); the latest final height. */
  finalHeight?: () => number
  /** Base URL of our anchor URIs. */
  anchorBase: () => string
  /** Loop period: checkpoints offered, anchors proven, receipts upgraded. Default 1000 ms. */
  intervalMs?: number
}

export interface PartnersComponents {
  partners: { list(): PartnerInfo[]; byOrigin(origin: string): PartnerInfo | undefined }
  /** Re-read the partner list (partners.json edited by `profichain partner`); called every few seconds. */
  reloadPartners?: () => Promise<void>
  checkpoints: {
    latest(): Promise<OwnCheckpoint | undefined>
    addCosignature(text: string, line: string, verifier: NoteVerifier): Promise<boolean>
  }
  blockLog: {
    consistencyProof(oldSize: number, newSize: number): Promise<Uint8Array[]>
    inclusionProof(index: number, size: number): Promise<Uint8Array[]>
  }
  /** The witness service: inbound add-checkpoint requests (HTTP body) and its `cosigned` event. */
  witness?: {
    addCheckpoint(body: string): Promise<{ status: number; contentType: string; body: string }>
    on(event: 'cosigned', listener: (e: { origin: string; checkpoint: Checkpoint; note: string }) => void): unknown
    off(event: 'cosigned', listener: (e: { origin: string; checkpoint: Checkpoint; note: string }) => void): unknown
  }
  link?: PartnerLink
  /** Own records and anchors: the chain service and the store. */
  submitOwn(items: Array<{ tx: Transaction; dedupeKey?: string }>): Promise<Array<{ txId: string; duplicate: boolean }>>
  store: {
    getTx(id: string): Promise<TxLocation | undefined>
    getPayload(id: string): Promise<Uint8Array | undefined>
    head(): { height: number }
    blocks(from: number, to?: number): AsyncGenerator<{ header: { height: number }; txs: Array<TxLocation['tx']> }>
    receiptAt(loc: TxLocation, form: 'chainpoint', anchorBase: string): Promise<ChainpointProof | undefined>
    receiptAt(loc: TxLocation, form: 'native', anchorBase: string): Promise<NativeReceipt | undefined>
    readonly outbox: { nextSeq(origin: Uint8Array): Promise<number>; lookup(k: string): Promise<string | undefined> }
  }
  /** The node key: signs anchor txs; own records are those of this origin. */
  key: KeyPair
  /** Rewrites receipt files (file ingest); without it receipts are not upgraded on disk. */
  ingest?: {
    writeReceipts(committed: ReceiptSource[], receiptFor: (txId: string) => Promise<object | undefined>): Promise<{ written: string[]; failed: Array<{ txId: string; code: string; message: string }> }>
  }
  logger: Logger
  registry?: Registry
}

export interface PartnersEvents {
  /** A partner cosigned our checkpoint. */
  cosigned: [{ origin: string; size: number }]
  /** We recorded a partner checkpoint as an anchor tx. */
  anchored: [{ origin: string; size: number; txId: string }]
  /** An entanglement proof from a partner verified and stored; receipts below `size` upgraded. */
  entangled: [{ origin: string; size: number; upgraded: number }]
  /** Something failed (logged, counted, retried). */
  failure: [{ origin?: string; what: string; err: unknown }]
}

export interface PartnersService extends Startable, EventEmitter<PartnersEvents> {
  /** One pass of the loop (tests and shutdown may call it). */
  tick(): Promise<void>
  /** Receive an entanglement proof (broker handler; also usable over HTTP). Throws EntangleError when refused. */
  receiveEntanglement(bytes: Uint8Array, from?: string): Promise<VerifiedEntanglement>
  /** A receipt of one of our records with every entanglement branch known (undefined when not found). */
  crossReceipt(txId: string, form: 'chainpoint'): Promise<ChainpointProof | undefined>
  crossReceipt(txId: string, form: 'native'): Promise<NativeReceipt | undefined>
  crossReceipt(txId: string, form: 'chainpoint' | 'native'): Promise<ChainpointProof | NativeReceipt | undefined>
  /** Per partner: the last size it cosigned, how far receipts are upgraded, stored entanglement sizes. */
  report(): Promise<Array<{ origin: string; name: string; cosignedSize: number; upgradedSize: number; entanglements: number[]; anchors: number[] }>>
  /** POST /entanglement on the API (HTTP transport of proofs): 200 stored, 400 malformed, 403 not verified, 404 unknown partner. */
  httpEntanglement(body: Uint8Array): Promise<{ status: number; body: string }>
  /** Every stored entanglement proof re-verified (audit). */
  audit(): Promise<Array<{ origin: string; size: number; ok: boolean; error?: string }>>
}

function errText(err: unknown): string {
  return err instanceof ProfichainError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err)
}

class Partners extends EventEmitter<PartnersEvents> implements PartnersService {
  private readonly state: PartnersStateFile
  private timer?: NodeJS.Timeout
  private busy?: Promise<void>
  private stopped = false
  private reloadedAt = Date.now()
  /** Partners we are offering a checkpoint to right now (one request each at a time). */
  private readonly offering = new Set<string>()
  private readonly ownVerifiers: NoteVerifier[]
  private readonly m: Record<'offered' | 'cosigned' | 'refused' | 'anchors' | 'proofsSent' | 'proofsReceived' | 'proofsRejected' | 'upgraded', Counter | undefined>
  /** Anchors are created one at a time (each takes the next sequence number of our origin). */
  private anchoring: Promise<void> = Promise.resolve()
  private upgrading: Promise<void> = Promise.resolve()
  private readonly onCosigned = (e: { origin: string; checkpoint: Checkpoint; note: string }) => {
    this.anchoring = this.anchoring.then(() => this.anchor(e))
  }

  constructor(
    private readonly init: PartnersInit,
    private readonly c: PartnersComponents,
  ) {
    super()
    this.state = new PartnersStateFile(init.dir)
    this.ownVerifiers = init.ownVkeys.map((v) => parseVkey(v))
    const registers = c.registry ? [c.registry] : []
    const counter = (name: string, help: string, labelNames: string[] = []) => (c.registry ? new Counter({ name, help, labelNames, registers }) : undefined)
    this.m = {
      offered: counter('profichain_partners_checkpoints_offered_total', 'Our checkpoints offered to partner witnesses (add-checkpoint requests)'),
      cosigned: counter('profichain_partners_cosignatures_total', 'Valid partner cosignatures on our checkpoints'),
      refused: counter('profichain_partners_refused_total', 'add-checkpoint answers other than 200, by status', ['status']),
      anchors: counter('profichain_partners_anchors_total', 'Partner checkpoints recorded as anchor txs in our chain'),
      proofsSent: counter('profichain_partners_entanglements_sent_total', 'Entanglement proofs sent back to partners'),
      proofsReceived: counter('profichain_partners_entanglements_received_total', 'Entanglement proofs from partners verified and stored'),
      proofsRejected: counter('profichain_partners_entanglements_rejected_total', 'Entanglement proofs refused, by reason', ['reason']),
      upgraded: counter('profichain_partners_receipts_upgraded_total', 'Receipts of our records rewritten with a cross-chain branch'),
    }
  }

  async start(): Promise<void> {
    await this.state.load()
    const link = this.c.link
    if (link) {
      link.handle(BROKER_TYPES.addCheckpoint, async (_from, body) => {
        const w = this.c.witness
        if (!w) return encodeWitnessReply({ status: 404, contentType: 'text/plain; charset=utf-8', body: utf8('this network witnesses no one\n') })
        const r = await w.addCheckpoint(new TextDecoder().decode(body))
        return encodeWitnessReply({ status: r.status, contentType: r.contentType, body: utf8(r.body) })
      })
      link.handle(BROKER_TYPES.entanglement, async (from, body) => {
        try {
          await this.receiveEntanglement(body, from.network)
        } catch (err) {
          // Refused and counted; the sender gets an ack anyway (re-sending the same bytes cannot help).
          this.c.logger.warn({ from: from.network, err: errText(err) }, 'entanglement proof refused')
        }
        return new Uint8Array(0)
      })
    }
    this.c.witness?.on('cosigned', this.onCosigned)
    this.timer = setInterval(() => void this.tick(), this.init.intervalMs ?? 1000)
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    this.c.witness?.off('cosigned', this.onCosigned)
    await this.busy
    await this.anchoring
    // Every change was saved when it was made: nothing to write here (a node without partners writes nothing).
  }

  tick(): Promise<void> {
    if (this.busy || this.stopped) return this.busy ?? Promise.resolve()
    this.busy = (async () => {
      try {
        if (this.c.reloadPartners && Date.now() - this.reloadedAt > 5000) {
          this.reloadedAt = Date.now()
          await this.c.reloadPartners().catch((err) => this.fail(undefined, 'reloading partners.json', err))
        }
        await this.offerCheckpoint()
        await this.proveAnchors()
      } catch (err) {
        this.fail(undefined, 'partners loop', err)
      } finally {
        this.busy = undefined
      }
    })()
    return this.busy
  }

  private fail(origin: string | undefined, what: string, err: unknown): void {
    if (this.stopped) return
    this.c.logger.warn({ origin, err: errText(err) }, `${what} failed; retrying`)
    this.emit('failure', { origin, what, err })
  }

  private partnerKeys(p: PartnerInfo): Uint8Array[] {
    return p.vkeys.map((v) => parseVkey(v).publicKey)
  }

  // ---- 1. our checkpoints → partner witnesses ----

  private async offerCheckpoint(): Promise<void> {
    const latest = await this.c.checkpoints.latest()
    if (!latest) return
    for (const p of this.c.partners.list()) {
      const prog = this.state.progress(p.origin)
      if (prog.cosignedSize >= latest.checkpoint.size || this.offering.has(p.origin)) continue
      if (!this.c.link && !p.witnessUrl) continue
      this.offering.add(p.origin)
      // Each partner on its own: a slow or absent partner never holds the others up.
      void this.offerTo(p, latest).finally(() => this.offering.delete(p.origin))
    }
  }

  private async offerTo(p: PartnerInfo, latest: OwnCheckpoint): Promise<void> {
    const prog = this.state.progress(p.origin)
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const old = prog.cosignedSize
        const proof = old > 0 && old < latest.checkpoint.size ? await this.c.blockLog.consistencyProof(old, latest.checkpoint.size) : []
        const body = formatAddCheckpoint({ oldSize: old, proof, note: latest.note })
        this.m.offered?.inc()
        const r = await this.post(p, body)
        if (r.status === 200) {
          const lines = r.body.split('\n').filter((l) => l.length > 0).map((l) => `${l}\n`)
          let ok = false
          for (const line of lines) {
            for (const pk of this.partnerKeys(p)) {
              if (await this.c.checkpoints.addCosignature(latest.text, line, cosignerVerifier(p.origin, pk)).catch(() => false)) ok = true
            }
          }
          if (!ok) throw new Error(`partner ${p.name} answered 200 without a valid cosignature`)
          prog.cosignedSize = latest.checkpoint.size
          await this.state.save()
          this.m.cosigned?.inc()
          this.emit('cosigned', { origin: p.origin, size: latest.checkpoint.size })
          return
        }
        this.m.refused?.inc({ status: String(r.status) })
        if (r.status === 409 && /^text\/x\.tlog\.size/.test(r.contentType)) {
          // The witness holds another size for us (c2sp.org/tlog-witness): offer again from that size.
          const size = Number(r.body.trim())
          if (!Number.isSafeInteger(size) || size < 0 || size > latest.checkpoint.size || size === old) {
            throw new Error(`partner ${p.name} answered 409 with size ${r.body.trim()}; ours is ${latest.checkpoint.size}: it may hold a checkpoint we never signed (see its evidence)`)
          }
          prog.cosignedSize = size
          continue
        }
        throw new Error(`partner ${p.name} answered ${r.status}: ${r.body.slice(0, 200)}`)
      }
    } catch (err) {
      this.fail(p.origin, `offering checkpoint ${latest.checkpoint.size} to ${p.name}`, err)
    }
  }

  private async post(p: PartnerInfo, body: string): Promise<{ status: number; contentType: string; body: string }> {
    if (this.c.link && p.encryptionKey) {
      const r = decodeWitnessReply(await this.c.link.request(p.origin, BROKER_TYPES.addCheckpoint, utf8(body)))
      return { status: r.status, contentType: r.contentType, body: new TextDecoder().decode(r.body) }
    }
    if (!p.witnessUrl) throw new Error(`partner ${p.name} has neither a broker encryption key nor a witnessUrl`)
    const res = await fetch(`${p.witnessUrl.replace(/\/+$/, '')}/add-checkpoint`, { method: 'POST', body, signal: AbortSignal.timeout(15_000) })
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() }
  }

  // ---- 2. partner checkpoints we cosigned → anchor txs → entanglement proofs back ----

  private async anchor(e: { origin: string; checkpoint: Checkpoint; note: string }): Promise<void> {
    try {
      const size = e.checkpoint.size
      const key = anchorDedupeKey(e.origin, size)
      if (this.state.state.anchors.some((a) => a.origin === e.origin && a.size === size)) return
      const existing = await this.c.store.outbox.lookup(key)
      let txId = existing
      if (!txId) {
        const tx = createAnchorTx({
          network: this.init.network,
          key: this.c.key,
          seq: await this.c.store.outbox.nextSeq(this.c.key.publicKey),
          partnerOrigin: e.origin,
          size,
          root: e.checkpoint.root,
          note: e.note,
        })
        const [r] = await this.c.submitOwn([{ tx, dedupeKey: key }])
        txId = r.txId
        this.m.anchors?.inc()
      }
      this.state.state.anchors.push({ origin: e.origin, size, txId, sent: false })
      await this.state.save()
      this.emit('anchored', { origin: e.origin, size, txId })
    } catch (err) {
      this.fail(e.origin, `recording checkpoint ${e.checkpoint.size} of ${e.origin} as an anchor`, err)
    }
  }

  private async proveAnchors(): Promise<void> {
    const head = this.c.store.head().height
    for (const a of this.state.state.anchors.filter((x) => !x.sent)) {
      const loc = await this.c.store.getTx(a.txId)
      if (!loc || head - loc.height + 1 < this.init.confirmations) continue
      if (this.init.finalHeight && loc.height > this.init.finalHeight()) continue
      const p = this.c.partners.byOrigin(a.origin)
      if (!p) continue
      try {
        const bytes = await this.entanglementProof(loc)
        if (!(this.c.link && p.encryptionKey) && !p.witnessUrl) throw new Error(`partner ${p.name} has neither a broker encryption key nor a witnessUrl`)
        a.sent = true
        await this.state.save()
        void this.sendProof(p, a, bytes)
      } catch (err) {
        this.fail(a.origin, `proving anchor ${a.txId.slice(0, 16)}…`, err)
      }
    }
  }

  /** Over the broker (re-sent until the partner's link acks) or, without one, POST <witnessUrl>/entanglement. */
  private async sendProof(p: PartnerInfo, a: PendingAnchor, bytes: Uint8Array): Promise<void> {
    try {
      if (this.c.link && p.encryptionKey) await this.c.link.send(p.origin, BROKER_TYPES.entanglement, bytes)
      else {
        const res = await fetch(`${(p.witnessUrl as string).replace(/\/+$/, '')}/entanglement`, {
          method: 'POST',
          headers: { 'content-type': 'application/cbor' },
          body: Buffer.from(bytes),
          signal: AbortSignal.timeout(15_000),
        })
        const text = await res.text()
        // 4xx: the partner refused this proof for good (re-sending the same bytes cannot help).
        if (res.status >= 500) throw new Error(`partner ${p.name} answered ${res.status}: ${text.trim().slice(0, 200)}`)
        if (res.status !== 200) this.c.logger.warn({ origin: p.origin, status: res.status, body: text.trim().slice(0, 200) }, 'partner refused our entanglement proof')
      }
      this.m.proofsSent?.inc()
    } catch (err) {
      a.sent = false // the next tick tries again
      this.fail(p.origin, `sending the entanglement proof of ${a.size} to ${p.name}`, err)
    }
  }

  private async entanglementProof(loc: TxLocation): Promise<Uint8Array> {
    const native = await this.c.store.receiptAt(loc, 'native', this.init.anchorBase())
    const payload = await this.c.store.getPayload(loc.txId)
    if (!native || !payload) throw new Error(`anchor ${loc.txId} has no receipt or payload in the store`)
    const proof: EntanglementProof = {
      partnerOrigin: this.init.origin,
      partnerGenesisHash: this.init.genesisHash,
      anchorBase: this.init.anchorBase(),
      payload,
      tx: decodeStrippedTx(fromHex(native.tx)),
      leafIndex: native.leafIndex,
      auditPath: native.auditPath.map(fromHex),
      header: decodeHeader(fromHex(native.header)),
    }
    return encodeEntanglementProof(proof)
  }

  // ---- 3. entanglement proofs from partners → stored → our receipts upgraded ----

  async receiveEntanglement(bytes: Uint8Array, from?: string): Promise<VerifiedEntanglement> {
    let proof: EntanglementProof
    let v: VerifiedEntanglement
    try {
      proof = decodeEntanglementProof(bytes)
      if (from !== undefined && from !== proof.partnerOrigin) throw new Error(`sent by network ${from} but names partner ${proof.partnerOrigin}`)
      const p = this.c.partners.byOrigin(proof.partnerOrigin)
      if (!p) throw new Error(`${proof.partnerOrigin} is not a partner`)
      v = verifyEntanglementProof(proof, {
        ownOrigin: this.init.origin,
        ownVerifiers: this.ownVerifiers,
        partner: { origin: p.origin, verifiers: p.vkeys.map((k) => parseVkey(k)) },
      })
    } catch (err) {
      this.m.proofsRejected?.inc({ reason: err instanceof ProfichainError ? err.code : 'ERR_ENTANGLE_PARTNER' })
      throw err
    }
    await this.state.saveEntanglement(proof.partnerOrigin, v.checkpoint.size, bytes)
    this.m.proofsReceived?.inc()
    // One upgrade at a time (broker and HTTP may deliver at once): each sees what the previous one did.
    const run = this.upgrading.then(() => this.upgrade(proof.partnerOrigin))
    this.upgrading = run.then(
      () => undefined,
      () => undefined,
    )
    const upgraded = await run
    this.emit('entangled', { origin: proof.partnerOrigin, size: v.checkpoint.size, upgraded })
    return v
  }

  async httpEntanglement(body: Uint8Array): Promise<{ status: number; body: string }> {
    try {
      const v = await this.receiveEntanglement(body)
      return { status: 200, body: `stored: checkpoint ${v.checkpoint.size} is in block ${v.height} of ${v.network}` }
    } catch (err) {
      const code = err instanceof ProfichainError ? err.code : ''
      const status = code === 'ERR_ENTANGLE_MALFORMED' ? 400 : code.startsWith('ERR_ENTANGLE_') ? 403 : 404
      return { status, body: errText(err) }
    }
  }

  /** The smallest stored entanglement of `origin` covering `height`, decoded. */
  private async entanglementFor(origin: string, height: number): Promise<{ proof: EntanglementProof; size: number } | undefined> {
    const sizes = await this.state.entanglementSizes(origin)
    const size = sizes.find((s) => s > height)
    if (size === undefined) return undefined
    return { proof: decodeEntanglementProof(await this.state.readEntanglement(origin, size)), size }
  }

  private async inputFor(origin: string, loc: TxLocation) {
    const e = await this.entanglementFor(origin, loc.height)
    if (!e) return undefined
    const p = e.proof
    return {
      partnerOrigin: origin,
      blockLogIndex: loc.height,
      blockLogSize: e.size,
      blockLogPath: await this.c.blockLog.inclusionProof(loc.height, e.size),
      payload: p.payload,
      anchor: { tx: p.tx, header: p.header, leafIndex: p.leafIndex, auditPath: p.auditPath, anchorBase: p.anchorBase },
    }
  }

  crossReceipt(txId: string, form: 'chainpoint'): Promise<ChainpointProof | undefined>
  crossReceipt(txId: string, form: 'native'): Promise<NativeReceipt | undefined>
  crossReceipt(txId: string, form: 'chainpoint' | 'native'): Promise<ChainpointProof | NativeReceipt | undefined>
  async crossReceipt(txId: string, form: 'chainpoint' | 'native'): Promise<ChainpointProof | NativeReceipt | undefined> {
    const loc = await this.c.store.getTx(txId)
    if (!loc) return undefined
    return this.receiptOf(loc, form)
  }

  private async receiptOf(loc: TxLocation, form: 'chainpoint' | 'native'): Promise<ChainpointProof | NativeReceipt | undefined> {
    const base = this.init.anchorBase()
    let r = form === 'chainpoint' ? await this.c.store.receiptAt(loc, 'chainpoint', base) : await this.c.store.receiptAt(loc, 'native', base)
    if (!r) return undefined
    for (const p of this.c.partners.list()) {
      const input = await this.inputFor(p.origin, loc)
      if (!input) continue
      r = form === 'chainpoint' ? buildCrossChainpoint(r as ChainpointProof, input) : buildCrossNative(r as NativeReceipt, input)
    }
    return r
  }

  /** Rewrite the receipt files of our records in blocks [upgradedSize, newest entanglement size). */
  private async upgrade(origin: string): Promise<number> {
    const prog = this.state.progress(origin)
    const sizes = await this.state.entanglementSizes(origin)
    const top = sizes[sizes.length - 1] ?? 0
    if (top <= prog.upgradedSize) return 0
    let upgraded = 0
    const ingest = this.c.ingest
    if (ingest) {
      const own = toHex(this.c.key.publicKey)
      const locs: TxLocation[] = []
      for await (const b of this.c.store.blocks(prog.upgradedSize, top - 1)) {
        for (const tx of b.txs) {
          if (toHex(tx.body.origin) !== own || tx.body.metadata.source !== 'file') continue
          const loc = await this.c.store.getTx(toHex(txId(tx)))
          if (loc) locs.push(loc)
        }
        if (locs.length >= 1000) {
          upgraded += await this.rewrite(locs.splice(0))
        }
      }
      upgraded += await this.rewrite(locs)
    }
    prog.upgradedSize = top
    await this.state.save()
    return upgraded
  }

  private async rewrite(locs: TxLocation[]): Promise<number> {
    if (locs.length === 0 || !this.c.ingest) return 0
    const byId = new Map(locs.map((l) => [l.txId, l]))
    const out = await this.c.ingest.writeReceipts(
      locs.map((l) => ({ txId: l.txId, metadata: l.tx.body.metadata })),
      async (id) => {
        const loc = byId.get(id)
        return loc ? this.receiptOf(loc, 'chainpoint') : undefined
      },
    )
    if (out.failed.length > 0) this.fail(undefined, `upgrading ${out.failed.length} receipt(s)`, new Error(`${out.failed[0].code}: ${out.failed[0].message}`))
    this.m.upgraded?.inc(out.written.length)
    return out.written.length
  }

  async report() {
    return Promise.all(
      this.c.partners.list().map(async (p) => {
        const prog = this.state.progress(p.origin)
        return {
          origin: p.origin,
          name: p.name,
          cosignedSize: prog.cosignedSize,
          upgradedSize: prog.upgradedSize,
          entanglements: await this.state.entanglementSizes(p.origin),
          anchors: this.state.state.anchors.filter((x) => x.origin === p.origin).map((x) => x.size),
        }
      }),
    )
  }

  async audit() {
    const out: Array<{ origin: string; size: number; ok: boolean; error?: string }> = []
    for (const p of this.c.partners.list()) {
      for (const size of await this.state.entanglementSizes(p.origin)) {
        try {
          const proof = decodeEntanglementProof(await this.state.readEntanglement(p.origin, size))
          const v = verifyEntanglementProof(proof, { ownOrigin: this.init.origin, ownVerifiers: this.ownVerifiers, partner: { origin: p.origin, verifiers: p.vkeys.map((k) => parseVkey(k)) } })
          if (v.checkpoint.size !== size) throw new Error(`stored as size ${size} but proves ${v.checkpoint.size}`)
          out.push({ origin: p.origin, size, ok: true })
        } catch (err) {
          out.push({ origin: p.origin, size, ok: false, error: errText(err) })
        }
      }
    }
    return out
  }
}

/** Labels of the nested branches this node writes, per partner origin (for readers of receipts). */
export function partnerLabel(origin: string): string {
  return entangleLabel(origin)
}

/** Notes carry the cosigner's name: the partner origins that cosigned a note (for audit output). */
export function cosignerNames(note: string): string[] {
  return parseNote(note).signatures.map((s) => s.name)
}

/** Create (not start) the partners subsystem. */
export function createPartners(init: PartnersInit, components: PartnersComponents): PartnersService {
  return new Partners(init, components)
}
