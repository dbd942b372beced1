import {
  type BlockHeader,
  blockHash,
  decodeHeader,
  decodeStrippedTx,
  equalBytes,
  leafHash,
  merkleRoot,
  type StrippedTx,
  sha256,
  toHex,
  txId,
  verifyHeaderSignature,
  verifyTxSignature,
} from '@profichain/core'
import type { StoreContext } from './context.js'
import type { DeviceRegistry } from './devices.js'
import {
  decodeBlockMeta,
  decodeLeaves,
  decodeTxIndex,
  META,
  prefixRange,
  readU64,
  txKeyIndex,
  u64,
} from './keys.js'
import type { AuditMismatch, AuditProgress, AuditReport } from './types.js'

interface BlockCheck {
  header?: BlockHeader
  ids: Uint8Array[]
  txs: Array<StrippedTx | undefined>
}

/**
 * Full audit: every stored header is re-hashed and its signatures re-checked, every block's stripped txs
 * re-hashed into leaves and a Merkle root, every tx signature and stored payload re-checked, the canonical
 * chain links and the tx index compared with what the blocks say.
 */
export async function runAudit(
  ctx: StoreContext,
  genesisHash: Uint8Array,
  onProgress?: (p: AuditProgress) => void,
): Promise<AuditReport> {
  const { subs } = ctx
  const report: AuditReport = { blocks: 0, txs: 0, payloads: 0, mismatches: [] }
  const add = (m: AuditMismatch) => report.mismatches.push(m)
  const headHash = await subs.meta.get(META.head)
  const headMeta = headHash && (await subs.blockMeta.get(headHash))
  const headHeight = headMeta ? decodeBlockMeta(headMeta).height : -1
  if (!headHash || !headMeta)
    add({ kind: 'index', message: 'the head pointer is missing or points to an unknown block' })

  // Canonical chain: links, heights, and the tx index entry of every canonical tx.
  const canonical = new Map<string, number>()
  let prev: Uint8Array | undefined
  let expect = 0
  for await (const [k, hash] of subs.canonical.iterator()) {
    const height = readU64(k)
    if (height !== expect) {
      add({
        kind: 'link',
        height: expect,
        message: `canonical chain has no block at height ${expect} (next is ${height})`,
      })
    }
    expect = height + 1
    const hex = toHex(hash)
    canonical.set(hex, height)
    const check = await checkBlock(ctx, hash, report, add)
    const h = check.header
    if (h) {
      if (h.height !== height)
        add({
          kind: 'index',
          height,
          blockHash: hex,
          message: `canonical height ${height} points to a block of height ${h.height}`,
        })
      if (height === 0 && !equalBytes(hash, genesisHash))
        add({
          kind: 'link',
          height,
          blockHash: hex,
          message: `block 0 is not this network's genesis ${toHex(genesisHash)}`,
        })
      if (height > 0 && prev && !equalBytes(h.prevHash, prev)) {
        add({
          kind: 'link',
          height,
          blockHash: hex,
          message: `prevHash ${toHex(h.prevHash)} differs from the canonical block ${toHex(prev)} at height ${height - 1}`,
        })
      }
    }
    const idx = await subs.txIndex.getMany(check.ids)
    check.ids.forEach((id, i) => {
      const v = idx[i]
      const txHex = toHex(id)
      if (v === undefined) {
        add({
          kind: 'index',
          height,
          blockHash: hex,
          txId: txHex,
          message: `canonical tx ${i} is missing from the tx index`,
        })
        return
      }
      try {
        const e = decodeTxIndex(v)
        if (!equalBytes(e.blockHash, hash) || e.height !== height || e.index !== i) {
          add({
            kind: 'index',
            height,
            blockHash: hex,
            txId: txHex,
            message: `tx index says block ${toHex(e.blockHash)} height ${e.height} index ${e.index}, the chain says height ${height} index ${i}`,
          })
        }
      } catch (err) {
        add({
          kind: 'index',
          height,
          blockHash: hex,
          txId: txHex,
          message: `tx index entry does not decode: ${(err as Error).message}`,
        })
      }
    })
    prev = hash
    onProgress?.({ height, headHeight })
  }
  if (expect - 1 !== headHeight)
    add({
      kind: 'index',
      message: `canonical chain ends at height ${expect - 1}, the head is at ${headHeight}`,
    })

  // Side branches: the same block checks, no index.
  for await (const hash of subs.header.keys()) {
    if (canonical.has(toHex(hash))) continue
    await checkBlock(ctx, hash, report, add)
  }

  // Stale index entries: every entry must point into a canonical block.
  for await (const [id, v] of subs.txIndex.iterator()) {
    try {
      const e = decodeTxIndex(v)
      const at = canonical.get(toHex(e.blockHash))
      if (at === undefined)
        add({
          kind: 'index',
          txId: toHex(id),
          blockHash: toHex(e.blockHash),
          message: 'tx index points to a block that is not canonical',
        })
    } catch (err) {
      add({
        kind: 'index',
        txId: toHex(id),
        message: `tx index entry does not decode: ${(err as Error).message}`,
      })
    }
  }
  return report
}

