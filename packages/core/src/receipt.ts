import { blockHash, type BlockHeader, decodeHeader, encodeHeader, encodeHeaderBody, type HeaderBody, producerSignature, verifyHeaderSignature } from './block.js'
import { equalBytes, fromHex, isHex, toHex } from './bytes.js'
import { ProofError } from './errors.js'
import { sha256 } from './hash.js'
import { inclusionSteps, leafHash, nodeHash, rootFromInclusionProof } from './merkle.js'
import { decodeStrippedTx, encodeStrippedTx, type StrippedTx, txId, verifyTxSignature } from './transaction.js'

/**
 * Receipts (DESIGN §4). One builder, two forms:
 * - Chainpoint v5 JSON: ops rebuild payload hash → txId → RFC 6962 leaf → root → block hash.
 * - Native: the same proof plus the stripped tx and the signed header, verifiable offline with genesis alone.
 */

export const CHAINPOINT_CONTEXT = 'https://w3id.org/chainpoint/v5'
export const NATIVE_RECEIPT_TYPE = 'ProfichainReceipt'
export const NATIVE_RECEIPT_VERSION = 1
/** Chainpoint caps each `l`/`r` operand at 512 characters, i.e. 256 bytes of hex. */
const MAX_OPERAND_BYTES = 256

export type ChainpointOp = { l: string } | { r: string } | { op: 'sha-256' } | { anchors: ChainpointAnchor[] }

export interface ChainpointAnchor {
  type: 'cal'
  anchor_id: string
  uris: string[]
}

export interface ChainpointProof {
  '@context': typeof CHAINPOINT_CONTEXT
  type: 'Chainpoint'
  hash: string
  proof_id: string
  hash_received: string
  branches: Array<{ label: string; ops: ChainpointOp[] }>
}

export interface NativeReceipt {
  type: typeof NATIVE_RECEIPT_TYPE
  version: number
  network: string
  height: number
  blockHash: string
  txId: string
  payloadHash: string
  /** Hex of the canonical stripped-tx encoding. */
  tx: string
  leafIndex: number
  treeSize: number
  auditPath: string[]
  /** Hex of the canonical signed-header encoding. */
  header: string
  anchorUri: string
}

export interface ReceiptInput {
  tx: StrippedTx
  header: BlockHeader
  leafIndex: number
  auditPath: Uint8Array[]
  /** Base URL of a node serving `/networks/<id>/blocks/<height>/hash`, e.g. http://127.0.0.1:8545 */
  anchorBase: string
}

/** The URI in every anchor: returns the canonical block hash at that height as plain hex. */
export function anchorUri(base: string, network: string, height: number): string {
  return `${base.replace(/\/+$/, '')}/networks/${encodeURIComponent(network)}/blocks/${height}/hash`
}

/**
 * Byte offset of a 32-byte field inside an encoding: encode again with that field flipped in every byte
 * (same length, so nothing moves) and find the first byte that differs. Exact even when another field
 * holds the same 32 bytes.
 */
function fieldOffset(enc: Uint8Array, flipped: Uint8Array): number {
  for (let i = 0; i < enc.byteLength; i++) if (enc[i] !== flipped[i]) return i
  throw new ProofError('ERR_RECEIPT_BUILD', 'internal: field not found in its encoding')
}

function flip(b: Uint8Array): Uint8Array {
  return b.map((x) => x ^ 0xff)
}

/**
 * Offset of `payloadHash` in `encodeStrippedTx(tx)`. The body's fields before it have one encoding each
 * whatever surrounds them, so the offset follows from their sizes (0x82, the body's array head 0x89, the
 * six fields before it, the 2-byte head of the 32-byte string); the bytes found there are compared with
 * the payload hash, and anything unexpected falls back to the flip-and-compare search. Re-encoding the
 * tx with the field flipped for every receipt was a third of the receipt builder's time.
 */
