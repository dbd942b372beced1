// c2sp.org/tlog-checkpoint: the note text of a transparency log's tree head.
import { TlogError } from './errors.js'

/** The body of a checkpoint note. `size` ≤ Number.MAX_SAFE_INTEGER. */
export interface Checkpoint {
  origin: string
  size: number
  root: Uint8Array
  extensions: string[]
}

/** `origin\nsize\nbase64(root)\n` + one line per extension. Throws ERR_CHECKPOINT_MALFORMED for invalid fields. */
export function formatCheckpoint(c: Checkpoint): string {
  void c
  throw new TlogError('ERR_CHECKPOINT_MALFORMED', 'not implemented yet')
}

/** Parses a checkpoint note *text* (no signatures; use openNote first). Throws ERR_CHECKPOINT_MALFORMED. */
export function parseCheckpoint(text: string): Checkpoint {
  void text
  throw new TlogError('ERR_CHECKPOINT_MALFORMED', 'not implemented yet')
}
