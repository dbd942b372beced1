// The network's signed checkpoints (DESIGN §11): sign the block log's tree head as a C2SP checkpoint, never two
// inconsistent ones, keep the latest with every cosignature collected from witnesses.
import { equalBytes, type KeyPair } from '@profichain/core'
import {
  appendSignatures,
  type Checkpoint,
  formatCheckpoint,
  formatVkey,
  parseCheckpoint,
  parseNote,
  signNote,
  verifyCosignature,
  type NoteVerifier,
} from '../tlog/index.js'
import type { BlockLog } from './block-log.js'
import { LogError } from './errors.js'
import { fromUtf8, type LogKv, Mutex, utf8 } from './kv.js'

export interface SignedCheckpoint {
  checkpoint: Checkpoint
  /** The checkpoint note text (what is signed). */
  text: string
  /** The signed note: our validators' signatures (no cosignatures). */
  note: string
}

export interface CheckpointStoreInit {
  /** Log origin (genesis `origin`); also the note key name. */
  origin: string
}

export interface CheckpointStoreComponents {
  kv: LogKv
  log: BlockLog
}

const LATEST = utf8('checkpoint')
const COSIG_PREFIX = 'cosig:'

/**
 * The latest signed checkpoint (persisted, synced) and the cosignatures on it. `sign` refuses (ERR_LOG_INCONSISTENT)
 * to sign a checkpoint that is not an extension of the last one signed.
 */
export interface CheckpointStore {
  latest(): Promise<SignedCheckpoint | undefined>
  /**
   * Sign the log's current size when it grew past the latest signed checkpoint (`signers`: this node's key
   * with name = origin); undefined when there is nothing new. Checks consistency with the latest first.
   */
  signIfGrown(signers: ReadonlyArray<{ keyPair: KeyPair }>): Promise<SignedCheckpoint | undefined>
  /** Store a checkpoint signed elsewhere (another validator's signature on the same tree head); verified by the caller. */
  adopt(note: string): Promise<SignedCheckpoint>
  /**
   * A checkpoint another validator signed (its signatures verified by the caller with the network vkeys): merge
   * its signatures when it is our latest tree head; when it is newer than our latest and our log has that size
   * with that root, co-sign it with `signers` (validators; none: just keep it) and make it the latest. Stale or
   * not yet checkable: undefined. A checkpoint that contradicts our log or our latest: ERR_LOG_INCONSISTENT.
   * `signed` tells whether our own signature was added (then gossip the result).
   */
  receive(note: string, signers: ReadonlyArray<{ keyPair: KeyPair }>): Promise<{ checkpoint: SignedCheckpoint; signed: boolean; changed: boolean } | undefined>
  /** Keep a witness's cosignature line on the checkpoint `text` after verifying it with `verifier`; false if invalid. */
  addCosignature(text: string, line: string, verifier: NoteVerifier): Promise<boolean>
  /** The latest signed checkpoint with every valid cosignature collected on it (what GET /checkpoint serves). */
  served(): Promise<string | undefined>
  /** The cosignature lines on the latest checkpoint, by witness name. */
  cosignatures(): Promise<Array<{ name: string; line: string; timestamp: number }>>
}

class KvCheckpointStore implements CheckpointStore {
  private readonly mutex = new Mutex()
  private cached?: SignedCheckpoint | null

  constructor(
    private readonly init: CheckpointStoreInit,
    private readonly c: CheckpointStoreComponents,
  ) {}

  async latest(): Promise<SignedCheckpoint | undefined> {
    if (this.cached === undefined) {
      const raw = await this.c.kv.get('logMeta', LATEST)
      this.cached = raw === undefined ? null : toSigned(fromUtf8(raw))
    }
    return this.cached ?? undefined
  }

  signIfGrown(signers: ReadonlyArray<{ keyPair: KeyPair }>): Promise<SignedCheckpoint | undefined> {
    return this.mutex.run(async () => {
      const { log } = this.c
      const size = log.size()
      const prev = await this.latest()
      if (size === 0 || (prev && size <= prev.checkpoint.size)) return undefined
      if (prev) {
        // A network never signs two inconsistent checkpoints: the log at the old size must have the old root.
        const oldRoot = await log.root(prev.checkpoint.size)
        if (!equalBytes(oldRoot, prev.checkpoint.root))
          throw new LogError(
            'ERR_LOG_INCONSISTENT',
            `refusing to sign: the block log at size ${prev.checkpoint.size} no longer has the signed root; the data dir's block log was changed (run \`profichain audit\`)`,
            { size: prev.checkpoint.size },
          )
      }
      const checkpoint: Checkpoint = { origin: this.init.origin, size, root: await log.root(size), extensions: [] }
      const text = formatCheckpoint(checkpoint)
      const note = signNote(
        text,
        signers.map((s) => ({ name: this.init.origin, keyPair: s.keyPair })),
      )
      await this.c.kv.write([{ bucket: 'logMeta', key: LATEST, value: utf8(note) }])
      this.cached = { checkpoint, text, note }
      return this.cached
    })
  }

