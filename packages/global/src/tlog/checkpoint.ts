// c2sp.org/tlog-checkpoint: the note text of a transparency log's tree head.
import { TlogError } from './errors.js'
import { openNote, type NoteVerifier, type OpenedNote } from './note.js'
import { decodeBase64Strict, encodeBase64, isNoteSafe, parseDecimal, short } from './text.js'

/** The body of a checkpoint note. `size` ≤ Number.MAX_SAFE_INTEGER; `root` is a 32-byte RFC 6962 SHA-256 root. */
export interface Checkpoint {
  origin: string
  size: number
  root: Uint8Array
  extensions: string[]
}

/** Longest checkpoint text accepted (origin + size + root + extensions). */
export const CHECKPOINT_MAX_BYTES = 64 * 1024

function bad(why: string): never {
  throw new TlogError('ERR_CHECKPOINT_MALFORMED', `not a valid checkpoint: ${why}`)
}

function checkLine(line: unknown, what: string): void {
  if (typeof line !== 'string' || line.length === 0) bad(`the ${what} is empty`)
  if (line.includes('\n') || !isNoteSafe(line)) bad(`the ${what} ${short(line)} holds a newline, a control character or invalid UTF-8`)
}

/** `origin\nsize\nbase64(root)\n` + one line per extension. Throws ERR_CHECKPOINT_MALFORMED for invalid fields. */
export function formatCheckpoint(c: Checkpoint): string {
  checkLine(c.origin, 'origin')
  if (!Number.isSafeInteger(c.size) || c.size < 0) bad(`size ${String(c.size)} is not a non-negative safe integer`)
  if (!(c.root instanceof Uint8Array) || c.root.length !== 32) bad('the root hash must be 32 bytes')
  const ext = c.extensions ?? []
  for (const e of ext) checkLine(e, 'extension line')
  const text = [c.origin, String(c.size), encodeBase64(c.root), ...ext].join('\n') + '\n'
  if (Buffer.byteLength(text, 'utf8') > CHECKPOINT_MAX_BYTES) bad(`longer than ${CHECKPOINT_MAX_BYTES} bytes`)
  return text
}

/**
 * Parses a checkpoint note *text* (no signatures: use openNote first, and pass its `text`). Throws
 * ERR_CHECKPOINT_MALFORMED. Sizes above 2^53 − 1 are refused (no log of ours gets there).
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string') bad('not a string')
  if (text.length > CHECKPOINT_MAX_BYTES || Buffer.byteLength(text, 'utf8') > CHECKPOINT_MAX_BYTES) bad(`longer than ${CHECKPOINT_MAX_BYTES} bytes`)
  if (!text.endsWith('\n')) bad('the text must end with a newline')
  if (!isNoteSafe(text)) bad('it holds a control character or invalid UTF-8')
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) bad('it needs an origin, a size and a root hash line')
  if (lines.some((l) => l.length === 0)) bad('it has an empty line')
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]]
  const size = parseDecimal(sizeLine)
  if (size === undefined) bad(`size ${short(sizeLine)} is not a decimal without leading zeros (at most 2^53 − 1)`)
  const root = decodeBase64Strict(rootLine)
  if (root === undefined || root.length !== 32) bad(`root ${short(rootLine)} is not the base64 of 32 bytes`)
  return { origin, size, root: root.slice(), extensions }
}

/**
 * Opens a signed checkpoint note with the log's verifier keys (openNote) and parses its text. Throws the
 * ERR_NOTE_* codes of openNote, or ERR_CHECKPOINT_MALFORMED. `origin`, when given, must match the origin line.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  origin?: string,
): { checkpoint: Checkpoint; note: OpenedNote } {
  const opened = openNote(note, verifiers)
  const checkpoint = parseCheckpoint(opened.text)
  if (origin !== undefined && checkpoint.origin !== origin) {
    bad(`its origin ${short(checkpoint.origin)} is not the expected ${short(origin)}`)
  }
  return { checkpoint, note: opened }
}
