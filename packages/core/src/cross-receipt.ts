import { blockHash, decodeHeader } from './block.js'
import { concatBytes, equalBytes, fromBase64, fromHex, isHex, toHex, utf8 } from './bytes.js'
import { ProofError } from './errors.js'
import { sha256 } from './hash.js'
import { blockLogPathOps, blockLogRootOfPath } from './block-log-path.js'
import { inclusionSteps, leafHash, nodeHash } from './merkle.js'
import {
  buildChainpointReceipt,
  buildNativeReceipt,
  type ChainpointOp,
  type ChainpointProof,
  type ChainpointVerification,
  evaluateChainpoint,
  type NativeReceipt,
  type NativeVerification,
  type ReceiptInput,
  verifyChainpointReceipt,
  verifyNativeReceipt,
} from './receipt.js'

/**
 * Cross-chain receipts (DESIGN §11 "Receipts across chains"). A record of network A is in A's block
 * H; A's block log (RFC 6962 tree over A's canonical block hashes, leaf H = leafHash(blockHash_H)) has a
 * checkpoint of size N > H signed by A's validators; partner B cosigned that checkpoint and recorded it in
 * its own chain as an `anchor` tx whose payload is
 *
 *     payload = ANCHOR_PAYLOAD_MAGIC (20 bytes, "profichain-anchor/1\n") ‖ root (32 bytes) ‖ note (UTF-8)
 *
 * (root = the checkpoint's root hash, note = A's signed checkpoint with B's cosignature line). So the
 * Chainpoint ops go on from A's block hash: `l: 00` → block-log leaf → audit path → checkpoint root →
 * `l: magic`, `r: note` (in ≤ 256-byte chunks) → payload hash → B's stripped tx → txId → B's leaf → B's
 * Merkle root → B's block hash, where the second `cal` anchor names B's block.
 */

export const ANCHOR_PAYLOAD_MAGIC = utf8('profichain-anchor/1\n')
/** An anchor payload's note is a signed checkpoint with cosignatures: bounded like c2sp notes. */
export const MAX_ANCHOR_NOTE_BYTES = 16 * 1024
const MAX_OPERAND_BYTES = 256

export interface AnchorPayload {
  root: Uint8Array
  /** A's signed checkpoint note with B's cosignature (text). */
  note: string
}

export function encodeAnchorPayload(p: AnchorPayload): Uint8Array {
  if (p.root.byteLength !== 32) throw new ProofError('ERR_RECEIPT_BUILD', 'anchor payload root must be 32 bytes')
  const note = utf8(p.note)
  if (note.byteLength > MAX_ANCHOR_NOTE_BYTES) throw new ProofError('ERR_RECEIPT_BUILD', `anchor note is longer than ${MAX_ANCHOR_NOTE_BYTES} bytes`)
  return concatBytes(ANCHOR_PAYLOAD_MAGIC, p.root, note)
}

/** Decode an anchor payload; throws ProofError ERR_RECEIPT_FORMAT on anything else. */
export function decodeAnchorPayload(bytes: Uint8Array): AnchorPayload {
  const m = ANCHOR_PAYLOAD_MAGIC.byteLength
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < m + 32 || !equalBytes(bytes.subarray(0, m), ANCHOR_PAYLOAD_MAGIC)) {
    throw new ProofError('ERR_RECEIPT_FORMAT', 'not an anchor payload (magic "profichain-anchor/1\\n" missing)')
  }
  const noteBytes = bytes.subarray(m + 32)
  if (noteBytes.byteLength > MAX_ANCHOR_NOTE_BYTES) throw new ProofError('ERR_RECEIPT_FORMAT', `anchor note is longer than ${MAX_ANCHOR_NOTE_BYTES} bytes`)
  let note: string
  try {
    note = new TextDecoder('utf-8', { fatal: true }).decode(noteBytes)
  } catch {
    throw new ProofError('ERR_RECEIPT_FORMAT', 'anchor note is not UTF-8')
  }
  return { root: bytes.slice(m, m + 32), note }
}