export function payloadHashOffset(tx: StrippedTx, enc: Uint8Array): number {
  const b = tx.body
  const at =
    2 + uintSize(b.version) + textSize(b.network) + textSize(b.kind) + 2 + b.origin.byteLength + uintSize(b.seq) + uintSize(b.timestamp) + 2
  const h = b.payloadHash
  if (enc[0] === 0x82 && enc[1] === 0x89 && h.byteLength === 32 && at + 32 <= enc.byteLength && equalBytes(enc.subarray(at, at + 32), h) && enc[at - 2] === 0x58 && enc[at - 1] === 0x20) {
    return at
  }
  return fieldOffset(enc, encodeStrippedTx({ ...tx, body: { ...b, payloadHash: flip(b.payloadHash) } }))
}

/** Bytes of the CBOR head of an unsigned integer / a length. */
function uintSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9
}

function textSize(s: string): number {
  const n = Buffer.byteLength(s)
  return uintSize(n) + n
}

/** Offset of `merkleRoot` in `encodeHeaderBody(h)`. */
function merkleRootOffset(h: HeaderBody, enc: Uint8Array): number {
  return fieldOffset(enc, encodeHeaderBody({ ...h, merkleRoot: flip(h.merkleRoot) }))
}

function split(whole: Uint8Array, at: number): { prefix: Uint8Array; suffix: Uint8Array } {
  return { prefix: whole.subarray(0, at), suffix: whole.subarray(at + 32) }
}

/** Ops computing SHA-256(prefix ‖ x ‖ suffix), chunked to the 256-byte operand limit. */
function wrapOps(prefix: Uint8Array, suffix: Uint8Array): ChainpointOp[] {
  const ops: ChainpointOp[] = []
  // `l` prepends, so the prefix goes in from its last chunk to its first.
  const starts: number[] = []
  for (let i = 0; i < prefix.byteLength; i += MAX_OPERAND_BYTES) starts.push(i)
  for (const i of starts.reverse()) ops.push({ l: toHex(prefix.subarray(i, i + MAX_OPERAND_BYTES)) })
  for (let i = 0; i < suffix.byteLength; i += MAX_OPERAND_BYTES) ops.push({ r: toHex(suffix.subarray(i, i + MAX_OPERAND_BYTES)) })
  ops.push({ op: 'sha-256' })
  return ops
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** Deterministic ULID: 48-bit time (the tx timestamp) + 80 bits taken from the txId. */
export function ulidFor(timestampMs: number, entropy: Uint8Array): string {
  const t = Math.max(0, Math.min(timestampMs, 2 ** 48 - 1))
  if (!Number.isSafeInteger(t) || entropy.byteLength < 10) return ulidForBig(timestampMs, entropy)
  // The 128 bits big-endian (6 bytes of time, 10 of entropy), read 5 at a time after 2 leading zero bits:
  // the same string as the BigInt form below, without BigInt arithmetic (a tenth of a receipt's cost).
  const bits = new Uint8Array(16)
  const hi = Math.floor(t / 0x100000000)
  const lo = t >>> 0
  bits[0] = hi >>> 8
  bits[1] = hi & 0xff
  bits[2] = lo >>> 24
  bits[3] = (lo >>> 16) & 0xff
  bits[4] = (lo >>> 8) & 0xff
  bits[5] = lo & 0xff
  for (let i = 0; i < 10; i++) bits[6 + i] = entropy[i]
  let out = ''
  for (let c = 0; c < 26; c++) {
    let v = 0
    for (let k = 0; k < 5; k++) {
      const q = 5 * c - 2 + k
      v = (v << 1) | (q < 0 ? 0 : (bits[q >> 3] >> (7 - (q & 7))) & 1)
    }
    out += CROCKFORD[v]
  }
  return out
}

/** The ULID with BigInt arithmetic (the reference form; used for inputs the fast form does not take). */
export function ulidForBig(timestampMs: number, entropy: Uint8Array): string {
  let n = BigInt(Math.max(0, Math.min(timestampMs, 2 ** 48 - 1)))
  for (let i = 0; i < 10; i++) n = (n << 8n) | BigInt(entropy[i])
  let out = ''
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(n & 31n)] + out
    n >>= 5n
  }
  return out
}

// A block's receipts mostly share their records' second: the last second's text is kept (a Date and two strings
// per receipt otherwise). Same text as before for every ms: it depends on floor(ms / 1000) only.
let lastIsoSecond = Number.NaN
let lastIsoText = ''

