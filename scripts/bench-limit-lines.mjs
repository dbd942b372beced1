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
import { generateKeyPairSync, sign } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort } from 'node:worker_threads'
import { fsDatasync, fsWrite, median, merkleLevels, receipts as receiptsOf, sha256, workerPool } from './limit/common.mjs'

const LINE_BYTES = 1024
const GROUP = 1024
const BLOCK_MS = 1000
/** Signed part of a record: seq u32 ‖ timestamp u64 ‖ payload hash 32; then the signature (64). */
const SIGNED = 4 + 8 + 32

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

async function once({ dir, files, threads }) {
  const workers = workerPool(fileURLToPath(import.meta.url), threads)
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
    await fsWrite(receipts, receiptsOf(ids, levels))
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