async function checkBlock(
  ctx: StoreContext,
  hash: Uint8Array,
  report: AuditReport,
  add: (m: AuditMismatch) => void,
): Promise<BlockCheck> {
  const { subs } = ctx
  const hex = toHex(hash)
  report.blocks++
  const [rawHeader, rawMeta, rawLeaves] = await Promise.all([
    subs.header.get(hash),
    subs.blockMeta.get(hash),
    subs.leaves.get(hash),
  ])
  let header: BlockHeader | undefined
  let height: number | undefined
  if (rawMeta !== undefined) {
    try {
      height = decodeBlockMeta(rawMeta).height
    } catch (err) {
      add({ kind: 'index', blockHash: hex, message: `block meta does not decode: ${(err as Error).message}` })
    }
  }
  if (rawHeader === undefined) {
    add({ kind: 'header', height, blockHash: hex, message: 'header is missing' })
  } else {
    try {
      header = decodeHeader(rawHeader)
      height = header.height
      const actual = blockHash(header)
      if (!equalBytes(actual, hash))
        add({
          kind: 'header',
          height,
          blockHash: hex,
          message: `stored header hashes to ${toHex(actual)}, not to its block hash`,
        })
      for (const s of header.signatures) {
        if (!verifyHeaderSignature(header, s))
          add({
            kind: 'signature',
            height,
            blockHash: hex,
            message: `header signature by ${toHex(s.signer)} does not verify`,
          })
      }
    } catch (err) {
      add({
        kind: 'header',
        height,
        blockHash: hex,
        message: `header does not decode: ${(err as Error).message}`,
      })
    }
  }
  // Stripped txs, in index order.
  const txs: Array<StrippedTx | undefined> = []
  const ids: Uint8Array[] = []
  const computed: Array<Uint8Array | undefined> = []
  for await (const [k, v] of subs.strippedTx.iterator(prefixRange(hash))) {
    const i = txKeyIndex(k)
    while (txs.length < i) {
      add({ kind: 'tx', height, blockHash: hex, message: `stripped tx ${txs.length} is missing` })
      txs.push(undefined)
      computed.push(undefined)
    }
    report.txs++
    try {
      const tx = decodeStrippedTx(v)
      const id = txId(tx)
      txs.push(tx)
      ids.push(id)
      computed.push(leafHash(id))
      if (!verifyTxSignature(tx))
        add({
          kind: 'signature',
          height,
          blockHash: hex,
          txId: toHex(id),
          message: `signature of tx ${i} does not verify against its origin key`,
        })
    } catch (err) {
      txs.push(undefined)
      computed.push(undefined)
      add({
        kind: 'tx',
        height,
        blockHash: hex,
        message: `stripped tx ${i} does not decode: ${(err as Error).message}`,
      })
    }
  }
  if (header && txs.length !== header.txCount) {
    add({
      kind: 'tx',
      height,
      blockHash: hex,
      message: `header says ${header.txCount} txs, ${txs.length} are stored`,
    })
  }
  let stored: Uint8Array[] | undefined
  if (rawLeaves === undefined)
    add({ kind: 'leaf', height, blockHash: hex, message: 'Merkle leaves are missing' })
  else {
    try {
      stored = decodeLeaves(rawLeaves)
    } catch (err) {
      add({
        kind: 'leaf',
        height,
        blockHash: hex,
        message: `Merkle leaves do not decode: ${(err as Error).message}`,
      })
    }
  }
  const allComputed = computed.every((c) => c !== undefined)
  const computedRoot = allComputed ? merkleRoot(computed as Uint8Array[]) : undefined
  const rootOk =
    header !== undefined && computedRoot !== undefined && equalBytes(computedRoot, header.merkleRoot)
  const leavesRootOk =
    header !== undefined && stored !== undefined && equalBytes(merkleRoot(stored), header.merkleRoot)
  if (header && computedRoot && !rootOk) {
    add({
      kind: 'merkle',
      height,
      blockHash: hex,
      message: `Merkle root of the stored txs ${toHex(computedRoot)} differs from the header's ${toHex(header.merkleRoot)}`,
    })
  }
  if (stored) {
    if (stored.length !== txs.length)
      add({
        kind: 'leaf',
        height,
        blockHash: hex,
        message: `${stored.length} leaves stored for ${txs.length} txs`,
      })
    for (let i = 0; i < Math.min(stored.length, computed.length); i++) {
      const c = computed[i]
      if (c === undefined || equalBytes(c, stored[i])) continue
      const tx = txs[i]
      const txHex = tx ? toHex(txId(tx)) : undefined
      // Which side is wrong: whichever disagrees with the header's Merkle root.
      if (leavesRootOk && !rootOk) {
        add({
          kind: 'tx',
          height,
          blockHash: hex,
          txId: txHex,
          message: `stripped tx ${i} hashes to leaf ${toHex(c)}, the block committed to ${toHex(stored[i])}`,
        })
      } else {
        add({
          kind: 'leaf',
          height,
          blockHash: hex,
          txId: txHex,
          message: `stored leaf ${i} is ${toHex(stored[i])}, tx ${i} hashes to ${toHex(c)}`,
        })
      }
    }
  }
  // Payloads: each must hash to what its tx signed.
  const present = ids.length > 0 ? await subs.payload.getMany(ids) : []
  const byId = new Map<string, StrippedTx>()
  for (const tx of txs) if (tx) byId.set(toHex(txId(tx)), tx)
  present.forEach((p, k) => {
    if (p === undefined) return
    report.payloads++
    const idHex = toHex(ids[k])
    const tx = byId.get(idHex) as StrippedTx
    const ph = sha256(p)
    if (p.byteLength !== tx.body.payloadSize || !equalBytes(ph, tx.body.payloadHash)) {
      add({
        kind: 'payload',
        height,
        blockHash: hex,
        txId: idHex,
        message: `payload hashes to ${toHex(ph)} (${p.byteLength} bytes), the tx signed ${toHex(tx.body.payloadHash)} (${tx.body.payloadSize} bytes)`,
      })
    }
  })
  return { header, ids, txs }
}

