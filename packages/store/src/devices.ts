import { type DeviceEntry, isMemberKey, type Genesis, OriginCheck, type OriginRefusal, type OriginView } from '@profichain/consensus'
import {
  type CborValue,
  cborBytesHead,
  cborHead,
  checkDeviceTx,
  CodecError,
  decodeCbor,
  decodeStrippedTx,
  deviceTxInfo,
  encodeCbor,
  encodeStrippedTx,
  equalBytes,
  fromHex,
  originHex,
  ProfichainError,
  read,
  type StrippedTx,
  toHex,
  type Transaction,
  txIdHex,
  validateTx,
} from '@profichain/core'
import { type Batch, del, put, writeBatch } from './context.js'
import { type BinaryDb, prefixRange, readU64, type Subs, u64, writeU64 } from './keys.js'
import type { BlockTree } from './block-tree.js'
import type { StoreMetrics } from './metrics.js'
import type { ChainState, TreeNode, TreeNodes } from './tree-nodes.js'

/** Replay evidence kept at most (pairs of txs); beyond it refusals are only counted. */
export const MAX_REPLAY_EVIDENCE = 10_000

/** One registry event as stored (bucket deviceEvent). */
interface DeviceEvent {
  kind: 'register' | 'revoke'
  height: number
  blockHash: string
  txId: string
  owner: string
  /** register: the device id; revoke: the reason (if any). */
  text?: string
}

/** Replay evidence: two different txs of one device origin with one seq. */
export interface ReplayEvidence {
  origin: string
  seq: number
  /** The tx that used the seq first (on the chain or pending), and its stripped encoding when it was known. */
  firstTxId: string
  first?: StrippedTx
  /** The tx refused as a replay. */
  refused: StrippedTx
  refusedTxId: string
  at: number
}

/** Refusals counted per origin (members and registered devices; unknown keys only in total). */
export interface OriginRefusals {
  replays: number
  revoked: number
}

export type RefusalReason = 'replay' | 'revoked' | 'not-member' | 'device-tx'

const REASON: Record<OriginRefusal['code'], RefusalReason> = {
  ERR_ORIGIN_REPLAY: 'replay',
  ERR_ORIGIN_REVOKED: 'revoked',
  ERR_ORIGIN_NOT_MEMBER: 'not-member',
  ERR_DEVICE_TX: 'device-tx',
}

function eventKey(device: Uint8Array, blockHash: Uint8Array): Uint8Array {
  const k = new Uint8Array(64)
  k.set(device, 0)
  k.set(blockHash, 32)
  return k
}

function seqKey(origin: Uint8Array, seq: number): Uint8Array {
  const k = new Uint8Array(40)
  k.set(origin, 0)
  writeU64(k, 32, seq)
  return k
}

/**
 * seqKey(fromHex(origin), seq) for a lower-case hex origin (what OriginCheck passes), decoded straight into the
 * key: one array per lookup instead of four (fromHex's Buffer and copy, the u64, the key) — the head view
 * is asked once per device record by the gateway, the mempool and the producer's filter each.
 */
export function seqKeyOfHex(origin: string, seq: number): Uint8Array {
  const k = new Uint8Array(40)
  if (origin.length !== 64 || Buffer.from(k.buffer, 0, 32).write(origin, 'hex') !== 32) return seqKey(fromHex(origin), seq)
  writeU64(k, 32, seq)
  return k
}

/** encodeCbor([txId, height]) (the deviceSeq value), built directly: one per device record of a canonical block. */
export function encodeSeqValue(id: Uint8Array, height: number): Uint8Array {
  const idHead = cborBytesHead(id.byteLength)
  const h = cborHead(0, height)
  const out = new Uint8Array(1 + idHead.byteLength + id.byteLength + h.byteLength)
  out[0] = 0x82
  out.set(idHead, 1)
  out.set(id, 1 + idHead.byteLength)
  out.set(h, 1 + idHead.byteLength + id.byteLength)
  return out
}

/** Device (origin, seq) pairs known absent from the canonical chain, kept at most (then cleared). */
const MAX_ABSENT_SEQS = 100_000

