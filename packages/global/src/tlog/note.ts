// c2sp.org/signed-note: Ed25519 (type 0x01) note signatures, key IDs and verifier keys; verification of
// tlog-cosignature/v1 (type 0x04) signatures too, so one openNote call checks a log's and its witnesses' keys.
import { getCrypto, keyPairFromSeed, type KeyPair } from '@profichain/core'
import { TlogError } from './errors.js'
import { decodeBase64Strict, decodeUtf8Strict, encodeBase64, isNoteSafe, isValidKeyName, short } from './text.js'

/** Signature type bytes (c2sp.org/signed-note "Signature types"). */
export const NOTE_ALG_ED25519 = 0x01
export const NOTE_ALG_COSIGNATURE_V1 = 0x04
/** A note longer than this (UTF-8 bytes) is refused: ERR_NOTE_TOO_LONG. */
export const NOTE_MAX_BYTES = 1 << 20
/** More signature lines than this are refused: ERR_NOTE_TOO_MANY_SIGNATURES (the spec requires ≥ 16). */
export const NOTE_MAX_SIGNATURES = 100

const SIG_PREFIX = '\u2014 '
const ED25519_SIG = 64
const COSIG_V1_SIG = 8 + 64
const TIMESTAMP_LIMIT = 1n << 63n

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
  /** The signatures that verified with one of the given verifiers, one per key (at least one, else openNote throws). */
  verified: NoteSignature[]
}

/** SHA-256(name ‖ 0x0A ‖ alg ‖ publicKey)[:4] as a big-endian uint32. */
export function noteKeyId(name: string, alg: number, publicKey: Uint8Array): number {
  const n = Buffer.from(name, 'utf8')
  const buf = new Uint8Array(n.length + 2 + publicKey.length)
  buf.set(n, 0)
  buf[n.length] = 0x0a
  buf[n.length + 1] = alg
  buf.set(publicKey, n.length + 2)
  const h = getCrypto().sha256(buf)
  return new DataView(h.buffer, h.byteOffset, 4).getUint32(0, false)
}

function keyIdHex(id: number): string {
  return id.toString(16).padStart(8, '0')
}

function checkName(name: string, code: 'ERR_KEY_NAME' = 'ERR_KEY_NAME'): void {
  if (!isValidKeyName(name)) {
    throw new TlogError(code, `key name ${short(String(name))} is not valid: it must be non-empty, without spaces, '+' or control characters`)
  }
}

function checkEd25519Key(publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new TlogError('ERR_VKEY_MALFORMED', 'an Ed25519 public key must be 32 bytes')
  }
}

/** `<name>+<hex8 key ID>+<base64(alg ‖ publicKey)>`; alg defaults to 0x01 (Ed25519 note key), 0x04 for a cosigner. */
export function formatVkey(name: string, publicKey: Uint8Array, alg: number = NOTE_ALG_ED25519): string {
  checkName(name)
  checkEd25519Key(publicKey)
  if (alg !== NOTE_ALG_ED25519 && alg !== NOTE_ALG_COSIGNATURE_V1) {
    throw new TlogError('ERR_VKEY_MALFORMED', `signature type 0x${alg.toString(16)} is not supported (0x01 Ed25519, 0x04 cosignature/v1)`)
  }
  const key = new Uint8Array(33)
  key[0] = alg
  key.set(publicKey, 1)
  return `${name}+${keyIdHex(noteKeyId(name, alg, publicKey))}+${encodeBase64(key)}`
}

