// c2sp.org/tlog-cosignature: timestamped Ed25519 cosignatures (type 0x04, "cosignature/v1").
import { getCrypto, type KeyPair } from '@profichain/core'
import { parseCheckpoint } from './checkpoint.js'
import { TlogError } from './errors.js'
import {
  NOTE_ALG_COSIGNATURE_V1,
  cosignatureMessage,
  formatSignatureLine,
  formatVkey,
  noteKeyId,
  parseNote,
  type NoteSignature,
  type NoteVerifier,
} from './note.js'
import { short } from './text.js'

const MAX_TIMESTAMP = (1n << 63n) - 1n

/** The cosigner's verifier key: `<name>+<hex8 key ID>+<base64(0x04 ‖ publicKey)>`. */
export function formatCosignerVkey(name: string, publicKey: Uint8Array): string {
  return formatVkey(name, publicKey, NOTE_ALG_COSIGNATURE_V1)
}

/** A NoteVerifier of type 0x04 for a cosigner. */
export function cosignerVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  formatCosignerVkey(name, publicKey) // validates name and key
  return { name, keyId: noteKeyId(name, NOTE_ALG_COSIGNATURE_V1, publicKey), alg: NOTE_ALG_COSIGNATURE_V1, publicKey: publicKey.slice() }
}

/** The note text of a checkpoint given as text or as a whole signed note (a checkpoint text has no blank line). */
function checkpointTextOf(s: string): string {
  if (typeof s !== 'string') throw new TlogError('ERR_CHECKPOINT_MALFORMED', 'not a valid checkpoint: not a string')
  const text = s.includes('\n\n') ? parseNote(s).text : s
  parseCheckpoint(text)
  return text
}

/**
 * Cosigns a checkpoint: returns one signature line `— <name> base64(keyId ‖ u64 timestamp ‖ sig)\n` (with its
 * newline). `checkpointText` is the checkpoint note text or the whole signed note (signatures are dropped; the
 * caller has verified the log's signatures). `timestamp` in POSIX seconds, a safe integer ≥ 0.
 * Throws ERR_CHECKPOINT_MALFORMED / ERR_NOTE_* for a text that is not a checkpoint, ERR_COSIGNATURE_MALFORMED
 * for a bad timestamp, ERR_KEY_NAME for a bad name.
 */
export function cosign(checkpointText: string, name: string, keyPair: KeyPair, timestamp: number): string {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new TlogError('ERR_COSIGNATURE_MALFORMED', `timestamp ${String(timestamp)} must be a non-negative integer (POSIX seconds)`)
  }
  const text = checkpointTextOf(checkpointText)
  const ts = BigInt(timestamp)
  const sig = new Uint8Array(8 + 64)
  new DataView(sig.buffer).setBigUint64(0, ts, false)
  sig.set(getCrypto().sign(keyPair.seed, cosignatureMessage(text, ts)), 8)
  return formatSignatureLine(name, noteKeyId(name, NOTE_ALG_COSIGNATURE_V1, keyPair.publicKey), sig)
}

function parseLine(line: string): NoteSignature {
  const l = line.endsWith('\n') ? line : `${line}\n`
  try {
    const { signatures } = parseNote(`x\n\n${l}`)
    if (signatures.length !== 1) throw new TlogError('ERR_COSIGNATURE_MALFORMED', 'expected exactly one signature line')
    return signatures[0] as NoteSignature
  } catch (err) {
    if (err instanceof TlogError && err.code === 'ERR_COSIGNATURE_MALFORMED') throw err
    throw new TlogError('ERR_COSIGNATURE_MALFORMED', `not a cosignature line: ${short(line)}`, {}, { cause: err })
  }
}

/**
 * Verifies one cosignature (a signature line, or a parsed NoteSignature) over a checkpoint (note text or whole
 * note) with a cosigner verifier (alg 0x04). Returns the timestamp (POSIX seconds); throws TlogError
 * ERR_COSIGNATURE_MALFORMED (not a line, wrong length, timestamp ≥ 2^53), ERR_COSIGNATURE_KEY (the line's name
 * or key ID is not the verifier's, or the verifier is not of type 0x04), ERR_COSIGNATURE_INVALID (the signature
 * does not verify), ERR_CHECKPOINT_MALFORMED / ERR_NOTE_* (the checkpoint).
 */
export function verifyCosignature(
  sig: string | NoteSignature,
  checkpointText: string,
  verifier: NoteVerifier,
): { timestamp: number } {
  const s = typeof sig === 'string' ? parseLine(sig) : sig
  if (verifier.alg !== NOTE_ALG_COSIGNATURE_V1) {
    throw new TlogError('ERR_COSIGNATURE_KEY', `verifier ${short(verifier.name)} is not a cosigner key (type 0x04)`)
  }
  if (s.name !== verifier.name || s.keyId !== verifier.keyId) {
    throw new TlogError('ERR_COSIGNATURE_KEY', `the cosignature is by ${short(s.name)}, not by the cosigner ${short(verifier.name)} (name and key ID must match)`)
  }
  if (!(s.signature instanceof Uint8Array) || s.signature.length !== 72) {
    throw new TlogError('ERR_COSIGNATURE_MALFORMED', 'a cosignature/v1 is a 8-byte timestamp and a 64-byte Ed25519 signature')
  }
  const ts = new DataView(s.signature.buffer, s.signature.byteOffset, 8).getBigUint64(0, false)
  if (ts > MAX_TIMESTAMP) throw new TlogError('ERR_COSIGNATURE_MALFORMED', 'the cosignature timestamp exceeds 2^63 − 1')
  const text = checkpointTextOf(checkpointText)
  if (!getCrypto().verify(verifier.publicKey, cosignatureMessage(text, ts), s.signature.subarray(8))) {
    throw new TlogError('ERR_COSIGNATURE_INVALID', `the cosignature of ${short(s.name)} does not verify for this checkpoint`)
  }
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TlogError('ERR_COSIGNATURE_MALFORMED', 'the cosignature timestamp is beyond 2^53 − 1 seconds')
  }
  return { timestamp: Number(ts) }
}
