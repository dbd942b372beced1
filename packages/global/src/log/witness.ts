// The witness service (DESIGN §11): c2sp.org/tlog-witness add-checkpoint for partner logs, with the state per
// origin in LevelDB (compare-and-swap, synced), evidence of inconsistent partner checkpoints, and cosigning
// with the node key (cosigner name = own origin).
import { EventEmitter } from 'node:events'
import { decodeCbor, encodeCbor, equalBytes, type KeyPair, read } from '@profichain/core'
import {
  type AddCheckpointResult,
  addCheckpoint,
  appendSignatures,
  parseAddCheckpoint,
  type Checkpoint,
  formatCosignerVkey,
  type WitnessState,
  type WitnessStateStore,
} from '../tlog/index.js'
import { type LogKv, Mutex, readU64, u64, utf8, fromUtf8 } from './kv.js'
import { type PartnerRegistry, witnessedLog } from './partners.js'

/** LevelDB witness state: origin → CBOR [size, root, note]; compareAndSwap runs read-compare-write under a lock, synced. */
export function createWitnessStateStore(kv: LogKv): WitnessStateStore {
  const mutex = new Mutex()
  const get = async (origin: string): Promise<WitnessState | undefined> => {
    const raw = await kv.get('witnessState', utf8(origin))
    return raw === undefined ? undefined : decodeState(raw)
  }
  const same = (a: WitnessState | undefined, b: WitnessState | undefined) =>
    a === undefined || b === undefined ? a === b : a.size === b.size && equalBytes(a.root, b.root) && a.note === b.note
  return {
    get,
    compareAndSwap: (origin, expected, next) =>
      mutex.run(async () => {
        if (!same(await get(origin), expected)) return false
        await kv.write([{ bucket: 'witnessState', key: utf8(origin), value: encodeState(next) }])
        return true
      }),
  }
}

export function encodeState(s: WitnessState): Uint8Array {
  return encodeCbor([s.size, s.root, s.note])
}

export function decodeState(b: Uint8Array): WitnessState {
  const a = read.array(decodeCbor(b, 'witness state'), 3, 'witness state')
  return {
    size: read.uint(a[0], 'witness state size'),
    root: read.bytes(a[1], 'witness state root', 32),
    note: read.text(a[2], 'witness state note', 1 << 20),
  }
}

/** Both signed checkpoints of a partner that contradicted itself, kept for good (bounded per origin). */
export interface WitnessEvidenceRecord {
  origin: string
  kind: 'fork' | 'inconsistent'
  /** ms since the epoch when this witness refused the offered checkpoint. */
  at: number
  /** The checkpoint this witness had cosigned (signed note). */
  previous: string
  /** The offered, validly signed, contradicting checkpoint (signed note). */
  offered: string
}

export interface EvidenceStore {
  add(e: WitnessEvidenceRecord): Promise<void>
  /** Newest first; one origin or all. */
  list(origin?: string, limit?: number): Promise<WitnessEvidenceRecord[]>
}

function evidenceKey(origin: string, seq: number): Uint8Array {
  const o = utf8(origin)
  const k = new Uint8Array(o.byteLength + 9)
  k.set(o, 0)
  k[o.byteLength] = 0
  k.set(u64(seq), o.byteLength + 1)
  return k
}