function isoSeconds(ms: number): string {
  const sec = Math.floor(ms / 1000)
  if (sec === lastIsoSecond) return lastIsoText
  const text = `${new Date(ms).toISOString().slice(0, 19)}Z`
  lastIsoSecond = sec
  lastIsoText = text
  return text
}

/** What the caller of a receipt builder has already proven. */
export interface ReceiptBuildOptions {
  /**
   * The audit path leads from this tx's leaf to `header.merkleRoot` (e.g. it was taken from Merkle levels
   * whose root was compared with the header, and the leaf at `leafIndex` is this tx's): not walked again.
   */
  pathChecked?: boolean
  /**
   * Hex of an audit-path node (same result as `toHex`): a block's receipts share the upper nodes of its
   * tree, so a caller building them all can convert each node once.
   */
  hex?: (node: Uint8Array) => string
}

function checkInputs(input: ReceiptInput, opts: ReceiptBuildOptions): Uint8Array {
  const id = txId(input.tx)
  if (opts.pathChecked === true) return id
  const root = rootFromInclusionProof(leafHash(id), input.leafIndex, input.header.txCount, input.auditPath)
  if (!equalBytes(root, input.header.merkleRoot)) {
    throw new ProofError('ERR_RECEIPT_BUILD', 'audit path does not lead to the header Merkle root', { txId: toHex(id) })
  }
  return id
}

/** Chainpoint v5 receipt whose ops evaluate to the block hash (the `cal` anchor's expected value). */
export function buildChainpointReceipt(input: ReceiptInput, opts: ReceiptBuildOptions = {}): ChainpointProof {
  const id = checkInputs(input, opts)
  const { tx, header } = input
  const txEnc = encodeStrippedTx(tx)
  const txWrap = split(txEnc, payloadHashOffset(tx, txEnc))
  const ops: ChainpointOp[] = [...wrapOps(txWrap.prefix, txWrap.suffix), { l: '00' }, { op: 'sha-256' }]
  const hex = opts.hex ?? toHex
  for (const step of inclusionSteps(input.leafIndex, header.txCount, input.auditPath)) {
    if (step.siblingOnLeft) ops.push({ l: `01${hex(step.sibling)}` }, { op: 'sha-256' })
    else ops.push({ r: hex(step.sibling) }, { l: '01' }, { op: 'sha-256' })
  }
  for (const op of headerOps(header)) ops.push({ ...op })
  ops.push({ anchors: [{ type: 'cal', anchor_id: String(header.height), uris: [anchorUri(input.anchorBase, header.network, header.height)] }] })
  return {
    '@context': CHAINPOINT_CONTEXT,
    type: 'Chainpoint',
    hash: toHex(tx.body.payloadHash),
    proof_id: ulidFor(tx.body.timestamp, id),
    hash_received: isoSeconds(tx.body.timestamp),
    branches: [{ label: 'profichain', ops }],
  }
}

/**
 * `JSON.stringify(buildChainpointReceipt(input, opts))`, written directly: the same string, without the op
 * objects and the generic stringify (a third of a receipt's cost where receipts travel as JSON text, e.g.
 * the ingest API's receipt frames).
 */
export function chainpointReceiptJson(input: ReceiptInput, opts: ReceiptBuildOptions = {}): string {
  const id = checkInputs(input, opts)
  const { tx, header } = input
  const txEnc = encodeStrippedTx(tx)
  const txWrap = split(txEnc, payloadHashOffset(tx, txEnc))
  const hex = opts.hex ?? toHex
  let ops = wrapOpsJson(txWrap.prefix, txWrap.suffix)
  ops += ',{"l":"00"},{"op":"sha-256"}'
  for (const step of inclusionSteps(input.leafIndex, header.txCount, input.auditPath)) {
    if (step.siblingOnLeft) ops += `,{"l":"01${hex(step.sibling)}"},{"op":"sha-256"}`
    else ops += `,{"r":"${hex(step.sibling)}"},{"l":"01"},{"op":"sha-256"}`
  }
  ops += `,${headerOpsJson(header)},${anchorJson(header, input.anchorBase)}`
  return (
    `{"@context":${CONTEXT_JSON},"type":"Chainpoint","hash":"${toHex(tx.body.payloadHash)}",` +
    `"proof_id":${JSON.stringify(ulidFor(tx.body.timestamp, id))},"hash_received":${JSON.stringify(isoSeconds(tx.body.timestamp))},` +
    `"branches":[{"label":"profichain","ops":[${ops}]}]}`
  )
}