/** Parses a vkey of type 0x01 or 0x04 (32-byte Ed25519 key); the key ID must match. Throws ERR_VKEY_MALFORMED. */
export function parseVkey(vkey: string): NoteVerifier {
  const bad = (why: string): never => {
    throw new TlogError('ERR_VKEY_MALFORMED', `verifier key ${short(String(vkey))} is not valid: ${why}`)
  }
  if (typeof vkey !== 'string' || vkey.length > 1024) return bad('not a string of at most 1024 characters')
  const i = vkey.indexOf('+')
  const j = i < 0 ? -1 : vkey.indexOf('+', i + 1)
  if (i < 0 || j < 0) return bad('expected <name>+<key ID>+<key>')
  const name = vkey.slice(0, i)
  const idHex = vkey.slice(i + 1, j)
  const keyB64 = vkey.slice(j + 1)
  if (!isValidKeyName(name)) return bad('the key name is empty or holds a space, "+" or a control character')
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) return bad('the key ID is not 8 hex digits')
  const key = decodeBase64Strict(keyB64)
  if (key === undefined || key.length === 0) return bad('the key is not base64')
  const alg = key[0] as number
  if (alg !== NOTE_ALG_ED25519 && alg !== NOTE_ALG_COSIGNATURE_V1) {
    return bad(`signature type 0x${alg.toString(16).padStart(2, '0')} is not supported (0x01 Ed25519, 0x04 cosignature/v1)`)
  }
  if (key.length !== 33) return bad('an Ed25519 key is 32 bytes')
  const publicKey = key.slice(1)
  const keyId = Number.parseInt(idHex, 16)
  if (keyId !== noteKeyId(name, alg, publicKey)) return bad('the key ID does not match the name and key')
  return { name, keyId, alg, publicKey }
}

/** A NoteVerifier for an Ed25519 note key (alg 0x01). */
export function noteVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  checkName(name)
  checkEd25519Key(publicKey)
  return { name, keyId: noteKeyId(name, NOTE_ALG_ED25519, publicKey), alg: NOTE_ALG_ED25519, publicKey: publicKey.slice() }
}

/** A note signer key as Go's note.GenerateKey prints it: `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 ‖ seed)>`. */
export function formatSkey(name: string, keyPair: KeyPair): string {
  checkName(name)
  const key = new Uint8Array(33)
  key[0] = NOTE_ALG_ED25519
  key.set(keyPair.seed, 1)
  return `PRIVATE+KEY+${name}+${keyIdHex(noteKeyId(name, NOTE_ALG_ED25519, keyPair.publicKey))}+${encodeBase64(key)}`
}

/** Parses a Go note signer key (type 0x01 only); throws ERR_VKEY_MALFORMED. */
export function parseSkey(skey: string): { name: string; keyId: number; keyPair: KeyPair } {
  const bad = (why: string): never => {
    throw new TlogError('ERR_VKEY_MALFORMED', `signer key is not valid: ${why}`)
  }
  if (typeof skey !== 'string' || !skey.startsWith('PRIVATE+KEY+')) return bad('expected PRIVATE+KEY+<name>+<key ID>+<key>')
  const rest = skey.slice('PRIVATE+KEY+'.length)
  const i = rest.indexOf('+')
  const j = i < 0 ? -1 : rest.indexOf('+', i + 1)
  if (i < 0 || j < 0) return bad('expected PRIVATE+KEY+<name>+<key ID>+<key>')
  const name = rest.slice(0, i)
  const idHex = rest.slice(i + 1, j)
  const keyB64 = rest.slice(j + 1) // base64 may hold '+'
  if (!isValidKeyName(name) || !/^[0-9a-fA-F]{8}$/.test(idHex)) return bad('bad name or key ID')
  const key = decodeBase64Strict(keyB64)
  if (key === undefined || key.length !== 33 || key[0] !== NOTE_ALG_ED25519) return bad('not a base64 Ed25519 (0x01) seed')
  const keyPair = keyPairFromSeed(key.slice(1))
  const keyId = Number.parseInt(idHex, 16)
  if (keyId !== noteKeyId(name, NOTE_ALG_ED25519, keyPair.publicKey)) return bad('the key ID does not match the name and key')
  return { name, keyId, keyPair }
}

function checkText(text: string): void {
  if (typeof text !== 'string' || text.length === 0 || !text.endsWith('\n')) {
    throw new TlogError('ERR_NOTE_MALFORMED', 'a note text must be non-empty and end with a newline')
  }
  if (!isNoteSafe(text)) throw new TlogError('ERR_NOTE_MALFORMED', 'a note text must be valid UTF-8 without control characters other than newline')
  if (text.length > NOTE_MAX_BYTES || Buffer.byteLength(text, 'utf8') > NOTE_MAX_BYTES) {
    throw new TlogError('ERR_NOTE_TOO_LONG', `a note text is limited to ${NOTE_MAX_BYTES} bytes`)
  }
}

