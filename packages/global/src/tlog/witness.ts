// c2sp.org/tlog-witness: the add-checkpoint request body and the witness's decision (pure; state via a store).
import { equalBytes, type KeyPair } from '@profichain/core'
import { parseCheckpoint, type Checkpoint } from './checkpoint.js'
import { cosign } from './cosignature.js'
import { TlogError } from './errors.js'
import { emptyRoot, verifyConsistency } from './merkle.js'
import { NOTE_MAX_BYTES, NOTE_MAX_SIGNATURES, openNote, parseNote, type NoteSignature, type NoteVerifier } from './note.js'
import { decodeBase64Strict, decodeUtf8Strict, encodeBase64, parseDecimal, short } from './text.js'

/** At most this many consistency proof lines (the spec: a client MUST NOT send more than 63). */
export const WITNESS_MAX_PROOF_LINES = 63
/** Longest add-checkpoint body accepted: a maximal note plus the old line and 63 proof lines. */
export const WITNESS_MAX_BODY_BYTES = NOTE_MAX_BYTES + 64 * 64
/** Content types of the add-checkpoint responses. */
export const WITNESS_CONTENT_TYPE_TEXT = 'text/plain; charset=utf-8'
export const WITNESS_CONTENT_TYPE_SIZE = 'text/x.tlog.size'

export interface AddCheckpointRequest {
  oldSize: number
  proof: Uint8Array[]
  /** The signed checkpoint note, as sent. */
  note: string
}

/** A log this witness cosigns: its origin, its trusted keys, and how many distinct keys must have signed. */
export interface WitnessedLog {
  origin: string
  verifiers: NoteVerifier[]
  threshold: number
}

/** The latest checkpoint this witness cosigned for one origin. */
export interface WitnessState {
  size: number
  root: Uint8Array
  /** The checkpoint note with the log's verified signatures (one per trusted key) and this witness's cosignature. */
  note: string
}

export interface WitnessStateStore {
  get(origin: string): Promise<WitnessState | undefined>
  /** atomically: replace only if the stored state still equals `expected` (undefined = none); false otherwise */
  compareAndSwap(origin: string, expected: WitnessState | undefined, next: WitnessState): Promise<boolean>
}

export interface AddCheckpointDeps {
  logs(origin: string): WitnessedLog | undefined | Promise<WitnessedLog | undefined>
  state: WitnessStateStore
  signer: { name: string; keyPair: KeyPair }
  /** Milliseconds since the epoch (Date.now); the cosignature timestamp is floor(now() / 1000) seconds. */
  now(): number
}

export type WitnessStatus = 200 | 400 | 403 | 404 | 409 | 422

export interface WitnessEvidence {
  /** 'fork': same size as the stored checkpoint, other root; 'inconsistent': the consistency proof fails. */
  kind: 'fork' | 'inconsistent'
  previous: WitnessState
  /** The offered signed checkpoint note (validly signed by the log). */
  offered: string
}

export interface AddCheckpointResult {
  status: WitnessStatus
  /** 200: text/plain; charset=utf-8 (cosignature lines); 409: text/x.tlog.size; errors: text/plain; charset=utf-8 */
  contentType: string
  body: string
  /** The parsed checkpoint, once it is known to be validly signed by the log (200, 409, 422, and 400 for old > size). */
  checkpoint?: Checkpoint
  evidence?: WitnessEvidence
}

function malformed(why: string): never {
  throw new TlogError('ERR_WITNESS_REQUEST_MALFORMED', `add-checkpoint request is malformed: ${why}`)
}