/** `wrapOps` as JSON text (the ops joined by commas), written directly: no op objects, arrays or joins. */
function wrapOpsJson(prefix: Uint8Array, suffix: Uint8Array): string {
  let out = ''
  // `l` prepends, so the prefix goes in from its last chunk to its first (as wrapOps).
  const last = prefix.byteLength === 0 ? -1 : Math.floor((prefix.byteLength - 1) / MAX_OPERAND_BYTES) * MAX_OPERAND_BYTES
  for (let i = last; i >= 0; i -= MAX_OPERAND_BYTES) out += `{"l":"${toHex(prefix.subarray(i, i + MAX_OPERAND_BYTES))}"},`
  for (let i = 0; i < suffix.byteLength; i += MAX_OPERAND_BYTES) out += `{"r":"${toHex(suffix.subarray(i, i + MAX_OPERAND_BYTES))}"},`
  return `${out}{"op":"sha-256"}`
}

const CONTEXT_JSON = JSON.stringify(CHAINPOINT_CONTEXT)

// The anchor op is the same for every receipt of a block (per anchor base): its JSON text once per header.
const anchorJsonCache = new WeakMap<BlockHeader, { base: string; json: string }>()

function anchorJson(header: BlockHeader, base: string): string {
  const hit = anchorJsonCache.get(header)
  if (hit !== undefined && hit.base === base) return hit.json
  const json = JSON.stringify({ anchors: [{ type: 'cal', anchor_id: String(header.height), uris: [anchorUri(base, header.network, header.height)] }] })
  anchorJsonCache.set(header, { base, json })
  return json
}

const headerOpsJsonCache = new WeakMap<BlockHeader, string>()

function headerOpsJson(header: BlockHeader): string {
  let json = headerOpsJsonCache.get(header)
  if (json === undefined) {
    json = headerOps(header)
      .map((op) => JSON.stringify(op))
      .join(',')
    headerOpsJsonCache.set(header, json)
  }
  return json
}

// The header's ops are the same for every receipt of a block: built once per header object (headers are
// treated as immutable, like txs). Callers get copies of the op objects.
const headerOpsCache = new WeakMap<BlockHeader, ChainpointOp[]>()

function headerOps(header: BlockHeader): ChainpointOp[] {
  let ops = headerOpsCache.get(header)
  if (ops === undefined) {
    const enc = encodeHeaderBody(header)
    const wrap = split(enc, merkleRootOffset(header, enc))
    ops = wrapOps(wrap.prefix, wrap.suffix)
    headerOpsCache.set(header, ops)
  }
  return ops
}

export function buildNativeReceipt(input: ReceiptInput, opts: ReceiptBuildOptions = {}): NativeReceipt {
  const id = checkInputs(input, opts)
  const { tx, header } = input
  return {
    type: NATIVE_RECEIPT_TYPE,
    version: NATIVE_RECEIPT_VERSION,
    network: header.network,
    height: header.height,
    blockHash: toHex(blockHash(header)),
    txId: toHex(id),
    payloadHash: toHex(tx.body.payloadHash),
    tx: toHex(encodeStrippedTx(tx)),
    leafIndex: input.leafIndex,
    treeSize: header.txCount,
    auditPath: input.auditPath.map(toHex),
    header: toHex(encodeHeader(header)),
    anchorUri: anchorUri(input.anchorBase, header.network, header.height),
  }
}

