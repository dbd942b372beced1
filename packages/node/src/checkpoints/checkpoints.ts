// The checkpoints subsystem (DESIGN §11): keeps the block log in step with the final chain, signs checkpoints
// (validators), asks outside witnesses to cosign them, and answers partners' add-checkpoint as their witness.
import { EventEmitter } from 'node:events'
import { type Genesis, genesisCheckpoint, genesisOrigin, validatorKeys } from '@profichain/consensus'
import { equalBytes, type KeyPair, toHex } from '@profichain/core'
import {
  type BlockLog,
  type CheckpointStore,
  type CosignedEvent,
  createBlockLog,
  createCheckpointStore,
  createPartnerRegistry,
  createWitnessService,
  formatAddCheckpoint,
  formatVkey,
  type LogKv,
  type NoteVerifier,
  openNote,
  type OutsideWitness,
  type PartnerRegistry,
  parseOutsideWitness,
  parseTlogSize,
  parseVkey,
  readWitnessesFile,
  type SignedCheckpoint,
  type WitnessEvidenceRecord,
  type WitnessService,
} from '@profichain/global'
import type { CheckpointApi } from '@profichain/api'
import type { BlockTree } from '@profichain/store'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'

export interface CheckpointsInit {
  genesis: Genesis
  /** The node's data dir (partners.json, witnesses.json). */
  dataDir: string
  /** Partners from the node config (validated by the partner registry). */
  partners?: readonly unknown[]
  /** Outside witnesses from the node config ({ url, vkey }); witnesses.json adds more. */
  witnesses?: ReadonlyArray<{ url: string; vkey: string }>
  /** Override genesis checkpoint.intervalMs (tests). */
  intervalMs?: number
  /** Timeout of one request to an outside witness. Default 10 s. */
  witnessTimeoutMs?: number
}

export interface CheckpointsComponents {
  store: BlockTree
  key: KeyPair
  logger: Logger
  registry?: Registry
  /** Gossip a signed checkpoint note to the network's other nodes (checkpoint topic); absent: not shared. */
  publish?: (note: string) => void
}

export interface CheckpointsEvents {
  /** This node signed a new checkpoint of the block log. */
  signed: [SignedCheckpoint]
  /** An outside witness cosigned our checkpoint. */
  witnessed: [{ witness: string; size: number }]
  /** As a witness, we cosigned a partner checkpoint (h13-ent records it as an anchor tx). */
  cosigned: [CosignedEvent]
  /** As a witness, we refused a partner checkpoint that contradicts the one we cosigned before. */
  evidence: [WitnessEvidenceRecord]
}

export interface CheckpointsService extends EventEmitter<CheckpointsEvents> {
  readonly log: BlockLog
  readonly checkpoints: CheckpointStore
  readonly witness: WitnessService
  readonly partners: PartnerRegistry
  /** This network's log origin (genesis `origin`). */
  readonly origin: string
  /** The network's note vkeys (one per validator) and this node's cosigner vkey. */
  readonly vkeys: string[]
  readonly witnessVkey: string
  /** One round now: sync the log, sign if it grew (validators), ask outside witnesses. */
  tick(): Promise<void>
  /**
   * A checkpoint note gossiped by another node: verified with the network vkeys (reject otherwise); merged, or
   * co-signed by this validator when our log has it, and gossiped again when we added our signature.
   */
  onCheckpoint(note: Uint8Array, from: string): Promise<'accept' | 'reject' | 'ignore'>
  /** What the API serves (GET /checkpoint, proofs, POST /add-checkpoint). */
  api(): CheckpointApi
  /**
   * The c2sp.org/tlog-witness add-checkpoint body for our latest signed checkpoint, with a consistency proof from
   * `oldSize` (the size that witness last cosigned; 0: none). Undefined before the first checkpoint. For any
   * transport (HTTP, broker); a 409 answer names the size to retry from (`parseTlogSize`).
   */
  addCheckpointRequest(oldSize: number): Promise<{ body: string; checkpoint: SignedCheckpoint } | undefined>
  /**
   * Keep the cosignature line(s) a witness answered (200 body) on the checkpoint `checkpointText`, verified with
   * its cosigner `vkey`; they are then served on GET /checkpoint while that checkpoint is the latest. False when
   * no line verifies.
   */
  addCosignature(vkey: string, checkpointText: string, body: string): Promise<boolean>
  start(): void
  stop(): Promise<void>
  /** `CHECKPOINT_FAILING` while the last round failed (e.g. the block log contradicts the signed checkpoint). */
  health(): { ok: true } | { ok: false; code: 'CHECKPOINT_FAILING'; message: string }
}

