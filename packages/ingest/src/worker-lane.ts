import { Worker } from 'node:worker_threads'

/**
 * One worker thread the ingest hands jobs to (file I/O in file-io.ts, receipt files in receipt-io.ts), started
 * on first use and holding the process open only while requests are in flight. If it cannot start, errors or
 * exits, the requests it held are handed to `rerun` (the subclass runs them on the main thread, the same code)
 * and later ones run there too (`ensure` gives undefined). After `close`, likewise until `reopen`.
 */
export abstract class WorkerLane<Held, Answer extends { id: number }> {
  protected worker?: Worker
  protected broken = false
  protected closed = false
  private nextId = 0
  protected readonly waiting = new Map<number, Held>()

  constructor(
    private readonly workerUrl: URL,
    /** Names the worker in the error when it exits. */
    private readonly what: string,
    private readonly onBroken?: (err: unknown) => void,
  ) {}

  /** The worker answered the request it was given as `held`. */
  protected abstract answered(held: Held, answer: Answer): void

  /** The worker died holding these requests: run them here. */
  protected abstract rerun(held: Held[], err: unknown): void

  /** Post a request (its answer goes to `answered`); undefined when the worker is unusable (run it here). */
  protected post(held: Held, request: (id: number) => unknown, transfer?: ArrayBuffer[]): boolean {
    const w = this.ensure()
    if (w === undefined) return false
    const id = this.nextId++
    this.waiting.set(id, held)
    if (this.waiting.size === 1) w.ref()
    w.postMessage(request(id), transfer)
    return true
  }

  /** Stop the worker once `settled` resolves; later jobs run on this thread until `reopen`. */
  protected async stop(settled: () => Promise<void>): Promise<void> {
    this.closed = true
    const w = this.worker
    if (w === undefined) return
    await settled()
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
    w.on('message', (m: Answer) => {
      const held = this.waiting.get(m.id)
      if (held === undefined) return
      this.waiting.delete(m.id)
      if (this.waiting.size === 0) w.unref()
      this.answered(held, m)
    })
    const gone = (err: unknown): void => {
      if (this.worker !== w) return
      this.worker = undefined
      this.fail(err)
    }
    w.on('error', gone)
    w.on('exit', (code) => gone(new Error(`${this.what} exited with code ${code}`)))
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
    this.rerun(held, err)
  }
}
