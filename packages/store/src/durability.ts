import { open as openFile, readFile, rename } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { toHex } from '@profichain/core'
import { ioError, type WriteHealth } from './context.js'
import type { BinaryDb, Sub } from './keys.js'
import { u64 } from './keys.js'
import type { TreeNode } from './tree-nodes.js'
import { type AckCheck, type AckPoint, StoreError } from './types.js'

/**
 * What the store does so that nothing acknowledged is lost: the acknowledged watermark beside the DB
 * (checked against the chain at open), and reopening LevelDB after a failed write (disk full).
 */
export class Durability {
  private ackResult: AckCheck = { ok: true }
  private ackWrite: Promise<unknown> = Promise.resolve()
  readonly ackPath: string

  constructor(
    private readonly db: BinaryDb,
    private readonly subs: readonly Sub[],
    private readonly health: WriteHealth,
    dbPath: string,
  ) {
    this.ackPath = ackFilePath(dbPath)
  }

  /**
   * After a failed write, close and reopen LevelDB before the next one: LevelDB keeps a background error
   * (e.g. a compaction that hit ENOSPC) and refuses every later write until it is reopened.
   */
  async beforeWrite(): Promise<void> {
    if (!this.health.reopen) return
    try {
      await this.db.close()
      await this.db.open()
      await Promise.all(this.subs.map((s) => s.open()))
      this.health.reopen = false
    } catch (err) {
      const e = ioError(err, 'reopening the store after a failed write')
      this.health.failed(e)
      throw e
    }
  }

  /** Record the acknowledged watermark (see `BlockTree.acknowledge`); lower heights than the stored one are ignored. */
  async acknowledge(at: AckPoint): Promise<void> {
    const job = this.ackWrite.then(async () => {
      const prev = await readAck(this.ackPath)
      if (prev && prev.height >= at.height) return
      await writeFileDurably(this.ackPath, `${JSON.stringify({ height: at.height, hash: at.hash.toLowerCase() })}\n`)
    })
    this.ackWrite = job.catch(() => undefined)
    return job
  }

  /** The result of `checkAck` at open. */
  ackCheck(): AckCheck {
    return this.ackResult
  }

  /** Compare the watermark with the chain (at open): a head behind it means records were lost. */
  async checkAck(headNode: TreeNode, canonicalAt: Sub): Promise<AckCheck> {
    this.ackResult = await this.compare(headNode, canonicalAt)
    return this.ackResult
  }

  private async compare(headNode: TreeNode, canonicalAt: Sub): Promise<AckCheck> {
    const ack = await readAck(this.ackPath)
    if (!ack) return { ok: true }
    const head = { height: headNode.height, hash: toHex(headNode.hash) }
    if (head.height < ack.height) {
      return {
        ok: false,
        code: 'HEAD_BEHIND_ACK',
        message:
          `the store's head (height ${head.height}) is behind block ${ack.height} (${ack.hash}), for which ` +
          'receipts were already issued: committed blocks were lost (power cut or disk fault?). Receipts up to ' +
          `height ${ack.height} may not verify against this node; restore the data dir from a backup or resync it from peers`,
        acknowledged: ack,
        head,
      }
    }
    const at = await canonicalAt.get(u64(ack.height))
    if (at === undefined || toHex(at) !== ack.hash) {
      return {
        ok: false,
        code: 'ACK_BLOCK_REPLACED',
        message:
          `block ${ack.height} on this store's chain is ${at === undefined ? 'missing' : toHex(at)}, but receipts ` +
          `were issued for block ${ack.hash} at that height: the acknowledged block was replaced. Receipts for it ` +
          'may not verify; restore the data dir from a backup or resync it from peers',
        acknowledged: ack,
        head,
      }
    }
    return { ok: true }
  }
}

/** The acknowledged-watermark file: beside the DB directory, `<db dir name>.ack.json`. */
function ackFilePath(dbPath: string): string {
  const abs = resolve(dbPath)
  return join(dirname(abs), `${basename(abs)}.ack.json`)
}

async function readAck(path: string): Promise<AckPoint | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw ioError(err, `reading the acknowledged watermark ${path}`)
  }
  const v = JSON.parse(text) as { height?: unknown; hash?: unknown }
  if (!Number.isSafeInteger(v.height) || typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash)) {
    throw new StoreError(
      'ERR_STORE_CORRUPT',
      `the acknowledged watermark ${path} is malformed: expected {"height": n, "hash": "<64 hex>"}`,
      { path },
    )
  }
  return { height: v.height as number, hash: v.hash }
}

/** tmp file + fsync + rename + fsync of the directory: the file is either the old or the new one. */
async function writeFileDurably(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`
  try {
    const f = await openFile(tmp, 'w')
    try {
      await f.writeFile(text, 'utf8')
      await f.sync()
    } finally {
      await f.close()
    }
    await rename(tmp, path)
    const d = await openFile(dirname(path), 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  } catch (err) {
    throw ioError(err, `writing the acknowledged watermark ${path}`)
  }
}