function encodeEvent(e: DeviceEvent): Uint8Array {
  return encodeCbor([e.kind === 'register' ? 0 : 1, e.height, fromHex(e.txId), fromHex(e.owner), e.text ?? null])
}

function decodeEvent(blockHash: Uint8Array, v: Uint8Array): DeviceEvent {
  const a = read.array(decodeCbor(v, 'device event'), 5, 'device event')
  const kind = read.uint(a[0], 'event.kind')
  const e: DeviceEvent = {
    kind: kind === 0 ? 'register' : 'revoke',
    height: read.uint(a[1], 'event.height'),
    blockHash: toHex(blockHash),
    txId: toHex(read.bytes(a[2], 'event.txId', 32)),
    owner: toHex(read.bytes(a[3], 'event.owner', 32)),
  }
  if (a[4] !== null) e.text = read.text(a[4], 'event.text', 1024)
  return e
}

/** Fold a device's events (already filtered to one chain) into its entry, in height order. */
function fold(key: string, events: DeviceEvent[]): DeviceEntry | undefined {
  let entry: DeviceEntry | undefined
  for (const e of [...events].sort((x, y) => x.height - y.height || (x.kind === 'register' ? -1 : 1))) {
    const at = { height: e.height, blockHash: e.blockHash, txId: e.txId }
    if (e.kind === 'register' && entry === undefined) entry = { key, deviceId: e.text ?? '', owner: e.owner, registered: at }
    else if (e.kind === 'revoke' && entry !== undefined && entry.revoked === undefined)
      entry.revoked = e.text === undefined ? at : { ...at, reason: e.text }
  }
  return entry
}

/** What a canonical switch means for the registry (fork-choice's Switch, the parts used here). */
export interface DeviceSwitch {
  fork: TreeNode
  added: Array<{ node: TreeNode; txs: StrippedTx[]; ids: Uint8Array[] }>
  removed: Array<{ node: TreeNode; txs: StrippedTx[]; ids: Uint8Array[] }>
}

export interface DeviceRegistryParts {
  db: BinaryDb
  subs: Subs
  genesis: Genesis
  nodes: TreeNodes
  state: ChainState
  /** The store's write queue (refusal counts and evidence are written through it). */
  serial: { run<T>(fn: () => Promise<T>): Promise<T> }
  metrics: StoreMetrics
}

/**
 * Device identities and device sequence numbers (DESIGN §12, docs/devices.md). Registry events are stored
 * per block for every stored block (any branch, bucket deviceEvent), so the registry as of any block is
 * the fold of the events on that block's ancestry: `viewAt(parent)` answers for block import across forks;
 * the canonical registry is also kept in memory (`headView`) for gossip, mempool, producer and
 * `checkIncomingTx`. Device (origin, seq) pairs of the canonical chain are indexed (bucket deviceSeq) to
 * refuse replays; refusals are counted per origin and replay pairs are kept as evidence (bounded).
 */
export class DeviceRegistry {
  /** Canonical registry (as of the head): device key hex → entry. */
  private readonly canonical = new Map<string, DeviceEntry>()
  /** Device keys with any event on any stored branch. */
  private readonly seen = new Set<string>()
  private readonly counts = new Map<string, OriginRefusals>()
  private readonly dirty = new Set<string>()
  private pendingEvidence: Array<[Uint8Array, Uint8Array]> = []
  private evidenceCount = 0
  private flushing = false
  private unknownRefused = 0
  private staged: Array<[string, DeviceEvent]> = []
  /**
   * Device (origin hex:seq) pairs the canonical seq index was read without a hit. A device record is
   * looked up as of the head at the gateway, the mempool and the producer's filter (a LevelDB read each,
   * all misses but for a replay); the answer stays "absent" until a canonical switch puts the pair, and
   * the switch's commit (right after its synced write) deletes the pairs it put. Only absence is cached.
   */
  private readonly absentSeqs = new Map<string, Set<number>>()
  private absentCount = 0
  /**
   * Per device origin (hex): a seq at least as high as every seq of that origin in the canonical seq index
   * (exact when set, higher after a reorg took blocks away: only ever an upper bound). A device's records
   * come in seq order, so nearly every lookup of a new record is above it: absent without a synchronous
   * LevelDB read on the main thread and without an entry in `absentSeqs` (read, noted, then deleted again
   * by the block's commit: ~2 % of the ingest API node's main thread). Set by a canonical switch's commit
   * (the highest stored seq read once per origin, at the first switch after open that adds its records);
   * bounded by the device registry (only registered devices' records reach canonical blocks).
   */
  private readonly maxSeq = new Map<string, number>()
  private epoch_ = 0

