import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { type CborValue, decodeCbor, decodeTransaction, encodeCbor, encodeTransaction, equalBytes, read, toHex, type Transaction, txId } from '@profichain/core'
import { ClientError } from './errors.js'

/**
 * Durable spool of a device's records (docs/client.md, "Spool"): one append-only log `spool.log`, every
 * entry `u32be length ‖ u32be CRC-32 ‖ CBOR`, fsynced before the caller is told. Entries:
 *   [0, seq, txBytes]         a signed record (queued)
 *   [1, seq, txId, status]    the node acknowledged it (0 accepted | 1 duplicate): the payload is dead weight
 *   [2, seq, code]            the node refused it for good
 *   [3, txId]                 its receipt is stored in receipts/<txId>.json (the record is done)
 *   [4, nextSeq]              floor of the next seq (written at compaction, so seq never goes back)
 * The in-memory index (seq → state) is rebuilt from the log at open; a torn last entry (crash mid-write,
 * never acknowledged) is cut off. The log is rewritten (tmp + fsync + rename) when it is mostly dead.
 */
export const SPOOL_MAGIC = 'PCSPOOL1'
const MAGIC = new TextEncoder().encode(SPOOL_MAGIC)
const ACKED_WEIGHT = 96 // bytes an acknowledged record awaiting its receipt counts against the limit

export interface SpoolInit {
  dir: string
  /** Upper bound of queued record bytes (+ a small weight per record awaiting its receipt); default 64 MiB. */
  maxBytes?: number
}

export interface SpooledRecord {
  seq: number
  txId: Uint8Array
  /** Present while not acknowledged. */
  tx?: Transaction
  state: 'queued' | 'acked'
  /** 0 accepted | 1 duplicate, once acked. */
  status?: number
}

export interface StoredReceipt {
  txId: string
  height: number
  blockHash: string
  chainpoint: unknown
}

export class Spool {
  readonly path: string
  readonly receiptsDir: string
  readonly maxBytes: number
  /** seq → record still owed something (an ack or a receipt). */
  private readonly records = new Map<number, SpooledRecord>()
  private readonly byTxId = new Map<string, number>()
  private used = 0
  private floor = 0
  private fh: FileHandle | undefined
  private fileBytes = 0
  private wantCompact = false
  private tmpCounter = 0
  private writeQueue: Array<{ buf: Uint8Array; resolve: () => void; reject: (e: unknown) => void }> = []
  private flushing: Promise<void> | undefined
  private closed = false

  private constructor(init: SpoolInit) {
    this.path = join(init.dir, 'spool.log')
    this.receiptsDir = join(init.dir, 'receipts')
    this.maxBytes = init.maxBytes ?? 64 * 1024 * 1024
  }

  /** Open (or create) the spool in `dir`, replaying its log. */
  static async open(init: SpoolInit): Promise<Spool> {
    const s = new Spool(init)
    await mkdir(s.receiptsDir, { recursive: true })
    await s.load()
    return s
  }

  /** The next seq the spool has not used (0 for a fresh spool). */
  get nextSeq(): number {
    let n = this.floor
    for (const seq of this.records.keys()) if (seq + 1 > n) n = seq + 1
    return n
  }

  /** Whether the spool has ever held a record (so the device's seq is known without asking the node). */
  get knowsSeq(): boolean {
    return this.floor > 0 || this.records.size > 0
  }

  get usedBytes(): number {
    return this.used
  }

  /** Records not yet acknowledged, in seq order (what a reconnect re-sends). */
  queued(): SpooledRecord[] {
    return [...this.records.values()].filter((r) => r.state === 'queued').sort((a, b) => a.seq - b.seq)
  }

  /** Acknowledged records whose receipt has not arrived yet. */
  awaitingReceipt(): SpooledRecord[] {
    return [...this.records.values()].filter((r) => r.state === 'acked').sort((a, b) => a.seq - b.seq)
  }

  get(txIdBytes: Uint8Array): SpooledRecord | undefined {
    const seq = this.byTxId.get(toHex(txIdBytes))
    return seq === undefined ? undefined : this.records.get(seq)
  }

  /** Throws ERR_SPOOL_FULL if a record of `bytes` does not fit. */
  checkRoom(bytes: number): void {
    if (this.used + bytes > this.maxBytes) {
      throw new ClientError('ERR_SPOOL_FULL', `the spool holds ${this.used} bytes and a record of ${bytes} bytes would exceed its ${this.maxBytes}-byte limit; wait for the node to acknowledge records (is it reachable?) or raise maxSpoolBytes`, { limit: this.maxBytes, used: this.used })
    }
  }

