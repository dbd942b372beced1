import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errCode, suffixed, writeFileAtomic } from './fs-util.js'
import type { IngestLogger, ReceiptSource } from './index.js'
import { isSafeRelPath } from './paths.js'

/** One entry of a line-mode receipt file. */
export interface LineReceipt {
  line: number
  txId: string
  receipt: object
}

async function readJson(path: string, log: IngestLogger): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    if (errCode(err) !== 'ENOENT')
      log.warn({ path, err: String(err) }, 'unreadable receipt file, rewriting it')
    return undefined
  }
}

/**
 * Write receipts for committed file records: `<dir>/<path>.chp.json` holds the Chainpoint proof of a
 * whole-file record, or an array of {line, txId, receipt} for a line-mode file (merged across calls,
 * keyed by txId). Records that are not from the file watcher, or whose proof is not available, are skipped.
 */
export async function writeReceiptFiles(
  dir: string,
  committed: ReceiptSource[],
  receiptFor: (txId: string) => Promise<object | undefined>,
  log: IngestLogger,
): Promise<number> {
  const files = new Map<string, ReceiptSource[]>()
  const lineFiles = new Map<string, ReceiptSource[]>()
  for (const c of committed) {
    const path = c.metadata.path
    if (c.metadata.source !== 'file' || path === undefined) continue
    if (!isSafeRelPath(path)) {
      log.warn({ txId: c.txId, path }, 'record path would leave the receipts folder, no receipt written')
      continue
    }
    const target = c.metadata.line !== undefined ? lineFiles : files
    const list = target.get(path)
    if (list === undefined) target.set(path, [c])
    else list.push(c)
  }
  let written = 0
  for (const [path, list] of files) {
    for (const c of list) {
      const receipt = await receiptFor(c.txId)
      if (receipt === undefined) continue
      let target = join(dir, `${path}.chp.json`)
      // A later file with the same name but other content must not overwrite the earlier proof.
      const existing = (await readJson(target, log)) as { hash?: unknown } | undefined
      const hash = (receipt as { hash?: unknown }).hash
      if (existing !== undefined && existing.hash !== hash) {
        target = join(dir, `${suffixed(path, c.txId.slice(0, 16))}.chp.json`)
      }
      await writeFileAtomic(target, `${JSON.stringify(receipt, null, 2)}\n`)
      written++
    }
  }
  for (const [path, list] of lineFiles) {
    const target = join(dir, `${path}.chp.json`)
    const existing = await readJson(target, log)
    const byTx = new Map<string, LineReceipt>()
    if (Array.isArray(existing)) {
      for (const e of existing as LineReceipt[]) if (typeof e?.txId === 'string') byTx.set(e.txId, e)
    }
    let changed = false
    for (const c of list) {
      const receipt = await receiptFor(c.txId)
      if (receipt === undefined) continue
      byTx.set(c.txId, { line: Number(c.metadata.line), txId: c.txId, receipt })
      changed = true
      written++
    }
    if (!changed) continue
    const entries = [...byTx.values()].sort((a, b) => a.line - b.line || (a.txId < b.txId ? -1 : 1))
    await writeFileAtomic(target, `${JSON.stringify(entries, null, 2)}\n`)
  }
  return written
}