/** Parses an add-checkpoint body (a string, or the raw bytes, which must be UTF-8). Throws TlogError ERR_WITNESS_REQUEST_MALFORMED (also for > 63 proof lines). */
export function parseAddCheckpoint(input: string | Uint8Array): AddCheckpointRequest {
  if (input instanceof Uint8Array && input.length > WITNESS_MAX_BODY_BYTES) malformed(`longer than ${WITNESS_MAX_BODY_BYTES} bytes`)
  const body = input instanceof Uint8Array ? decodeUtf8Strict(input) : input
  if (body === undefined) malformed('not valid UTF-8')
  if (typeof body !== 'string') malformed('not a string or UTF-8 bytes')
  if (body.length > WITNESS_MAX_BODY_BYTES || Buffer.byteLength(body, 'utf8') > WITNESS_MAX_BODY_BYTES) {
    malformed(`longer than ${WITNESS_MAX_BODY_BYTES} bytes`)
  }
  let pos = body.indexOf('\n')
  if (pos < 0) malformed('no "old <size>" line')
  const oldLine = body.slice(0, pos)
  if (!oldLine.startsWith('old ')) malformed(`the first line ${short(oldLine)} is not "old <size>"`)
  const oldSize = parseDecimal(oldLine.slice(4))
  if (oldSize === undefined) malformed(`old size ${short(oldLine.slice(4))} is not a decimal without leading zeros`)
  const proof: Uint8Array[] = []
  for (;;) {
    const start = pos + 1
    const end = body.indexOf('\n', start)
    if (end < 0) malformed('no empty line before the checkpoint')
    pos = end
    const line = body.slice(start, end)
    if (line === '') break
    if (proof.length === WITNESS_MAX_PROOF_LINES) malformed(`more than ${WITNESS_MAX_PROOF_LINES} consistency proof lines`)
    const h = decodeBase64Strict(line)
    if (h === undefined || h.length !== 32) malformed(`proof line ${short(line)} is not the base64 of a 32-byte hash`)
    proof.push(h.slice())
  }
  const note = body.slice(pos + 1)
  if (note.length === 0) malformed('no checkpoint after the empty line')
  return { oldSize, proof, note }
}

/** `old N\n` + base64 proof lines + `\n` + the signed checkpoint note. Throws ERR_WITNESS_REQUEST_MALFORMED. */
export function formatAddCheckpoint(req: AddCheckpointRequest): string {
  if (!Number.isSafeInteger(req.oldSize) || req.oldSize < 0) malformed(`old size ${String(req.oldSize)} is not a non-negative integer`)
  if (req.proof.length > WITNESS_MAX_PROOF_LINES) malformed(`more than ${WITNESS_MAX_PROOF_LINES} consistency proof lines`)
  for (const h of req.proof) if (!(h instanceof Uint8Array) || h.length !== 32) malformed('a proof hash is not 32 bytes')
  if (typeof req.note !== 'string' || req.note.length === 0) malformed('no checkpoint')
  return `old ${req.oldSize}\n${req.proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${req.note}`
}

/** Parses a 409 body (`<size>\n`, content type text/x.tlog.size). Throws ERR_WITNESS_REQUEST_MALFORMED. */
export function parseTlogSize(body: string): number {
  const n = typeof body === 'string' && body.endsWith('\n') ? parseDecimal(body.slice(0, -1)) : undefined
  if (n === undefined) malformed(`${short(String(body))} is not "<size>\\n"`)
  return n
}

function text(status: Exclude<WitnessStatus, 200 | 409>, message: string, extra: Partial<AddCheckpointResult> = {}): AddCheckpointResult {
  return { status, contentType: WITNESS_CONTENT_TYPE_TEXT, body: `${message}\n`, ...extra }
}

