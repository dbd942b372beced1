import { createHash, type Hash, randomBytes } from 'node:crypto'
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import type { BridgeFileHeader } from './dataset.js'
import { OpcuaError } from './errors.js'
import type { RecordOutput } from './output.js'

/** When a file is closed and handed to the inbox: whichever limit is reached first. */
export interface RotateInit {
  /** Bytes per file (default 4 MiB; keep it under the node's `ingest.max_file_bytes`). */
  maxBytes?: number
  /** Milliseconds a file stays open (default 1000). */
  maxMs?: number
  /** Lines (records) per file (default 10000). */
  maxLines?: number
}

export interface FileOutputInit {
  /** The thin node's inbox (or a folder below it). */
  dir: string
  /** Where the file chain state lives (`<stateDir>/file-chain.json`); outside the inbox. */
  stateDir: string
  publisherId: string
  rotate?: RotateInit
}

interface ChainState {
  version: 1
  lastSeq: number
  lastHash: string
}

const PART = /^\.(.+)-(\d{10})\.jsonl\.part$/

/** Only filename-safe characters of a publisher id. */
function safe(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'opcua'
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Rotated JSONL files in a node's inbox (DESIGN §14). A file is written as `.<name>.jsonl.part` (a dotfile:
 * the ingester never takes it), fsynced, its hash recorded in the chain state, and only then renamed to
 * `<name>.jsonl`, so a half-written file is never ingested. Every file starts with a header line holding
 * its sequence number and the previous file's SHA-256.
 */
export class FileOutput implements RecordOutput {
  private readonly prefix: string
  private readonly maxBytes: number
  private readonly maxMs: number
  private readonly maxLines: number
  private state: ChainState = { version: 1, lastSeq: 0, lastHash: '' }
  private fh: FileHandle | undefined
  private hash: Hash | undefined
  private bytes = 0
  private lines = 0
  private openedAt = 0
  private timer: NodeJS.Timeout | undefined
  private chain: Promise<void> = Promise.resolve()
  private failed: Error | undefined
  /** Files handed to the inbox since start. */
  filesWritten = 0
  /** True when files of an earlier run exist (the bridge then writes a `bridge-restart` gap marker). */
  resumed = false

  constructor(private readonly init: FileOutputInit) {
    this.prefix = `opcua-${safe(init.publisherId)}`
    this.maxBytes = init.rotate?.maxBytes ?? 4 * 1024 * 1024
    this.maxMs = init.rotate?.maxMs ?? 1000
    this.maxLines = init.rotate?.maxLines ?? 10_000
  }

  private get statePath(): string {
    return join(this.init.stateDir, `${this.prefix}.file-chain.json`)
  }

  private name(seq: number): string {
    return `${this.prefix}-${String(seq).padStart(10, '0')}.jsonl`
  }