/** The checkpoint body of a signed note (c2sp.org/tlog-checkpoint): origin, size, root; signatures not checked. */
export function checkpointOfNote(note: string): { origin: string; size: number; root: Uint8Array } {
  const end = note.indexOf('\n\n')
  const lines = (end >= 0 ? note.slice(0, end + 1) : note).split('\n')
  const [origin, sizeText, rootText] = lines
  if (!origin || sizeText === undefined || rootText === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) {
    throw new ProofError('ERR_RECEIPT_FORMAT', 'anchor note is not a checkpoint (origin, size, root lines)')
  }
  const size = Number(sizeText)
  let root: Uint8Array
  try {
    root = fromBase64(rootText)
  } catch {
    throw new ProofError('ERR_RECEIPT_FORMAT', 'checkpoint root is not base64')
  }
  if (!Number.isSafeInteger(size) || root.byteLength !== 32) throw new ProofError('ERR_RECEIPT_FORMAT', 'checkpoint size or root malformed')
  return { origin, size, root }
}

/** What B returned (the entanglement) as it enters a receipt of one of A's records. */
export interface EntanglementInput {
  /** B's origin (the nested branch's label is {@link entangleLabel}). */
  partnerOrigin: string
  /** A's block-log tree: leaf index (= the record's block height), size (= checkpoint size), audit path. */
  blockLogIndex: number
  blockLogSize: number
  blockLogPath: Uint8Array[]
  /** B's anchor tx payload (magic ‖ root ‖ note). */
  payload: Uint8Array
  /** B's anchor tx in B's block (its payload is `payload`). */
  anchor: ReceiptInput
}

/**
 * Label of the nested branch of one partner: `entangle-` + the first 8 bytes (hex) of SHA-256(partner
 * origin). Chainpoint labels allow only `[A-Za-z0-9-_.]{0,64}`, so the origin itself cannot be the label.
 */
export function entangleLabel(partnerOrigin: string): string {
  return `entangle-${toHex(sha256(utf8(partnerOrigin))).slice(0, 16)}`
}
const LABEL_RE = /^entangle-[0-9a-f]{16}$/

function chunked(side: 'l' | 'r', bytes: Uint8Array): ChainpointOp[] {
  const out: ChainpointOp[] = []
  for (let i = 0; i < bytes.byteLength; i += MAX_OPERAND_BYTES) {
    const hex = toHex(bytes.subarray(i, i + MAX_OPERAND_BYTES))
    out.push(side === 'l' ? { l: hex } : { r: hex })
  }
  // `l` prepends: the prefix goes in from its last chunk to its first.
  return side === 'l' ? out.reverse() : out
}

/** Check the entanglement's inputs agree with each other and with A's block hash; returns the payload parts. */
function checkEntanglement(aBlockHash: Uint8Array, e: EntanglementInput): AnchorPayload {
  const p = decodeAnchorPayload(e.payload)
  const cp = checkpointOfNote(p.note)
  if (!equalBytes(cp.root, p.root) || cp.size !== e.blockLogSize) throw new ProofError('ERR_RECEIPT_BUILD', 'anchor payload root/size differ from its checkpoint')
  if (!equalBytes(blockLogRootOfPath(aBlockHash, e.blockLogIndex, e.blockLogSize, e.blockLogPath), p.root)) {
    throw new ProofError('ERR_RECEIPT_BUILD', 'block-log audit path does not lead from the block hash to the checkpoint root')
  }
  if (!equalBytes(sha256(e.payload), e.anchor.tx.body.payloadHash) || e.anchor.tx.body.kind !== 'anchor') {
    throw new ProofError('ERR_RECEIPT_BUILD', 'the anchor tx does not carry this payload')
  }
  return p
}

/**
 * Add (or replace, per partner) the nested branch that leads from A's block hash to B's block hash.
 * `base` is A's Chainpoint receipt as built by {@link buildChainpointReceipt}; a new object is returned.
 */
export function buildCrossChainpoint(base: ChainpointProof, e: EntanglementInput): ChainpointProof {
  const [first] = evaluateChainpoint({ ...base, branches: base.branches.slice(0, 1).map((b) => ({ label: b.label, ops: b.ops })) })
  const aHash = fromHex(first.expected)
  const p = checkEntanglement(aHash, e)
  const bOps = buildChainpointReceipt(e.anchor).branches[0].ops
  const ops: ChainpointOp[] = [
    { l: '00' },
    { op: 'sha-256' },
    ...blockLogPathOps(e.blockLogIndex, e.blockLogSize, e.blockLogPath),
    ...chunked('l', ANCHOR_PAYLOAD_MAGIC),
    ...chunked('r', utf8(p.note)),
    { op: 'sha-256' },
    ...bOps,
  ]
  const label = entangleLabel(e.partnerOrigin)
  const [main] = base.branches
  const others = (main as { branches?: Array<{ label: string; ops: ChainpointOp[] }> }).branches?.filter((b) => b.label !== label) ?? []
  return { ...base, branches: [{ ...main, branches: [...others, { label, ops }] }] as unknown as ChainpointProof['branches'] }
}