function signatureLine(name: string, keyId: number, signature: Uint8Array): string {
  const payload = new Uint8Array(4 + signature.length)
  new DataView(payload.buffer).setUint32(0, keyId, false)
  payload.set(signature, 4)
  return `${SIG_PREFIX}${name} ${encodeBase64(payload)}\n`
}

/** @internal A signature line from its parts (used by cosign). */
export function formatSignatureLine(name: string, keyId: number, signature: Uint8Array): string {
  checkName(name)
  return signatureLine(name, keyId, signature)
}

/** Signs `text` (must end in a newline) with Ed25519 note signatures (alg 0x01), one line per signer. */
export function signNote(text: string, signers: ReadonlyArray<{ name: string; keyPair: KeyPair }>): string {
  checkText(text)
  if (signers.length === 0) throw new TlogError('ERR_NOTE_MALFORMED', 'a signed note needs at least one signer')
  if (signers.length > NOTE_MAX_SIGNATURES) throw new TlogError('ERR_NOTE_TOO_MANY_SIGNATURES', `at most ${NOTE_MAX_SIGNATURES} signatures`)
  const message = Buffer.from(text, 'utf8')
  let out = `${text}\n`
  for (const { name, keyPair } of signers) {
    checkName(name)
    const sig = getCrypto().sign(keyPair.seed, message)
    out += signatureLine(name, noteKeyId(name, NOTE_ALG_ED25519, keyPair.publicKey), sig)
  }
  return out
}

/**
 * Parses a signed note (a string, or bytes that must be valid UTF-8) without verifying anything (text and every
 * signature line). Throws TlogError
 * ERR_NOTE_TOO_LONG, ERR_NOTE_MALFORMED, ERR_NOTE_BASE64, ERR_NOTE_TOO_MANY_SIGNATURES.
 */
export function parseNote(input: string | Uint8Array): { text: string; signatures: NoteSignature[] } {
  if (input instanceof Uint8Array && input.length > NOTE_MAX_BYTES) {
    throw new TlogError('ERR_NOTE_TOO_LONG', `a note is limited to ${NOTE_MAX_BYTES} bytes`)
  }
  const note = input instanceof Uint8Array ? decodeUtf8Strict(input) : input
  if (note === undefined) throw new TlogError('ERR_NOTE_MALFORMED', 'a note must be valid UTF-8')
  if (typeof note !== 'string') throw new TlogError('ERR_NOTE_MALFORMED', 'a note must be a string or UTF-8 bytes')
  if (note.length > NOTE_MAX_BYTES || Buffer.byteLength(note, 'utf8') > NOTE_MAX_BYTES) {
    throw new TlogError('ERR_NOTE_TOO_LONG', `a note is limited to ${NOTE_MAX_BYTES} bytes`)
  }
  if (!isNoteSafe(note)) {
    throw new TlogError('ERR_NOTE_MALFORMED', 'a note must be valid UTF-8 without control characters other than newline')
  }
  const split = note.lastIndexOf('\n\n')
  if (split < 0) throw new TlogError('ERR_NOTE_MALFORMED', 'a signed note needs a blank line between its text and its signatures')
  const text = note.slice(0, split + 1)
  const sigs = note.slice(split + 2)
  if (sigs.length === 0 || !sigs.endsWith('\n')) {
    throw new TlogError('ERR_NOTE_MALFORMED', 'a signed note must end with signature lines, each ending in a newline')
  }
  const lines = sigs.slice(0, -1).split('\n')
  if (lines.length > NOTE_MAX_SIGNATURES) {
    throw new TlogError('ERR_NOTE_TOO_MANY_SIGNATURES', `a note may carry at most ${NOTE_MAX_SIGNATURES} signatures, this one has ${lines.length}`)
  }
  const signatures: NoteSignature[] = []
  for (const raw of lines) {
    if (!raw.startsWith(SIG_PREFIX)) throw new TlogError('ERR_NOTE_MALFORMED', `signature line ${short(raw)} does not start with "— "`)
    const rest = raw.slice(SIG_PREFIX.length)
    const sp = rest.indexOf(' ')
    const name = sp < 0 ? rest : rest.slice(0, sp)
    const b64 = sp < 0 ? '' : rest.slice(sp + 1)
    if (!isValidKeyName(name) || b64 === '') throw new TlogError('ERR_NOTE_MALFORMED', `signature line ${short(raw)} is not "— <name> <base64>"`)
    const payload = decodeBase64Strict(b64)
    if (payload === undefined) throw new TlogError('ERR_NOTE_BASE64', `signature of ${short(name)} is not standard base64`)
    if (payload.length < 5) throw new TlogError('ERR_NOTE_MALFORMED', `signature of ${short(name)} is shorter than a key ID and one byte`)
    const keyId = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, false)
    signatures.push({ name, keyId, signature: payload.slice(4), line: `${raw}\n` })
  }
  return { text, signatures }
}