const WSTATE = 'wstate:'

class Checkpoints extends EventEmitter<CheckpointsEvents> implements CheckpointsService {
  readonly origin: string
  readonly vkeys: string[]
  readonly witnessVkey: string
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private stopped = false
  private failure?: string
  private readonly isValidator: boolean
  private readonly verifiers: NoteVerifier[]
  /** Outside witnesses (name and URL) that failed: when to ask again (doubling from 1 s to 30 s). */
  private readonly backoff = new Map<string, { delay: number; until: number }>()
  private readonly requests: Counter<'code'>
  private readonly cosignedCount: Counter<'code'>
  private readonly refused: Counter<'code'>
  private readonly evidenceCount: Counter
  private readonly signedCount: Counter
  private readonly outside: Counter<'result'>

  constructor(
    private readonly init: CheckpointsInit,
    private readonly c: CheckpointsComponents,
    private readonly kv: LogKv,
    readonly log: BlockLog,
    readonly checkpoints: CheckpointStore,
    readonly partners: PartnerRegistry,
    readonly witness: WitnessService,
  ) {
    super()
    const g = init.genesis
    this.origin = genesisOrigin(g)
    this.vkeys = validatorKeys(g).map((k) => formatVkeyOf(this.origin, k))
    this.witnessVkey = witness.vkey
    this.isValidator = validatorKeys(g).some((k) => equalBytes(k, c.key.publicKey))
    this.verifiers = this.vkeys.map((v) => parseVkey(v))
    const registers = c.registry ? [c.registry] : []
    this.requests = new Counter({ name: 'profichain_witness_requests_total', help: 'add-checkpoint requests answered, by status code', labelNames: ['code'], registers })
    this.cosignedCount = new Counter({ name: 'profichain_witness_cosigned_total', help: 'partner checkpoints cosigned', labelNames: ['code'], registers })
    this.refused = new Counter({ name: 'profichain_witness_refused_total', help: 'add-checkpoint requests refused, by status code', labelNames: ['code'], registers })
    this.evidenceCount = new Counter({ name: 'profichain_witness_evidence_total', help: 'partner checkpoints kept as evidence (inconsistent with the one cosigned before)', registers })
    this.signedCount = new Counter({ name: 'profichain_checkpoint_signed_total', help: 'checkpoints of the block log this node signed', registers })
    this.outside = new Counter({ name: 'profichain_checkpoint_witness_requests_total', help: 'requests to outside witnesses, by result', labelNames: ['result'], registers })
    witness.on('answered', ({ status }) => {
      this.requests.inc({ code: String(status) })
      if (status === 200) this.cosignedCount.inc({ code: '200' })
      else this.refused.inc({ code: String(status) })
    })
    witness.on('evidence', (e) => {
      this.evidenceCount.inc()
      c.logger.warn({ origin: e.origin, kind: e.kind }, 'partner checkpoint contradicts the one cosigned before: refused, both kept as evidence')
      this.emit('evidence', e)
    })
    witness.on('cosigned', (e) => this.emit('cosigned', e))
  }

