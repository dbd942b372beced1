import { blockHash, type BlockHeader, decodeHeader, encodeHeader, encodeHeaderBody, producerSignature, verifyHeaderSignature } from './block.js'
import { equalBytes, fromHex, isHex, toHex } from './bytes.js'
import { ProofError } from './errors.js'
import { sha256 } from './hash.js'
import { inclusionSteps, leafHash, rootFromInclusionProof } from './merkle.js'
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

/** Split `whole` around the first occurrence of `part` at a known offset. */
function around(whole: Uint8Array, part: Uint8Array): { prefix: Uint8Array; suffix: Uint8Array } {
  const at = Buffer.from(whole).indexOf(Buffer.from(part))
  if (at < 0) throw new ProofError('ERR_RECEIPT_BUILD', 'internal: value not found in its encoding')
  return { prefix: whole.subarray(0, at), suffix: whole.subarray(at + part.byteLength) }
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
  let n = BigInt(Math.max(0, Math.min(timestampMs, 2 ** 48 - 1)))
  for (let i = 0; i < 10; i++) n = (n << 8n) | BigInt(entropy[i])
  let out = ''
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(n & 31n)] + out
    n >>= 5n
  }
  return out
}

function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`
}

function checkInputs(input: ReceiptInput): Uint8Array {
  const id = txId(input.tx)
  const root = rootFromInclusionProof(leafHash(id), input.leafIndex, input.header.txCount, input.auditPath)
  if (!equalBytes(root, input.header.merkleRoot)) {
    throw new ProofError('ERR_RECEIPT_BUILD', 'audit path does not lead to the header Merkle root', { txId: toHex(id) })
  }
  return id
}

/** Chainpoint v5 receipt whose ops evaluate to the block hash (the `cal` anchor's expected value). */
export function buildChainpointReceipt(input: ReceiptInput): ChainpointProof {
  const id = checkInputs(input)
  const { tx, header } = input
  const txWrap = around(encodeStrippedTx(tx), tx.body.payloadHash)
  const ops: ChainpointOp[] = [...wrapOps(txWrap.prefix, txWrap.suffix), { l: '00' }, { op: 'sha-256' }]
  for (const step of inclusionSteps(input.leafIndex, header.txCount, input.auditPath)) {
    if (step.siblingOnLeft) ops.push({ l: `01${toHex(step.sibling)}` }, { op: 'sha-256' })
    else ops.push({ r: toHex(step.sibling) }, { l: '01' }, { op: 'sha-256' })
  }
  const headerWrap = headerAroundRoot(header)
  ops.push(...wrapOps(headerWrap.prefix, headerWrap.suffix))
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

function headerAroundRoot(header: BlockHeader): { prefix: Uint8Array; suffix: Uint8Array } {
  const enc = encodeHeaderBody(header)
  // The root is field 5; search after the prevHash so an identical prevHash can never be mistaken for it.
  const afterPrev = Buffer.from(enc).indexOf(Buffer.from(header.prevHash)) + 32
  const at = Buffer.from(enc).indexOf(Buffer.from(header.merkleRoot), afterPrev)
  return { prefix: enc.subarray(0, at), suffix: enc.subarray(at + 32) }
}

export function buildNativeReceipt(input: ReceiptInput): NativeReceipt {
  const id = checkInputs(input)
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