  constructor(private readonly p: DeviceRegistryParts) {}

  /**
   * Changes when the canonical registry or seq index may change: at the staging of a canonical switch and
   * again at its commit. Two equal readings with no switch staged in between saw the same head state.
   */
  epoch(): number {
    return this.epoch_
  }

  /** Read the registry, the refusal counts and the evidence count from the DB (once, at open). */
  async load(): Promise<void> {
    const byKey = new Map<string, DeviceEvent[]>()
    for await (const [k, v] of this.p.subs.deviceEvent.iterator()) {
      const key = toHex(k.subarray(0, 32))
      this.seen.add(key)
      const e = decodeEvent(k.subarray(32), v)
      if (!(await this.onCanonical(e))) continue
      let list = byKey.get(key)
      if (!list) byKey.set(key, (list = []))
      list.push(e)
    }
    for (const [key, events] of byKey) {
      const entry = fold(key, events)
      if (entry) this.canonical.set(key, entry)
    }
    for await (const [k, v] of this.p.subs.originRefusals.iterator()) {
      const a = read.array(decodeCbor(v, 'origin refusals'), 2, 'origin refusals')
      this.counts.set(toHex(k), { replays: read.uint(a[0], 'replays'), revoked: read.uint(a[1], 'revoked') })
    }
    for await (const _ of this.p.subs.replayEvidence.keys()) this.evidenceCount++
  }

  private async onCanonical(e: { height: number; blockHash: string }): Promise<boolean> {
    if (e.height > this.p.state.head.height) return false
    const h = await this.p.subs.canonical.get(u64(e.height))
    return h !== undefined && toHex(h) === e.blockHash
  }

  /** Whether `origin` is a device key registered on the canonical chain (revoked or not). */
  known(origin: Uint8Array): boolean {
    return origin.byteLength === 32 && this.canonical.has(toHex(origin))
  }

  /** The canonical registry entry of a device key (hex). */
  get(key: string): DeviceEntry | undefined {
    return this.canonical.get(key.toLowerCase())
  }

  /** Every device of the canonical registry, in registration order. */
  list(): DeviceEntry[] {
    return [...this.canonical.values()].sort((a, b) => a.registered.height - b.registered.height || a.key.localeCompare(b.key))
  }

  /** The registry and sequence index as of the canonical head (synchronous reads). */
  headView(): OriginView {
    return {
      device: (key) => this.canonical.get(key),
      seqTx: (origin, seq) => {
        // By origin (lower-case hex, as OriginCheck passes it: the memoised string), then seq: no key string
        // built per lookup; the switch's commit deletes by the same lower-case origin.
        const top = this.maxSeq.get(origin)
        if (top !== undefined && seq > top) return undefined
        let seqs = this.absentSeqs.get(origin)
        if (seqs?.has(seq) === true) return undefined
        const v = this.p.subs.deviceSeq.getSync(seqKeyOfHex(origin, seq))
        if (v === undefined) {
          if (this.absentCount >= MAX_ABSENT_SEQS) {
            this.absentSeqs.clear()
            this.absentCount = 0
            seqs = undefined
          }
          if (seqs === undefined) this.absentSeqs.set(origin, (seqs = new Set()))
          if (!seqs.has(seq)) {
            seqs.add(seq)
            this.absentCount++
          }
          return undefined
        }
        return toHex(read.bytes(read.array(decodeCbor(v, 'device seq'), 2, 'device seq')[0], 'seq.txId', 32))
      },
    }
  }

