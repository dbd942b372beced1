// c2sp.org/tlog-witness: the add-checkpoint request body and the witness's decision (pure; state via a store).
import type { KeyPair } from '@profichain/core'
import type { Checkpoint } from './checkpoint.js'
import { TlogError } from './errors.js'
import type { NoteVerifier } from './note.js'

/** At most this many consistency proof lines (the spec: a client MUST NOT send more than 63). */
export const WITNESS_MAX_PROOF_LINES = 63

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
  /** The signed checkpoint note as received (the log's signatures, not ours). */
  note: string
}

export interface WitnessStateStore {
  get(origin: string): Promise<WitnessState | undefined>
  /** atomically: replace only if the stored state still equals `expected` (undefined = none); false otherwise */
  compareAndSwap(origin: string, expected: WitnessState | undefined, next: WitnessState): Promise<boolean>
}

export interface AddCheckpointDeps {
  logs(origin: string): WitnessedLog | undefined
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
  /** The parsed checkpoint, once it is known to be validly signed (200, 409, 422). */
  checkpoint?: Checkpoint
  evidence?: WitnessEvidence
}

/** Parses an add-checkpoint body. Throws TlogError ERR_WITNESS_REQUEST_MALFORMED (also for > 63 proof lines). */
export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  void body
  throw new TlogError('ERR_WITNESS_REQUEST_MALFORMED', 'not implemented yet')
}

/** `old N\n` + base64 proof lines + `\n` + the signed checkpoint note. */
export function formatAddCheckpoint(req: AddCheckpointRequest): string {
  void req
  throw new TlogError('ERR_WITNESS_REQUEST_MALFORMED', 'not implemented yet')
}

/** Parses a 409 body (`<size>\n`, content type text/x.tlog.size). Throws ERR_WITNESS_REQUEST_MALFORMED. */
export function parseTlogSize(body: string): number {
  void body
  throw new TlogError('ERR_WITNESS_REQUEST_MALFORMED', 'not implemented yet')
}

/**
 * Handles one add-checkpoint request exactly as c2sp.org/tlog-witness says: 400 malformed body or old size >
 * checkpoint size, 404 unknown origin, 403 no/insufficient/bad log signatures, 409 old size ≠ stored size (body
 * is the stored size), 422 bad proof / fork / empty-tree root; 200 with our cosignature line. The state is only
 * changed on 200 (compare-and-swap; a lost race is answered 409 with the new size).
 */
export async function addCheckpoint(body: string, deps: AddCheckpointDeps): Promise<AddCheckpointResult> {
  void body, void deps
  throw new TlogError('ERR_WITNESS_REQUEST_MALFORMED', 'not implemented yet')
}
