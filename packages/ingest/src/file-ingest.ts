import { type FSWatcher, type Stats, watch } from 'node:fs'
import { lstatSync, readFileSync } from 'node:fs'
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import {
  encodeTxBody,
  getCrypto,
  FORMAT_VERSION,
  LIMITS,
  newTransaction,
  newTxBody,
  payloadHashOf,
  ProfichainError,
  rememberTxPayloadHash,
  sha256,
  type Transaction,
  type TxBody,
  toHex,
  txBodyFromCbor,
  txBodyToCbor,
} from '@profichain/core'
import { IngestError } from './errors.js'
import {
  boundedPath,
  diskErrorCode,
  errCode,
  moveInto,
  moveOnto,
  releaseName,
  SMALL_FILE_BYTES,
  removeStaleTemps,
  type Reservation,
  reserveName,
  writeFileAtomic,
} from './fs-util.js'
import type {
  FileIngest,
  IngestComponents,
  IngestHealth,
  IngestInit,
  IngestLogger,
  IngestMetrics,
  IngestStats,
  ReceiptSource,
  ReceiptWriteOutcome,
} from './types.js'
import { iterateLines, lineFormatOf } from './lines.js'
import { alwaysIgnored, contentTypeOf, globMatcher, pathFilter, relPathOf } from './paths.js'
import { FileIo, type FileSig, type TakeResult } from './file-io.js'
import { WorkerReceiptIo } from './receipt-io.js'
import { writeReceiptFiles } from './receipts.js'

const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
/**
 * Default records per outbox batch (`batchRecords`): the group commit's limit, and the batch size of a big
 * line-mode file (each batch is atomic; dedupe keys cover a crash between batches).
 */
const DEFAULT_BATCH_RECORDS = 10_000
const LOOKUP_PARALLEL = 1024
/** Batches smaller than this are signed inline (a pool round trip costs more than a few signatures). */
const POOL_SIGN_MIN = 16
/**
 * Default files in flight (read, waiting for their group commit, being moved). At 1024 (session 5) a burst
 * moved as a convoy: every slot was held by the one or two groups being prepared and written, and the next
 * files were taken only after the whole group was moved (a trace of a 20,000-file burst: groups of 1,024,
 * then 250–850 ms with no group in preparation while the file worker finished and took 1,024 files). At
 * 4096, with groups of at most a quarter of it (`groupFiles`), files are taken while groups are written:
 * the outbox write is the only stage left on the critical path. Content held stays bounded by
 * maxInflightBytes (a take counts SMALL_FILE_BYTES until the size is known).
 */
const DEFAULT_CONCURRENCY = 4096
/** Default bytes of file content held in flight at once (a bigger file runs when nothing else is held). */
const DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024
const utf8 = new TextEncoder()

const silent: IngestLogger = {
  info() {},
  warn() {},
  error() {},
  debug() {},
  child() {
    return silent
  },
}

interface Candidate {
  size: number
  mtimeMs: number
  /** When size and mtime were last seen to change. */
  since: number
}

interface PendingRecord {
  dedupeKey: string
  payload: Uint8Array
  metadata: Record<string, string>
  /**
   * Its body differs from one already checked against the decoder's rules only in fields that cannot break
   * them (seq, timestamp, payload hash and size, and metadata `line`, a decimal): the check is skipped.
   */
  sameShape?: boolean
  /** sha256(payload) when already known. */
  payloadHash?: Uint8Array
}

/** The records of one file, made batch by batch when committed (a big line file is never held as records). */
interface RecordPlan {
  /** Dedupe key of the file version (a line's key is `<key>#<line>`). */
  key: string
  count: number
  /** Metadata every record carries (`processed` is added once the name is reserved). */
  meta: Record<string, string>
  records(): Iterable<PendingRecord>
}

function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let chunk: T[] = []
  for (const item of items) {
    chunk.push(item)
    if (chunk.length === size) {
      yield chunk
      chunk = []
    }
  }
  if (chunk.length > 0) yield chunk
}

/** A group's signed records, ready for one outbox batch; `next` is the seq after its last record. */
interface PreparedGroup {
  group: CommitRequest[]
  items: Array<{ tx: Transaction; dedupeKey: string }>
  /** Which records belong to which request of `group`. */
  ranges: Array<{ i: number; from: number; n: number }>
  next: number
}

/** One file waiting for its group commit. */
interface CommitRequest {
  plan: RecordPlan
  unchanged?: () => Promise<boolean>
  resolve(created: number): void
  reject(err: unknown): void
}

/**
 * lstat on the main thread. A few µs on a local disk, where `fs.promises.lstat` costs a round trip through
 * libuv's 4-thread pool, which LevelDB's fsyncs share: per-file metadata calls that way were the limit.
 */
