// c2sp.org/tlog-cosignature: timestamped Ed25519 cosignatures (type 0x04, "cosignature/v1").
import type { KeyPair } from '@profichain/core'
import { TlogError } from './errors.js'
import type { NoteSignature, NoteVerifier } from './note.js'

/** The cosigner's verifier key: `<name>+<hex8 key ID>+<base64(0x04 ‖ publicKey)>`. */
export function formatCosignerVkey(name: string, publicKey: Uint8Array): string {
  void name, void publicKey
  throw new TlogError('ERR_COSIGNATURE_MALFORMED', 'not implemented yet')
}

/** A NoteVerifier of type 0x04 for a cosigner. */
export function cosignerVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  void name, void publicKey
  throw new TlogError('ERR_COSIGNATURE_MALFORMED', 'not implemented yet')
}

/**
 * Cosigns a checkpoint: returns one signature line `— <name> base64(keyId ‖ u64 timestamp ‖ sig)\n` (with its
 * newline). `checkpointText` is the checkpoint note text or the whole signed note (signatures are dropped).
 * `timestamp` in POSIX seconds, 0 ≤ t < 2^63 (a safe integer).
 */
export function cosign(checkpointText: string, name: string, keyPair: KeyPair, timestamp: number): string {
  void checkpointText, void name, void keyPair, void timestamp
  throw new TlogError('ERR_COSIGNATURE_MALFORMED', 'not implemented yet')
}

/**
 * Verifies one cosignature (a signature line, or a parsed NoteSignature) over a checkpoint (note text or whole
 * note) with a cosigner verifier (alg 0x04). Returns the timestamp; throws TlogError ERR_COSIGNATURE_MALFORMED,
 * ERR_COSIGNATURE_KEY or ERR_COSIGNATURE_INVALID.
 */
export function verifyCosignature(
  sig: string | NoteSignature,
  checkpointText: string,
  verifier: NoteVerifier,
): { timestamp: number } {
  void sig, void checkpointText, void verifier
  throw new TlogError('ERR_COSIGNATURE_MALFORMED', 'not implemented yet')
}