/** Evaluate Chainpoint ops (sha-256 only, as we emit) from `hash`; returns each anchor with its expected value. */
export function evaluateChainpoint(proof: ChainpointProof): Array<{ anchor: ChainpointAnchor; expected: string }> {
  if (proof?.['@context'] !== CHAINPOINT_CONTEXT || proof.type !== 'Chainpoint') {
    throw new ProofError('ERR_RECEIPT_FORMAT', 'not a Chainpoint v5 proof')
  }
  if (typeof proof.hash !== 'string' || !isHex(proof.hash, 32)) throw new ProofError('ERR_RECEIPT_FORMAT', 'proof.hash must be 64 hex chars')
  let state = fromHex(proof.hash)
  const out: Array<{ anchor: ChainpointAnchor; expected: string }> = []
  for (const branch of proof.branches ?? []) {
    for (const op of branch.ops ?? []) {
      if ('l' in op || 'r' in op) {
        const v = 'r' in op ? op.r : (op as { l: string }).l
        if (typeof v !== 'string' || !isHex(v) || v.length === 0) throw new ProofError('ERR_RECEIPT_FORMAT', `operand is not hex: ${String(v).slice(0, 20)}`)
        state = 'r' in op ? Buffer.concat([state, fromHex(v)]) : Buffer.concat([fromHex(v), state])
      } else if ('op' in op) {
        if (op.op !== 'sha-256') throw new ProofError('ERR_RECEIPT_FORMAT', `unsupported op ${String(op.op)}`)
        state = sha256(state)
      } else if ('anchors' in op) {
        for (const a of op.anchors) out.push({ anchor: a, expected: toHex(state) })
      } else throw new ProofError('ERR_RECEIPT_FORMAT', 'empty op')
    }
  }
  if (out.length === 0) throw new ProofError('ERR_RECEIPT_FORMAT', 'proof has no anchor')
  return out
}

export interface NativeVerification {
  txId: string
  blockHash: string
  height: number
  network: string
  producer: string
  signers: string[]
  tx: StrippedTx
  header: BlockHeader
}

/**
 * Verify a native receipt offline. Checks (each failure a ProofError with its own code): the payload
 * (or its hash) matches, the tx signature, the inclusion proof against the header root, the block hash,
 * the producer signature, and — when `validators` is given — that the producer is one of them.
 */