  adopt(note: string): Promise<SignedCheckpoint> {
    return this.mutex.run(async () => {
      const signed = toSigned(note)
      const prev = await this.latest()
      if (prev && signed.checkpoint.size < prev.checkpoint.size) return prev
      if (prev && prev.text === signed.text) {
        // Same tree head: merge the signature lines.
        const merged = appendSignatures(prev.note, parseNote(note).signatures.map((s) => s.line))
        await this.c.kv.write([{ bucket: 'logMeta', key: LATEST, value: utf8(merged) }])
        this.cached = toSigned(merged)
        return this.cached
      }
      const { log } = this.c
      if (signed.checkpoint.size > log.size() || !equalBytes(await log.root(signed.checkpoint.size), signed.checkpoint.root))
        throw new LogError('ERR_LOG_INCONSISTENT', `checkpoint of size ${signed.checkpoint.size} is not this node's block log`)
      await this.c.kv.write([{ bucket: 'logMeta', key: LATEST, value: utf8(note) }])
      this.cached = signed
      return signed
    })
  }

  receive(
    note: string,
    signers: ReadonlyArray<{ keyPair: KeyPair }>,
  ): Promise<{ checkpoint: SignedCheckpoint; signed: boolean; changed: boolean } | undefined> {
    return this.mutex.run(async () => {
      const r = toSigned(note)
      const { log } = this.c
      if (r.checkpoint.origin !== this.init.origin)
        throw new LogError('ERR_LOG_INCONSISTENT', `checkpoint of another log (${r.checkpoint.origin})`)
      const prev = await this.latest()
      const lines = parseNote(note).signatures.map((x) => x.line)
      if (prev && r.text === prev.text) {
        const merged = appendSignatures(prev.note, lines)
        if (merged === prev.note) return { checkpoint: prev, signed: false, changed: false }
        await this.c.kv.write([{ bucket: 'logMeta', key: LATEST, value: utf8(merged) }])
        this.cached = toSigned(merged)
        return { checkpoint: this.cached, signed: false, changed: true }
      }
      const size = r.checkpoint.size
      if (prev && size === prev.checkpoint.size)
        throw new LogError('ERR_LOG_INCONSISTENT', `another validator signed size ${size} with another root than ours`, { size })
      if ((prev && size < prev.checkpoint.size) || size > log.size() || size === 0) return undefined
      if (!equalBytes(await log.root(size), r.checkpoint.root))
        throw new LogError('ERR_LOG_INCONSISTENT', `a validator signed size ${size} with a root this node's block log does not have`, { size })
      if (prev && !equalBytes(await log.root(prev.checkpoint.size), prev.checkpoint.root))
        throw new LogError('ERR_LOG_INCONSISTENT', `the block log at size ${prev.checkpoint.size} no longer has the signed root`)
      let merged = note
      if (signers.length > 0) {
        const own = parseNote(signNote(r.text, signers.map((x) => ({ name: this.init.origin, keyPair: x.keyPair })))).signatures
        merged = appendSignatures(note, own.map((x) => x.line))
      }
      await this.c.kv.write([{ bucket: 'logMeta', key: LATEST, value: utf8(merged) }])
      this.cached = toSigned(merged)
      return { checkpoint: this.cached, signed: signers.length > 0 && merged !== note, changed: true }
    })
  }

  async addCosignature(text: string, line: string, verifier: NoteVerifier): Promise<boolean> {
    let timestamp: number
    try {
      timestamp = verifyCosignature(line, text, verifier).timestamp
    } catch {
      return false
    }
    const value = JSON.stringify({ text, line: line.endsWith('\n') ? line : `${line}\n`, timestamp })
    await this.c.kv.write([{ bucket: 'logMeta', key: utf8(COSIG_PREFIX + verifier.name), value: utf8(value) }])
    return true
  }

  async cosignatures(): Promise<Array<{ name: string; line: string; timestamp: number }>> {
    const latest = await this.latest()
    if (!latest) return []
    const prefix = utf8(COSIG_PREFIX)
    const lt = utf8(`${COSIG_PREFIX}\u{10ffff}`)
    const out: Array<{ name: string; line: string; timestamp: number }> = []
    for (const [k, v] of await this.c.kv.entries('logMeta', { gte: prefix, lt }, 1000)) {
      try {
        const r = JSON.parse(fromUtf8(v)) as { text: string; line: string; timestamp: number }
        if (r.text === latest.text) out.push({ name: fromUtf8(k).slice(COSIG_PREFIX.length), line: r.line, timestamp: r.timestamp })
      } catch {
        // A damaged entry is skipped; the next cosignature replaces it.
      }
    }
    return out
  }

  async served(): Promise<string | undefined> {
    const latest = await this.latest()
    if (!latest) return undefined
    const cos = await this.cosignatures()
    return cos.length === 0 ? latest.note : appendSignatures(latest.note, cos.map((c) => c.line))
  }
}

function toSigned(note: string): SignedCheckpoint {
  const { text } = parseNote(note)
  return { checkpoint: parseCheckpoint(text), text, note }
}

export function createCheckpointStore(init: CheckpointStoreInit, components: CheckpointStoreComponents): CheckpointStore {
  return new KvCheckpointStore(init, components)
}

/** The network's note verifier keys (one per validator, name = origin): what `profichain checkpoint --vkeys` prints. */
export function networkVkeys(origin: string, validatorPublicKeys: readonly Uint8Array[]): string[] {
  return validatorPublicKeys.map((k) => formatVkey(origin, k))
}
