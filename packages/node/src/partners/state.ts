import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, unlink, writeFile, open } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { sha256, toHex, utf8 } from '@profichain/core'

/**
 * What the partners subsystem remembers across restarts, in `<dataDir>/partners/` (written atomically,
 * fsynced): `state.json` (per partner: the size it last cosigned, the size up to which our receipts were
 * upgraded; our anchors waiting to be proven back) and `entanglements/<origin hash>/<size>.cbor` (every
 * verified entanglement proof, kept for audit and for rebuilding receipts).
 */
export interface PartnerProgress {
  /** The largest size of our checkpoint this partner cosigned (0 = none yet). */
  cosignedSize: number
  /** Our receipts of blocks below this height carry this partner's branch. */
  upgradedSize: number
}

export interface PendingAnchor {
  origin: string
  size: number
  txId: string
  /** The entanglement proof was handed to the link (it re-sends until the partner acks). */
  sent: boolean
}

export interface PartnersState {
  version: 1
  partners: Record<string, PartnerProgress>
  anchors: PendingAnchor[]
}

/** Sent anchors kept (newest) for audit; unsent ones are never dropped. */
const MAX_SENT_ANCHORS = 256

export async function writeAtomic(path: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = join(dirname(path), `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    await writeFile(tmp, data, mode !== undefined ? { mode } : {})
    const fh = await open(tmp, 'r+')
    try {
      await fh.datasync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

export function originDir(origin: string): string {
  return toHex(sha256(utf8(origin))).slice(0, 32)
}

export class PartnersStateFile {
  state: PartnersState = { version: 1, partners: {}, anchors: [] }
  private writing: Promise<void> = Promise.resolve()

  constructor(readonly dir: string) {}

  async load(): Promise<void> {
    try {
      const raw = JSON.parse(await readFile(join(this.dir, 'state.json'), 'utf8')) as PartnersState
      if (raw?.version === 1 && raw.partners && Array.isArray(raw.anchors)) this.state = raw
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }

  progress(origin: string): PartnerProgress {
    let p = this.state.partners[origin]
    if (!p) {
      p = { cosignedSize: 0, upgradedSize: 0 }
      this.state.partners[origin] = p
    }
    return p
  }

  /** Persist (serialised; each write sees the latest state). */
  save(): Promise<void> {
    const sent = this.state.anchors.filter((a) => a.sent)
    if (sent.length > MAX_SENT_ANCHORS) {
      const drop = new Set(sent.slice(0, sent.length - MAX_SENT_ANCHORS))
      this.state.anchors = this.state.anchors.filter((a) => !drop.has(a))
    }
    this.writing = this.writing.catch(() => {}).then(() => writeAtomic(join(this.dir, 'state.json'), `${JSON.stringify(this.state, null, 2)}\n`))
    return this.writing
  }

  entanglementPath(origin: string, size: number): string {
    return join(this.dir, 'entanglements', originDir(origin), `${String(size).padStart(16, '0')}.cbor`)
  }

  async saveEntanglement(origin: string, size: number, bytes: Uint8Array): Promise<void> {
    await writeAtomic(this.entanglementPath(origin, size), bytes)
  }

  /** Stored entanglement proofs of a partner: sizes ascending. */
  async entanglementSizes(origin: string): Promise<number[]> {
    try {
      const names = await readdir(join(this.dir, 'entanglements', originDir(origin)))
      return names.filter((n) => /^\d{16}\.cbor$/.test(n)).map((n) => Number(n.slice(0, 16))).sort((a, b) => a - b)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
  }

  async readEntanglement(origin: string, size: number): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.entanglementPath(origin, size)))
  }
}