export function verifyNativeReceipt(
  r: NativeReceipt,
  opts: { payload?: Uint8Array; payloadHash?: Uint8Array; validators?: Uint8Array[] } = {},
): NativeVerification {
  if (r?.type !== NATIVE_RECEIPT_TYPE || r.version !== NATIVE_RECEIPT_VERSION) {
    throw new ProofError('ERR_RECEIPT_FORMAT', `not a ${NATIVE_RECEIPT_TYPE} v${NATIVE_RECEIPT_VERSION}`)
  }
  let tx: StrippedTx
  let header: BlockHeader
  try {
    tx = decodeStrippedTx(fromHex(r.tx))
    header = decodeHeader(fromHex(r.header))
  } catch (err) {
    throw new ProofError('ERR_RECEIPT_FORMAT', `receipt tx/header do not decode: ${(err as Error).message}`)
  }
  // Every receipt field must agree with the signed data, or a reader of the JSON could be misled.
  if (r.payloadHash !== toHex(tx.body.payloadHash)) {
    throw new ProofError('ERR_RECEIPT_PAYLOAD', `receipt payloadHash ${String(r.payloadHash)} differs from the signed ${toHex(tx.body.payloadHash)}`)
  }
  if (typeof r.anchorUri !== 'string' || !r.anchorUri.endsWith(anchorUri('', header.network, header.height))) {
    throw new ProofError('ERR_RECEIPT_ANCHOR', `anchor URI ${String(r.anchorUri)} does not name block ${header.height} of network ${header.network}`)
  }
  const expectPayloadHash = opts.payload ? sha256(opts.payload) : opts.payloadHash
  if (expectPayloadHash && !equalBytes(expectPayloadHash, tx.body.payloadHash)) {
    throw new ProofError('ERR_RECEIPT_PAYLOAD', `payload hash ${toHex(expectPayloadHash)} differs from the signed ${toHex(tx.body.payloadHash)}: the data was changed`)
  }
  if (opts.payload && opts.payload.byteLength !== tx.body.payloadSize) {
    throw new ProofError('ERR_RECEIPT_PAYLOAD', `payload is ${opts.payload.byteLength} bytes, signed size is ${tx.body.payloadSize}`)
  }
  if (!verifyTxSignature(tx)) throw new ProofError('ERR_RECEIPT_TX_SIGNATURE', 'tx signature does not verify against its origin key')
  const id = txId(tx)
  if (toHex(id) !== r.txId) throw new ProofError('ERR_RECEIPT_TXID', `txId ${toHex(id)} differs from the receipt's ${r.txId}`)
  if (r.treeSize !== header.txCount) throw new ProofError('ERR_RECEIPT_TREE_SIZE', `tree size ${r.treeSize} differs from header tx count ${header.txCount}`)
  let path: Uint8Array[]
  try {
    path = r.auditPath.map(fromHex)
  } catch {
    throw new ProofError('ERR_RECEIPT_FORMAT', 'audit path is not hex')
  }
  const root = rootFromInclusionProof(leafHash(id), r.leafIndex, header.txCount, path)
  if (!equalBytes(root, header.merkleRoot)) throw new ProofError('ERR_RECEIPT_MERKLE', 'inclusion proof does not lead to the header Merkle root')
  const bh = toHex(blockHash(header))
  if (bh !== r.blockHash) throw new ProofError('ERR_RECEIPT_BLOCK_HASH', `block hash ${bh} differs from the receipt's ${r.blockHash}`)
  if (header.height !== r.height || header.network !== r.network) throw new ProofError('ERR_RECEIPT_HEADER', 'height or network differ from the header')
  const prod = producerSignature(header)
  if (!prod) throw new ProofError('ERR_RECEIPT_PRODUCER_SIGNATURE', 'header carries no valid producer signature')
  for (const s of header.signatures) {
    if (s === prod) continue // already verified by producerSignature
    if (!verifyHeaderSignature(header, s)) throw new ProofError('ERR_RECEIPT_SIGNATURE', `invalid header signature by ${toHex(s.signer)}`)
  }
  if (opts.validators && !opts.validators.some((v) => equalBytes(v, header.producer))) {
    throw new ProofError('ERR_RECEIPT_NOT_VALIDATOR', `producer ${toHex(header.producer)} is not a validator of this network's genesis`)
  }
  return {
    txId: r.txId,
    blockHash: bh,
    height: header.height,
    network: header.network,
    producer: toHex(header.producer),
    signers: header.signatures.map((s) => toHex(s.signer)),
    tx,
    header,
  }
}

export interface ChainpointVerification {
  txId: string
  blockHash: string
  height: number
  network: string
  producer: string
  /** The anchor's `anchor_id` (equal to `String(height)`). */
  anchorId: string
  /** The anchor's URIs (each names this block of this network). */
  anchorUris: string[]
  tx: StrippedTx
  header: HeaderBody
}

type Segment = ChainpointOp[]

function structure(message: string): ProofError {
  return new ProofError('ERR_RECEIPT_STRUCTURE', `not a Profichain receipt structure: ${message}`)
}

function operand(op: ChainpointOp, side: 'l' | 'r'): Uint8Array | undefined {
  if (!(side in op)) return undefined
  const v = (op as Record<string, unknown>)[side]
  if (typeof v !== 'string' || v.length === 0 || !isHex(v)) throw new ProofError('ERR_RECEIPT_FORMAT', `operand is not hex: ${String(v).slice(0, 20)}`)
  const b = fromHex(v)
  if (b.byteLength > MAX_OPERAND_BYTES) throw structure(`an operand longer than ${MAX_OPERAND_BYTES} bytes`)
  return b
}

/** A wrap segment (`l`… then `r`…): the prefix (its `l` chunks came last-first) and the suffix. */
function unwrap(seg: Segment, what: string): { prefix: Uint8Array; suffix: Uint8Array } {
  const ls: Uint8Array[] = []
  const rs: Uint8Array[] = []
  for (const op of seg) {
    const l = operand(op, 'l')
    const r = operand(op, 'r')
    if (l && rs.length === 0 && Object.keys(op).length === 1) ls.push(l)
    else if (r && Object.keys(op).length === 1) rs.push(r)
    else throw structure(`${what}: expected \`l\` operands then \`r\` operands`)
  }
  return { prefix: Buffer.concat(ls.reverse()), suffix: Buffer.concat(rs) }
}

