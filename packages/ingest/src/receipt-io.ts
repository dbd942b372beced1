import { Worker } from 'node:worker_threads'
import { mkdir, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { errCode, writeFileAtomic } from './fs-util.js'

/**
 * One receipt file operation: write `text` as the whole file `path` (temp file + rename: never half-written,
 * the target replaced atomically), or append it to the line-mode receipt file `path` (fdatasync'ed).
 */
export interface ReceiptJob {
  path: string
  /** UTF-8 text, or its bytes (a big line-mode append is handed to the worker as bytes, moved, not copied). */
  text: string | Uint8Array
  append?: boolean
}

/** A job's outcome: undefined when done, else why not (the error's code and message). */
export type ReceiptJobResult = undefined | { code?: string; message: string }

/** Runs receipt file jobs; each job's result in job order, one failure never stopping the others. */
export interface ReceiptIo {
  run(jobs: ReceiptJob[]): Promise<ReceiptJobResult[]>
}

/** Jobs run at once (each a few fs calls through libuv's pool; a create may wait on the fs journal). */
const JOB_PARALLEL = 32

/** Append `text` to `path`, starting on a fresh line if an earlier append was torn, then fsync. */
export async function appendLines(path: string, text: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const fh = await open(path, 'a+')
  try {
    const { size } = await fh.stat()
    let prefix = ''
    if (size > 0) {
      const last = Buffer.alloc(1)
      await fh.read(last, 0, 1, size - 1)
      if (last[0] !== 0x0a) prefix = '\n'
    }
    if (typeof text === 'string') await fh.write(prefix + text)
    else await fh.writev(prefix ? [Buffer.from(prefix), text] : [text])
    await fh.datasync()
  } finally {
    await fh.close()
  }
}

function resultOf(err: unknown): ReceiptJobResult {
  return { code: errCode(err) ?? (err as { code?: string } | undefined)?.code, message: (err as Error)?.message ?? String(err) }
}

/** Run the jobs on this thread, `JOB_PARALLEL` at a time (`made`: folders known to exist). */
export async function runReceiptJobs(jobs: ReceiptJob[], made?: Set<string>): Promise<ReceiptJobResult[]> {
  const results: ReceiptJobResult[] = new Array(jobs.length).fill(undefined)
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++
      const j = jobs[i]
      try {
        if (j.append) await appendLines(j.path, j.text)
        else await writeFileAtomic(j.path, j.text, made)
      } catch (err) {
        results[i] = resultOf(err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(JOB_PARALLEL, jobs.length) }, lane))
  return results
}

/** The jobs run on the calling thread. */
export function inlineReceiptIo(made?: Set<string>): ReceiptIo {
  return { run: (jobs) => runReceiptJobs(jobs, made) }
}

/** Where the compiled worker is (from src/ in tests as from dist/). */
const WORKER_URL = new URL('../dist/receipt-worker.js', import.meta.url)

/** A request message to the receipt worker, and its answer. */
export interface ReceiptWorkerRequest {
  id: number
  jobs: ReceiptJob[]
}
export interface ReceiptWorkerAnswer {
  id: number
  results: ReceiptJobResult[]
}

/**
 * Receipt files written by one worker thread (issue 12). Each file costs a create (a new inode), a write,
 * a close and a rename; on the main thread the async create alone cost ~220 µs of main-thread time per
 * receipt in a profile of a 20,000-file burst (its hand-off to libuv's pool under load), the whole write
 * ~300 µs: a quarter of the busy main thread. Here the main thread builds the texts and posts one message
 * per chunk; the worker runs exactly the same code ({@link runReceiptJobs}).
 *
 * The worker is started on first use and holds the process open only while jobs are in flight. If it
 * cannot start or dies, the jobs it held are run again on the main thread (a rewrite is atomic; a line
 * appended twice is read once, later wins) and later ones run there too.
 */