  /** Append a signed record and fsync: once this resolves, a crash cannot lose it. */
  async append(tx: Transaction): Promise<SpooledRecord> {
    const bytes = encodeTransaction(tx)
    this.checkRoom(bytes.byteLength)
    const seq = tx.body.seq
    const rec: SpooledRecord = { seq, txId: txId(tx), tx, state: 'queued' }
    this.records.set(seq, rec)
    this.byTxId.set(toHex(rec.txId), seq)
    this.used += bytes.byteLength
    try {
      await this.write([0, seq, bytes])
    } catch (err) {
      this.drop(seq)
      throw err
    }
    return rec
  }

  /** Mark a record acknowledged (its payload is no longer needed). */
  async acked(seq: number, status: number): Promise<void> {
    const rec = this.records.get(seq)
    if (!rec || rec.state === 'acked') return
    this.used -= encodeTransaction(rec.tx as Transaction).byteLength - ACKED_WEIGHT
    rec.state = 'acked'
    rec.status = status
    rec.tx = undefined
    await this.write([1, seq, rec.txId, status])
    this.maybeCompact()
  }

  /** Forget a record the node refused for good. */
  async rejected(seq: number, code: string): Promise<void> {
    if (!this.records.has(seq)) return
    this.drop(seq)
    await this.write([2, seq, code])
    this.maybeCompact()
  }

