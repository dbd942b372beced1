import { createHash } from 'node:crypto'
import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readSync, unlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { WorkerLane } from './worker-lane.js'
import { boundedPath, candidateName, errCode, SMALL_FILE_BYTES } from './fs-util.js'

/** What the ingest keeps of a file's lstat: enough to see it change, and to know it by inode. */
export interface FileSig {
  size: number
  mtimeMs: number
  dev: number
  ino: number
}

/**
 * Take a small regular file: lstat, read, lstat again (unchanged: same size and mtime, all bytes read), then,
 * with `reserve`, reserve its processed/ name with a hard link to it (as `reserveName` does: a name that
 * exists is never replaced; our own link from an earlier run is reused).
 */
export interface TakeJob {
  kind: 'take'
  abs: string
  maxBytes: number
  reserve?: { root: string; rel: string }
}

/**
 * Finish a recorded file: the last look (same size and mtime, and a re-read with the digest of what was
 * recorded), then, while `dest` is still a link to the same inode, remove the inbox name, checked and
 * unlinked back to back (as `moveOnto`).
 */
export interface FinishJob {
  kind: 'finish'
  abs: string
  st: FileSig
  digest: Uint8Array
  dest: string
}

export type FileJob = TakeJob | FinishJob

/**
 * 'gone': the name no longer exists. 'slow': anything else than the plain case (not a regular file, too big,
 * unreadable, changed while read): the caller does it the old way, on its own thread.
 */
export type TakeResult = 'gone' | 'slow' | { st: FileSig; data: Uint8Array; reserved?: string }
/** 'changed' / 'other': the caller does the old checks and move itself (they are idempotent). */
export type FinishResult = 'moved' | 'replaced' | 'gone' | 'changed' | 'other'
export type FileJobResult = TakeResult | FinishResult

function sigOf(st: { size: number; mtimeMs: number; dev: number; ino: number }): FileSig {
  return { size: st.size, mtimeMs: st.mtimeMs, dev: st.dev, ino: st.ino }
}

/** Read exactly `size` bytes into a buffer of its own (transferable); undefined if the file is not that size now. */
function readExactly(abs: string, size: number): Uint8Array | undefined {
  const fd = openSync(abs, 'r')
  try {
    // One byte more than expected: a file that grew is seen here.
    const buf = new Uint8Array(new ArrayBuffer(size + 1))
    let off = 0
    for (;;) {
      const n = readSync(fd, buf, off, buf.byteLength - off, null)
      if (n === 0) break
      off += n
      if (off === buf.byteLength) return undefined
    }
    if (off !== size) return undefined
    // A view of `size` bytes over the whole (one byte longer) buffer: the caller transfers `.buffer`.
    return buf.subarray(0, size)
  } finally {
    closeSync(fd)
  }
}

function take(j: TakeJob, made: Set<string>): TakeResult {
  const st = lstatSync(j.abs, { throwIfNoEntry: false })
  if (st === undefined) return 'gone'
  if (!st.isFile() || st.size > j.maxBytes || st.size > SMALL_FILE_BYTES) return 'slow'
  let data: Uint8Array | undefined
  try {
    data = readExactly(j.abs, st.size)
  } catch (err) {
    return errCode(err) === 'ENOENT' ? 'gone' : 'slow'
  }
  // The writer may have resumed after a pause longer than stableMs: then the caller's own look decides.
  const after = lstatSync(j.abs, { throwIfNoEntry: false })
  if (after === undefined) return 'gone'
  if (data === undefined || after.size !== st.size || after.mtimeMs !== st.mtimeMs || after.ino !== st.ino) return 'slow'
  const sig = sigOf(st)
  return { st: sig, data, reserved: j.reserve ? link(j.abs, j.reserve.root, j.reserve.rel, sig, made) : undefined }
}

function isLinkTo(path: string, st: FileSig): boolean {
  const now = lstatSync(path, { throwIfNoEntry: false })
  return now !== undefined && now.dev === st.dev && now.ino === st.ino
}

/** The name reserved by a hard link, or undefined for anything unusual (the caller's `reserveName` decides). */
function link(abs: string, root: string, rel: string, st: FileSig, made: Set<string>): string | undefined {
  try {
    const dir = dirname(join(root, boundedPath(rel)))
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true })
      made.add(dir)
    }
    for (let n = 0; n < 1000; n++) {
      const candidate = candidateName(rel, n)
      const dest = join(root, candidate)
      try {
        linkSync(abs, dest)
        return candidate
      } catch (err) {
        if (errCode(err) !== 'EEXIST') {
          if (errCode(err) === 'ENOENT') made.delete(dir)
          return undefined
        }
      }
      // Taken: by our own link of an earlier run (reused), else by another file (next name).
      if (isLinkTo(dest, st)) return candidate
    }
  } catch {
    // e.g. the folder cannot be made: reserveName reports it
  }
  return undefined
}

function finish(j: FinishJob): FinishResult {
  try {
    const now = lstatSync(j.abs, { throwIfNoEntry: false })
    if (now === undefined) return 'gone'
    if (now.size !== j.st.size || now.mtimeMs !== j.st.mtimeMs) return 'changed'
    const again = readExactly(j.abs, j.st.size)
    if (again === undefined) return 'changed'
    const digest = createHash('sha256').update(again).digest()
    if (!digest.equals(j.digest)) return 'changed'
    if (!isLinkTo(j.dest, j.st)) return 'other'
    // Checked and unlinked back to back, synchronously: no window for a writer's rename between the two.
    const src = lstatSync(j.abs, { throwIfNoEntry: false })
    if (src === undefined) return 'gone'
    if (src.dev !== j.st.dev || src.ino !== j.st.ino) return 'replaced'
    unlinkSync(j.abs)
    return 'moved'
  } catch (err) {
    return errCode(err) === 'ENOENT' ? 'gone' : 'other'
  }
}

