import { createReadStream } from 'node:fs'
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { IngestError } from './errors.js'
import { boundedPath, diskErrorCode, errCode, suffixed, writeFileAtomic } from './fs-util.js'
import type { IngestLogger, ReceiptSource, ReceiptWriteOutcome } from './types.js'
import { isSafeRelPath } from './paths.js'
import { inlineReceiptIo, type ReceiptIo, type ReceiptJob } from './receipt-io.js'

/** One entry (one line) of a line-mode receipt file `receipts/<processed>.chp.jsonl`. */
export interface LineReceipt {
  line: number
  txId: string
  receipt: object
}

/** Index of shortened receipt names: one `{name, path}` JSON line per name that had to be shortened. */
export const NAMES_INDEX = '.names.jsonl'

async function readJson(path: string, log: IngestLogger): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    if (errCode(err) !== 'ENOENT') log.warn({ path, err: String(err) }, 'unreadable receipt file, rewriting it')
    return undefined
  }
}

/**
 * Read a line-mode receipt file line by line (bounded memory per line). A txId seen again later wins
 * (a receipt re-issued after a reorg is appended); a torn last line (crash mid-append) is ignored.
 * Returns the entries sorted by line.
 */
export async function readLineReceipts(path: string): Promise<LineReceipt[]> {
  const byTx = new Map<string, LineReceipt>()
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })
  for await (const text of rl) {
    if (text.trim() === '') continue
    let e: LineReceipt
    try {
      e = JSON.parse(text) as LineReceipt
    } catch {
      continue
    }
    if (typeof e?.txId === 'string' && typeof e.line === 'number') byTx.set(e.txId, e)
  }
  return [...byTx.values()].sort((a, b) => a.line - b.line || (a.txId < b.txId ? -1 : 1))
}

/** Where a record's receipt goes: named after its processed file (metadata.processed), else its path. */
function receiptBase(c: ReceiptSource, isSafe: (p: string) => boolean = isSafeRelPath): string | undefined {
  const p = c.metadata.processed
  if (p !== undefined && isSafe(p)) return p
  return c.metadata.path
}

function noProof(): IngestError {
  return new IngestError('ERR_INGEST_NO_PROOF', 'no proof is available for this record yet; it is retried')
}

function failure(txId: string, err: unknown): { txId: string; code: string; message: string } {
  const code = diskErrorCode(err) ?? errCode(err) ?? (err as { code?: string }).code ?? 'ERR_INGEST_RECEIPT'
  return { txId, code: String(code), message: (err as Error)?.message ?? String(err) }
}

class NameIndex {
  private readonly seen = new Set<string>()
  /** Appends are serialised: receipts are written in parallel. */
  private chain: Promise<unknown> = Promise.resolve()
  constructor(private readonly dir: string) {}
  /** Record `name → path` once when the name had to be shortened, so it stays reversible. */
  note(name: string, full: string): Promise<void> {
    if (name === full || this.seen.has(name)) return Promise.resolve()
    const run = this.chain.then(async () => {
      if (this.seen.has(name)) return
      await mkdir(this.dir, { recursive: true })
      await appendFile(join(this.dir, NAMES_INDEX), `${JSON.stringify({ name, path: full })}\n`)
      this.seen.add(name)
    })
    this.chain = run.catch(() => {})
    return run
  }
}

/** Whole-file receipt files handed to the writer at once (one message to the receipt worker). */
const RECEIPT_CHUNK = 256

/** Run `fn` over `items`, at most `limit` at a time. */
async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

/**
 * Write receipts for committed file records, each on its own (one failure never stops the others):
 * `<dir>/<processed>.chp.json` holds the Chainpoint proof of a whole-file record (rewritten only by a
 * re-issue for the same record); line-mode records are appended to `<dir>/<processed>.chp.jsonl`, one
 * `{line, txId, receipt}` per line (later wins). Names are bounded by {@link boundedPath}.
 */
/**
 * Chainpoint receipts of many records as JSON text — exactly `JSON.stringify` of what `receiptFor` gives — in
 * the order of `txIds`, undefined where there is no proof (the store's `chainpointJsonsAt`).
 */