/**
 * Verify a Chainpoint receipt as Profichain builds it (docs/protocol.md §6.1), not just evaluate it: the
 * ops must be exactly payload hash → stripped tx → leaf → audit path → root → header body → block hash →
 * one `cal` anchor, the stripped tx and header body must decode (canonical CBOR) with the hash and root
 * in their own fields, the tx signature must verify, and `anchor_id` and every URI must name the header's
 * height and network. So nothing but a payload can start a proof (a header body or a stripped tx as
 * the "file" fails), and an anchor cannot claim another block. Does NOT check that the block is on any
 * chain: compare `blockHash` with a node (the anchor URI) for that.
 */
export function verifyChainpointReceipt(
  proof: ChainpointProof,
  opts: { payload?: Uint8Array; payloadHash?: Uint8Array } = {},
): ChainpointVerification {
  if (proof?.['@context'] !== CHAINPOINT_CONTEXT || proof.type !== 'Chainpoint') {
    throw new ProofError('ERR_RECEIPT_FORMAT', 'not a Chainpoint v5 proof')
  }
  if (typeof proof.hash !== 'string' || !isHex(proof.hash, 32)) throw new ProofError('ERR_RECEIPT_FORMAT', 'proof.hash must be 64 hex chars')
  const hash = fromHex(proof.hash)
  const expectPayloadHash = opts.payload ? sha256(opts.payload) : opts.payloadHash
  if (expectPayloadHash && !equalBytes(expectPayloadHash, hash)) {
    throw new ProofError('ERR_RECEIPT_PAYLOAD', `payload SHA-256 ${toHex(expectPayloadHash)} differs from the receipt's hash ${proof.hash}: the data was changed`)
  }
  if (!Array.isArray(proof.branches) || proof.branches.length !== 1) throw structure('expected exactly one branch')
  const ops = proof.branches[0]?.ops
  if (!Array.isArray(ops)) throw new ProofError('ERR_RECEIPT_FORMAT', 'branch has no ops')
  // Cut the ops at each sha-256: every segment but the last ends in one hash; the last holds the anchor.
  const segs: Segment[] = [[]]
  for (const op of ops) {
    if (op === null || typeof op !== 'object') throw new ProofError('ERR_RECEIPT_FORMAT', 'an op is not an object')
    if ('op' in op) {
      if (op.op !== 'sha-256' || Object.keys(op).length !== 1) throw new ProofError('ERR_RECEIPT_FORMAT', `unsupported op ${String(op.op)}`)
      segs.push([])
    } else segs[segs.length - 1].push(op)
  }
  // tx wrap, leaf, ≥ 0 path steps, header wrap, anchor.
  if (segs.length < 4) throw structure(`${segs.length - 1} hash operations; a receipt has at least 3`)
  const anchorSeg = segs[segs.length - 1]
  if (anchorSeg.length !== 1 || !('anchors' in anchorSeg[0]) || Object.keys(anchorSeg[0]).length !== 1) {
    throw structure('the ops must end with one `anchors` op right after the block hash')
  }

  // 1. payload hash → stripped tx → txId.
  const txWrap = unwrap(segs[0], 'payload hash → txId')
  const txBytes = Buffer.concat([txWrap.prefix, hash, txWrap.suffix])
  let tx: StrippedTx
  try {
    tx = decodeStrippedTx(txBytes)
  } catch (err) {
    throw structure(`the first hash does not hash a stripped transaction around the payload hash (${(err as Error).message})`)
  }
  if (payloadHashOffset(tx, txBytes) !== txWrap.prefix.byteLength) throw structure('the hash is not in the payloadHash field of the transaction')
  if (!verifyTxSignature(tx)) throw new ProofError('ERR_RECEIPT_TX_SIGNATURE', 'tx signature does not verify against its origin key')
  const id = sha256(txBytes)

  // 2. txId → leaf.
  const leafSeg = segs[1]
  const leafOp = leafSeg.length === 1 ? operand(leafSeg[0], 'l') : undefined
  if (!leafOp || leafOp.byteLength !== 1 || leafOp[0] !== 0 || Object.keys(leafSeg[0]).length !== 1) {
    throw structure('the second hash must be the RFC 6962 leaf hash (`l: "00"`)')
  }
  let node = leafHash(id)

  // 3. audit path: `l: 01‖sibling` or `r: sibling, l: 01`, one hash each.
  const pathSegs = segs.slice(2, segs.length - 2)
  if (pathSegs.length > 64) throw structure('audit path longer than 64 steps')
  for (const [i, seg] of pathSegs.entries()) {
    const only = seg.length === 1 ? operand(seg[0], 'l') : undefined
    if (only && only.byteLength === 33 && only[0] === 1 && Object.keys(seg[0]).length === 1) {
      node = nodeHash(only.subarray(1), node)
      continue
    }
    const right = seg.length === 2 && Object.keys(seg[0]).length === 1 ? operand(seg[0], 'r') : undefined
    const one = right && Object.keys(seg[1]).length === 1 ? operand(seg[1], 'l') : undefined
    if (!right || right.byteLength !== 32 || !one || one.byteLength !== 1 || one[0] !== 1) throw structure(`audit path step ${i + 1} is not an RFC 6962 interior node`)
    node = nodeHash(node, right)
  }

  // 4. root → header body → block hash.
  const headerWrap = unwrap(segs[segs.length - 2], 'root → block hash')
  const bodyBytes = Buffer.concat([headerWrap.prefix, node, headerWrap.suffix])
  let header: HeaderBody
  try {
    // A header body alone is not a wire item: decode it as a header with no signatures.
    header = decodeHeader(Buffer.concat([Uint8Array.of(0x82), bodyBytes, Uint8Array.of(0x80)]))
  } catch (err) {
    throw structure(`the last hash does not hash a block header around the Merkle root (${(err as Error).message})`)
  }
  if (merkleRootOffset(header, bodyBytes) !== headerWrap.prefix.byteLength) throw structure('the Merkle root is not in the merkleRoot field of the header')
  if (header.txCount < 1 || pathSegs.length > Math.ceil(Math.log2(header.txCount))) {
    throw structure(`an audit path of ${pathSegs.length} steps cannot belong to a block of ${header.txCount} txs`)
  }
  if (tx.body.network !== header.network) throw structure(`tx network "${tx.body.network}" differs from block network "${header.network}"`)

  // 5. the anchor names this block.
  const anchors = (anchorSeg[0] as { anchors: unknown }).anchors
  if (!Array.isArray(anchors) || anchors.length !== 1) throw structure('expected exactly one anchor')
  const a = anchors[0] as Partial<ChainpointAnchor>
  if (a?.type !== 'cal') throw new ProofError('ERR_RECEIPT_ANCHOR', `anchor type ${String(a?.type)} is not "cal"`)
  if (a.anchor_id !== String(header.height)) {
    throw new ProofError('ERR_RECEIPT_ANCHOR', `anchor_id ${String(a.anchor_id)} is not the height ${header.height} of the block the proof computes`)
  }
  const tail = anchorUri('', header.network, header.height)
  if (!Array.isArray(a.uris) || a.uris.length === 0) throw new ProofError('ERR_RECEIPT_ANCHOR', 'anchor has no URI')
  for (const uri of a.uris) {
    let u: URL | undefined
    try {
      u = typeof uri === 'string' ? new URL(uri) : undefined
    } catch {
      u = undefined
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.pathname.endsWith(tail) || u.search || u.hash) {
      throw new ProofError('ERR_RECEIPT_ANCHOR', `anchor URI ${String(uri)} does not name block ${header.height} of network ${header.network} (…${tail})`)
    }
  }
  if (opts.payload && opts.payload.byteLength !== tx.body.payloadSize) {
    throw new ProofError('ERR_RECEIPT_PAYLOAD', `payload is ${opts.payload.byteLength} bytes, signed size is ${tx.body.payloadSize}`)
  }
  return {
    txId: toHex(id),
    blockHash: toHex(sha256(bodyBytes)),
    height: header.height,
    network: header.network,
    producer: toHex(header.producer),
    anchorId: a.anchor_id,
    anchorUris: a.uris as string[],
    tx,
    header,
  }
}