async function lstatNow(path: string): Promise<Stats> {
  const st = lstatSync(path, { throwIfNoEntry: false })
  // A missing name is common (events for names just moved out): no exception built for it (tens of µs).
  if (st === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, lstat '${path}'`), { code: 'ENOENT', path })
  return st
}

/** lstat on the main thread, undefined when the name does not exist (no exception built). */
function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false })
  } catch {
    return undefined
  }
}

/** Read a small file with one synchronous call (same reason), a big one asynchronously. */
async function readNow(path: string, size: number): Promise<Buffer> {
  return size <= SMALL_FILE_BYTES ? readFileSync(path) : readFile(path)
}

function statSig(st: FileSig): string {
  return `${st.size}:${st.mtimeMs}`
}

/** Thrown inside commit when the file changed since it was read: nothing is stored. */
class FileChanged extends Error {}

/** A non-UTF-8 file name as text, losslessly: printable ASCII other than `%` kept, every other byte `%XX`. */
export function escapeName(name: Buffer): string {
  let out = ''
  for (const b of name) out += b > 0x20 && b < 0x7f && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  return out
}

function sha256Hex(s: string | Uint8Array): string {
  return toHex(sha256(typeof s === 'string' ? utf8.encode(s) : s))
}

/** Watches the inbox and turns complete files into signed records in the outbox (DESIGN §8). */
export class FileIngestImpl implements FileIngest {
  private readonly inbox: string
  private readonly processedDir: string
  private readonly rejectedDir: string
  private readonly receiptsDir: string
  private readonly accepts: (relPath: string) => boolean
  private readonly isLineFile: (relPath: string) => boolean
  private readonly maxFileBytes: number
  private readonly stableMs: number
  private readonly concurrency: number
  private readonly rescanMs: number
  private readonly log: IngestLogger
  private readonly metrics?: IngestMetrics

  private readonly candidates = new Map<string, Candidate>()
  private queue: string[] = []
  /** Index of the queue's first entry (Array.shift over 20,000 waiting names moved them all each time). */
  private queueHead = 0
  /** The names in `queue` (a Set: 20,000 files dropped at once made `queue.includes` quadratic). */
  private readonly queued = new Set<string>()
  private readonly active = new Map<string, Promise<void>>()
  /** Files that could neither be ingested nor moved away, by stat signature: not retried until they change or the next rescan. */
  private readonly stuck = new Map<string, string>()
  private running = false
  private polling = false
  /**
   * One `fs.watch` (inotify) per folder of the inbox, by absolute path. Events only name what changed; the
   * poll's single lstat per name decides. (chokidar re-read and stat'ed a whole folder on its change events:
   * with 20,000 files waiting that was 20,000 lstats per re-read.)
   */
  private readonly dirWatchers = new Map<string, FSWatcher>()
  private pollTimer?: NodeJS.Timeout
  private rescanTimer?: NodeJS.Timeout
  /** Files waiting for the next group commit; one drain loop serialises seq allocation + outbox writes. */
  private readonly commitQueue: CommitRequest[] = []
  private committing = false
  private readonly maxInflightBytes: number
  /**
   * Group commit: the files whose records are ready while one outbox batch is being written go into the next
   * batch together, up to this many records (one LevelDB batch, one fsync for all of them). A file with more
   * records is committed alone, in batches of this size.
   */
  private readonly batchRecords: number
  /** Files per group commit at most (IngestInit.groupFiles). */
  private readonly groupFiles: number
  private inflightBytes = 0
  private byteWaiters: Array<{ n: number; go: () => void }> = []
  private byteWaitersHead = 0
  /** Output folders known to exist (saves a mkdir per file). */
  private readonly madeDirs = new Set<string>()
  private receiptChain: Promise<unknown> = Promise.resolve()
  /** Writes record bodies' CBOR directly (cborg was ~20 µs a JSONL line); unset after a mismatch. */
  /** Receipt files are written by a worker thread (the main thread builds their texts). */
  private readonly receiptIo: WorkerReceiptIo
  /** Per-file lstat, read, link and unlink run on a worker thread (file-io.ts). */
  private readonly fileIo: FileIo
  /** Whether the file worker may read (see processFile). */
  private readonly workerReads: boolean
  private counters = { accepted: 0, rejected: 0, records: 0, retaken: 0, badNames: 0, receiptsFailed: 0 }
  private readonly retryTimers = new Set<NodeJS.Timeout>()
  private readonly retryMs: number
  private readonly scansQueued = new Set<string>()
  /** Non-UTF-8 names already reported (hex), so a folder that cannot be moved is counted once. */
  private readonly seenBadNames = new Set<string>()
  /** Set while the disk refuses writes; cleared by the next successful write. */
  private diskError?: { code: string; message: string }

  constructor(
    private readonly components: IngestComponents,
    init: IngestInit,
  ) {
    this.inbox = resolve(init.inbox)
    const parent = dirname(this.inbox)
    this.processedDir = resolve(init.processedDir ?? join(parent, 'processed'))
    this.rejectedDir = resolve(init.rejectedDir ?? join(parent, 'rejected'))
    this.receiptsDir = resolve(init.receiptsDir ?? join(parent, 'receipts'))
    this.accepts = pathFilter(init.include ?? ['**/*'], init.exclude ?? [])
    this.isLineFile = globMatcher(init.lineMode?.patterns ?? [])
    this.maxFileBytes = Math.min(init.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, LIMITS.payloadBytes)
    this.stableMs = init.stableMs ?? 500
    this.concurrency = Math.max(1, init.concurrency ?? DEFAULT_CONCURRENCY)
    this.maxInflightBytes = Math.max(1, init.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES)
    this.batchRecords = Math.max(1, init.batchRecords ?? DEFAULT_BATCH_RECORDS)
    this.groupFiles = Math.max(1, init.groupFiles ?? (this.concurrency > 1024 ? Math.ceil(this.concurrency / 4) : this.concurrency))
    this.rescanMs = init.rescanMs ?? 60_000
    this.retryMs = Math.max(100, Math.min(this.stableMs * 4, 5_000))
    this.log = (components.logger ?? silent).child({ component: 'ingest' })
    this.metrics = components.metrics
    this.receiptIo = new WorkerReceiptIo(this.madeDirs, (err) =>
      this.log.warn({ err: String(err) }, 'receipt worker unavailable: receipt files are written on the main thread'),
    )
    this.workerReads = SMALL_FILE_BYTES <= this.maxInflightBytes
    this.fileIo = new FileIo((err) =>
      this.log.warn({ err: String(err) }, 'file worker unavailable: files are read and moved on the main thread'),
    )
  }

  async start(): Promise<void> {
    if (this.running) return
    for (const d of [this.inbox, this.processedDir, this.rejectedDir, this.receiptsDir]) {
      await mkdir(d, { recursive: true })
      if (d !== this.inbox) await removeStaleTemps(d)
    }
    this.running = true
    this.receiptIo.reopen()
    this.fileIo.reopen()
    // Watch first, then scan: a file dropped between the two is seen by one of them (duplicates coalesce).
    // The scan watches every folder it walks.
    this.watchDir(this.inbox)
    await this.scan()
    const pollEvery = Math.max(20, Math.min(250, Math.floor(this.stableMs / 4)))
    this.pollTimer = setInterval(() => void this.poll(), pollEvery)
    if (this.rescanMs > 0) {
      this.rescanTimer = setInterval(() => {
        this.stuck.clear()
        void this.scan().catch((err) => this.log.warn({ err: String(err) }, 'rescan failed'))
      }, this.rescanMs)
    }
    this.log.info({ inbox: this.inbox }, 'file ingest started')
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    clearInterval(this.pollTimer)
    clearInterval(this.rescanTimer)
    for (const t of this.retryTimers) clearTimeout(t)
    this.retryTimers.clear()
    this.queue = []
    this.queueHead = 0
    this.queued.clear()
    for (const w of this.dirWatchers.values()) w.close()
    this.dirWatchers.clear()
    // Finish what is in flight; queued and unstable files are found again on the next start.
    await Promise.allSettled([...this.active.values()])
    this.candidates.clear()
    await this.receiptChain.catch(() => {})
    await this.receiptIo.close()
    await this.fileIo.close()
    this.log.info(this.stats(), 'file ingest stopped')
  }

  stats(): IngestStats {
    return {
      accepted: this.counters.accepted,
      rejected: this.counters.rejected,
      records: this.counters.records,
      pending: this.candidates.size + (this.queue.length - this.queueHead) + this.active.size,
      retaken: this.counters.retaken,
      badNames: this.counters.badNames,
      receiptsFailed: this.counters.receiptsFailed,
    }
  }

  health(): IngestHealth {
    return this.diskError ? { ok: false, ...this.diskError } : { ok: true }
  }

  writeReceipts(
    committed: ReceiptSource[],
    receiptFor: (txId: string) => Promise<object | undefined>,
    jsonsFor?: (txIds: string[]) => Promise<Array<string | undefined>>,
  ): Promise<ReceiptWriteOutcome> {
    // Serialised so that two calls never append to the same line-mode receipt file concurrently.
    const run = this.receiptChain.then(async () => {
      const out = await writeReceiptFiles(this.receiptsDir, committed, receiptFor, this.log, this.madeDirs, this.receiptIo, jsonsFor)
      if (out.written.length > 0) this.log.debug({ receipts: out.written.length }, 'receipts written')
      if (out.failed.length > 0) {
        this.counters.receiptsFailed += out.failed.length
        this.metrics?.receiptsFailed?.(out.failed.length)
        const disk = out.failed.find((f) => diskErrorCode({ code: f.code, message: f.message }) !== undefined)
        if (disk) this.noteDiskError(disk.code, this.receiptsDir, disk.message)
        this.log.error(
          { failed: out.failed.length, first: out.failed[0] },
          'receipts not written; they are retried, the others are not held back',
        )
      } else if (out.written.length > 0) this.clearDiskError()
      return out
    })
    this.receiptChain = run.catch(() => {})
    return run
  }

  // --- disk health and retries ---------------------------------------------------------------

  private noteDiskError(code: string, path: string, detail: string): void {
    const full = code === 'ENOSPC' || code === 'EDQUOT'
    const message = full
      ? `${code}: no space left writing ${path}; free space there: files stay in the inbox and are retried (${detail})`
      : `${code}: cannot write ${path}; check the disk: files stay in the inbox and are retried (${detail})`
    if (this.diskError?.message !== message) this.log.error({ code, path }, message)
    this.diskError = { code: full ? 'DISK_FULL' : 'DISK_ERROR', message }
  }

  private clearDiskError(): void {
    if (this.diskError === undefined) return
    this.diskError = undefined
    this.log.info({}, 'disk writable again: ingest recovered')
  }

  /** One scan of `dir` (default the whole inbox) after stableMs, however many events asked for it. */
  private scanSoon(dir = this.inbox): void {
    if (this.scansQueued.has(dir) || !this.running) return
    this.scansQueued.add(dir)
    const t = setTimeout(() => {
      this.retryTimers.delete(t)
      this.scansQueued.delete(dir)
      void this.scan(dir).catch((err) => this.log.warn({ err: String(err) }, 'scan failed'))
    }, this.stableMs)
    this.retryTimers.add(t)
  }

  /** Look at `rel` again after retryMs (a file left in the inbox after a transient failure). */
  private retryLater(rel: string): void {
    if (!this.running) return
    const t = setTimeout(() => {
      this.retryTimers.delete(t)
      this.touch(join(this.inbox, rel))
    }, this.retryMs)
    this.retryTimers.add(t)
  }

  /** A file processing failure that is not the file's fault: note disk trouble, keep the file, retry. */
  private failed(rel: string, err: unknown): void {
    const disk = diskErrorCode(err)
    const path = (err as NodeJS.ErrnoException | undefined)?.path
    if (disk) this.noteDiskError(disk, path ?? this.processedDir, (err as Error)?.message ?? String(err))
    else this.log.error({ path: rel, err: String(err) }, 'file ingest failed, will retry')
    this.retryLater(rel)
  }

  /** The file changed after it was read (a writer still at work): take it again once it is quiet. */
  private retake(rel: string, st: FileSig | undefined, when: string): void {
    this.counters.retaken++
    this.metrics?.filesRetaken?.(1)
    this.log.warn(
      { path: rel, when },
      'file changed after it was read; taken again once quiet (writers: write x.tmp or a dotfile, then rename)',
    )
    if (st) this.candidates.set(rel, { size: st.size, mtimeMs: st.mtimeMs, since: Date.now() })
    else this.retryLater(rel)
  }

  // --- discovery -----------------------------------------------------------------------------

  private isOutputDir(abs: string): boolean {
    return [this.processedDir, this.rejectedDir, this.receiptsDir].some(
      (d) => abs === d || abs.startsWith(`${d}/`),
    )
  }

  private ignoredByWatcher(abs: string): boolean {
    const rel = relPathOf(this.inbox, abs)
    if (rel === undefined) return false
    return this.isOutputDir(abs) || rel.split('/').some((s) => s.startsWith('.'))
  }

  /** Watch folder `dir` of the inbox (not an output folder, no dot-folder); idempotent. */
  private watchDir(dir: string): void {
    if (!this.running || this.dirWatchers.has(dir)) return
    if (dir !== this.inbox && this.ignoredByWatcher(dir)) return
    let w: FSWatcher
    try {
      // The folder's relative path, computed once (path.relative per event was ~3 µs, three events per file).
      const dirRel = dir === this.inbox ? '' : relPathOf(this.inbox, dir)
      if (dirRel === undefined) return
      w = watch(dir, (_event, name) => this.onFsEvent(dir, dirRel, name))
    } catch (err) {
      if (errCode(err) !== 'ENOENT') this.log.warn({ dir, err: String(err) }, 'cannot watch folder; found by the rescan')
      return
    }
    w.on('error', (err) => {
      this.log.debug({ dir, err: String(err) }, 'folder watch ended')
      this.unwatch(dir)
      if (dir === this.inbox) this.scanSoon()
    })
    this.dirWatchers.set(dir, w)
  }

  /** Stop watching `dir` and every folder below it. */
  private unwatch(dir: string): void {
    for (const [d, w] of this.dirWatchers) {
      if (d === dir || d.startsWith(`${dir}/`)) {
        w.close()
        this.dirWatchers.delete(d)
      }
    }
  }

  /**
   * A name in watched folder `dir` (relative path `dirRel`, '' for the inbox) changed (created, written,
   * renamed in or out, removed).
   */
  private onFsEvent(dir: string, dirRel: string, name: string | null): void {
    if (!this.running) return
    // No name, or a name that is not UTF-8 (it arrives mangled, U+FFFD): only a listing finds the real entry.
    if (typeof name !== 'string' || name === '' || name.includes('\uFFFD')) return this.scanSoon(dir)
    // A watched folder is neither an output folder nor a dot-folder (watchDir), so only the name decides
    // whether the watcher ignores it (what ignoredByWatcher(abs) decided with two path.relative calls).
    if (name.charCodeAt(0) === 0x2e || name.includes('/')) return
    const abs = `${dir}/${name}`
    if (this.isOutputDir(abs)) return
    if (this.dirWatchers.has(abs)) {
      // A watched folder was renamed, removed or replaced: watch whatever is there now and list it.
      this.unwatch(abs)
      this.folderMaybe(abs)
      return
    }
    const rel = dirRel === '' ? name : `${dirRel}/${name}`
    // A file being processed raises events of its own (the link of its reservation, its unlink): nothing
    // to look at (touch would ignore it), and one that is replaced meanwhile is looked at again after.
    // (Checked before the filters: only accepted names are ever in these.)
    if (this.active.has(rel) || this.queued.has(rel) || this.candidates.has(rel)) return
    if (!alwaysIgnored(rel) && this.accepts(rel)) {
      // A candidate (= touch(abs), checked above). No lstat here: the poll's look at it decides (a name that
      // is gone is dropped, a folder is watched and listed, anything else waits to be quiet); one lstat per
      // file fewer than looking here first.
      this.candidates.set(rel, { size: -1, mtimeMs: -1, since: Date.now() })
      return
    }
    // A name the filters refuse may still be a new folder whose files they accept. (`*.tmp` names are a
    // writer's unfinished files: no lstat for those; a folder with such a name is found by the rescan.)
    if (!rel.toLowerCase().endsWith('.tmp')) this.folderMaybe(abs)
  }

  /** If `abs` is a folder now, watch it and list it after stableMs (files written before the watch). */
  private folderMaybe(abs: string): void {
    void lstat(abs).then(
      (st) => {
        if (st.isDirectory() && !this.dirWatchers.has(abs)) {
          this.watchDir(abs)
          this.scanSoon(abs)
        }
      },
      () => {},
    )
  }

  /** Walk the inbox (no symlinked folders) and note every file that passes the filters. */
  private async scan(dir = this.inbox): Promise<void> {
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent<Buffer>[]
      this.watchDir(dir) // before the listing: a file dropped meanwhile is seen by one of them
      try {
        // Buffer names: a name that is not UTF-8 would otherwise be mangled and never found again.
        entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' })
      } catch (err) {
        this.log.warn({ dir, err: String(err) }, 'cannot list folder')
        return
      }
      for (const e of entries) {
        if (!this.running) return
        const raw = e.name
        if (raw[0] === 0x2e) continue
        const name = raw.toString('utf8')
        if (!Buffer.from(name, 'utf8').equals(raw)) {
          await this.badName(dir, raw, e.isDirectory())
          continue
        }
        const abs = join(dir, name)
        if (e.isDirectory()) {
          if (!this.isOutputDir(abs)) await walk(abs)
        } else this.touch(abs)
      }
    }
    await walk(dir)
    await this.poll()
  }

  /** A name that is not valid UTF-8: rejected under a lossless escaped name (a folder is only reported). */
  private async badName(dir: string, raw: Buffer, isDir: boolean): Promise<void> {
    const escaped = escapeName(raw)
    const relDir = relPathOf(this.inbox, dir)
    const rel = relDir === undefined ? escaped : `${relDir}/${escaped}`
    const first = !this.seenBadNames.has(`${dir}\0${raw.toString('hex')}`)
    this.seenBadNames.add(`${dir}\0${raw.toString('hex')}`)
    if (first) {
      this.counters.badNames++
      this.metrics?.badNames?.(1)
    }
    if (isDir) {
      if (first)
        this.log.warn({ path: rel }, 'folder name is not valid UTF-8: its files are not ingested; rename it')
      return
    }
    const src = Buffer.concat([Buffer.from(`${dir}/`), raw])
    if (first) this.log.warn({ path: rel }, 'file name is not valid UTF-8: rejected under an escaped name')
    await this.reject(
      rel,
      undefined,
      new IngestError(
        'ERR_INGEST_BAD_NAME',
        `file name is not valid UTF-8; kept as ${escaped} (other bytes as %XX): rename it to UTF-8 and drop it again`,
      ),
      src,
    ).catch((err) => {
      const disk = diskErrorCode(err)
      if (disk) this.noteDiskError(disk, this.rejectedDir, String(err))
      else this.log.error({ path: rel, err: String(err) }, 'cannot move a file with a non-UTF-8 name')
    })
  }

  private touch(abs: string): void {
    if (!this.running) return
    const rel = relPathOf(this.inbox, abs)
    if (rel === undefined || alwaysIgnored(rel) || !this.accepts(rel)) return
    if (this.candidates.has(rel) || this.active.has(rel) || this.queued.has(rel)) return
    this.candidates.set(rel, { size: -1, mtimeMs: -1, since: Date.now() })
  }

  /** A file is taken once a later look finds the same size and mtime, and neither changed for stableMs. */
  private async poll(): Promise<void> {
    if (this.polling || !this.running) return
    this.polling = true
    try {
      const now = Date.now()
      await Promise.all(
        [...this.candidates].map(async ([rel, c]) => {
          let st: Stats | undefined
          try {
            // A name that is gone is common (events of names moved out): no exception built for it.
            st = lstatSync(join(this.inbox, rel), { throwIfNoEntry: false })
          } catch {
            return
          }
          if (st === undefined) {
            this.candidates.delete(rel)
            return
          }
          if (this.stuck.size > 0 && this.stuck.get(rel) === statSig(st)) {
            this.candidates.delete(rel)
            return
          }
          if (st.isDirectory()) {
            this.candidates.delete(rel)
            const abs = join(this.inbox, rel)
            if (!this.dirWatchers.has(abs)) {
              // A new folder: watch it, then list it (files written into it before the watch raise no event).
              this.watchDir(abs)
              this.scanSoon(abs)
            }
            return
          }
          if (!st.isFile()) {
            // FIFOs, sockets, symlinks: nothing to wait for; they are rejected.
            this.candidates.delete(rel)
            this.enqueue(rel)
            return
          }
          if (c.size === -1 && now - st.mtimeMs >= this.stableMs) {
            // Not written to for stableMs already (files waiting at startup, files renamed in whole): take
            // it at once; processFile compares size and mtime again before and after reading.
            this.candidates.delete(rel)
            this.enqueue(rel)
            return
          }
          if (st.size !== c.size || st.mtimeMs !== c.mtimeMs) {
            // An old mtime counts as quiet time already spent (files present at startup need not wait).
            const first = c.size === -1
            c.since = first ? Math.min(now, Math.max(st.mtimeMs, now - this.stableMs)) : now
            c.size = st.size
            c.mtimeMs = st.mtimeMs
            return
          }
          if (now - c.since >= this.stableMs) {
            this.candidates.delete(rel)
            this.enqueue(rel)
          }
        }),
      )
    } finally {
      this.polling = false
    }
  }

  private enqueue(rel: string): void {
    if (!this.running || this.active.has(rel) || this.queued.has(rel)) return
    this.queue.push(rel)
    this.queued.add(rel)
    this.pump()
  }

  private pump(): void {
    while (this.running && this.active.size < this.concurrency && this.queueHead < this.queue.length) {
      const rel = this.queue[this.queueHead++]
      if (this.queueHead >= 1024 && this.queueHead * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.queueHead)
        this.queueHead = 0
      }
      this.queued.delete(rel)
      const p = this.processFile(rel)
        .catch((err) => this.failed(rel, err))
        .finally(() => {
          this.active.delete(rel)
          this.pump()
        })
      this.active.set(rel, p)
    }
  }

  // --- one file ------------------------------------------------------------------------------

  private async processFile(rel: string): Promise<void> {
    const abs = join(this.inbox, rel)
    // The plain case (a small regular file, unchanged while read) is taken by the file worker: lstat, read,
    // lstat, and the processed/ link of a whole-file record; anything else is done here as before.
    // The worker reads up to SMALL_FILE_BYTES before the size is known: that much is counted against
    // maxInflightBytes before the take and cut to the file's size after it, so the bytes held stay bounded
    // however many files are in flight (before, the worker read only while concurrency × SMALL_FILE_BYTES
    // fitted in maxInflightBytes, which capped the files in flight at 1,024).
    let taken: TakeResult | 'slow' = 'slow'
    if (this.workerReads) {
      await this.acquireBytes(SMALL_FILE_BYTES)
      try {
        taken = await this.fileIo.take({
          abs,
          maxBytes: this.maxFileBytes,
          reserve: !this.isLineFile(rel) && utf8.encode(rel).byteLength <= LIMITS.metadataValueBytes ? { root: this.processedDir, rel } : undefined,
        })
      } finally {
        this.releaseBytes(typeof taken === 'object' ? SMALL_FILE_BYTES - taken.st.size : SMALL_FILE_BYTES)
      }
    }
    if (taken === 'gone') return
    if (taken !== 'slow') {
      // taken.st.size bytes are still counted (released below).
      try {
        return await this.recordFile(rel, abs, taken.st, taken)
      } finally {
        this.releaseBytes(taken.st.size)
      }
    }
    let st: Stats
    try {
      st = await lstatNow(abs)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return
      return this.reject(
        rel,
        undefined,
        new IngestError('ERR_INGEST_UNREADABLE', `cannot stat: ${String(err)}`),
      )
    }
    if (st.isSymbolicLink()) {
      return this.reject(
        rel,
        st,
        new IngestError(
          'ERR_INGEST_SYMLINK',
          'symbolic links are not ingested; copy the file into the inbox',
        ),
      )
    }
    if (!st.isFile()) {
      return this.reject(
        rel,
        st,
        new IngestError('ERR_INGEST_NOT_A_FILE', 'not a regular file (FIFO, socket or device)'),
      )
    }
    if (st.size > this.maxFileBytes) {
      return this.reject(
        rel,
        st,
        new IngestError(
          'ERR_INGEST_TOO_LARGE',
          `${st.size} bytes exceeds the ${this.maxFileBytes}-byte limit`,
        ),
      )
    }
    await this.acquireBytes(st.size)
    try {
      return await this.recordFile(rel, abs, st)
    } finally {
      this.releaseBytes(st.size)
    }
  }

  /**
   * Bytes of file content in flight are bounded (many small files run in parallel, big ones alone). Waiters
   * are served in order (a release wakes only those that now fit: waking all of them on every release was
   * quadratic once thousands of files wait for their take's bytes).
   */
  private async acquireBytes(n: number): Promise<void> {
    if (this.byteWaiters.length === this.byteWaitersHead && (this.inflightBytes === 0 || this.inflightBytes + n <= this.maxInflightBytes)) {
      this.inflightBytes += n
      return
    }
    // Counted by releaseBytes when it wakes us.
    await new Promise<void>((go) => this.byteWaiters.push({ n, go }))
  }

  private releaseBytes(n: number): void {
    this.inflightBytes -= n
    const w = this.byteWaiters
    while (this.byteWaitersHead < w.length) {
      const next = w[this.byteWaitersHead]
      if (this.inflightBytes > 0 && this.inflightBytes + next.n > this.maxInflightBytes) break
      this.byteWaitersHead++
      this.inflightBytes += next.n
      next.go()
    }
    if (this.byteWaitersHead === w.length) {
      this.byteWaiters = []
      this.byteWaitersHead = 0
    } else if (this.byteWaitersHead >= 1024 && this.byteWaitersHead * 2 >= w.length) {
      this.byteWaiters = w.slice(this.byteWaitersHead)
      this.byteWaitersHead = 0
    }
  }

  /** Read, record (group commit), then move one regular file of acceptable size. */
  private async recordFile(rel: string, abs: string, st: FileSig, pre?: { data: Uint8Array; reserved?: string }): Promise<void> {
    let data: Uint8Array
    if (pre !== undefined) data = pre.data // read (and checked unchanged after the read) by the file worker
    else {
      try {
        data = await readNow(abs, st.size)
      } catch (err) {
        if (errCode(err) === 'ENOENT') return
        if (diskErrorCode(err)) throw err
        return this.reject(
          rel,
          st,
          new IngestError('ERR_INGEST_UNREADABLE', `cannot read: ${(err as Error).message}`),
        )
      }
      // The writer may have resumed after a pause longer than stableMs: then wait again.
      const after = lstatOrUndefined(abs)
      if (after === undefined) return
      if (after.size !== st.size || after.mtimeMs !== st.mtimeMs || data.byteLength !== st.size) return this.retake(rel, after, 'while reading')
    }
    // payloadHashOf memoises the digest on `data`: the outbox's check of a whole-file record finds it there.
    const dataDigest = payloadHashOf(data)
    const dataHash = toHex(dataDigest)

    let records: RecordPlan
    try {
      records = this.buildRecords(rel, st, data, dataHash, dataDigest)
    } catch (err) {
      // (The worker links only whole-file records with a path that fits: never expected here.)
      if (pre?.reserved !== undefined) await releaseName(this.processedDir, { name: pre.reserved, linked: true }, '', st)
      if (err instanceof ProfichainError) return this.reject(rel, st, err)
      throw err
    }
    // Reserve the processed/ name before signing and carry it in every record (`processed`), so the
    // receipt name follows from it even if the process dies between the commit and the move.
    // The token makes a later run for the same file reuse this reservation.
    // The reservation is a hard link to the file itself (no new inode); the token names a token-file
    // reservation where links are not possible.
    const token = `profichain-reserved ${records.key}\n`
    let reserved: Reservation
    if (pre?.reserved !== undefined) reserved = { name: pre.reserved, linked: true }
    else {
      try {
        reserved = await reserveName(this.processedDir, rel, token, this.madeDirs, { path: abs, st })
      } catch (err) {
        if (errCode(err) === 'ENOENT' && !(await lstat(abs).then(() => true, () => false))) return // gone
        throw err
      }
    }
    const dest = reserved.name
    if (utf8.encode(dest).byteLength <= LIMITS.metadataValueBytes) records.meta.processed = dest
    let created: number
    try {
      created = await this.commit(records, async () => this.unchanged(abs, st))
    } catch (err) {
      if (err instanceof FileChanged) {
        await releaseName(this.processedDir, reserved, token, st)
        return this.retake(rel, await lstat(abs).catch(() => undefined), 'before recording')
      }
      // Bad metadata (e.g. a path too long for the format) is the file's fault; outbox failures are not.
      if (err instanceof ProfichainError && err.code === 'ERR_CODEC') {
        await releaseName(this.processedDir, reserved, token, st)
        return this.reject(rel, st, err)
      }
      throw err
    }
    if (reserved.linked) {
      // The last look and the move (the unlink of the inbox name) in the file worker; whatever is not the
      // plain case ('changed', 'other') is looked at again below, the old way.
      const sig = { size: st.size, mtimeMs: st.mtimeMs, dev: st.dev, ino: st.ino }
      const done = await this.fileIo.finish({ abs, st: sig, digest: dataDigest, dest: join(this.processedDir, dest) })
      if (done === 'gone') {
        if (lstatOrUndefined(abs) !== undefined) this.retryLater(rel) // (as below)
        return
      }
      if (done === 'moved' || done === 'replaced') {
        // Events of a file the writer put at this name since the worker's unlink arrived while this one
        // was active and were dropped: one look here (events after it come once this one is not active).
        if (done === 'replaced' || lstatOrUndefined(abs) !== undefined) this.retryLater(rel)
        return this.accepted(rel, dest, records.count, created)
      }
    }
    // Last look before the move: a writer that resumed meanwhile must not have its file moved half-written.
    if (!(await this.unchanged(abs, st, data))) {
      // What was recorded is exactly `data`: keep that under the reserved name (its receipt verifies
      // against it); the file in the inbox is a newer version and is taken again.
      await writeFileAtomic(join(this.processedDir, dest), data)
      this.counters.accepted++
      this.counters.records += created
      this.metrics?.filesAccepted(1)
      if (created > 0) this.metrics?.recordsCreated(created)
      this.log.error(
        { path: rel, processed: dest },
        'file changed after it was recorded: the recorded version is kept in processed/, the file is taken again',
      )
      return this.retake(rel, await lstat(abs).catch(() => undefined), 'after recording')
    }
    try {
      if ((await moveOnto(abs, this.processedDir, reserved, st)) === 'replaced') {
        // A newer file was renamed onto the inbox name after the last check: it stays, and is looked at
        // again (its events arrived while this one was active).
        this.retryLater(rel)
      }
    } catch (err) {
      if (errCode(err) === 'ENOENT') return
      if (diskErrorCode(err)) throw err
      // Recorded but not movable: the dedupe keys make the next attempt a plain move.
      this.stuck.set(rel, statSig(st))
      this.log.error({ path: rel, err: String(err) }, 'recorded, but cannot move the file to processed/')
      return
    }
    this.accepted(rel, dest, records.count, created)
  }

  private accepted(rel: string, dest: string, count: number, created: number): void {
    this.clearDiskError()
    this.counters.accepted++
    this.counters.records += created
    this.metrics?.filesAccepted(1)
    if (created > 0) this.metrics?.recordsCreated(created)
    this.log.info({ path: rel, processed: dest, records: count, created }, 'file ingested')
  }

  /**
   * Same size and mtime as `st` (and, given `data`, the same content) as when the file was read. The
   * content is compared byte for byte with what was read (was: SHA-256 of it again, and its hex).
   */
  private async unchanged(abs: string, st: FileSig, data?: Uint8Array): Promise<boolean> {
    const now = lstatOrUndefined(abs)
    if (now === undefined) return true // gone: the move reports it
    if (now.size !== st.size || now.mtimeMs !== st.mtimeMs) return false
    if (data === undefined) return true
    try {
      const again = await readNow(abs, st.size)
      return again.byteLength === data.byteLength && again.equals(data)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return true
      throw err
    }
  }

  private buildRecords(rel: string, st: FileSig, data: Uint8Array, dataHash: string, dataDigest?: Uint8Array): RecordPlan {
    if (utf8.encode(rel).byteLength > LIMITS.metadataValueBytes) {
      throw new IngestError(
        'ERR_INGEST_PATH_TOO_LONG',
        `relative path is longer than ${LIMITS.metadataValueBytes} bytes`,
      )
    }
    const mtime = Math.floor(st.mtimeMs)
    const baseKey = `file:${sha256Hex(`${rel}\0${st.size}\0${mtime}\0${dataHash}`)}`
    const meta: Record<string, string> = {
      source: 'file',
      path: rel,
      size: String(st.size),
      mtime: String(mtime),
      contentType: contentTypeOf(rel),
    }
    if (!this.isLineFile(rel)) {
      // The payload is the whole file: its hash is the one just computed (not hashed a second time).
      return { key: baseKey, count: 1, meta, records: () => [{ dedupeKey: baseKey, payload: data, metadata: { ...meta }, payloadHash: dataDigest }] }
    }

    // First pass: check every line and count the records; nothing is kept.
    const format = lineFormatOf(rel)
    let header: string | undefined
    let count = 0
    let lastLine = 0
    for (const r of iterateLines(data, format)) {
      if ('header' in r) header = r.header
      else {
        count++
        lastLine = r.line
      }
    }
    const shapeOk = (metadata: Record<string, string>): boolean => {
      try {
        this.body({ dedupeKey: '', payload: new Uint8Array(0), metadata }, 0, 0)
        return true
      } catch {
        return false
      }
    }
    if (count === 0) {
      const why =
        data.byteLength === 0
          ? 'the file is empty'
          : header !== undefined
            ? `the CSV has only its header line (${JSON.stringify(header.slice(0, 80))}) and no data lines`
            : 'the file holds only blank lines'
      throw new IngestError('ERR_INGEST_NO_RECORDS', `${why}: a line-mode file needs at least one data line`)
    }
    meta.lines = String(count)
    if (header !== undefined) {
      // Very wide CSV headers do not fit a metadata value: keep their hash so the header stays provable.
      if (utf8.encode(header).byteLength <= LIMITS.metadataValueBytes) meta.csvHeader = header
      else meta.csvHeaderSha256 = sha256Hex(header)
    }
    return {
      key: baseKey,
      count,
      meta,
      // Second pass, batch by batch as the commit asks: records are views into `data`.
      *records() {
        // Every record's metadata is `meta` + `line`: if the one with the longest `line` (the last) passes
        // the decoder's rules, every record does, and the per-record check is skipped (~7 µs a line). If it
        // does not, every record is checked and the file fails on its own (never its group).
        const sameShape = shapeOk({ ...meta, line: String(lastLine) })
        for (const r of iterateLines(data, format, false)) {
          if ('header' in r) continue
          const line = String(r.line)
          yield { dedupeKey: `${baseKey}#${line}`, payload: r.payload, metadata: { ...meta, line }, sameShape }
        }
      },
    }
  }

  /**
   * Add the records of one file that are not yet in the outbox (group commit): resolves with how many were
   * new once the outbox batch holding them is durable. Requests that arrive while a batch is being written
   * are written together in the next one; seqs stay contiguous per origin because one loop allocates them.
   */
  private commit(plan: RecordPlan, unchanged?: () => Promise<boolean>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.commitQueue.push({ plan, unchanged, resolve, reject })
      void this.drainCommits()
    })
  }

  private async drainCommits(): Promise<void> {
    if (this.committing) return
    this.committing = true
    try {
      // Let the files whose work is already under way (sync reads run as one run of microtasks) join
      // the first group too, instead of the first file committing alone.
      await new Promise<void>((res) => setImmediate(res))
      // Pipelined: group n+1 is looked up, checked and signed while group n's batch is being written
      // (its fsync), with the seqs that follow group n's. It is written only once group n's write is done,
      // and prepared again from the store's seq if group n did not use exactly its seqs (failed, fell back
      // to file-by-file, or met duplicates): seqs stay contiguous and nothing is written out of order.
      let pending: { p: PreparedGroup; write: Promise<boolean> } | undefined
      for (;;) {
        if (this.commitQueue.length === 0) {
          // Requests that arrive while the last write finishes are taken by this loop, not left behind.
          if (pending === undefined) break
          await pending.write
          pending = undefined
          continue
        }
        const head = this.commitQueue[0]
        if (head.plan.count > this.batchRecords) {
          if (pending) await pending.write
          pending = undefined
          this.commitQueue.shift()
          await this.commitPlan(head.plan, head.unchanged).then(head.resolve, head.reject)
          continue
        }
        const group: CommitRequest[] = []
        let records = 0
        while (this.commitQueue.length > 0) {
          const next = this.commitQueue[0]
          if (next.plan.count > this.batchRecords || records + next.plan.count > this.batchRecords) break
          if (group.length >= this.groupFiles) break
          group.push(next)
          records += next.plan.count
          this.commitQueue.shift()
        }
        const base = pending?.p.next
        let p = await this.prepareGroup(group, base).catch((err) => {
          for (const r of group) r.reject(err)
          return undefined
        })
        if (pending) {
          const exact = await pending.write
          pending = undefined
          if (!exact && p !== undefined) {
            const live = p.ranges.map((r) => (p as PreparedGroup).group[r.i])
            p = await this.prepareGroup(live).catch((err) => {
              for (const r of live) r.reject(err)
              return undefined
            })
          }
        }
        if (p) pending = { p, write: this.writeGroup(p) }
      }
    } finally {
      this.committing = false
    }
  }

  private async lookupKeys(keys: string[]): Promise<Array<string | undefined>> {
    const { outbox } = this.components
    const ids: Array<string | undefined> = []
    for (let i = 0; i < keys.length; i += LOOKUP_PARALLEL) {
      const part = keys.slice(i, i + LOOKUP_PARALLEL)
      ids.push(...(outbox.lookupMany ? await outbox.lookupMany(part) : await Promise.all(part.map((k) => outbox.lookup(k)))))
    }
    return ids
  }

  /**
   * Commit the records of several files in ONE outbox batch (one fsync). Each request is settled: resolved
   * with its count of new records, or rejected (FileChanged, a bad-metadata ERR_CODEC of its own, or the
   * batch's error). The batch is atomic: after a crash either all of its files are recorded (their dedupe
   * keys make the retry a plain move) or none is.
   */
  private async commitGroup(group: CommitRequest[]): Promise<void> {
    const p = await this.prepareGroup(group)
    if (p) await this.writeGroup(p)
  }

  /**
   * Look up, check and sign the records of a group (seqs from `base`, else the store's next seq). Requests
   * with nothing new are resolved, changed files rejected; undefined when nothing is left to write.
   */
  private async prepareGroup(group: CommitRequest[], base?: number): Promise<PreparedGroup | undefined> {
    const { outbox, key } = this.components
    const recs = group.map((r) => [...r.plan.records()])
    const ids = await this.lookupKeys(recs.flat().map((r) => r.dedupeKey))
    let k = 0
    const fresh = recs.map((rs) => rs.filter(() => ids[k++] === undefined))
    if (fresh.every((f) => f.length === 0)) {
      for (const r of group) r.resolve(0)
      return undefined
    }
    let seq = base ?? (await outbox.nextSeq(key.publicKey))
    const first = seq
    // A writer that resumed is caught here, right before the write (each file checked in parallel).
    const quiet = await Promise.all(
      group.map((r, i) => (fresh[i].length > 0 && r.unchanged ? r.unchanged().catch((err: unknown) => err) : true)),
    )
    const live: number[] = []
    group.forEach((r, i) => {
      const q = quiet[i]
      if (q === false) r.reject(new FileChanged())
      else if (q !== true) r.reject(q)
      else if (fresh[i].length === 0) r.resolve(0)
      else live.push(i)
    })
    if (live.length === 0) return undefined
    const bodies: TxBody[] = []
    const recsOut: PendingRecord[] = []
    const ranges: Array<{ i: number; from: number; n: number }> = []
    const now = Date.now()
    for (const i of live) {
      let made: TxBody[]
      try {
        const at = seq
        made = fresh[i].map((r, j) => this.body(r, at + j, now))
      } catch (err) {
        group[i].reject(err) // e.g. metadata too long for the format: that file's fault only, no seq spent
        continue
      }
      ranges.push({ i, from: bodies.length, n: made.length })
      bodies.push(...made)
      recsOut.push(...fresh[i])
      seq += made.length
    }
    if (bodies.length === 0) return undefined
    let items: Array<{ tx: Transaction; dedupeKey: string }>
    try {
      items = await this.sign(bodies, recsOut)
    } catch (err) {
      for (const { i } of ranges) group[i].reject(err)
      return undefined
    }
    return { group, items, ranges, next: first + items.length }
  }

  /**
   * Write a prepared group as ONE outbox batch and settle its requests. True when the batch used exactly
   * the seqs it was prepared with (a next group prepared after them may be written as it is).
   */
  private async writeGroup(p: PreparedGroup): Promise<boolean> {
    const { group, items, ranges } = p
    let results: Array<{ txId: string; duplicate: boolean }>
    try {
      results = await this.components.outbox.addMany(items)
    } catch (err) {
      if (ranges.length > 1 && err instanceof ProfichainError && diskErrorCode(err) === undefined) {
        // A record the store refuses must fail its own file only: commit the files one by one.
        for (const { i } of ranges) await this.commitGroup([group[i]]).catch(group[i].reject)
        return false
      }
      for (const { i } of ranges) group[i].reject(err)
      return false
    }
    let exact = true
    for (const { i, from, n } of ranges) {
      let created = 0
      for (let j = from; j < from + n; j++) {
        if (!results[j].duplicate) created++
        else exact = false
      }
      group[i].resolve(created)
    }
    return exact
  }

  /**
   * The body of a record, checked against the decoder's rules (as `createTransaction` does: never sign
   * something peers would reject; a CodecError is the file's fault).
   */
  private body(r: PendingRecord, seq: number, timestamp: number): TxBody {
    const { key, network } = this.components
    // newTxBody / newTransaction: core keeps the record's memos (encodings, txId) in fields, not WeakMap entries.
    const body: TxBody = newTxBody({
      version: FORMAT_VERSION,
      network,
      kind: 'record',
      origin: key.publicKey,
      seq,
      timestamp,
      // (a plain SHA-256: the tx built from this body keeps it in its own memo, see sign)
      payloadHash: r.payloadHash ?? sha256(r.payload),
      payloadSize: r.payload.byteLength,
      metadata: r.metadata,
    })
    if (r.sameShape !== true) txBodyFromCbor(txBodyToCbor(body))
    return body
  }

  /** Sign the bodies (in the worker pool when there is one and the batch is worth it): each encoded once. */
  private async sign(bodies: TxBody[], recs: PendingRecord[]): Promise<Array<{ tx: Transaction; dedupeKey: string }>> {
    const { key, signer } = this.components
    const encoded = bodies.map(encodeTxBody) // written directly by core, memoised: txId and the outbox reuse it
    const sigs =
      signer && bodies.length >= POOL_SIGN_MIN
        ? await signer(encoded)
        : encoded.map((m) => getCrypto().sign(key.seed, m))
    return bodies.map((body, j) => {
      const tx = newTransaction(body, sigs[j], recs[j].payload)
      // body.payloadHash is the SHA-256 of this payload (body above): the outbox's check finds it on the tx
      rememberTxPayloadHash(tx, body.payloadHash)
      return { tx, dedupeKey: recs[j].dedupeKey }
    })
  }

  /**
   * Add the records of one big file not yet in the outbox, in batches, with contiguous seqs. Returns how
   * many were new. Batches are stored in order, so after a crash the stored ones are a prefix and are
   * skipped on retry without spending seqs.
   */
  private async commitPlan(plan: RecordPlan, unchanged?: () => Promise<boolean>): Promise<number> {
    const { outbox, key } = this.components
    let seq: number | undefined
    let created = 0
    // Pipelined: batch n+1 is looked up, built and signed while batch n is being written (its fsync), and
    // written only once batch n is stored: batches still reach the outbox in order (a crash leaves a prefix).
    let writing: Promise<Array<{ duplicate: boolean }>> | undefined
    const settle = async (): Promise<void> => {
      if (writing === undefined) return
      const w = writing
      writing = undefined
      created += (await w).filter((r) => !r.duplicate).length
    }
    try {
      for (const chunk of chunks(plan.records(), this.batchRecords)) {
        const ids = await this.lookupKeys(chunk.map((r) => r.dedupeKey))
        const fresh = chunk.filter((_, i) => ids[i] === undefined)
        if (fresh.length === 0) continue
        if (seq === undefined) {
          seq = await outbox.nextSeq(key.publicKey)
          // Checked inside the serialised section, right before the first write: a writer that resumed is caught here.
          if (unchanged && !(await unchanged())) throw new FileChanged()
        }
        const first = seq
        const now = Date.now()
        const items = await this.sign(
          fresh.map((r, j) => this.body(r, first + j, now)),
          fresh,
        )
        seq = first + fresh.length
        await settle()
        writing = outbox.addMany(items)
        writing.catch(() => {}) // awaited by settle(); handled meanwhile
      }
      await settle()
    } finally {
      // A failure while batch n is in flight: never return before it has settled.
      if (writing !== undefined) await (writing as Promise<unknown>).catch(() => {})
    }
    return created
  }

  private async reject(
    rel: string,
    st: FileSig | undefined,
    err: ProfichainError,
    src: string | Buffer = join(this.inbox, rel),
  ): Promise<void> {
    let dest: string
    try {
      dest = await moveInto(src, this.rejectedDir, rel)
    } catch (moveErr) {
      if (errCode(moveErr) === 'ENOENT') return
      // Disk trouble is not the file's fault: it stays in the inbox and is retried.
      if (diskErrorCode(moveErr)) throw moveErr
      if (st) this.stuck.set(rel, statSig(st))
      this.log.error(
        { path: rel, code: err.code, reason: err.message, err: String(moveErr) },
        'cannot ingest nor move the file; skipped',
      )
      return
    }
    try {
      await writeFileAtomic(
        join(this.rejectedDir, boundedPath(dest, '.reason')),
        `${err.code}: ${err.message}\npath: ${rel}\nrejected: ${dest}\n`,
      )
      this.clearDiskError()
    } catch (reasonErr) {
      const disk = diskErrorCode(reasonErr)
      if (disk) this.noteDiskError(disk, this.rejectedDir, String(reasonErr))
      this.log.error({ path: dest, err: String(reasonErr) }, 'cannot write the .reason file')
    }
    this.counters.rejected++
    this.metrics?.filesRejected(1)
    this.log.warn({ path: rel, rejected: dest, code: err.code, reason: err.message }, 'file rejected')
  }
}