  start(): void {
    const interval = this.init.intervalMs ?? genesisCheckpoint(this.init.genesis).intervalMs
    const loop = () => {
      if (this.stopped) return
      this.running = this.tick()
        .then(() => {
          this.failure = undefined
        })
        .catch((err) => {
          this.failure = (err as Error).message
          this.c.logger.error({ err }, 'checkpoint round failed; retrying at the next interval')
        })
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, interval)
        })
    }
    this.timer = setTimeout(loop, 0)
  }

  health(): { ok: true } | { ok: false; code: 'CHECKPOINT_FAILING'; message: string } {
    return this.failure === undefined
      ? { ok: true }
      : { ok: false, code: 'CHECKPOINT_FAILING', message: `the block log or checkpoint signing fails: ${this.failure}` }
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    await this.running
  }

  async tick(): Promise<void> {
    await this.log.sync()
    await this.partners.reload().catch((err) => this.c.logger.warn({ err }, 'partners.json is invalid; keeping the partners loaded before'))
    if (!this.isValidator) return
    const signed = await this.checkpoints.signIfGrown([{ keyPair: this.c.key }])
    if (signed) {
      this.signedCount.inc()
      this.c.logger.debug({ size: signed.checkpoint.size }, 'checkpoint signed')
      this.c.publish?.(signed.note)
      this.emit('signed', signed)
    }
    const latest = signed ?? (await this.checkpoints.latest())
    if (latest) await this.askWitnesses(latest)
  }

  private async witnessList(): Promise<OutsideWitness[]> {
    const fromConfig = (this.init.witnesses ?? []).map((w, i) => parseOutsideWitness(w, `config witnesses[${i}]`))
    let fromFile: OutsideWitness[] = []
    try {
      fromFile = await readWitnessesFile(this.init.dataDir)
    } catch (err) {
      this.c.logger.warn({ err }, 'witnesses.json is invalid; asking the configured witnesses only')
    }
    return [...fromConfig, ...fromFile.filter((w) => !fromConfig.some((c) => c.name === w.name))]
  }

  /** Ask each outside witness (in parallel) to cosign `latest` unless it already did; a failing one backs off. */
  private async askWitnesses(latest: SignedCheckpoint): Promise<void> {
    const have = new Set((await this.checkpoints.cosignatures()).map((c) => c.name))
    const now = Date.now()
    await Promise.all(
      (await this.witnessList()).map(async (w) => {
        const id = `${w.name} ${w.url}` // a witness moved to another URL is asked at once
        const b = this.backoff.get(id)
        if (this.stopped || have.has(w.name) || (b !== undefined && b.until > now)) return
        try {
          await this.askWitness(w, latest)
          this.backoff.delete(id)
        } catch (err) {
          const delay = Math.min(30_000, (b?.delay ?? 500) * 2)
          this.backoff.set(id, { delay, until: Date.now() + delay })
          this.outside.inc({ result: 'error' })
          this.c.logger.warn({ err, witness: w.name, url: w.url, retryInMs: delay }, 'outside witness did not cosign our checkpoint; retrying later')
        }
      }),
    )
  }

  onCheckpoint = async (bytes: Uint8Array, from: string): Promise<'accept' | 'reject' | 'ignore'> => {
    let note: string
    try {
      note = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
      openNote(note, this.verifiers)
    } catch {
      this.c.logger.warn({ from }, 'rejected a gossiped checkpoint not signed by a validator of this network')
      return 'reject'
    }
    try {
      await this.log.sync()
      const r = await this.checkpoints.receive(note, this.isValidator ? [{ keyPair: this.c.key }] : [])
      // Validly signed but stale or beyond our log: still relayed (the others may need it), nothing kept here.
      if (r === undefined) return 'accept'
      if (r.signed) {
        this.signedCount.inc()
        this.c.publish?.(r.checkpoint.note)
        this.emit('signed', r.checkpoint)
      }
      return 'accept'
    } catch (err) {
      this.c.logger.error({ err, from }, 'a validator signed a checkpoint that contradicts this node\'s block log')
      return 'ignore'
    }
  }

  async addCheckpointRequest(oldSize: number): Promise<{ body: string; checkpoint: SignedCheckpoint } | undefined> {
    const latest = await this.checkpoints.latest()
    if (!latest) return undefined
    const size = latest.checkpoint.size
    const from = Number.isSafeInteger(oldSize) && oldSize >= 0 && oldSize <= size ? oldSize : 0
    const proof = from === 0 || from === size ? [] : await this.log.consistencyProof(from, size)
    return { body: formatAddCheckpoint({ oldSize: from, proof, note: latest.note }), checkpoint: latest }
  }

  async addCosignature(vkey: string, checkpointText: string, body: string): Promise<boolean> {
    const verifier = parseVkey(vkey)
    let ok = false
    for (const line of body.split('\n').filter((l) => l.length > 0))
      if (await this.checkpoints.addCosignature(checkpointText, `${line}\n`, verifier)) ok = true
    return ok
  }

  private async askWitness(w: OutsideWitness, latest: SignedCheckpoint): Promise<void> {
    const key = new Uint8Array(Buffer.from(WSTATE + w.name, 'utf8'))
    const raw = await this.kv.get('logMeta', key)
    let oldSize = raw === undefined ? 0 : Number(Buffer.from(raw).toString('utf8'))
    const url = /\/add-checkpoint$/.test(w.url) ? w.url : `${w.url.replace(/\/+$/, '')}/add-checkpoint`
    const size = latest.checkpoint.size
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!(oldSize >= 0 && oldSize <= size)) oldSize = 0
      const proof = oldSize === 0 || oldSize === size ? [] : await this.log.consistencyProof(oldSize, size)
      const body = formatAddCheckpoint({ oldSize, proof, note: latest.note })
      const res = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        signal: AbortSignal.timeout(this.init.witnessTimeoutMs ?? 10_000),
      })
      const text = await res.text()
      if (res.status === 200) {
        if (!(await this.addCosignature(w.vkey, latest.text, text))) {
          this.outside.inc({ result: 'bad_cosignature' })
          throw new Error(`witness ${w.name} answered 200 without a valid cosignature for its vkey`)
        }
        await this.kv.write([{ bucket: 'logMeta', key, value: new Uint8Array(Buffer.from(String(size), 'utf8')) }])
        this.outside.inc({ result: 'cosigned' })
        this.emit('witnessed', { witness: w.name, size })
        return
      }
      if (res.status === 409 && attempt === 0) {
        // The witness holds another size for us: retry from it (c2sp.org/tlog-witness).
        oldSize = parseTlogSize(text)
        this.outside.inc({ result: 'conflict' })
        continue
      }
      this.outside.inc({ result: String(res.status) })
      throw new Error(`witness ${w.name} answered ${res.status}: ${text.slice(0, 200).trim()}`)
    }
  }

  api(): CheckpointApi {
    return {
      checkpoint: () => this.checkpoints.served(),
      logSize: () => this.log.size(),
      consistency: async (oldSize, newSize) => ({
        proof: await this.log.consistencyProof(oldSize, newSize),
        oldRoot: await this.log.root(oldSize),
        newRoot: await this.log.root(newSize),
      }),
      inclusion: async (height, size) => {
        const blockHash = await this.c.store.getHashAtHeight(height)
        if (blockHash === undefined) throw new Error(`no canonical block at height ${height}`)
        return {
          blockHash,
          leafHash: await this.log.leaf(height),
          root: await this.log.root(size),
          proof: await this.log.inclusionProof(height, size),
        }
      },
      addCheckpoint: (body) => this.witness.addCheckpoint(body),
      latest: async () => {
        const l = await this.checkpoints.latest()
        if (!l) return undefined
        const cos = await this.checkpoints.cosignatures()
        return {
          origin: l.checkpoint.origin,
          size: l.checkpoint.size,
          root: toHex(l.checkpoint.root),
          note: (await this.checkpoints.served()) ?? l.note,
          cosignatures: cos.map((c) => ({ witness: c.name, timestamp: c.timestamp, line: c.line })),
        }
      },
      partners: async () =>
        Promise.all(
          this.partners.list().map(async (p) => {
            const st = await this.witness.state.get(p.origin)
            return { ...p, ...(st ? { witnessed: { size: st.size, root: toHex(st.root), note: st.note } } : {}) }
          }),
        ),
      witnessEvidence: (origin, first) => this.witness.evidence.list(origin, first),
    }
  }
}