export type ReceiptJsonsFor = (txIds: string[]) => Promise<Array<string | undefined>>

/** The line records' receipt texts in lineFiles' order; undefined when the call fails (then asked one by one). */
async function lineTexts(lineFiles: Map<string, ReceiptSource[]>, jsonsFor: ReceiptJsonsFor, log: IngestLogger): Promise<Array<string | undefined> | undefined> {
  const ids: string[] = []
  for (const list of lineFiles.values()) for (const c of list) ids.push(c.txId)
  try {
    const texts = await jsonsFor(ids)
    if (texts.length === ids.length) return texts
    log.warn({ asked: ids.length, got: texts.length }, 'receipt texts: wrong count, asked one by one')
  } catch (err) {
    log.warn({ err }, 'receipt texts could not be built together, asked one by one')
  }
  return undefined
}

export async function writeReceiptFiles(
  dir: string,
  committed: ReceiptSource[],
  receiptFor: (txId: string) => Promise<object | undefined>,
  log: IngestLogger,
  made?: Set<string>,
  io: ReceiptIo = inlineReceiptIo(made),
  jsonsFor?: ReceiptJsonsFor,
): Promise<ReceiptWriteOutcome> {
  const out: ReceiptWriteOutcome = { written: [], skipped: [], failed: [] }
  const names = new NameIndex(dir)
  const files: ReceiptSource[] = []
  const lineFiles = new Map<string, ReceiptSource[]>()
  // isSafeRelPath per path, not per record (the lines of one file share it: 2 checks a line were ~2 µs).
  const safe = new Map<string, boolean>()
  const isSafe = (p: string): boolean => {
    let ok = safe.get(p)
    if (ok === undefined) {
      ok = isSafeRelPath(p)
      safe.set(p, ok)
    }
    return ok
  }
  for (const c of committed) {
    const base = receiptBase(c, isSafe)
    if (c.metadata.source !== 'file' || base === undefined) {
      out.skipped.push(c.txId)
      continue
    }
    if (!isSafe(base)) {
      log.warn({ txId: c.txId, path: base }, 'record path would leave the receipts folder, no receipt written')
      out.failed.push({ txId: c.txId, code: 'ERR_INGEST_UNSAFE_PATH', message: `path ${JSON.stringify(base)} would leave the receipts folder` })
      continue
    }
    if (c.metadata.line === undefined) {
      files.push(c)
      continue
    }
    const list = lineFiles.get(base)
    if (list === undefined) lineFiles.set(base, [c])
    else list.push(c)
  }
  // Whole-file receipts: texts built here (receiptFor is the store's), the files written by `io` (the
  // ingest's receipt worker: a create, write, close and rename per file cost the main thread ~300 µs each)
  // in chunks, so the next chunk's texts are built while one is written.
  const written = new Set<string>()
  const runs: Array<Promise<void>> = []
  let chunk: Array<{ txId: string; job: ReceiptJob }> = []
  const flush = (): void => {
    if (chunk.length === 0) return
    const part = chunk
    chunk = []
    runs.push(
      io.run(part.map((p) => p.job)).then((results) => {
        results.forEach((r, i) => {
          if (r === undefined) written.add(part[i].txId)
          else out.failed.push(failure(part[i].txId, Object.assign(new Error(r.message), { code: r.code })))
        })
      }),
    )
  }
  const prepareOne = async (c: ReceiptSource): Promise<void> => {
    try {
      const receipt = await receiptFor(c.txId)
      if (receipt === undefined) throw noProof()
      const base = receiptBase(c, isSafe) as string
      const name = boundedPath(base, '.chp.json')
      await names.note(name, `${base}.chp.json`)
      chunk.push({ txId: c.txId, job: { path: join(dir, name), text: `${JSON.stringify(receipt, null, 2)}\n` } })
      if (chunk.length >= RECEIPT_CHUNK) flush()
    } catch (err) {
      out.failed.push(failure(c.txId, err))
    }
  }
  // Records from before `metadata.processed` may share a name: those one at a time, on this thread, after the
  // others (a receipt of other content must not be replaced).
  const writeLegacy = async (c: ReceiptSource): Promise<void> => {
    try {
      const receipt = await receiptFor(c.txId)
      if (receipt === undefined) throw noProof()
      const base = receiptBase(c, isSafe) as string
      let name = boundedPath(base, '.chp.json')
      const existing = (await readJson(join(dir, name), log)) as { hash?: unknown } | undefined
      if (existing !== undefined && existing.hash !== (receipt as { hash?: unknown }).hash)
        name = boundedPath(suffixed(base, c.txId.slice(0, 16)), '.chp.json')
      await names.note(name, `${base}.chp.json`)
      await writeFileAtomic(join(dir, name), `${JSON.stringify(receipt, null, 2)}\n`, made)
      written.add(c.txId)
    } catch (err) {
      out.failed.push(failure(c.txId, err))
    }
  }
  // Proofs asked for one at a time: the store builds a block's Merkle levels on its first receipt and caches
  // them; 32 asked at once all missed that cache and each built the levels of the same block (8–12 % of
  // the main thread in a 20,000-file burst). After the first, each answer comes from caches (no I/O).
  for (const c of files) if (c.metadata.processed !== undefined) await prepareOne(c)
  flush()
  await Promise.all(runs)
  await eachLimit(files.filter((c) => c.metadata.processed === undefined), 1, writeLegacy)
  // `written` in input order (callers and tests read it as the order of `committed`).
  for (const c of files) if (written.has(c.txId)) out.written.push(c.txId)
  // Line-mode receipt files: one append job each (open, append, fdatasync), run in parallel by `io` (one
  // after the other, a flush over 20 line files waited for 20 fsyncs in a row).
  const lineWritten = new Map<string, string[]>()
  const appends: Array<{ base: string; ok: string[]; job: ReceiptJob }> = []
  // The receipts' JSON texts for all line records in one call when the caller can give them (the store writes
  // them directly: building each receipt's object, awaiting it and JSON.stringify-ing it was ~12 µs of the main
  // thread per line); per record through receiptFor otherwise, or if that call fails.
  const texts = jsonsFor !== undefined && lineFiles.size > 0 ? await lineTexts(lineFiles, jsonsFor, log) : undefined
  let at = 0
  for (const [base, list] of lineFiles) {
    const name = boundedPath(base, '.chp.jsonl')
    let text = ''
    const ok: string[] = []
    for (const c of list) {
      const given = texts?.[at++]
      try {
        let json = given
        if (json === undefined) {
          const receipt = texts === undefined ? await receiptFor(c.txId) : undefined
          if (receipt === undefined) throw noProof()
          json = JSON.stringify(receipt)
        }
        // The entry `{line, txId, receipt}` as JSON.stringify writes it, without an object per line.
        text += `{"line":${JSON.stringify(Number(c.metadata.line))},"txId":${JSON.stringify(c.txId)},"receipt":${json}}\n`
        ok.push(c.txId)
      } catch (err) {
        out.failed.push(failure(c.txId, err))
      }
    }
    if (ok.length === 0) continue
    try {
      await names.note(name, `${base}.chp.jsonl`)
      // As bytes of their own (Buffer.from of a big string does not use the shared pool): moved, not copied, to
      // the receipt worker.
      appends.push({ base, ok, job: { path: join(dir, name), text: Buffer.from(text, 'utf8'), append: true } })
    } catch (err) {
      for (const txId of ok) out.failed.push(failure(txId, err))
    }
  }
  const appended = await io.run(appends.map((a) => a.job))
  appended.forEach((r, i) => {
    const a = appends[i]
    if (r === undefined) lineWritten.set(a.base, a.ok)
    else for (const txId of a.ok) out.failed.push(failure(txId, Object.assign(new Error(r.message), { code: r.code })))
  })
  // In input order (as the whole-file receipts above), whatever order the appends finished in.
  for (const base of lineFiles.keys()) out.written.push(...(lineWritten.get(base) ?? []))
  return out
}
