// Shared pieces of the plain-Node machine-limit scripts (scripts/bench-limit-api.mjs, bench-limit-net.mjs,
// bench-limit-lines.mjs): the unavoidable work they all do, written once.
import { createHash } from 'node:crypto'
import { fdatasync, write } from 'node:fs'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
export const sha256 = (b) => createHash('sha256').update(b).digest()
export const fsWrite = promisify(write)
export const fsDatasync = promisify(fdatasync)

/** Worker threads running `file`, each answering its messages in order: `post` resolves with the answer. */
export function workerPool(file, threads) {
  return Array.from({ length: threads }, () => {
    const w = new Worker(file)
    const waiting = []
    w.on('message', (m) => waiting.shift()(m))
    return { post: (msg, transfer) => new Promise((r) => (waiting.push(r), w.postMessage(msg, transfer))), terminate: () => w.terminate() }
  })
}

/** RFC 6962 levels over the txIds (leaf = H(0x00 ‖ id), node = H(0x01 ‖ l ‖ r), odd one promoted); root = last. */
export function merkleLevels(ids) {
  const levels = [ids.map((id) => sha256(Buffer.concat([Buffer.from([0]), id])))]
  while (levels[levels.length - 1].length > 1) {
    const lv = levels[levels.length - 1]
    const up = []
    for (let i = 0; i + 1 < lv.length; i += 2) up.push(sha256(Buffer.concat([Buffer.from([1]), lv[i], lv[i + 1]])))
    if (lv.length % 2 === 1) up.push(lv[lv.length - 1])
    levels.push(up)
  }
  return levels
}

/** The audit path of leaf `i`: its siblings from the bottom up. */
export function auditPath(levels, i) {
  const path = []
  let idx = i
  for (let l = 0; l < levels.length - 1; l++) {
    const sib = idx ^ 1
    if (sib < levels[l].length) path.push(levels[l][sib])
    idx >>= 1
  }
  return path
}

/** Receipts of the leaves `which` (default all): txId ‖ u32 index ‖ u8 path length ‖ audit path, concatenated. */
export function receipts(ids, levels, which = ids.keys()) {
  const parts = []
  for (const i of which) {
    const path = auditPath(levels, i)
    const h = Buffer.alloc(5)
    h.writeUInt32BE(i, 0)
    h[4] = path.length
    parts.push(ids[i], h, ...path)
  }
  return Buffer.concat(parts)
}