  /** Load the chain state and finish what a killed run left (a synced part is renamed, a torn one cut at its last full line). */
  async start(): Promise<void> {
    await mkdir(this.init.dir, { recursive: true })
    await mkdir(this.init.stateDir, { recursive: true })
    try {
      const s = JSON.parse(await readFile(this.statePath, 'utf8')) as ChainState
      if (s.version !== 1 || !Number.isInteger(s.lastSeq) || typeof s.lastHash !== 'string') throw new Error('bad fields')
      this.state = s
      this.resumed = s.lastSeq > 0
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new OpcuaError('ERR_OPCUA_OUTPUT', `the bridge's file chain state ${this.statePath} is unreadable (${(err as Error).message}); restore it or move it away to start a new chain`)
      }
    }
    for (const f of await readdir(this.init.dir)) {
      const m = PART.exec(f)
      if (!m || `.${m[1]}` !== `.${this.prefix}`) continue
      const seq = Number(m[2])
      const part = join(this.init.dir, f)
      if (seq === this.state.lastSeq) {
        // Synced and recorded, but the rename did not happen.
        await rename(part, join(this.init.dir, this.name(seq)))
      } else if (seq === this.state.lastSeq + 1) {
        await this.salvage(part, seq)
      } else {
        await rm(part, { force: true })
      }
    }
    await fsyncDir(this.init.dir)
  }

  /** A part file of a killed run: keep its complete lines (samples that were received), drop a torn tail. */
  private async salvage(part: string, seq: number): Promise<void> {
    const data = await readFile(part)
    const end = data.lastIndexOf(0x0a) + 1
    const keep = data.subarray(0, end)
    let headerOk = false
    if (end > 0) {
      try {
        const first = JSON.parse(keep.subarray(0, keep.indexOf(0x0a)).toString('utf8')) as BridgeFileHeader
        headerOk = first.type === 'file' && first.fileSeq === seq && first.prevFileHash === this.state.lastHash
      } catch {
        headerOk = false
      }
    }
    // Only the header (or not even that): nothing worth a file.
    if (!headerOk || keep.indexOf(0x0a) === end - 1) {
      await rm(part, { force: true })
      return
    }
    if (end < data.length) await truncate(part, end)
    const fh = await open(part, 'r+')
    await fh.sync()
    await fh.close()
    await this.commit(part, seq, createHash('sha256').update(keep).digest('hex'))
  }

  /** Record the file in the chain state (synced), then rename it into the inbox. */
  private async commit(part: string, seq: number, hash: string): Promise<void> {
    this.state = { version: 1, lastSeq: seq, lastHash: hash }
    const tmp = join(this.init.stateDir, `.${this.prefix}.${randomBytes(4).toString('hex')}.tmp`)
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(`${JSON.stringify(this.state)}\n`)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, this.statePath)
    await fsyncDir(this.init.stateDir)
    await rename(part, join(this.init.dir, this.name(seq)))
    await fsyncDir(this.init.dir)
    this.filesWritten++
  }

  private run(fn: () => Promise<void>): Promise<void> {
    const p = this.chain.then(async () => {
      if (this.failed) throw this.failed
      try {
        await fn()
      } catch (err) {
        this.failed = new OpcuaError('ERR_OPCUA_OUTPUT', `writing bridge files in ${this.init.dir} failed: ${(err as Error).message}`, {}, { cause: err })
        throw this.failed
      }
    })
    this.chain = p.catch(() => {})
    return p
  }

  /** Append lines (records) to the open file, opening a new one and rotating by size/count as needed. */
  write(lines: string[]): Promise<void> {
    return this.run(async () => {
      for (const line of lines) {
        if (!this.fh) await this.openNext()
        const buf = Buffer.from(`${line}\n`)
        await this.fh!.write(buf)
        this.hash!.update(buf)
        this.bytes += buf.length
        this.lines++
        if (this.bytes >= this.maxBytes || this.lines >= this.maxLines) await this.close()
      }
    })
  }

  /** Close the open file now (it becomes visible to the ingester). */
  flush(): Promise<void> {
    return this.run(() => this.close())
  }

  async stop(): Promise<void> {
    await this.flush().catch(() => {})
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  private async openNext(): Promise<void> {
    const seq = this.state.lastSeq + 1
    const part = join(this.init.dir, `.${this.name(seq)}.part`)
    this.fh = await open(part, 'w')
    this.hash = createHash('sha256')
    this.bytes = 0
    this.lines = 0
    this.openedAt = Date.now()
    const header: BridgeFileHeader = {
      profichainOpcua: 1,
      type: 'file',
      publisherId: this.init.publisherId,
      fileSeq: seq,
      prevFileHash: this.state.lastHash,
      createdAt: new Date().toISOString(),
    }
    const buf = Buffer.from(`${JSON.stringify(header)}\n`)
    await this.fh.write(buf)
    this.hash.update(buf)
    this.bytes += buf.length
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.run(() => (Date.now() - this.openedAt >= this.maxMs - 5 ? this.close() : Promise.resolve())).catch(() => {})
    }, this.maxMs)
    this.timer.unref()
  }

  private async close(): Promise<void> {
    if (!this.fh) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const fh = this.fh
    const seq = this.state.lastSeq + 1
    this.fh = undefined
    await fh.sync()
    await fh.close()
    await this.commit(join(this.init.dir, `.${this.name(seq)}.part`), seq, this.hash!.digest('hex'))
  }
}

/** The file output (DESIGN §14). */
export function createFileOutput(init: FileOutputInit): FileOutput {
  return new FileOutput(init)
}
