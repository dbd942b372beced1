#!/usr/bin/env node
// The machine's limit for file ingest (issue 12): only the unavoidable work per file, in plain Node —
// read a 1 KiB file, SHA-256 it, Ed25519-sign the hash, rename the file to processed/, write a receipt
// file — on one thread and across a pool of worker threads (one per core). No LevelDB, no block, no
// network: every figure of the node benchmarks is stated as a share of this.
// Usage: node scripts/bench-limit.mjs [--files 4000] [--threads N] [--runs 3]
// As a module: `await machineLimit({ files, threads, runs })` → { oneThread, pool, threads } (files/s, medians).
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'

const RECORD_BYTES = 1024

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** `count` files of 1 KiB in `<dir>/inbox/<prefix>…` (not timed). */
function prepare(dir, prefix, count) {
  const inbox = join(dir, 'inbox')
  mkdirSync(inbox, { recursive: true })
  mkdirSync(join(dir, 'processed'), { recursive: true })
  mkdirSync(join(dir, 'receipts'), { recursive: true })
  const names = []
  for (let i = 0; i < count; i++) {
    const s = `{"p":"${prefix}","i":${i},"x":"`
    const name = `${prefix}-${i}.json`
    writeFileSync(join(inbox, name), s + 'x'.repeat(RECORD_BYTES - s.length - 2) + '"}')
    names.push(name)
  }
  return names
}

/** The unavoidable work for each file (synchronous: the fastest way one thread can do it). Returns ms. */
function work(dir, names) {
  const { privateKey } = generateKeyPairSync('ed25519')
  const t = performance.now()
  for (const name of names) {
    const data = readFileSync(join(dir, 'inbox', name))
    const hash = createHash('sha256').update(data).digest()
    const sig = sign(null, hash, privateKey)
    renameSync(join(dir, 'inbox', name), join(dir, 'processed', name))
    writeFileSync(
      join(dir, 'receipts', `${name}.chp.json`),
      `{"hash":"${hash.toString('hex')}","sig":"${sig.toString('hex')}"}\n`,
    )
  }
  return performance.now() - t
}

function runWorker(dir, names) {
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { dir, names } })
    w.once('message', resolve)
    w.once('error', reject)
  })
}

/**
 * Files/s of the unavoidable work, one thread and `threads` worker threads (each on its own share of the
 * files, all started together; the rate counts from the first start to the last finish). Medians of `runs`.
 */
export async function machineLimit({ files = 4000, threads = availableParallelism(), runs = 3 } = {}) {
  const one = []
  const pool = []
  {
    // Warm-up (JIT, the crypto and fs bindings, the worker start-up path); not counted.
    const dir = mkdtempSync(join(tmpdir(), 'pc-bench-limit-'))
    try {
      work(dir, prepare(dir, 'w', 500))
      await runWorker(dir, prepare(dir, 'v', 100))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  for (let r = 0; r < runs; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'pc-bench-limit-'))
    try {
      const names = prepare(dir, `a${r}`, files)
      one.push(files / (work(dir, names) / 1000))
      const shares = Array.from({ length: threads }, (_, k) => prepare(dir, `b${r}w${k}`, Math.ceil(files / threads)))
      const t = performance.now()
      await Promise.all(shares.map((s) => runWorker(dir, s)))
      pool.push((shares.length * shares[0].length) / ((performance.now() - t) / 1000))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  return { oneThread: median(one), pool: median(pool), threads }
}

if (!isMainThread) {
  parentPort.postMessage(work(workerData.dir, workerData.names))
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const val = (k, d) => {
    const i = args.indexOf(k)
    return i >= 0 ? Number(args[i + 1]) : d
  }
  const r = await machineLimit({ files: val('--files', 4000), threads: val('--threads', availableParallelism()), runs: val('--runs', 3) })
  console.log(`machine limit (read 1 KiB + SHA-256 + Ed25519 sign + rename + write receipt), medians:`)
  console.log(`  one thread:            ${Math.round(r.oneThread)} files/s`)
  console.log(`  ${r.threads} worker threads:      ${Math.round(r.pool)} files/s`)
}