  /**
   * A view for the stateless check before the orphan pool: a key with registry events on any stored branch
   * passes (the stateful check at connect decides), other non-members are refused.
   */
  looseView(): OriginView {
    return {
      device: (key) =>
        this.seen.has(key) ? { key, deviceId: '', owner: '', registered: { height: 0, blockHash: '', txId: '' } } : undefined,
      seqTx: () => undefined,
      loose: true,
    }
  }

  /**
   * The registry and sequence index as of `parent` (any branch), prefetched for the keys and seqs `txs`
   * need: events on the parent's ancestry only, so a device registered on another branch is unknown here.
   */
  async viewAt(parent: TreeNode, txs: readonly StrippedTx[]): Promise<OriginView> {
    const { genesis, subs, nodes } = this.p
    const keys = new Set<string>()
    const seqs: Array<{ origin: string; seq: number }> = []
    let lastMember: Uint8Array | undefined
    for (const tx of txs) {
      const kind = tx.body.kind
      if (kind !== 'device' && kind !== 'device-revoke' && lastMember !== undefined && equalBytes(tx.body.origin, lastMember)) continue
      const o = originHex(tx)
      if (isMemberKey(genesis, o)) {
        lastMember = tx.body.origin
        try {
          const info = deviceTxInfo(tx)
          if (info) keys.add(info.key)
        } catch {
          // malformed device tx: the rule refuses it without a lookup
        }
      } else {
        keys.add(o)
        seqs.push({ origin: o, seq: tx.body.seq })
      }
    }
    const isHead = equalBytes(parent.hash, this.p.state.head.hash)
    if (keys.size === 0) return { device: () => undefined, seqTx: () => undefined }
    // The parent's side branch down to the canonical chain (empty when the parent is canonical).
    const side = new Set<string>()
    const sideSeq = new Map<string, string>()
    let cur: TreeNode | undefined = parent
    while (cur && !isHead && !(await nodes.isCanonical(cur))) {
      side.add(toHex(cur.hash))
      if (seqs.length > 0) {
        const { txs: st, ids } = await nodes.loadTxs(cur.hash)
        st.forEach((t, i) => {
          const o = toHex(t.body.origin)
          if (!isMemberKey(genesis, o)) sideSeq.set(`${o}:${t.body.seq}`, toHex(ids[i]))
        })
      }
      cur = await nodes.node(cur.header.prevHash)
    }
    const forkHeight = isHead ? parent.height : cur ? cur.height : -1
    const devices = new Map<string, DeviceEntry | undefined>()
    for (const key of keys) {
      if (isHead) {
        devices.set(key, this.canonical.get(key))
        continue
      }
      if (!this.seen.has(key)) continue
      const events: DeviceEvent[] = []
      for await (const [k, v] of subs.deviceEvent.iterator(prefixRange(fromHex(key)))) {
        const e = decodeEvent(k.subarray(32), v)
        if (side.has(e.blockHash) || (e.height <= forkHeight && (await this.onCanonical(e)))) events.push(e)
      }
      devices.set(key, fold(key, events))
    }
    const hits = seqs.length > 0 ? await subs.deviceSeq.getMany(seqs.map((s) => seqKeyOfHex(s.origin, s.seq))) : []
    const canonicalSeq = new Map<string, string>()
    hits.forEach((v, i) => {
      if (v === undefined) return
      const a = read.array(decodeCbor(v, 'device seq'), 2, 'device seq')
      if (read.uint(a[1], 'seq.height') <= forkHeight) canonicalSeq.set(`${seqs[i].origin}:${seqs[i].seq}`, toHex(read.bytes(a[0], 'seq.txId', 32)))
    })
    return {
      device: (key) => devices.get(key),
      seqTx: (origin, seq) => sideSeq.get(`${origin}:${seq}`) ?? canonicalSeq.get(`${origin}:${seq}`),
    }
  }

  /**
   * The origin rule over a block's txs as of its parent (throws the ConsensusError of the first refusal;
   * replays and revoked-key uses are counted and the replay kept as evidence).
   */
  async checkBlock(txs: readonly StrippedTx[], parent: TreeNode, block: { height: number; blockHash: string }): Promise<void> {
    const check = new OriginCheck(this.p.genesis, await this.viewAt(parent, txs), block)
    for (let i = 0; i < txs.length; i++) {
      const refusal = check.check(txs[i], i)
      if (refusal === undefined) continue
      this.noteRefusal(refusal, txs[i])
      throw refusal
    }
  }

