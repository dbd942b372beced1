import {
  type BlockHeader,
  blockHash,
  CodecError,
  decodeAnchorPayload,
  decodeCbor,
  decodeHeader,
  decodeStrippedTx,
  encodeCbor,
  encodeHeader,
  encodeStrippedTx,
  equalBytes,
  leafHash,
  producerSignature,
  ProfichainError,
  ProofError,
  read,
  rootFromInclusionProof,
  sha256,
  type StrippedTx,
  toHex,
  txId,
  verifyHeaderSignature,
  verifyTxSignature,
} from '@profichain/core'
import { type Checkpoint, parseCheckpoint } from '../tlog/checkpoint.js'
import { cosignerVerifier, verifyCosignature } from '../tlog/cosignature.js'
import { type NoteVerifier, openNote, parseNote } from '../tlog/note.js'
import { EntangleError } from './errors.js'

/**
 * Entanglement proof (DESIGN §11): what partner B sends back to A once B's anchor tx holding A's cosigned
 * checkpoint is in a block of B's chain. Versioned canonical CBOR:
 *
 *     [1, partnerOrigin (text), partnerGenesisHash (32 bytes), anchorBase (text: B's public API URL),
 *      payload (bytes: the anchor payload), tx (bytes: encodeStrippedTx of the anchor tx),
 *      leafIndex (uint), auditPath ([bytes 32]), header (bytes: encodeHeader of B's signed header)]
 */
export const ENTANGLEMENT_PROOF_VERSION = 1
/** Bounds of a decoded proof (a partner cannot make us hold more). */
export const ENTANGLEMENT_LIMITS = { maxBytes: 256 * 1024, textBytes: 512, auditPath: 64 } as const

export interface EntanglementProof {
  partnerOrigin: string
  partnerGenesisHash: Uint8Array
  anchorBase: string
  payload: Uint8Array
  tx: StrippedTx
  leafIndex: number
  auditPath: Uint8Array[]
  header: BlockHeader
}

export function encodeEntanglementProof(p: EntanglementProof): Uint8Array {
  return encodeCbor([
    ENTANGLEMENT_PROOF_VERSION,
    p.partnerOrigin,
    p.partnerGenesisHash,
    p.anchorBase,
    p.payload,
    encodeStrippedTx(p.tx),
    p.leafIndex,
    p.auditPath,
    encodeHeader(p.header),
  ])
}

/** Decode; any malformed input → EntangleError ERR_ENTANGLE_MALFORMED (never another exception). */
export function decodeEntanglementProof(bytes: Uint8Array): EntanglementProof {
  try {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength > ENTANGLEMENT_LIMITS.maxBytes) throw new CodecError(`entanglement proof: more than ${ENTANGLEMENT_LIMITS.maxBytes} bytes`)
    const v = decodeCbor(bytes, 'entanglement proof')
    if (!Array.isArray(v) || v[0] !== ENTANGLEMENT_PROOF_VERSION) throw new CodecError(`entanglement proof: not version ${ENTANGLEMENT_PROOF_VERSION}`)
    const a = read.array(v, 9, 'entanglement proof')
    const t = ENTANGLEMENT_LIMITS.textBytes
    return {
      partnerOrigin: read.text(a[1], 'partnerOrigin', t),
      partnerGenesisHash: read.bytes(a[2], 'partnerGenesisHash', 32),
      anchorBase: read.text(a[3], 'anchorBase', t),
      payload: read.bytes(a[4], 'payload'),
      tx: decodeStrippedTx(read.bytes(a[5], 'tx')),
      leafIndex: read.uint(a[6], 'leafIndex'),
      auditPath: read.list(a[7], ENTANGLEMENT_LIMITS.auditPath, 'auditPath').map((x, i) => read.bytes(x, `auditPath[${i}]`, 32)),
      header: decodeHeader(read.bytes(a[8], 'header')),
    }
  } catch (err) {
    if (err instanceof EntangleError) throw err
    throw new EntangleError('ERR_ENTANGLE_MALFORMED', `entanglement proof does not decode: ${(err as Error).message}`, {}, { cause: err })
  }
}

/** What A knows to check a proof: its own checkpoint keys and the partner's validator keys. */
export interface EntanglementContext {
  /** Our origin (the checkpoint's first line). */
  ownOrigin: string
  /** Our validators' note verifier keys (name = our origin). */
  ownVerifiers: readonly NoteVerifier[]
  /** The partner: origin and its validators' note keys (their Ed25519 keys sign B's blocks and cosign). */
  partner: { origin: string; verifiers: readonly NoteVerifier[] }
}

export interface VerifiedEntanglement {
  checkpoint: Checkpoint
  note: string
  /** Timestamp (seconds) of the partner's cosignature. */
  cosignedAt: number
  txId: string
  blockHash: string
  height: number
  network: string
}

function partnerKeys(ctx: EntanglementContext): Uint8Array[] {
  return ctx.partner.verifiers.map((v) => v.publicKey)
}

/**
 * Check a note as found in an anchor payload: our checkpoint (origin), signed by at least one of our
 * validators, cosigned by the partner (cosignature/v1 with one of its validator keys, name = its origin).
 * Returns the parsed checkpoint and the cosignature's timestamp. Throws EntangleError.
 */