function conflict(size: number, extra: Partial<AddCheckpointResult> = {}): AddCheckpointResult {
  return { status: 409, contentType: WITNESS_CONTENT_TYPE_SIZE, body: `${size}\n`, ...extra }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Handles one add-checkpoint request exactly as c2sp.org/tlog-witness says, in the spec's order:
 *  - 400: malformed body, note or checkpoint;
 *  - 404: unknown origin;
 *  - 403: a trusted key's signature fails, or fewer than `threshold` distinct trusted keys signed;
 *  - 400: old size > checkpoint size;
 *  - 409: old size ≠ the stored size (0 when none); body `<stored size>\n`, text/x.tlog.size;
 *  - 422: size 0 with a root other than SHA-256(""); a non-empty proof with old size 0; same size as stored
 *    but another root (evidence 'fork'); a consistency proof that does not verify (evidence 'inconsistent');
 *  - 200: body = our cosignature line (cosignature/v1, timestamp floor(now()/1000)).
 * Evidence 'fork' is also attached to a 409 whose checkpoint has the stored size and another root. The state is
 * only changed on 200, by compare-and-swap; a lost race is answered 409 with the winner's size. Errors of the
 * store (get/compareAndSwap) propagate: the caller answers 500.
 */
export async function addCheckpoint(body: string | Uint8Array, deps: AddCheckpointDeps): Promise<AddCheckpointResult> {
  let req: AddCheckpointRequest
  let parsed: { text: string }
  let checkpoint: Checkpoint
  try {
    req = parseAddCheckpoint(body)
    parsed = parseNote(req.note)
    checkpoint = parseCheckpoint(parsed.text)
  } catch (err) {
    if (err instanceof TlogError) return text(400, messageOf(err))
    throw err
  }
  const log = await deps.logs(checkpoint.origin)
  if (log === undefined) return text(404, `unknown log origin ${short(checkpoint.origin)}: this witness does not cosign it`)

  let verified: NoteSignature[]
  try {
    verified = openNote(req.note, log.verifiers).verified
    const distinct = new Set(verified.map((s) => `${s.keyId}:${s.name}`)).size
    const threshold = Math.max(1, log.threshold)
    if (distinct < threshold) {
      return text(403, `the checkpoint carries ${distinct} valid signature(s) from the log's keys, ${threshold} are required`)
    }
  } catch (err) {
    if (err instanceof TlogError) return text(403, messageOf(err))
    throw err
  }

  if (req.oldSize > checkpoint.size) {
    return text(400, `old size ${req.oldSize} is larger than the checkpoint size ${checkpoint.size}`, { checkpoint })
  }
  const stored = await deps.state.get(checkpoint.origin)
  const storedSize = stored?.size ?? 0
  const fork =
    stored !== undefined && stored.size === checkpoint.size && !equalBytes(stored.root, checkpoint.root)
      ? { kind: 'fork' as const, previous: stored, offered: req.note }
      : undefined
  if (req.oldSize !== storedSize) return conflict(storedSize, { checkpoint, ...(fork ? { evidence: fork } : {}) })

  if (checkpoint.size === 0 && !equalBytes(checkpoint.root, emptyRoot())) {
    return text(422, 'a checkpoint of size 0 must carry the root of the empty tree, SHA-256("")', { checkpoint })
  }
  if (req.oldSize === 0) {
    if (req.proof.length > 0) return text(422, 'old size 0 needs an empty consistency proof', { checkpoint })
  } else if (stored !== undefined) {
    if (fork) {
      return text(422, `the checkpoint has the size of the one witnessed (${stored.size}) but another root: the log forked`, {
        checkpoint,
        evidence: fork,
      })
    }
    if (!verifyConsistency(stored.size, checkpoint.size, stored.root, checkpoint.root, req.proof)) {
      return text(422, `the consistency proof from size ${stored.size} to ${checkpoint.size} does not verify`, {
        checkpoint,
        evidence: { kind: 'inconsistent', previous: stored, offered: req.note },
      })
    }
  }

  const timestamp = Math.floor(deps.now() / 1000)
  const line = cosign(parsed.text, deps.signer.name, deps.signer.keyPair, timestamp)
  // What is kept: the text, the log's verified signatures (one per key, bounded) and our cosignature.
  const kept = verified.slice(0, NOTE_MAX_SIGNATURES - 1).map((s) => s.line)
  const next: WitnessState = { size: checkpoint.size, root: checkpoint.root, note: `${parsed.text}\n${kept.join('')}${line}` }
  if (!(await deps.state.compareAndSwap(checkpoint.origin, stored, next))) {
    const now = await deps.state.get(checkpoint.origin)
    return conflict(now?.size ?? 0, { checkpoint })
  }
  return { status: 200, contentType: WITNESS_CONTENT_TYPE_TEXT, body: line, checkpoint }
}