/** One entanglement in a native receipt: everything to go from A's block to B's signed block offline. */
export interface NativeEntanglement {
  partnerOrigin: string
  blockLogIndex: number
  blockLogSize: number
  blockLogPath: string[]
  /** Hex of B's anchor tx payload (magic ‖ root ‖ note). */
  payload: string
  /** B's native receipt for its anchor tx (B's stripped tx, signed header, inclusion proof). */
  anchor: NativeReceipt
}

/** A native receipt with `entanglements` (one per partner; same partner replaced). */
export function buildCrossNative(base: NativeReceipt, e: EntanglementInput): NativeReceipt & { entanglements: NativeEntanglement[] } {
  checkEntanglement(fromHex(base.blockHash), e)
  const ent: NativeEntanglement = {
    partnerOrigin: e.partnerOrigin,
    blockLogIndex: e.blockLogIndex,
    blockLogSize: e.blockLogSize,
    blockLogPath: e.blockLogPath.map(toHex),
    payload: toHex(e.payload),
    anchor: buildNativeReceipt(e.anchor),
  }
  const prev = ((base as { entanglements?: NativeEntanglement[] }).entanglements ?? []).filter((x) => x.partnerOrigin !== e.partnerOrigin)
  return { ...base, entanglements: [...prev, ent] }
}

export interface EntanglementVerification {
  /** The branch label (Chainpoint: `entangleLabel(origin)`); native receipts name the origin too. */
  label: string
  partnerOrigin?: string
  /** A's checkpoint (from the note in B's anchor payload). */
  checkpoint: { origin: string; size: number; root: string }
  note: string
  /** B's anchor tx and block, as verified by the single-chain verifier. */
  anchor: ChainpointVerification | NativeVerification
}

export interface CrossChainpointVerification {
  /** A's part (the record up to A's block hash). */
  record: ChainpointVerification
  entanglements: EntanglementVerification[]
}

type Branch = { label?: string; ops: ChainpointOp[]; branches?: Branch[] }

function structure(msg: string): ProofError {
  return new ProofError('ERR_RECEIPT_STRUCTURE', `not a Profichain cross-chain receipt structure: ${msg}`)
}

function hexOperand(op: ChainpointOp, side: 'l' | 'r'): Uint8Array | undefined {
  if (op === null || typeof op !== 'object' || !(side in op) || Object.keys(op).length !== 1) return undefined
  const v = (op as Record<string, unknown>)[side]
  if (typeof v !== 'string' || v.length === 0 || !isHex(v)) throw new ProofError('ERR_RECEIPT_FORMAT', `operand is not hex: ${String(v).slice(0, 20)}`)
  const b = fromHex(v)
  if (b.byteLength > MAX_OPERAND_BYTES) throw structure(`an operand longer than ${MAX_OPERAND_BYTES} bytes`)
  return b
}

/**
 * Verify a nested branch from A's block hash to B's block: block-log leaf + audit path (its directions
 * must be those of leaf `blockHeight` in a tree of the checkpoint's size) → root; the payload wrap must be
 * exactly magic ‖ root ‖ note, the note's checkpoint must have that root and a size above the height;
 * the rest must be a valid single-chain receipt of an `anchor` tx (verifyChainpointReceipt).
 * `verifyNote` (optional) checks the note's signatures (A's validators, B's cosignature): core does not
 * know note keys, @profichain/global does.
 */
