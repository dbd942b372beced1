#!/usr/bin/env node
// The machine's limit for JSONL line ingest (issue 12: 1 KiB lines, one full node, 1 s blocks): only the
// unavoidable work per line, in plain Node, in one process. The main thread reads each JSONL file and splits it
// into lines; worker threads (one per core) SHA-256 each line and Ed25519-sign the record (the txId is the SHA-256
// of the signed part); each group of lines is appended to an outbox file with one fdatasync (durable before it
// counts as accepted, as the node's outbox); every second what was accepted is sealed into a block (RFC 6962 tree
// of the txIds, one signature, appended with one fdatasync) and a receipt (txId, index, audit path) is written for
// every line of it, synced. No LevelDB, no CBOR, no indexes, no mempool: the node's JSONL figures (burst and
// sustained) are stated as a share of this. Rate = lines / (start → the last receipt synced), median of the runs.
// Usage: node scripts/bench-limit-lines.mjs [--lines 200000] [--files 20] [--threads N] [--runs 3]
// As a module: `await linesLimit({ lines, files, threads, runs })` → { perS, runs: [...], threads }.
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import { closeSync, fdatasync, mkdtempSync, openSync, readFileSync, rmSync, write, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { isMainThread, parentPort, Worker } from 'node:worker_threads'

const LINE_BYTES = 1024
const GROUP = 1024
const BLOCK_MS = 1000
/** Signed part of a record: seq u32 ‖ timestamp u64 ‖ payload hash 32; then the signature (64). */
const SIGNED = 4 + 8 + 32

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const sha256 = (b) => createHash('sha256').update(b).digest()
const fsWrite = promisify(write)
const fsDatasync = promisify(fdatasync)

// ---- worker: hash + sign a packed group of lines ------------------------------------------------------------
if (!isMainThread) {
  const { privateKey } = generateKeyPairSync('ed25519')
  parentPort.on('message', ({ data, offsets, seq0 }) => {
    const bytes = Buffer.from(data)
    const off = new Uint32Array(offsets)
    const n = off.length - 1
    const recs = Buffer.alloc(n * (SIGNED + 64))
    const ids = new Uint8Array(32 * n)
    for (let i = 0; i < n; i++) {
      const rec = recs.subarray(i * (SIGNED + 64), (i + 1) * (SIGNED + 64))
      rec.writeUInt32BE(seq0 + i, 0)
      rec.writeBigUInt64BE(BigInt(Date.now()), 4)
      sha256(bytes.subarray(off[i], off[i + 1])).copy(rec, 12)
      sign(null, rec.subarray(0, SIGNED), privateKey).copy(rec, SIGNED)
      ids.set(sha256(rec), 32 * i)
    }
    parentPort.postMessage({ recs: recs.buffer, ids }, [ids.buffer])
  })
}

/** RFC 6962 levels over the txIds (leaf = H(0x00 ‖ id), node = H(0x01 ‖ l ‖ r), odd one promoted). */
function merkleLevels(ids) {
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

async function once({ dir, files, threads }) {
  const workers = Array.from({ length: threads }, () => {
    const w = new Worker(fileURLToPath(import.meta.url))
    const waiting = []
    w.on('message', (m) => waiting.shift()(m))
    return { post: (msg, transfer) => new Promise((r) => (waiting.push(r), w.postMessage(msg, transfer))), terminate: () => w.terminate() }
  })
  // Warm the workers (JIT, key objects): not timed.
  await Promise.all(workers.map((w) => w.post({ data: new ArrayBuffer(1), offsets: new Uint32Array([0, 1]).buffer, seq0: 0 })))
  const outbox = openSync(join(dir, 'outbox.log'), 'a')
  const chain = openSync(join(dir, 'chain.log'), 'a')
  const receipts = openSync(join(dir, 'receipts.log'), 'a')
  const { privateKey } = generateKeyPairSync('ed25519')
  let accepted = [] // txIds durable in the outbox, not yet in a block
  let receipted = 0
  let sealing = false
  const seal = async () => {
    if (sealing || accepted.length === 0) return
    sealing = true
    const ids = accepted
    accepted = []
    const levels = merkleLevels(ids)
    const root = levels.at(-1)[0]
    const sig = sign(null, root, privateKey)
    await fsWrite(chain, Buffer.concat([root, sig, ...ids]))
    await fsDatasync(chain)
    const parts = []
    for (let i = 0; i < ids.length; i++) {
      const head = Buffer.alloc(5)
      head.writeUInt32BE(i, 0)
      let idx = i
      const path = []
      for (let l = 0; l < levels.length - 1; l++) {
        if ((idx ^ 1) < levels[l].length) path.push(levels[l][idx ^ 1])
        idx >>= 1
      }
      head[4] = path.length
      parts.push(ids[i], head, ...path)
    }
    await fsWrite(receipts, Buffer.concat(parts))
    await fsDatasync(receipts)
    receipted += ids.length
    sealing = false
  }
  const t0 = performance.now()
  const timer = setInterval(() => void seal(), BLOCK_MS)
  let total = 0
  let next = 0
  let seq = 0
  let committing = Promise.resolve()
  const inFlight = new Set()
  for (const file of files) {
    const bytes = readFileSync(file)
    let at = 0
    while (at < bytes.byteLength) {
      // The next GROUP lines (newlines found, not assumed), packed without their newlines.
      const spans = []
      let size = 0
      while (spans.length < GROUP && at < bytes.byteLength) {
        let end = bytes.indexOf(10, at)
        if (end < 0) end = bytes.byteLength
        spans.push(at, end)
        size += end - at
        at = end + 1
      }
      const n = spans.length / 2
      const packed = new Uint8Array(size)
      const offs = new Uint32Array(n + 1)
      for (let i = 0, o = 0; i < n; i++) {
        packed.set(bytes.subarray(spans[2 * i], spans[2 * i + 1]), o)
        offs[i] = o
        o += spans[2 * i + 1] - spans[2 * i]
        offs[i + 1] = o
      }
      const payloads = Buffer.from(packed) // kept for the outbox; `packed` goes to the worker
      const data = packed.buffer
      total += n
      const p = workers[next++ % threads].post({ data, offsets: offs.buffer, seq0: seq }, [data]).then(({ recs, ids }) => {
        // Durable in order, one synced write per group: then accepted.
        committing = committing.then(async () => {
          await fsWrite(outbox, Buffer.concat([Buffer.from(recs), payloads]))
          await fsDatasync(outbox)
          for (let i = 0; i < n; i++) accepted.push(Buffer.from(ids.buffer, 32 * i, 32))
        })
        return committing
      })
      seq += n
      inFlight.add(p)
      void p.then(() => inFlight.delete(p))
      // Bounded: at most 4 groups per thread in flight.
      while (inFlight.size >= 4 * threads) await Promise.race(inFlight)
    }
  }
  await Promise.all(inFlight)
  while (receipted < total) await new Promise((r) => setTimeout(r, 5))
  const ms = performance.now() - t0
  clearInterval(timer)
  for (const fd of [outbox, chain, receipts]) closeSync(fd)
  await Promise.all(workers.map((w) => w.terminate()))
  return { ms, total }
}

/** The limit: median lines/s over `runs` runs of `lines` 1 KiB lines in `files` JSONL files. */
export async function linesLimit({ lines = 200_000, files = 20, threads = availableParallelism(), runs = 3 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pc-lines-limit-'))
  try {
    const paths = []
    const per = Math.ceil(lines / files)
    for (let f = 0; f < files; f++) {
      const parts = []
      for (let i = 0; i < per; i++) {
        const head = `{"f":${f},"i":${i},"v":"`
        parts.push(head + 'x'.repeat(LINE_BYTES - head.length - 2) + '"}')
      }
      const p = join(dir, `in-${f}.jsonl`)
      writeFileSync(p, parts.join('\n'))
      paths.push(p)
    }
    const out = []
    for (let r = 0; r < runs; r++) {
      const runDir = mkdtempSync(join(dir, `run-${r}-`))
      const { ms, total } = await once({ dir: runDir, files: paths, threads })
      if (total !== per * files) throw new Error(`limit run lost lines: ${total} of ${per * files}`)
      out.push(total / (ms / 1000))
    }
    return { perS: median(out), runs: out, threads }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, d) => {
    const i = process.argv.indexOf(name)
    return i >= 0 ? Number(process.argv[i + 1]) : d
  }
  const res = await linesLimit({ lines: arg('--lines', 200_000), files: arg('--files', 20), threads: arg('--threads', availableParallelism()), runs: arg('--runs', 3) })
  console.log(`JSONL machine limit (one process): ${Math.round(res.perS)} lines/s (median of ${res.runs.map((x) => Math.round(x)).join(', ')}; ${res.threads} signing threads)`)
}