  /** Stage the registry events of a stored block (any branch) into its batch; commit after the write. */
  stageBlock(b: Batch, node: TreeNode, txs: readonly StrippedTx[], ids: readonly Uint8Array[]): () => void {
    const keys: string[] = []
    // The block's events are in the batch, not yet in the DB: stageSwitch of the same block reads them here.
    this.staged = []
    txs.forEach((tx, i) => {
      const info = deviceTxInfo(tx)
      if (!info) return
      const e: DeviceEvent = {
        kind: info.kind === 'device' ? 'register' : 'revoke',
        height: node.height,
        blockHash: toHex(node.hash),
        txId: toHex(ids[i]),
        owner: toHex(tx.body.origin),
        ...(info.kind === 'device' ? { text: info.deviceId } : info.reason !== undefined ? { text: info.reason } : {}),
      }
      put(b, this.p.subs.deviceEvent, eventKey(fromHex(info.key), node.hash), encodeEvent(e))
      keys.push(info.key)
      this.staged.push([info.key, e])
    })
    return () => {
      for (const k of keys) this.seen.add(k)
    }
  }

  /**
   * Stage a canonical switch: device (origin, seq) index entries of the blocks leaving and joining the
   * chain, and the canonical registry entries they change (applied in memory by the returned commit).
   */
  async stageSwitch(b: Batch, sw: DeviceSwitch): Promise<() => void> {
    const { genesis, subs } = this.p
    this.epoch_++
    const touched = new Set<string>()
    // Runs of one member's txs are the common case: one lookup per run, not per tx.
    let lastMember: Uint8Array | undefined
    const member = (tx: StrippedTx): boolean => {
      const origin = tx.body.origin
      if (lastMember !== undefined && equalBytes(origin, lastMember)) return true
      if (!isMemberKey(genesis, originHex(tx))) return false
      lastMember = origin
      return true
    }
    // Old branch first: its deletes are overwritten by the new branch's puts later in the same batch.
    for (const r of sw.removed) {
      r.txs.forEach((tx) => {
        if (!member(tx)) del(b, subs.deviceSeq, seqKey(tx.body.origin, tx.body.seq))
        else if (tx.body.kind === 'device' || tx.body.kind === 'device-revoke') touched.add((deviceTxInfo(tx) as { key: string }).key)
      })
    }
    const addedBlocks = new Set<string>()
    const putSeqs: StrippedTx[] = []
    for (const a of sw.added) {
      addedBlocks.add(toHex(a.node.hash))
      a.txs.forEach((tx, i) => {
        if (!member(tx)) {
          put(b, subs.deviceSeq, seqKey(tx.body.origin, tx.body.seq), encodeSeqValue(a.ids[i], a.node.height))
          putSeqs.push(tx)
        } else if (tx.body.kind === 'device' || tx.body.kind === 'device-revoke') touched.add((deviceTxInfo(tx) as { key: string }).key)
      })
    }
    // The highest seq per origin of the records joining the chain, and for origins without a bound yet the
    // highest already stored (read before this batch is written; nothing else writes meanwhile: write queue).
    const tops = new Map<string, number>()
    for (const tx of putSeqs) {
      const o = originHex(tx)
      const t = tops.get(o)
      if (t === undefined || tx.body.seq > t) tops.set(o, tx.body.seq)
    }
    await Promise.all(
      [...tops].map(async ([o, t]) => {
        if (this.maxSeq.has(o)) return
        for await (const k of subs.deviceSeq.keys({ ...prefixRange(fromHex(o)), reverse: true, limit: 1 })) tops.set(o, Math.max(t, readU64(k.subarray(32, 40))))
      }),
    )
    const forgetAbsent = () => {
      this.epoch_++
      for (const [o, t] of tops) {
        const prev = this.maxSeq.get(o)
        if (prev === undefined || t > prev) this.maxSeq.set(o, t)
      }
      if (this.absentCount > 0) {
        for (const tx of putSeqs) {
          const seqs = this.absentSeqs.get(originHex(tx))
          if (seqs?.delete(tx.body.seq) === true) this.absentCount--
        }
      }
    }
    if (touched.size === 0) return forgetAbsent
    const next = new Map<string, DeviceEntry | undefined>()
    for (const key of touched) {
      const events: DeviceEvent[] = []
      for await (const [k, v] of subs.deviceEvent.iterator(prefixRange(fromHex(key)))) {
        const e = decodeEvent(k.subarray(32), v)
        if (addedBlocks.has(e.blockHash) || (e.height <= sw.fork.height && (await this.onCanonical(e)))) events.push(e)
      }
      for (const [k, e] of this.staged) if (k === key && addedBlocks.has(e.blockHash)) events.push(e)
      next.set(key, fold(key, events))
    }
    return () => {
      forgetAbsent()
      for (const [key, entry] of next) {
        if (entry) this.canonical.set(key, entry)
        else this.canonical.delete(key)
      }
    }
  }