function verifyBranch(aBlockHash: Uint8Array, aHeight: number, branch: Branch, verifyNote?: (note: string, label: string) => void): EntanglementVerification {
  if (typeof branch?.label !== 'string' || !LABEL_RE.test(branch.label)) throw structure('a nested branch label must be "entangle-<16 hex>"')
  const label = branch.label
  const ops = branch.ops
  if (!Array.isArray(ops)) throw new ProofError('ERR_RECEIPT_FORMAT', 'branch has no ops')
  let i = 0
  const isHash = (op: ChainpointOp | undefined) => op !== null && typeof op === 'object' && 'op' in op && op.op === 'sha-256' && Object.keys(op).length === 1
  const leaf = ops[i] ? hexOperand(ops[i], 'l') : undefined
  if (!leaf || leaf.byteLength !== 1 || leaf[0] !== 0 || !isHash(ops[i + 1])) throw structure('the nested branch must start with the block-log leaf (`l: "00"`, sha-256)')
  i += 2
  let node = leafHash(aBlockHash)
  const steps: Array<{ left: boolean; sibling: Uint8Array }> = []
  for (;;) {
    const l = ops[i] ? hexOperand(ops[i], 'l') : undefined
    if (l && l.byteLength === 33 && l[0] === 1 && isHash(ops[i + 1])) {
      steps.push({ left: true, sibling: l.subarray(1) })
      node = nodeHash(l.subarray(1), node)
      i += 2
      continue
    }
    const r = ops[i] ? hexOperand(ops[i], 'r') : undefined
    const one = r && ops[i + 1] ? hexOperand(ops[i + 1], 'l') : undefined
    if (r && r.byteLength === 32 && one && one.byteLength === 1 && one[0] === 1 && isHash(ops[i + 2])) {
      steps.push({ left: false, sibling: r })
      node = nodeHash(node, r)
      i += 3
      continue
    }
    break
  }
  if (steps.length > 64) throw structure('block-log audit path longer than 64 steps')
  // Payload wrap: `l` chunks (the magic) then `r` chunks (the note), then sha-256.
  const ls: Uint8Array[] = []
  const rs: Uint8Array[] = []
  for (; i < ops.length && !isHash(ops[i]); i++) {
    const l = hexOperand(ops[i], 'l')
    const r = hexOperand(ops[i], 'r')
    if (l && rs.length === 0) ls.push(l)
    else if (r) rs.push(r)
    else throw structure('expected the anchor payload wrap (`l` magic, `r` note) after the block-log path')
  }
  if (i >= ops.length) throw structure('the anchor payload wrap is not hashed')
  i++
  const payload = concatBytes(...ls.reverse(), node, ...rs)
  const p = decodeAnchorPayload(payload)
  if (!equalBytes(concatBytes(...ls), ANCHOR_PAYLOAD_MAGIC)) throw structure('the payload prefix is not exactly the anchor magic')
  const cp = checkpointOfNote(p.note)
  if (!equalBytes(cp.root, node)) throw new ProofError('ERR_RECEIPT_MERKLE', 'the block-log path does not lead to the root of the checkpoint in the anchor')
  if (aHeight >= cp.size) throw new ProofError('ERR_RECEIPT_MERKLE', `block ${aHeight} is not under a checkpoint of size ${cp.size}`)
  const expected = inclusionSteps(aHeight, cp.size, steps.map((s) => s.sibling))
  if (expected.some((s, k) => s.siblingOnLeft !== steps[k].left)) throw new ProofError('ERR_RECEIPT_MERKLE', `the block-log path is not the path of leaf ${aHeight} in a tree of ${cp.size}`)
  verifyNote?.(p.note, label)
  const payloadHash = sha256(payload)
  const rest = ops.slice(i)
  const anchor = verifyChainpointReceipt(
    { '@context': 'https://w3id.org/chainpoint/v5', type: 'Chainpoint', hash: toHex(payloadHash), proof_id: '', hash_received: '', branches: [{ label: branch.label, ops: rest }] },
    { payloadHash },
  )
  if (anchor.tx.body.kind !== 'anchor') throw structure(`the partner's tx is a "${anchor.tx.body.kind}", not an anchor`)
  if (branch.branches !== undefined) throw structure('an entanglement branch has no further branches')
  return { label, checkpoint: { origin: cp.origin, size: cp.size, root: toHex(cp.root) }, note: p.note, anchor }
}

/**
 * Verify a Chainpoint receipt with cross-chain branches: A's part exactly as {@link verifyChainpointReceipt},
 * then every nested `entangle-…` branch (see verifyBranch). Neither block hash is checked against a
 * chain: compare them with each network's nodes (the two `cal` anchors) or use the native receipt.
 */
export function verifyCrossChainpoint(
  proof: ChainpointProof,
  opts: { payload?: Uint8Array; payloadHash?: Uint8Array; verifyNote?: (note: string, label: string) => void } = {},
): CrossChainpointVerification {
  const main = (proof?.branches?.[0] ?? {}) as Branch
  const record = verifyChainpointReceipt({ ...proof, branches: [{ label: main.label ?? '', ops: main.ops }] } as ChainpointProof, opts)
  const nested = main.branches ?? []
  if (!Array.isArray(nested)) throw structure('nested branches must be an array')
  if (nested.length > 64) throw structure('more than 64 nested branches')
  const aHash = fromHex(record.blockHash)
  return { record, entanglements: nested.map((b) => verifyBranch(aHash, record.height, b, opts.verifyNote)) }
}

