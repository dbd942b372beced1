import type { Stats } from 'node:fs'
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { createTransaction, LIMITS, ProfichainError, sha256, type Transaction, toHex } from '@profichain/core'
import { type FSWatcher, watch } from 'chokidar'
import { IngestError } from './errors.js'
import { errCode, moveInto, writeFileAtomic } from './fs-util.js'
import type {
  FileIngest,
  IngestComponents,
  IngestInit,
  IngestLogger,
  IngestMetrics,
  IngestStats,
  ReceiptSource,
} from './index.js'
import { lineFormatOf, splitLines } from './lines.js'
import { alwaysIgnored, contentTypeOf, globMatcher, pathFilter, relPathOf } from './paths.js'
import { writeReceiptFiles } from './receipts.js'

const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
/** Records per outbox batch for big line-mode files (each batch is atomic; dedupe keys cover a crash between batches). */
const BATCH = 2_000
const LOOKUP_PARALLEL = 1024
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
}

function statSig(st: Stats): string {
  return `${st.size}:${st.mtimeMs}`
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
  private readonly queue: string[] = []
  private readonly active = new Map<string, Promise<void>>()
  /** Files that could neither be ingested nor moved away, by stat signature: not retried until they change or the next rescan. */
  private readonly stuck = new Map<string, string>()
  private running = false
  private polling = false
  private watcher?: FSWatcher
  private pollTimer?: NodeJS.Timeout
  private rescanTimer?: NodeJS.Timeout
  /** Serialises seq allocation + outbox writes: seqs must be contiguous per origin. */
  private commitChain: Promise<unknown> = Promise.resolve()
  private receiptChain: Promise<unknown> = Promise.resolve()
  private counters = { accepted: 0, rejected: 0, records: 0 }

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
    this.concurrency = Math.max(1, init.concurrency ?? 8)
    this.rescanMs = init.rescanMs ?? 60_000
    this.log = (components.logger ?? silent).child({ component: 'ingest' })
    this.metrics = components.metrics
  }

  async start(): Promise<void> {
    if (this.running) return
    for (const d of [this.inbox, this.processedDir, this.rejectedDir, this.receiptsDir])
      await mkdir(d, { recursive: true })
    this.running = true
    // Watch first, then scan: a file dropped between the two is seen by one of them (duplicates coalesce).
    const watcher = watch(this.inbox, {
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (p) => this.ignoredByWatcher(p),
    })
    this.watcher = watcher
    watcher.on('add', (p) => this.touch(p))
    watcher.on('change', (p) => this.touch(p))
    // chokidar stats link targets and stays silent about dangling symlinks; the raw fs.watch event
    // still names them, so they are rejected at once instead of at the next rescan.
    watcher.on('raw', (event, name, details) => {
      const dir = (details as { watchedPath?: string } | undefined)?.watchedPath
      if (event === 'rename' && typeof name === 'string' && name && dir) {
        const abs = join(dir, name)
        void lstat(abs).then(
          (st) => {
            if (st.isSymbolicLink()) this.touch(abs)
          },
          () => {},
        )
      }
    })
    watcher.on('error', (err) => this.log.warn({ err: String(err) }, 'watcher error'))
    await new Promise<void>((res) => watcher.once('ready', () => res()))
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
    this.queue.length = 0
    await this.watcher?.close()
    this.watcher = undefined
    // Finish what is in flight; queued and unstable files are found again on the next start.
    await Promise.allSettled([...this.active.values()])
    this.candidates.clear()
    await this.receiptChain.catch(() => {})
    this.log.info(this.stats(), 'file ingest stopped')
  }

  stats(): IngestStats {
    return { ...this.counters, pending: this.candidates.size + this.queue.length + this.active.size }
  }

  writeReceipts(
    committed: ReceiptSource[],
    receiptFor: (txId: string) => Promise<object | undefined>,
  ): Promise<void> {
    // Serialised so that two calls never merge the same line-mode receipt file concurrently.
    const run = this.receiptChain.then(async () => {
      const n = await writeReceiptFiles(this.receiptsDir, committed, receiptFor, this.log)
      if (n > 0) this.log.debug({ receipts: n }, 'receipts written')
    })
    this.receiptChain = run.catch(() => {})
    return run
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

  /** Walk the inbox (no symlinked folders) and note every file that passes the filters. */
  private async scan(): Promise<void> {
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[]
      try {
        entries = await readdir(dir, { withFileTypes: true })
      } catch (err) {
        this.log.warn({ dir, err: String(err) }, 'cannot list folder')
        return
      }
      for (const e of entries) {
        if (!this.running) return
        if (e.name.startsWith('.')) continue
        const abs = join(dir, e.name)
        if (e.isDirectory()) {
          if (!this.isOutputDir(abs)) await walk(abs)
        } else this.touch(abs)
      }
    }
    await walk(this.inbox)
    await this.poll()
  }

  private touch(abs: string): void {
    if (!this.running) return
    const rel = relPathOf(this.inbox, abs)
    if (rel === undefined || alwaysIgnored(rel) || !this.accepts(rel)) return
    if (this.candidates.has(rel) || this.active.has(rel) || this.queue.includes(rel)) return
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
          let st: Stats
          try {
            st = await lstat(join(this.inbox, rel))
          } catch (err) {
            if (errCode(err) === 'ENOENT') this.candidates.delete(rel)
            return
          }
          if (this.stuck.get(rel) === statSig(st)) {
            this.candidates.delete(rel)
            return
          }
          if (!st.isFile()) {
            // FIFOs, sockets, symlinks: nothing to wait for; they are rejected.
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
    if (!this.running || this.active.has(rel) || this.queue.includes(rel)) return
    this.queue.push(rel)
    this.pump()
  }

  private pump(): void {
    while (this.running && this.active.size < this.concurrency && this.queue.length > 0) {
      const rel = this.queue.shift() as string
      const p = this.processFile(rel)
        .catch((err) => this.log.error({ path: rel, err: String(err) }, 'file ingest failed, will retry'))
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
    let st: Stats
    try {
      st = await lstat(abs)
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
    let data: Uint8Array
    try {
      data = await readFile(abs)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return
      return this.reject(
        rel,
        st,
        new IngestError('ERR_INGEST_UNREADABLE', `cannot read: ${(err as Error).message}`),
      )
    }
    // The writer may have resumed after a pause longer than stableMs: then wait again.
    const after = await lstat(abs).catch(() => undefined)
    if (after === undefined) return
    if (statSig(after) !== statSig(st) || data.byteLength !== st.size) {
      this.candidates.set(rel, { size: after.size, mtimeMs: after.mtimeMs, since: Date.now() })
      return
    }

    let records: PendingRecord[]
    try {
      records = this.buildRecords(rel, st, data)
    } catch (err) {
      if (err instanceof ProfichainError) return this.reject(rel, st, err)
      throw err
    }
    let created: number
    try {
      created = await this.commit(records)
    } catch (err) {
      // Bad metadata (e.g. a path too long for the format) is the file's fault; outbox failures are not.
      if (err instanceof ProfichainError && err.code === 'ERR_CODEC') return this.reject(rel, st, err)
      throw err
    }
    let dest: string
    try {
      dest = await moveInto(abs, this.processedDir, rel)
    } catch (err) {
      if (errCode(err) === 'ENOENT') return
      // Recorded but not movable: the dedupe keys make the next attempt a plain move.
      this.stuck.set(rel, statSig(st))
      this.log.error({ path: rel, err: String(err) }, 'recorded, but cannot move the file to processed/')
      return
    }
    this.counters.accepted++
    this.counters.records += created
    this.metrics?.filesAccepted(1)
    if (created > 0) this.metrics?.recordsCreated(created)
    this.log.info({ path: rel, processed: dest, records: records.length, created }, 'file ingested')
  }

  private buildRecords(rel: string, st: Stats, data: Uint8Array): PendingRecord[] {
    if (utf8.encode(rel).byteLength > LIMITS.metadataValueBytes) {
      throw new IngestError(
        'ERR_INGEST_PATH_TOO_LONG',
        `relative path is longer than ${LIMITS.metadataValueBytes} bytes`,
      )
    }
    const mtime = Math.floor(st.mtimeMs)
    const baseKey = `file:${sha256Hex(`${rel}\0${st.size}\0${mtime}\0${sha256Hex(data)}`)}`
    const base: Record<string, string> = {
      source: 'file',
      path: rel,
      size: String(st.size),
      mtime: String(mtime),
      contentType: contentTypeOf(rel),
    }
    if (!this.isLineFile(rel)) return [{ dedupeKey: baseKey, payload: data, metadata: base }]

    const split = splitLines(data, lineFormatOf(rel))
    if (split.records.length === 0) throw new IngestError('ERR_INGEST_NO_RECORDS', 'file holds no data lines')
    const meta: Record<string, string> = { ...base, lines: String(split.records.length) }
    if (split.header !== undefined) {
      // Very wide CSV headers do not fit a metadata value: keep their hash so the header stays provable.
      if (utf8.encode(split.header).byteLength <= LIMITS.metadataValueBytes) meta.csvHeader = split.header
      else meta.csvHeaderSha256 = sha256Hex(split.header)
    }
    return split.records.map((r) => ({
      dedupeKey: `${baseKey}#${r.line}`,
      payload: r.payload,
      metadata: { ...meta, line: String(r.line) },
    }))
  }

  /** Add records not yet in the outbox, with contiguous seqs. Returns how many were new. */
  private commit(records: PendingRecord[]): Promise<number> {
    const run = this.commitChain.then(async () => {
      const { outbox, key, network } = this.components
      // Skip what a previous run (killed before the move) already stored: no seq is spent on it.
      const known = new Array<boolean>(records.length)
      for (let i = 0; i < records.length; i += LOOKUP_PARALLEL) {
        const slice = records.slice(i, i + LOOKUP_PARALLEL)
        const ids = outbox.lookupMany
          ? await outbox.lookupMany(slice.map((r) => r.dedupeKey))
          : await Promise.all(slice.map((r) => outbox.lookup(r.dedupeKey)))
        ids.forEach((id, j) => {
          known[i + j] = id !== undefined
        })
      }
      const fresh = records.filter((_, i) => !known[i])
      if (fresh.length === 0) return 0
      let seq = await outbox.nextSeq(key.publicKey)
      let created = 0
      for (let i = 0; i < fresh.length; i += BATCH) {
        const items: Array<{ tx: Transaction; dedupeKey: string }> = fresh.slice(i, i + BATCH).map((r) => ({
          tx: createTransaction(key, { network, seq: seq++, payload: r.payload, metadata: r.metadata }),
          dedupeKey: r.dedupeKey,
        }))
        const results = await outbox.addMany(items)
        created += results.filter((r) => !r.duplicate).length
      }
      return created
    })
    this.commitChain = run.catch(() => {})
    return run
  }

  private async reject(rel: string, st: Stats | undefined, err: ProfichainError): Promise<void> {
    const abs = join(this.inbox, rel)
    let dest: string
    try {
      dest = await moveInto(abs, this.rejectedDir, rel)
    } catch (moveErr) {
      if (errCode(moveErr) === 'ENOENT') return
      if (st) this.stuck.set(rel, statSig(st))
      this.log.error(
        { path: rel, code: err.code, reason: err.message, err: String(moveErr) },
        'cannot ingest nor move the file; skipped',
      )
      return
    }
    try {
      await writeFileAtomic(join(this.rejectedDir, `${dest}.reason`), `${err.code}: ${err.message}\n`)
    } catch (reasonErr) {
      this.log.error({ path: dest, err: String(reasonErr) }, 'cannot write the .reason file')
    }
    this.counters.rejected++
    this.metrics?.filesRejected(1)
    this.log.warn({ path: rel, rejected: dest, code: err.code, reason: err.message }, 'file rejected')
  }
}