  /**
   * Count a refusal of `tx` (and keep replay evidence: `first` is the tx that used the seq first, when
   * known). Written in the background, coalesced, bounded; never blocks the caller.
   */
  noteRefusal(refusal: OriginRefusal, tx: StrippedTx, first?: StrippedTx): void {
    const reason = REASON[refusal.code]
    this.p.metrics.count('originsRefused')
    if (reason === 'replay') this.p.metrics.count('deviceReplaysRefused')
    if (reason === 'revoked') this.p.metrics.count('revokedKeysRefused')
    const origin = originHex(tx)
    const countable = isMemberKey(this.p.genesis, origin) || this.canonical.has(origin) || this.seen.has(origin)
    if (!countable) {
      this.unknownRefused++
      return
    }
    if (reason === 'replay' || reason === 'revoked') {
      const c = this.counts.get(origin) ?? { replays: 0, revoked: 0 }
      if (reason === 'replay') c.replays++
      else c.revoked++
      this.counts.set(origin, c)
      this.dirty.add(origin)
    }
    if (reason === 'replay' && this.evidenceCount + this.pendingEvidence.length < MAX_REPLAY_EVIDENCE) {
      const meta = refusal.meta as { otherTxId?: string }
      const refusedId = txIdHex(tx)
      const k = new Uint8Array(72)
      k.set(tx.body.origin, 0)
      k.set(u64(tx.body.seq), 32)
      k.set(fromHex(refusedId), 40)
      const v = encodeCbor([
        fromHex(meta.otherTxId ?? '00'.repeat(32)),
        first ? encodeStrippedTx(first) : null,
        encodeStrippedTx(tx),
        Date.now(),
      ] as CborValue)
      this.pendingEvidence.push([k, v])
    }
    this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.flushing) return
    this.flushing = true
    void this.p.serial
      .run(async () => {
        const b = this.p.db.batch()
        for (const o of this.dirty) {
          const c = this.counts.get(o) as OriginRefusals
          put(b, this.p.subs.originRefusals, fromHex(o), encodeCbor([c.replays, c.revoked]))
        }
        this.dirty.clear()
        const ev = this.pendingEvidence
        this.pendingEvidence = []
        for (const [k, v] of ev) put(b, this.p.subs.replayEvidence, k, v)
        this.flushing = false
        if (b.length === 0) return b.close()
        await writeBatch(b, 'storing origin refusals', { sync: true })
        this.evidenceCount += ev.length
      })
      .catch(() => {
        this.flushing = false
      })
  }

  /** Refusals counted per origin (hex). */
  refusals(): Map<string, OriginRefusals> {
    return new Map([...this.counts].map(([k, v]) => [k, { ...v }]))
  }

  /** Refusals of keys that are neither members nor registered devices (not kept per key: anyone can make keys). */
  unknownRefusals(): number {
    return this.unknownRefused
  }

  /** Every piece of replay evidence stored. */
  async evidence(): Promise<ReplayEvidence[]> {
    const out: ReplayEvidence[] = []
    for await (const [k, v] of this.p.subs.replayEvidence.iterator()) {
      const a = read.array(decodeCbor(v, 'replay evidence'), 4, 'replay evidence')
      const refused = decodeStrippedTx(read.bytes(a[2], 'evidence.refused'))
      out.push({
        origin: toHex(k.subarray(0, 32)),
        seq: readU64(k.subarray(32, 40)),
        firstTxId: toHex(read.bytes(a[0], 'evidence.first', 32)),
        ...(a[1] !== null ? { first: decodeStrippedTx(read.bytes(a[1], 'evidence.firstTx')) } : {}),
        refused,
        refusedTxId: toHex(k.subarray(40)),
        at: read.uint(a[3], 'evidence.at'),
      })
    }
    return out
  }
}