/** Run one job on this thread (`made`: processed/ folders known to exist on this thread). */
export function runFileJob(j: FileJob, made: Set<string>): FileJobResult {
  return j.kind === 'take' ? take(j, made) : finish(j)
}

/** The buffers of the results to transfer (each read went into an ArrayBuffer of its own). */
export function transfersOf(results: FileJobResult[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = []
  for (const r of results) if (typeof r === 'object') out.push(r.data.buffer as ArrayBuffer)
  return out
}

/**
 * Jobs as one string for the worker: fields separated by NUL (never in a path), a fixed number per kind.
 * Posting them as objects cost the main thread ~7 µs a job (structured clone), this ~1 µs.
 */
export function encodeJobs(jobs: FileJob[]): string {
  const parts: string[] = []
  for (const j of jobs) {
    if (j.kind === 'take') parts.push('t', j.abs, String(j.maxBytes), j.reserve?.root ?? '', j.reserve?.rel ?? '')
    else {
      const d = j.digest
      const hex = Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('hex')
      parts.push('f', j.abs, String(j.st.size), String(j.st.mtimeMs), String(j.st.dev), String(j.st.ino), hex, j.dest)
    }
  }
  return parts.join('\0')
}

export function decodeJobs(text: string): FileJob[] {
  const f = text.split('\0')
  const jobs: FileJob[] = []
  for (let i = 0; i < f.length; ) {
    if (f[i] === 't') {
      const root = f[i + 3]
      jobs.push({ kind: 'take', abs: f[i + 1], maxBytes: Number(f[i + 2]), reserve: root === '' ? undefined : { root, rel: f[i + 4] } })
      i += 5
    } else if (f[i] === 'f') {
      const st = { size: Number(f[i + 2]), mtimeMs: Number(f[i + 3]), dev: Number(f[i + 4]), ino: Number(f[i + 5]) }
      jobs.push({ kind: 'finish', abs: f[i + 1], st, digest: Buffer.from(f[i + 6], 'hex'), dest: f[i + 7] })
      i += 8
    } else throw new Error(`file worker: bad job kind ${JSON.stringify(f[i])}`)
  }
  return jobs
}

const WORKER_URL = new URL('../dist/file-worker.js', import.meta.url)
/** Jobs per message to the file worker (see FileIo.flush). */
const JOBS_PER_MESSAGE = 64

export interface FileWorkerRequest {
  id: number
  /** {@link encodeJobs} */
  jobs: string
}
export interface FileWorkerAnswer {
  id: number
  results: FileJobResult[]
}

/**
 * The per-file metadata work of the file ingest (issue 12), on one worker thread: lstat, read, lstat of a
 * file taken; its processed/ link; the last look and the unlink of the move. On the main thread these were
 * ~7 lstats, 2 reads, a link and an unlink per file, ~20 % of its busy time in a 20,000-file burst. Jobs
 * asked for in the same tick go as one message. Every step is the same system call in the same order for
 * each file as on the main thread; the main thread waits for a step's answer before the next step, so the
 * order across a crash is unchanged (read → reserve → durable outbox batch → unlink).
 *
 * If the worker cannot start or dies, the jobs it held run again on the main thread (each is idempotent: a
 * link that is already ours is reused, a finished file is 'gone'), and later ones run there too.
 */
type Waiting = Array<{ job: FileJob; resolve(r: FileJobResult): void }>

export class FileIo extends WorkerLane<Waiting, FileWorkerAnswer> {
  private batch: Waiting = []
  private readonly made = new Set<string>()

  constructor(onBroken?: (err: unknown) => void, workerUrl: URL = WORKER_URL) {
    super(workerUrl, 'file worker', onBroken)
  }

  take(job: Omit<TakeJob, 'kind'>): Promise<TakeResult> {
    return this.run({ kind: 'take', ...job }) as Promise<TakeResult>
  }

  finish(job: Omit<FinishJob, 'kind'>): Promise<FinishResult> {
    return this.run({ kind: 'finish', ...job }) as Promise<FinishResult>
  }

  private run(job: FileJob): Promise<FileJobResult> {
    return new Promise((resolve) => {
      if (this.batch.length === 0) queueMicrotask(() => this.flush())
      this.batch.push({ job, resolve })
    })
  }

  private flush(): void {
    const all = this.batch
    this.batch = []
    // At most JOBS_PER_MESSAGE jobs per message: the worker answers each message when all of its jobs are
    // done, so 1,024 takes in one message came back together and moved through the commit as one convoy.
    for (let i = 0; i < all.length; i += JOBS_PER_MESSAGE) {
      const batch = all.length <= JOBS_PER_MESSAGE ? all : all.slice(i, i + JOBS_PER_MESSAGE)
      const posted = this.post(batch, (id) => ({ id, jobs: encodeJobs(batch.map((e) => e.job)) }) satisfies FileWorkerRequest)
      if (!posted) for (const e of batch) e.resolve(runFileJob(e.job, this.made))
    }
  }

  /** Stop the worker (jobs in flight are answered first); later jobs run on this thread until `reopen`. */
  async close(): Promise<void> {
    await this.stop(async () => {
      while (this.waiting.size > 0 || this.batch.length > 0) await new Promise<void>((res) => setTimeout(res, 5))
    })
  }

  protected answered(batch: Waiting, m: FileWorkerAnswer): void {
    batch.forEach((e, i) => e.resolve(m.results[i]))
  }

  protected rerun(held: Waiting[]): void {
    for (const batch of held) for (const e of batch) e.resolve(runFileJob(e.job, this.made))
  }
}