export { u64 }

// ---------------------------------------------------------------- origins (issue 14, `audit --origins`)

/** Gap ranges listed per origin at most (the count is always exact). */
const MAX_GAP_RANGES = 20

/** Per origin on the canonical chain: what `profichain audit --origins` answers (docs/devices.md). */
export interface OriginAudit {
  /** Public key, hex. */
  origin: string
  role: 'member' | 'device' | 'unknown'
  /** Member name (genesis) or device id. */
  name?: string
  /** Devices: the owning member's key (hex). */
  owner?: string
  /** Devices: registration and revocation heights. */
  registeredHeight?: number
  revokedHeight?: number
  /** Txs on the canonical chain. */
  records: number
  seqMin?: number
  seqMax?: number
  /** Seqs missing between seqMin and seqMax, and the first few ranges of them [from, to]. */
  gaps: number
  gapRanges: Array<[number, number]>
  /** Txs whose seq is below a seq this origin used earlier on the chain (reordered). */
  reorders: number
  /** Seqs used by more than one tx on the chain (impossible for devices on a valid chain). */
  seqReuse: number
  /** Refused by this node since the store exists: replays and uses of a revoked key. */
  replaysRefused: number
  revokedUseRefused: number
  /** Replay evidence pairs stored for this origin. */
  replayEvidence: number
  /** Device records on the chain outside the registered window (before registration, after revocation). */
  outsideRegistration: number
  /** Evidence of tampering for this origin (refused replays or revoked-key uses, replay evidence, seq reuse or records outside the window of a device). */
  tampering: boolean
}

export interface OriginsReport {
  origins: OriginAudit[]
  /** Refusals of keys that were neither members nor registered devices (not kept per key). */
  unknownRefused: number
  /** Some origin shows evidence of tampering (`profichain audit --origins` then exits 1). */
  tampering: boolean
}