export function verifyAnchorNote(note: string, ctx: EntanglementContext): { checkpoint: Checkpoint; cosignedAt: number } {
  let checkpoint: Checkpoint
  let text: string
  try {
    const opened = openNote(note, ctx.ownVerifiers)
    text = opened.text
    checkpoint = parseCheckpoint(text)
  } catch (err) {
    throw new EntangleError('ERR_ENTANGLE_CHECKPOINT', `the anchored note is not a checkpoint signed by our validators: ${(err as Error).message}`, {}, { cause: err })
  }
  if (checkpoint.origin !== ctx.ownOrigin) throw new EntangleError('ERR_ENTANGLE_CHECKPOINT', `the anchored checkpoint is of origin "${checkpoint.origin}", not ours ("${ctx.ownOrigin}")`)
  const sigs = parseNote(note).signatures.filter((s) => s.name === ctx.partner.origin)
  for (const s of sigs) {
    for (const pk of partnerKeys(ctx)) {
      try {
        return { checkpoint, cosignedAt: verifyCosignature(s, text, cosignerVerifier(ctx.partner.origin, pk)).timestamp }
      } catch (err) {
        if (!(err instanceof ProfichainError)) throw err
      }
    }
  }
  throw new EntangleError('ERR_ENTANGLE_COSIGNATURE', `the anchored checkpoint carries no valid cosignature of partner "${ctx.partner.origin}"`)
}

/**
 * Verify an entanglement proof against what A knows (never trusts the proof's own claims): B's header
 * (hash, every signature valid, producer one of B's validators), the anchor tx (kind, signature, origin one
 * of B's validators, payload hash), its inclusion in the header's Merkle root, and the note (our checkpoint,
 * our validators' signature, B's cosignature). Throws EntangleError with the failing check.
 */
export function verifyEntanglementProof(p: EntanglementProof, ctx: EntanglementContext): VerifiedEntanglement {
  if (p.partnerOrigin !== ctx.partner.origin) throw new EntangleError('ERR_ENTANGLE_MALFORMED', `proof names partner "${p.partnerOrigin}", expected "${ctx.partner.origin}"`)
  const keys = partnerKeys(ctx)
  const isPartnerKey = (k: Uint8Array) => keys.some((x) => equalBytes(x, k))
  const h = p.header
  const prod = producerSignature(h)
  if (!prod || !isPartnerKey(h.producer)) throw new EntangleError('ERR_ENTANGLE_HEADER', `block ${h.height} of the partner is not signed by one of its validators`)
  for (const s of h.signatures) {
    if (!verifyHeaderSignature(h, s)) throw new EntangleError('ERR_ENTANGLE_HEADER', `invalid header signature by ${toHex(s.signer).slice(0, 16)}…`)
  }
  const tx = p.tx
  if (tx.body.kind !== 'anchor') throw new EntangleError('ERR_ENTANGLE_TX', `the tx is a "${tx.body.kind}", not an anchor`)
  if (!verifyTxSignature(tx)) throw new EntangleError('ERR_ENTANGLE_TX', 'the anchor tx signature does not verify')
  if (!isPartnerKey(tx.body.origin)) throw new EntangleError('ERR_ENTANGLE_TX', 'the anchor tx is not signed by one of the partner’s validators')
  if (!equalBytes(sha256(p.payload), tx.body.payloadHash)) throw new EntangleError('ERR_ENTANGLE_TX', 'the payload is not the anchor tx’s payload')
  if (tx.body.network !== h.network) throw new EntangleError('ERR_ENTANGLE_TX', 'the anchor tx is of another network than the block')
  const id = txId(tx)
  let root: Uint8Array
  try {
    root = rootFromInclusionProof(leafHash(id), p.leafIndex, h.txCount, p.auditPath)
  } catch (err) {
    if (!(err instanceof ProofError)) throw err
    throw new EntangleError('ERR_ENTANGLE_INCLUSION', `audit path: ${err.message}`)
  }
  if (!equalBytes(root, h.merkleRoot)) throw new EntangleError('ERR_ENTANGLE_INCLUSION', 'the audit path does not lead to the block’s Merkle root')
  let payload: { root: Uint8Array; note: string }
  try {
    payload = decodeAnchorPayload(p.payload)
  } catch (err) {
    throw new EntangleError('ERR_ENTANGLE_TX', `anchor payload: ${(err as Error).message}`)
  }
  const { checkpoint, cosignedAt } = verifyAnchorNote(payload.note, ctx)
  if (!equalBytes(checkpoint.root, payload.root)) throw new EntangleError('ERR_ENTANGLE_CHECKPOINT', 'the payload root differs from the checkpoint root')
  return { checkpoint, note: payload.note, cosignedAt, txId: toHex(id), blockHash: toHex(blockHash(h)), height: h.height, network: h.network }
}

/**
 * A note check for cross-chain receipts (`verifyCrossChainpoint` / `verifyCrossNative` in core): our
 * validators signed the checkpoint and one of `partners` cosigned it. `which` is the partner origin (native
 * receipts) or the branch label (Chainpoint): both are matched. Throws ProofError ERR_RECEIPT_SIGNATURE.
 */
export function anchorNoteChecker(own: { origin: string; verifiers: readonly NoteVerifier[] }, partners: ReadonlyArray<{ origin: string; verifiers: readonly NoteVerifier[] }>, labelOf: (origin: string) => string): (note: string, which: string) => void {
  return (note, which) => {
    const partner = partners.find((p) => p.origin === which || labelOf(p.origin) === which)
    if (!partner) throw new ProofError('ERR_RECEIPT_NOT_VALIDATOR', `the receipt is entangled with a partner whose genesis was not given (${which})`)
    try {
      verifyAnchorNote(note, { ownOrigin: own.origin, ownVerifiers: own.verifiers, partner })
    } catch (err) {
      if (err instanceof EntangleError) throw new ProofError('ERR_RECEIPT_SIGNATURE', err.message)
      throw err
    }
  }
}