/** @internal The tlog-cosignature/v1 signed message: header, time line, checkpoint text. */
export function cosignatureMessage(text: string, timestamp: bigint): Uint8Array {
  return Buffer.from(`cosignature/v1\ntime ${timestamp.toString()}\n${text}`, 'utf8')
}

/** @internal Verifies one signature with a verifier whose name and key ID match it. */
export function verifySignature(text: string, sig: NoteSignature, v: NoteVerifier): boolean {
  if (v.alg === NOTE_ALG_ED25519) {
    return sig.signature.length === ED25519_SIG && getCrypto().verify(v.publicKey, Buffer.from(text, 'utf8'), sig.signature)
  }
  if (v.alg === NOTE_ALG_COSIGNATURE_V1) {
    if (sig.signature.length !== COSIG_V1_SIG) return false
    const ts = new DataView(sig.signature.buffer, sig.signature.byteOffset, 8).getBigUint64(0, false)
    if (ts >= TIMESTAMP_LIMIT) return false
    return getCrypto().verify(v.publicKey, cosignatureMessage(text, ts), sig.signature.subarray(8))
  }
  return false
}

/**
 * Parses and verifies a signed note. Signatures from unknown keys (name and ID not both matching a verifier)
 * are kept in `signatures` but not verified. Throws TlogError: ERR_NOTE_MALFORMED, ERR_NOTE_BASE64,
 * ERR_NOTE_TOO_LONG, ERR_NOTE_TOO_MANY_SIGNATURES, ERR_NOTE_BAD_SIGNATURE (a known key's signature fails),
 * ERR_NOTE_UNVERIFIED (no known key signed).
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const { text, signatures } = parseNote(note)
  const verified: NoteSignature[] = []
  const seen = new Set<string>()
  for (const sig of signatures) {
    const v = verifiers.find((x) => x.name === sig.name && x.keyId === sig.keyId)
    if (v === undefined) continue
    const id = `${sig.keyId}:${sig.name}`
    if (seen.has(id)) continue // repeated signatures by one key count once (as Go's note.Open)
    seen.add(id)
    if (!verifySignature(text, sig, v)) {
      throw new TlogError('ERR_NOTE_BAD_SIGNATURE', `the signature of ${short(sig.name)} (key ${keyIdHex(sig.keyId)}) does not verify: the note was altered or forged`, {
        name: sig.name,
        keyId: sig.keyId,
      })
    }
    verified.push(sig)
  }
  if (verified.length === 0) {
    throw new TlogError('ERR_NOTE_UNVERIFIED', 'no signature on the note is from a known key: check the verifier keys (vkeys) configured for this origin')
  }
  return { text, signatures, verified }
}

/** Appends signature lines (each `— name sig\n`) to a signed note, skipping lines already present. */
export function appendSignatures(note: string, lines: readonly string[]): string {
  const { signatures } = parseNote(note)
  const have = new Set(signatures.map((s) => s.line))
  let out = note
  for (const l of lines) {
    const line = l.endsWith('\n') ? l : `${l}\n`
    if (have.has(line)) continue
    parseNote(`x\n\n${line}`) // validates the line
    have.add(line)
    out += line
  }
  parseNote(out) // the result stays within the limits
  return out
}
