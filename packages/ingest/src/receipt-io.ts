import { WorkerLane } from './worker-lane.js'
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
type Waiting = { jobs: ReceiptJob[]; moved: Set<number>; resolve(r: ReceiptJobResult[]): void }

export class WorkerReceiptIo extends WorkerLane<Waiting, ReceiptWorkerAnswer> implements ReceiptIo {
  constructor(
    private readonly made: Set<string>,
    onBroken?: (err: unknown) => void,
    workerUrl: URL = WORKER_URL,
  ) {
    super(workerUrl, 'receipt worker', onBroken)
  }

  run(jobs: ReceiptJob[]): Promise<ReceiptJobResult[]> {
    if (jobs.length === 0) return Promise.resolve([])
    return new Promise((resolve, reject) => {
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
      if (!this.post({ jobs, moved, resolve }, (id) => ({ id, jobs }) satisfies ReceiptWorkerRequest, move)) {
        runReceiptJobs(jobs, this.made).then(resolve, reject)
      }
    })
  }

  /** Stop the worker (in-flight jobs are answered first); later jobs run on this thread until `reopen`. */
  async close(): Promise<void> {
    // Nothing is in flight when the ingest stops (its receipt chain has settled), but never lose a job.
    await this.stop(async () => {
      await Promise.all([...this.waiting.values()].map((e) => new Promise<void>((res) => {
        const orig = e.resolve
        e.resolve = (r) => {
          orig(r)
          res()
        }
      })))
    })
  }

  protected answered(e: Waiting, m: ReceiptWorkerAnswer): void {
    e.resolve(m.results)
  }

  protected rerun(held: Waiting[], err: unknown): void {
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