  /** Store a verified receipt beside the spool (tmp + fsync + rename), then close the record. */
  async storeReceipt(r: StoredReceipt): Promise<string> {
    const file = join(this.receiptsDir, `${r.txId}.json`)
    const tmp = `${file}.${process.pid}.${++this.tmpCounter}.tmp` // two writers of one receipt never share a tmp file
    const fh = await open(tmp, 'w', 0o644)
    try {
      await fh.writeFile(JSON.stringify(r, null, 2) + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
    await syncDir(this.receiptsDir)
    const seq = this.byTxId.get(r.txId)
    if (seq !== undefined) {
      // Dropped only once the log says so: until then the record still counts as awaiting its receipt.
      await this.write([3, Buffer.from(r.txId, 'hex')])
      this.drop(seq)
      this.maybeCompact()
    }
    return file
  }

  /** A stored receipt, if any. */
  async readReceipt(txIdHex: string): Promise<StoredReceipt | undefined> {
    try {
      return JSON.parse(await readFile(join(this.receiptsDir, `${txIdHex}.json`), 'utf8')) as StoredReceipt
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  async close(): Promise<void> {
    this.closed = true
    await this.flushing
    await this.fh?.close()
    this.fh = undefined
  }

  private drop(seq: number): void {
    const rec = this.records.get(seq)
    if (!rec) return
    this.used -= rec.state === 'queued' ? encodeTransaction(rec.tx as Transaction).byteLength : ACKED_WEIGHT
    if (seq + 1 > this.floor) this.floor = seq + 1
    this.records.delete(seq)
    this.byTxId.delete(toHex(rec.txId))
  }

  private entry(value: CborValue): Uint8Array {
    const body = encodeCbor(value)
    const out = Buffer.alloc(8 + body.byteLength)
    out.writeUInt32BE(body.byteLength, 0)
    out.writeUInt32BE(crc32(body), 4)
    out.set(body, 8)
    return out
  }

  /** Group commit: concurrent appends share one write + fdatasync. */
  private write(value: CborValue): Promise<void> {
    if (this.closed) return Promise.reject(new ClientError('ERR_CLOSED', 'the spool is closed'))
    const buf = this.entry(value)
    return new Promise<void>((resolve, reject) => {
      this.writeQueue.push({ buf, resolve, reject })
      this.kick()
    })
  }

  private kick(): void {
    if (!this.flushing) this.flushing = this.flush()
  }

  /**
   * The one writer: appends queued entries and, when asked, rewrites the log between two appends (the
   * in-memory state already includes every queued entry, and replaying one again is harmless).
   */
  private async flush(): Promise<void> {
    while (this.writeQueue.length > 0 || this.wantCompact) {
      if (this.wantCompact) {
        this.wantCompact = false
        try {
          await this.rewrite()
        } catch {
          // the old log is intact (rename is atomic); appends go on to it
        }
        continue
      }
      const batch = this.writeQueue
      this.writeQueue = []
      try {
        const buf = Buffer.concat(batch.map((b) => b.buf))
        await (this.fh as FileHandle).write(buf, 0, buf.byteLength, this.fileBytes)
        await (this.fh as FileHandle).datasync()
        this.fileBytes += buf.byteLength
        for (const b of batch) b.resolve()
      } catch (err) {
        for (const b of batch) b.reject(err)
      }
    }
    this.flushing = undefined
  }

  private async load(): Promise<void> {
    let data: Buffer
    try {
      data = await readFile(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      data = Buffer.alloc(0)
    }
    if (data.byteLength === 0) {
      await this.rewrite() // fresh spool: header only
      return
    }
    if (data.byteLength < MAGIC.byteLength || !equalBytes(data.subarray(0, MAGIC.byteLength), MAGIC)) {
      throw new ClientError('ERR_SPOOL_CORRUPT', `${this.path} is not a Profichain spool (bad magic); move it away to start a new one`, { path: this.path, offset: 0 })
    }
    let off = MAGIC.byteLength
    while (off < data.byteLength) {
      const end = off + 8 <= data.byteLength ? off + 8 + data.readUInt32BE(off) : Infinity
      const torn = end > data.byteLength
      const ok = !torn && crc32(data.subarray(off + 8, end)) === data.readUInt32BE(off + 4)
      if (!ok) {
        if (torn || end === data.byteLength) break // a torn tail: the write never completed, nobody was told
        throw new ClientError('ERR_SPOOL_CORRUPT', `${this.path} is damaged at byte ${off} (checksum mismatch before the end); copy it for inspection and move it away to start a new spool`, { path: this.path, offset: off })
      }
      try {
        this.apply(decodeCbor(data.subarray(off + 8, end), 'spool entry'))
      } catch (err) {
        if (err instanceof ClientError) throw err
        throw new ClientError('ERR_SPOOL_CORRUPT', `${this.path}: entry at byte ${off} does not decode (${(err as Error).message})`, { path: this.path, offset: off }, { cause: err })
      }
      off = end
    }
    // Rewrite at open: drops the torn tail and the dead entries in one step.
    await this.rewrite()
  }

  private apply(v: CborValue): void {
    const a = read.list(v, 4, 'spool entry')
    switch (a[0]) {
      case 0: {
        const tx = decodeTransaction(read.bytes(a[2], 'spool tx'))
        const seq = read.uint(a[1], 'spool seq')
        if (tx.body.seq !== seq) throw new Error(`entry seq ${seq} differs from the tx's ${tx.body.seq}`)
        const rec: SpooledRecord = { seq, txId: txId(tx), tx, state: 'queued' }
        this.records.set(seq, rec)
        this.byTxId.set(toHex(rec.txId), seq)
        this.used += encodeTransaction(tx).byteLength
        break
      }
      case 1: {
        const seq = read.uint(a[1], 'spool seq')
        const id = read.bytes(a[2], 'spool txId', 32)
        const status = read.uint(a[3], 'spool status')
        const rec = this.records.get(seq)
        if (rec?.state === 'queued') {
          this.used -= encodeTransaction(rec.tx as Transaction).byteLength - ACKED_WEIGHT
          rec.state = 'acked'
          rec.status = status
          rec.tx = undefined
        } else if (!rec) {
          // written at compaction: an acknowledged record awaiting its receipt
          this.records.set(seq, { seq, txId: id, state: 'acked', status })
          this.byTxId.set(toHex(id), seq)
          this.used += ACKED_WEIGHT
        }
        break
      }
      case 2:
        this.drop(read.uint(a[1], 'spool seq'))
        break
      case 3: {
        const seq = this.byTxId.get(toHex(read.bytes(a[1], 'spool txId', 32)))
        if (seq !== undefined) this.drop(seq)
        break
      }
      case 4: {
        const n = read.uint(a[1], 'spool floor')
        if (n > this.floor) this.floor = n
        break
      }
      default:
        throw new Error(`unknown entry type ${String(a[0])}`)
    }
  }

  /** Ask the writer to rewrite the log once it is mostly dead entries. */
  private maybeCompact(): void {
    if (this.fileBytes > 1024 * 1024 && this.fileBytes > 4 * (this.used + 64 * this.records.size)) {
      this.wantCompact = true
      this.kick()
    }
  }

  /** Write the live state into spool.log.tmp, fsync, rename over spool.log, fsync the directory. */
  private async rewrite(): Promise<void> {
    const parts: Uint8Array[] = [MAGIC, this.entry([4, this.nextSeq])]
    for (const r of [...this.records.values()].sort((a, b) => a.seq - b.seq)) {
      parts.push(r.state === 'queued' ? this.entry([0, r.seq, encodeTransaction(r.tx as Transaction)]) : this.entry([1, r.seq, r.txId, r.status ?? 0]))
    }
    const buf = Buffer.concat(parts)
    const tmp = `${this.path}.tmp`
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.write(buf, 0, buf.byteLength, 0)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await this.fh?.close()
    await rename(tmp, this.path)
    await syncDir(join(this.path, '..'))
    this.fh = await open(this.path, 'r+')
    this.fileBytes = buf.byteLength
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