/** Evidence in LevelDB: origin ‖ 0x00 ‖ u64 seq → CBOR [kind, at, previous, offered]; the oldest beyond `maxPerOrigin` is dropped. */
export function createEvidenceStore(kv: LogKv, maxPerOrigin = 64): EvidenceStore {
  const mutex = new Mutex()
  const range = (origin: string) => {
    const o = utf8(origin)
    const gte = new Uint8Array(o.byteLength + 1)
    gte.set(o, 0)
    const lt = new Uint8Array(o.byteLength + 1)
    lt.set(o, 0)
    lt[o.byteLength] = 1
    return { gte, lt }
  }
  const decode = (k: Uint8Array, v: Uint8Array): WitnessEvidenceRecord => {
    const a = read.array(decodeCbor(v, 'witness evidence'), 4, 'witness evidence')
    const kind = read.text(a[0], 'evidence kind', 16)
    return {
      origin: fromUtf8(k.subarray(0, k.byteLength - 9)),
      kind: kind === 'fork' ? 'fork' : 'inconsistent',
      at: read.uint(a[1], 'evidence time'),
      previous: read.text(a[2], 'evidence previous', 1 << 20),
      offered: read.text(a[3], 'evidence offered', 1 << 20),
    }
  }
  return {
    add: (e) =>
      mutex.run(async () => {
        const existing = await kv.entries('witnessEvidence', { ...range(e.origin), reverse: true }, -1)
        const seq = existing.length === 0 ? 0 : readU64(existing[0][0].subarray(existing[0][0].byteLength - 8)) + 1
        const ops: Array<{ bucket: 'witnessEvidence'; key: Uint8Array; value?: Uint8Array }> = [
          { bucket: 'witnessEvidence', key: evidenceKey(e.origin, seq), value: encodeCbor([e.kind, e.at, e.previous, e.offered]) },
        ]
        // Bounded per origin: keep the first (the original contradiction) and the newest.
        const drop = existing.length + 1 - maxPerOrigin
        if (drop > 0) {
          const oldestFirst = [...existing].reverse()
          for (const [k] of oldestFirst.slice(1, 1 + drop)) ops.push({ bucket: 'witnessEvidence', key: k })
        }
        await kv.write(ops)
      }),
    list: async (origin, limit = 1000) => {
      const entries = origin === undefined
        ? await kv.entries('witnessEvidence', {}, -1)
        : await kv.entries('witnessEvidence', range(origin), -1)
      const out = entries.map(([k, v]) => decode(k, v))
      out.sort((a, b) => b.at - a.at)
      return out.slice(0, limit)
    },
  }
}

export interface WitnessServiceInit {
  /** This network's origin: the cosigner key name. */
  origin: string
  /** Evidence kept per partner origin. Default 64. */
  maxEvidencePerOrigin?: number
}

export interface WitnessServiceComponents {
  kv: LogKv
  /** The node key (Ed25519): cosigns. */
  keyPair: KeyPair
  partners: PartnerRegistry
  now?: () => number
}

/** A partner checkpoint this witness cosigned: h13-ent records it as an anchor tx. */
export interface CosignedEvent {
  origin: string
  checkpoint: Checkpoint
  /** The partner's signed checkpoint note with our cosignature line appended. */
  note: string
}

export interface WitnessServiceEvents {
  cosigned: [CosignedEvent]
  evidence: [WitnessEvidenceRecord]
  /** Every answer, for metrics. */
  answered: [{ status: number; origin?: string }]
}

export interface WitnessService extends EventEmitter<WitnessServiceEvents> {
  /** Handle one add-checkpoint body (HTTP or broker): status, content type, body exactly as c2sp.org/tlog-witness. */
  addCheckpoint(body: string): Promise<AddCheckpointResult>
  /** This witness's cosigner vkey (type 0x04, name = own origin): what partners put in their witness config. */
  readonly vkey: string
  readonly state: WitnessStateStore
  readonly evidence: EvidenceStore
}

class Witness extends EventEmitter<WitnessServiceEvents> implements WitnessService {
  readonly vkey: string
  readonly state: WitnessStateStore
  readonly evidence: EvidenceStore

  constructor(
    private readonly init: WitnessServiceInit,
    private readonly c: WitnessServiceComponents,
  ) {
    super()
    this.vkey = formatCosignerVkey(init.origin, c.keyPair.publicKey)
    this.state = createWitnessStateStore(c.kv)
    this.evidence = createEvidenceStore(c.kv, init.maxEvidencePerOrigin ?? 64)
  }

  async addCheckpoint(body: string): Promise<AddCheckpointResult> {
    const now = this.c.now ?? Date.now
    const r = await addCheckpoint(body, {
      logs: (origin) => {
        const p = this.c.partners.byOrigin(origin)
        return p === undefined ? undefined : witnessedLog(p)
      },
      state: this.state,
      signer: { name: this.init.origin, keyPair: this.c.keyPair },
      now,
    })
    const origin = r.checkpoint?.origin
    if (r.evidence && origin !== undefined) {
      const e: WitnessEvidenceRecord = {
        origin,
        kind: r.evidence.kind,
        at: now(),
        previous: r.evidence.previous.note,
        offered: r.evidence.offered,
      }
      await this.evidence.add(e)
      this.emit('evidence', e)
    }
    this.emit('answered', { status: r.status, origin })
    if (r.status === 200 && r.checkpoint) {
      const note = appendSignatures(parseAddCheckpoint(body).note, [r.body])
      this.emit('cosigned', { origin: r.checkpoint.origin, checkpoint: r.checkpoint, note })
    }
    return r
  }
}

export function createWitnessService(init: WitnessServiceInit, components: WitnessServiceComponents): WitnessService {
  return new Witness(init, components)
}
