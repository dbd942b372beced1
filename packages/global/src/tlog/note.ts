// c2sp.org/signed-note: Ed25519 (type 0x01) note signatures, key IDs and verifier keys.
import type { KeyPair } from '@profichain/core'
import { TlogError } from './errors.js'

const notYet = (): never => {
  throw new TlogError('ERR_NOTE_MALFORMED', 'not implemented yet')
}

/** Signature type bytes (c2sp.org/signed-note "Signature types"). */
export const NOTE_ALG_ED25519 = 0x01
export const NOTE_ALG_COSIGNATURE_V1 = 0x04
/** A note longer than this (UTF-8 bytes) is refused: ERR_NOTE_TOO_LONG. */
export const NOTE_MAX_BYTES = 1 << 20
/** More signature lines than this are refused: ERR_NOTE_TOO_MANY_SIGNATURES (the spec requires ≥ 16). */
export const NOTE_MAX_SIGNATURES = 100

/** A key that can verify note signatures: alg 0x01 (Ed25519 note) or 0x04 (tlog-cosignature/v1). */
export interface NoteVerifier {
  name: string
  keyId: number
  alg: number
  publicKey: Uint8Array
}

/** One signature line of a note: `— <name> base64(keyId ‖ signature)`. */
export interface NoteSignature {
  name: string
  /** uint32 key ID (big-endian first 4 bytes of the base64 payload). */
  keyId: number
  /** The bytes after the key ID (64 for Ed25519, 8 + 64 for a cosignature/v1). */
  signature: Uint8Array
  /** The whole line as it appeared, with its trailing newline. */
  line: string
}

export interface OpenedNote {
  /** The note text including its final newline (what is signed). */
  text: string
  /** Every signature line, known key or not, in order. */
  signatures: NoteSignature[]
  /** The signatures that verified with one of the given verifiers (at least one, else openNote throws). */
  verified: NoteSignature[]
}

/** SHA-256(name ‖ 0x0A ‖ alg ‖ publicKey)[:4] as a big-endian uint32. */
export function noteKeyId(name: string, alg: number, publicKey: Uint8Array): number {
  void name, void alg, void publicKey
  return notYet()
}

/** `<name>+<hex8 key ID>+<base64(alg ‖ publicKey)>`; alg defaults to 0x01 (Ed25519 note key). */
export function formatVkey(name: string, publicKey: Uint8Array, alg: number = NOTE_ALG_ED25519): string {
  void name, void publicKey, void alg
  return notYet()
}

/** Parses a vkey of type 0x01 or 0x04 (32-byte Ed25519 key); the key ID must match. Throws ERR_VKEY_MALFORMED. */
export function parseVkey(vkey: string): NoteVerifier {
  void vkey
  return notYet()
}

/** A NoteVerifier for an Ed25519 note key (alg 0x01). */
export function noteVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  void name, void publicKey
  return notYet()
}

/** Signs `text` (must end in a newline) with Ed25519 note signatures (alg 0x01), one line per signer. */
export function signNote(text: string, signers: ReadonlyArray<{ name: string; keyPair: KeyPair }>): string {
  void text, void signers
  return notYet()
}

/**
 * Parses and verifies a signed note. Signatures from unknown keys (name and ID not both matching a verifier)
 * are kept in `signatures` but not verified. Throws TlogError: ERR_NOTE_MALFORMED, ERR_NOTE_BASE64,
 * ERR_NOTE_TOO_LONG, ERR_NOTE_TOO_MANY_SIGNATURES, ERR_NOTE_BAD_SIGNATURE (a known key's signature fails),
 * ERR_NOTE_UNVERIFIED (no known key signed).
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  void note, void verifiers
  return notYet()
}

/** Parses a signed note without verifying anything (text and every signature line). Same errors as openNote's parsing. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  void note
  return notYet()
}

/** Appends signature lines (each `— name sig\n`) to a signed note, skipping lines already present. */
export function appendSignatures(note: string, lines: readonly string[]): string {
  void note, void lines
  return notYet()
}