interface OriginAcc {
  records: number
  min: number
  max: number
  seqs: Set<number>
  reorders: number
  reuse: number
  outside: number
}

/** What the origins audit reads besides the DB. */
export interface OriginsAuditParts {
  members: ReadonlyArray<{ publicKey: string; name?: string }>
  devices: Pick<DeviceRegistry, 'list' | 'refusals' | 'evidence' | 'unknownRefusals'>
}

/** Per-origin records, seq range, gaps, reorders, refusals and device windows over the canonical chain. */
export async function runOriginsAudit(ctx: StoreContext, parts: OriginsAuditParts): Promise<OriginsReport> {
  const { subs } = ctx
  const members = new Map(parts.members.map((m) => [m.publicKey.toLowerCase(), m.name]))
  const devices = new Map(parts.devices.list().map((d) => [d.key, d]))
  const acc = new Map<string, OriginAcc>()
  for await (const [k, hash] of subs.canonical.iterator()) {
    const height = readU64(k)
    for await (const v of subs.strippedTx.values(prefixRange(hash))) {
      const tx = decodeStrippedTx(v)
      const o = toHex(tx.body.origin)
      const seq = tx.body.seq
      let a = acc.get(o)
      if (!a) acc.set(o, (a = { records: 0, min: seq, max: seq, seqs: new Set(), reorders: 0, reuse: 0, outside: 0 }))
      a.records++
      if (seq < a.max) a.reorders++
      if (a.seqs.has(seq)) a.reuse++
      else a.seqs.add(seq)
      a.min = Math.min(a.min, seq)
      a.max = Math.max(a.max, seq)
      const d = devices.get(o)
      // Records of a device key count from the block after its registration up to its revoking block.
      if (d && !members.has(o) && (height <= d.registered.height || (d.revoked !== undefined && height > d.revoked.height))) a.outside++
    }
  }
  const refusals = parts.devices.refusals()
  const evidence = new Map<string, number>()
  for (const e of await parts.devices.evidence()) evidence.set(e.origin, (evidence.get(e.origin) ?? 0) + 1)
  const keys = new Set([...acc.keys(), ...devices.keys(), ...refusals.keys(), ...evidence.keys()])
  const origins: OriginAudit[] = []
  for (const o of keys) {
    const a = acc.get(o)
    const d = devices.get(o)
    const isMember = members.has(o)
    const r = refusals.get(o) ?? { replays: 0, revoked: 0 }
    const gapRanges: Array<[number, number]> = []
    let gaps = 0
    if (a) {
      const sorted = [...a.seqs].sort((x, y) => x - y)
      for (let i = 1; i < sorted.length; i++) {
        if (sorted[i] > sorted[i - 1] + 1) {
          gaps += sorted[i] - sorted[i - 1] - 1
          if (gapRanges.length < MAX_GAP_RANGES) gapRanges.push([sorted[i - 1] + 1, sorted[i] - 1])
        }
      }
    }
    const ev = evidence.get(o) ?? 0
    const outside = a?.outside ?? 0
    const reuse = a?.reuse ?? 0
    const entry: OriginAudit = {
      origin: o,
      role: isMember ? 'member' : d ? 'device' : 'unknown',
      records: a?.records ?? 0,
      gaps,
      gapRanges,
      reorders: a?.reorders ?? 0,
      seqReuse: reuse,
      replaysRefused: r.replays,
      revokedUseRefused: r.revoked,
      replayEvidence: ev,
      outsideRegistration: outside,
      // A member's seq reuse is not counted: a member that resyncs from scratch restarts its seqs.
      tampering: r.replays > 0 || r.revoked > 0 || ev > 0 || outside > 0 || (!isMember && reuse > 0),
    }
    const name = isMember ? members.get(o) : d?.deviceId
    if (name !== undefined) entry.name = name
    if (a) {
      entry.seqMin = a.min
      entry.seqMax = a.max
    }
    if (d && !isMember) {
      entry.owner = d.owner
      entry.registeredHeight = d.registered.height
      if (d.revoked) entry.revokedHeight = d.revoked.height
    }
    origins.push(entry)
  }
  origins.sort((x, y) => (x.role === y.role ? x.origin.localeCompare(y.origin) : x.role.localeCompare(y.role)))
  return { origins, unknownRefused: parts.devices.unknownRefusals(), tampering: origins.some((o) => o.tampering) }
}