export interface CrossNativeVerification extends NativeVerification {
  entanglements: EntanglementVerification[]
}

/**
 * Verify a native receipt with `entanglements` offline: A's part with A's validators, then per entanglement
 * the block-log path from A's block hash to the checkpoint root in B's anchor payload, the note (through
 * `verifyNote`: A's validator signatures and B's cosignature) and B's anchor receipt with B's validators
 * (`partnerValidators(origin)`; an entanglement whose partner is unknown fails).
 */
export function verifyCrossNative(
  r: NativeReceipt & { entanglements?: NativeEntanglement[] },
  opts: {
    payload?: Uint8Array
    payloadHash?: Uint8Array
    validators?: Uint8Array[]
    partnerValidators?: (origin: string) => Uint8Array[] | undefined
    /** Called with the partner's origin (native receipts name it). */
    verifyNote?: (note: string, partnerOrigin: string) => void
  } = {},
): CrossNativeVerification {
  const a = verifyNativeReceipt(r, opts)
  const list = r.entanglements ?? []
  if (!Array.isArray(list) || list.length > 64) throw new ProofError('ERR_RECEIPT_FORMAT', 'entanglements must be an array of at most 64')
  const aHash = blockHash(a.header)
  const entanglements = list.map((e): EntanglementVerification => {
    let path: Uint8Array[]
    let payload: Uint8Array
    try {
      path = e.blockLogPath.map((x) => fromHex(x))
      payload = fromHex(e.payload)
    } catch {
      throw new ProofError('ERR_RECEIPT_FORMAT', 'entanglement path/payload is not hex')
    }
    if (typeof e.partnerOrigin !== 'string') throw new ProofError('ERR_RECEIPT_FORMAT', 'entanglement partnerOrigin must be a string')
    const isIndex = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0
    if (!isIndex(e.blockLogIndex) || !isIndex(e.blockLogSize)) {
      throw new ProofError('ERR_RECEIPT_FORMAT', 'entanglement blockLogIndex and blockLogSize must be non-negative integers')
    }
    if (e.blockLogIndex !== a.height) throw new ProofError('ERR_RECEIPT_MERKLE', `entanglement leaf ${e.blockLogIndex} is not the record's block ${a.height}`)
    const p = decodeAnchorPayload(payload)
    const cp = checkpointOfNote(p.note)
    if (!equalBytes(cp.root, p.root) || cp.size !== e.blockLogSize) throw new ProofError('ERR_RECEIPT_FORMAT', 'anchor payload root/size differ from its checkpoint')
    let root: Uint8Array
    try {
      root = blockLogRootOfPath(aHash, e.blockLogIndex, e.blockLogSize, path)
    } catch (err) {
      throw new ProofError('ERR_RECEIPT_MERKLE', `block-log path: ${(err as Error).message}`)
    }
    if (!equalBytes(root, p.root)) throw new ProofError('ERR_RECEIPT_MERKLE', 'the block-log path does not lead to the checkpoint root')
    opts.verifyNote?.(p.note, e.partnerOrigin)
    const validators = opts.partnerValidators?.(e.partnerOrigin)
    if (opts.partnerValidators && !validators) throw new ProofError('ERR_RECEIPT_NOT_VALIDATOR', `no genesis given for partner ${e.partnerOrigin}`)
    const anchor = verifyNativeReceipt(e.anchor, { payload, validators })
    if (anchor.tx.body.kind !== 'anchor') throw new ProofError('ERR_RECEIPT_STRUCTURE', `the partner's tx is a "${anchor.tx.body.kind}", not an anchor`)
    return { label: entangleLabel(e.partnerOrigin), partnerOrigin: e.partnerOrigin, checkpoint: { origin: cp.origin, size: cp.size, root: toHex(cp.root) }, note: p.note, anchor }
  })
  return { ...a, entanglements }
}

/** Decode a signed header from a native receipt (helper for callers that show B's block). */
export function headerOfNative(r: NativeReceipt): ReturnType<typeof decodeHeader> {
  return decodeHeader(fromHex(r.header))
}