function formatVkeyOf(origin: string, publicKey: Uint8Array): string {
  return formatVkey(origin, publicKey)
}

/** The store's global buckets as the block log's key-value store. */
export function storeKv(store: BlockTree): LogKv {
  return store.globalBuckets()
}

/** Open the block log, checkpoint store, partners and witness over the node's store; `start()` runs the rounds. */
export async function createCheckpoints(init: CheckpointsInit, components: CheckpointsComponents): Promise<CheckpointsService> {
  const { store } = components
  const g = init.genesis
  const kv = storeKv(store)
  const log = await createBlockLog(
    { depth: genesisCheckpoint(g).depth },
    {
      kv,
      chain: {
        headHeight: () => store.head().height,
        finalHeight: g.consensus.type === 'quorum' ? () => store.finalHeight() : undefined,
        hashAtHeight: (h) => store.getHashAtHeight(h),
        setFloor: (h) => store.setCheckpointFloor(h),
      },
    },
  )
  const origin = genesisOrigin(g)
  const checkpoints = createCheckpointStore({ origin }, { kv, log })
  const partners = await createPartnerRegistry({ configPartners: init.partners ?? [], dataDir: init.dataDir })
  const witness = createWitnessService({ origin }, { kv, keyPair: components.key, partners })
  components.logger.debug({ origin, size: log.size(), key: toHex(components.key.publicKey).slice(0, 16) }, 'block log opened')
  return new Checkpoints(init, components, kv, log, checkpoints, partners, witness)
}