/** Codes of `checkIncomingTx` refusals (stable: the ingest API sends them to devices). */
export const INCOMING_TX_CODES = ['INVALID', 'NOT_MEMBER', 'UNKNOWN_DEVICE', 'REVOKED', 'REPLAY', 'BAD_DEVICE_TX'] as const
export type IncomingTxCode = (typeof INCOMING_TX_CODES)[number]

export type IncomingTxResult = { ok: true; duplicate?: true } | { ok: false; code: IncomingTxCode; message: string }

/** What `checkIncomingTx` reads: the node's store (canonical head, mempool, device registry). */
export interface IncomingTxContext {
  store: Pick<BlockTree, 'genesis' | 'mempool' | 'devices' | 'hasCanonicalTx'>
  /** Skip the signature check (the caller verified it, e.g. in the worker pool). */
  signatureChecked?: boolean
}

const INCOMING: Record<OriginRefusal['code'], IncomingTxCode> = {
  ERR_ORIGIN_NOT_MEMBER: 'NOT_MEMBER',
  ERR_ORIGIN_REVOKED: 'REVOKED',
  ERR_ORIGIN_REPLAY: 'REPLAY',
  ERR_DEVICE_TX: 'BAD_DEVICE_TX',
}

/**
 * Check a tx before accepting it (ingest API, HTTP submit), against the canonical head and the pending txs:
 * format, network, size, payload hash and signature (`INVALID`), then the origin rule (`NOT_MEMBER`,
 * `UNKNOWN_DEVICE`, `REVOKED`, `REPLAY`, `BAD_DEVICE_TX`). A tx already on the chain or pending is
 * `{ ok: true, duplicate: true }` (idempotent resend). Refusals are counted (replays kept as evidence).
 * Synchronous; the mempool's `add` applies the same rule again when the tx goes in.
 */
export function checkIncomingTx(tx: Transaction | StrippedTx, ctx: IncomingTxContext): IncomingTxResult {
  const { store } = ctx
  const g = store.genesis
  try {
    validateTx(tx, { network: g.network, maxTxBytes: g.maxTxBytes }, { skipSignature: ctx.signatureChecked === true })
  } catch (err) {
    if (err instanceof ProfichainError) return { ok: false, code: 'INVALID', message: `${err.code}: ${err.message}` }
    throw err
  }
  const id = txIdHex(tx)
  if (store.mempool.has(id) || store.hasCanonicalTx(id)) return { ok: true, duplicate: true }
  const refusal = new OriginCheck(g, store.mempool.originView()).check(tx)
  if (refusal !== undefined) {
    const other = (refusal.meta as { otherTxId?: string }).otherTxId
    store.devices.noteRefusal(refusal, tx, other === undefined ? undefined : store.mempool.get(other))
    // A record from a key that is no member: for the ingest API that is a device nobody registered.
    const code = refusal.code === 'ERR_ORIGIN_NOT_MEMBER' && tx.body.kind === 'record' ? 'UNKNOWN_DEVICE' : INCOMING[refusal.code]
    return { ok: false, code, message: refusal.message }
  }
  if ('payload' in tx && tx.payload !== undefined) {
    try {
      checkDeviceTx(tx)
    } catch (err) {
      if (err instanceof CodecError) return { ok: false, code: 'BAD_DEVICE_TX', message: err.message }
      throw err
    }
  }
  return { ok: true }
}