export class WorkerReceiptIo implements ReceiptIo {
  private worker?: Worker
  private broken = false
  private closed = false
  private nextId = 0
  private readonly waiting = new Map<number, { jobs: ReceiptJob[]; moved: Set<number>; resolve(r: ReceiptJobResult[]): void }>()

  constructor(
    private readonly made: Set<string>,
    private readonly onBroken?: (err: unknown) => void,
    private readonly workerUrl: URL = WORKER_URL,
  ) {}

  run(jobs: ReceiptJob[]): Promise<ReceiptJobResult[]> {
    if (jobs.length === 0) return Promise.resolve([])
    const w = this.ensure()
    if (w === undefined) return runReceiptJobs(jobs, this.made)
    return new Promise((resolve) => {
      const id = this.nextId++
      // Bytes of a job are moved to the worker (a line file's receipts are megabytes: cloning them cost the
      // main thread ~7 µs a line), unless they share their memory with something else.
      const move: ArrayBuffer[] = []
      const moved = new Set<number>()
      jobs.forEach((j, i) => {
        const t = j.text
        if (typeof t !== 'string' && t.byteOffset === 0 && t.byteLength === t.buffer.byteLength && t.buffer instanceof ArrayBuffer) {
          move.push(t.buffer)
          moved.add(i)
        }
      })
      this.waiting.set(id, { jobs, moved, resolve })
      if (this.waiting.size === 1) w.ref()
      w.postMessage({ id, jobs } satisfies ReceiptWorkerRequest, move)
    })
  }

  /** Stop the worker (in-flight jobs are run on this thread); later jobs run on this thread until `reopen`. */
  async close(): Promise<void> {
    this.closed = true
    const w = this.worker
    if (w === undefined) return
    // Nothing is in flight when the ingest stops (its receipt chain has settled), but never lose a job.
    await Promise.all([...this.waiting.keys()].map((id) => new Promise<void>((res) => {
      const e = this.waiting.get(id)
      if (e === undefined) return res()
      const orig = e.resolve
      e.resolve = (r) => {
        orig(r)
        res()
      }
    })))
    this.worker = undefined
    await w.terminate()
  }

  reopen(): void {
    this.closed = false
  }

  private ensure(): Worker | undefined {
    if (this.worker !== undefined) return this.worker
    if (this.broken || this.closed) return undefined
    let w: Worker
    try {
      w = new Worker(this.workerUrl)
    } catch (err) {
      this.fail(err)
      return undefined
    }
    w.unref()
    w.on('message', (m: ReceiptWorkerAnswer) => {
      const e = this.waiting.get(m.id)
      if (e === undefined) return
      this.waiting.delete(m.id)
      if (this.waiting.size === 0) w.unref()
      e.resolve(m.results)
    })
    const gone = (err: unknown): void => {
      if (this.worker !== w) return
      this.worker = undefined
      this.fail(err)
    }
    w.on('error', gone)
    w.on('exit', (code) => gone(new Error(`receipt worker exited with code ${code}`)))
    this.worker = w
    return w
  }

  /** The worker is unusable: run what it held here, and everything after. */
  private fail(err: unknown): void {
    if (!this.closed) {
      this.broken = true
      this.onBroken?.(err)
    }
    const held = [...this.waiting.values()]
    this.waiting.clear()
    for (const e of held) {
      // Bytes moved to the dead worker are gone here: those jobs fail (their receipts are parked and retried
      // by the caller); the others run again on this thread.
      const again = e.jobs.map((j, i) => (e.moved.has(i) ? undefined : j))
      void runReceiptJobs(again.filter((j): j is ReceiptJob => j !== undefined), this.made).then((rs) => {
        let k = 0
        e.resolve(again.map((j) => (j === undefined ? { code: 'ERR_INGEST_RECEIPT_WORKER', message: `receipt worker failed: ${String(err)}` } : rs[k++])))
      })
    }
  }
}
