#!/usr/bin/env node
// Issue 7: reproduce the papers' evaluation on a devnet of separate processes (1 full node + N thin nodes).
//   node scripts/eval/run.mjs [--quick] [--out DIR] [--only 1,2,3,4] [--blocks N] [--duration S] [--thin N]
//                             [--block-times 1000,15000]       (build first: npx tsc -b; or `npm run eval`)
// Experiments (docs/evaluation.md explains each):
//   1 max sustained rate with zero loss, 1 KiB records, per block time (step-up search)
//   2 payload batching: 100 B × {1, 10, 100, 1000} per record (step-up search per size)
//   3 drop → block latency distribution at a steady 100 records/s over --blocks blocks (the papers' 660 s run)
//   4 scaling with the number of ingesting devices (1, 10, 100) and payload size
//   5 loss accounting: every record sent matched to exactly one committed tx (all runs above)
// Writes DIR/results.json, DIR/report.md and DIR/*.svg. --quick runs a small version of everything and exits
// non-zero when any record is lost, duplicated or unexpected, or a file has no receipt (correctness, never speed).
import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { ROOT } from '../bench/lib.mjs'
import { startDevnet } from './devnet.mjs'
import { writeReport } from './report.mjs'
import { deviceTargets, nodeTargets, sustained, trial } from './trial.mjs'

const args = process.argv.slice(2)
const flag = (k) => args.includes(k)
const val = (k) => {
  const i = args.indexOf(k)
  return i >= 0 ? args[i + 1] : undefined
}
const quick = flag('--quick')
const out = resolve(val('--out') ?? join(ROOT, 'docs/eval'))
const only = new Set((val('--only') ?? '1,2,3,4').split(',').map(Number))
const thin = Number(val('--thin') ?? 2)
const blocks = Number(val('--blocks') ?? (quick ? 3 : 44))
const duration = Number(val('--duration') ?? (quick ? 4 : 30))
const blockTimes = (val('--block-times') ?? (quick ? '1000,3000' : '1000,15000')).split(',').map(Number)
const slowBt = Math.max(...blockTimes)
const fastBt = Math.min(...blockTimes)

const RATE_LADDER = [50, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200]
const cfg = quick
  ? {
      exp1: blockTimes.map((bt) => ({ blockTimeMs: bt, rates: bt === fastBt ? [20, 60] : [20], seconds: Math.max(duration, (2 * bt) / 1000) })),
      exp2: { blockTimeMs: fastBt, parts: [1, 10, 100, 1000], rates: () => [5], seconds: Math.min(duration, 3) },
      exp3: [
        { blockTimeMs: slowBt, rate: 30, seconds: (blocks * slowBt) / 1000 },
        { blockTimeMs: fastBt, rate: 30, seconds: duration },
      ],
      exp4: { blockTimeMs: fastBt, devices: [1, 10, 100], sizes: [100, 1024], perDevice: 1, seconds: Math.min(duration, 3) },
    }
  : {
      exp1: blockTimes.map((bt) => ({ blockTimeMs: bt, rates: RATE_LADDER, seconds: Math.max(duration, (4 * bt) / 1000) })),
      exp2: {
        blockTimeMs: fastBt,
        parts: [1, 10, 100, 1000],
        // Ladders by record size (100 B … 100 KB), so each search starts well below its limit.
        rates: (k) => (k <= 10 ? RATE_LADDER : k === 100 ? [20, 50, 100, 150, 200, 300, 400, 600] : [5, 10, 20, 40, 60, 80, 120, 160]),
        seconds: Math.max(10, Math.round(duration * 0.67)),
      },
      exp3: [
        { blockTimeMs: slowBt, rate: 100, seconds: (blocks * slowBt) / 1000 },
        { blockTimeMs: fastBt, rate: 100, seconds: Math.max(duration, 120) },
      ],
      exp4: { blockTimeMs: fastBt, devices: [1, 10, 100], sizes: [100, 1024, 10240], perDevice: 1, seconds: duration },
    }

const log = (l) => process.stderr.write(`[eval ${new Date().toISOString().slice(11, 19)}] ${l}\n`)
const load = []
const sampler = setInterval(() => load.push(loadavg()[0]), 5000)
sampler.unref()

// Quick mode shares one devnet per block time (speed); the full run starts a fresh devnet per search or
// configuration, so a backlog left by an overloaded step never leaks into the next measurement.
const pool = new Map()
const live = new Set()
async function withDevnet(blockTimeMs, fn) {
  if (quick) {
    if (!pool.has(blockTimeMs)) pool.set(blockTimeMs, await startDevnet({ thin, blockTimeMs, log }))
    live.add(pool.get(blockTimeMs))
    return fn(pool.get(blockTimeMs))
  }
  const d = await startDevnet({ thin, blockTimeMs, log })
  live.add(d)
  try {
    return await fn(d)
  } finally {
    live.delete(d)
    await d.stop()
  }
}
// Ctrl-C / kill: stop the devnets (their node processes) before leaving.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    log(`${sig}: stopping ${live.size} devnet(s)`)
    await Promise.all([...live].map((d) => d.stop()))
    process.exit(130)
  })
}

function loadSince(i) {
  const xs = load.slice(i)
  return xs.length ? { mean: xs.reduce((a, b) => a + b, 0) / xs.length, max: Math.max(...xs) } : { mean: loadavg()[0], max: loadavg()[0] }
}

/** Step the offered rate up until a step is not sustained (quick: run every listed rate). */
async function stepUp(d, { rates, seconds, recordBytes = 1024, parts = 1, label }) {
  const steps = []
  for (const rate of rates) {
    const r = await trial({ devnet: d, targets: nodeTargets(d, rate), seconds, recordBytes, parts, label, log })
    r.sustained = sustained(r)
    steps.push(r)
    if (!r.sustained && !quick) break
  }
  return steps
}

/** HEAD of the checkout being measured, with "+dirty" when packages/ has uncommitted changes. */
function gitDescribe() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', 'packages'], { cwd: ROOT, encoding: 'utf8' }).trim()
    return dirty ? `${head}+dirty` : head
  } catch {
    return 'unknown'
  }
}

const started = Date.now()
const results = {
  meta: {
    // Paths inside the repository are recorded relative to its root (reports never name this machine's paths).
    command: `node scripts/eval/run.mjs ${args.map((a) => (a.startsWith(`${ROOT}/`) ? relative(ROOT, a) : a)).join(' ')}`.trim(),
    quick,
    date: new Date().toISOString(),
    node: process.version,
    commit: gitDescribe(),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    memGiB: Math.round(totalmem() / 2 ** 30),
    thin,
    blocks,
    duration,
  },
  runs: [],
}
const keep = (exp, r) => {
  r.exp = exp
  results.runs.push(r)
  return r
}

try {
  if (only.has(1)) {
    results.exp1 = []
    for (const c of cfg.exp1) {
      const l0 = load.length
      const steps = await withDevnet(c.blockTimeMs, (d) => stepUp(d, { ...c, label: `[1] ${c.blockTimeMs / 1000} s blocks` }))
      steps.forEach((s) => keep(1, s))
      const ok = steps.filter((s) => s.sustained)
      results.exp1.push({ blockTimeMs: c.blockTimeMs, seconds: c.seconds, steps, maxSustained: ok.at(-1)?.rate ?? 0, load: loadSince(l0) })
    }
  }
  if (only.has(3)) {
    results.exp3 = []
    for (const c of cfg.exp3) {
      const l0 = load.length
      const r = await withDevnet(c.blockTimeMs, (d) =>
        trial({ devnet: d, targets: nodeTargets(d, c.rate), seconds: c.seconds, label: `[3] ${c.blockTimeMs / 1000} s blocks steady`, log, keepSamples: true }),
      )
      r.sustained = sustained(r)
      keep(3, r)
      results.exp3.push({ ...r, load: loadSince(l0) })
    }
  }
  if (only.has(2)) {
    results.exp2 = []
    const c = cfg.exp2
    for (const k of c.parts) {
      const l0 = load.length
      const steps = await withDevnet(c.blockTimeMs, (d) =>
        stepUp(d, { rates: c.rates(k), seconds: c.seconds, recordBytes: 100 * k, parts: k, label: `[2] 100 B × ${k}` }),
      )
      steps.forEach((s) => keep(2, s))
      const ok = steps.filter((s) => s.sustained)
      results.exp2.push({ parts: k, recordBytes: 100 * k, blockTimeMs: c.blockTimeMs, seconds: c.seconds, steps, best: ok.at(-1) ?? null, load: loadSince(l0) })
    }
  }
  if (only.has(4)) {
    results.exp4 = []
    const c = cfg.exp4
    await withDevnet(c.blockTimeMs, async (d) => {
      for (const size of c.sizes) {
        for (const n of c.devices) {
          const l0 = load.length
          const r = await trial({ devnet: d, targets: deviceTargets(d, n, c.perDevice), seconds: c.seconds, recordBytes: size, label: `[4] ${n} device(s) × ${size} B`, log })
          r.sustained = sustained(r)
          keep(4, r)
          results.exp4.push({ devices: n, recordBytes: size, perDevice: c.perDevice, run: r, load: loadSince(l0) })
        }
      }
    })
  }
} finally {
  for (const d of pool.values()) {
    live.delete(d)
    await d.stop()
  }
  clearInterval(sampler)
}

results.meta.minutes = (Date.now() - started) / 60_000
results.meta.load = loadSince(0)
// Loss accounting over every run (experiment 5).
const tot = { runs: 0, sent: 0, matched: 0, lost: 0, duplicated: 0, unexpected: 0, receiptsMissing: 0, unsettled: 0 }
for (const r of results.runs) {
  tot.runs++
  for (const k of ['sent', 'matched', 'lost', 'duplicated', 'unexpected', 'receiptsMissing']) tot[k] += r.counts[k]
  if (!r.settled) tot.unsettled++
}
results.exp5 = tot
await mkdir(out, { recursive: true })
const files = await writeReport(results, out)
log(`report: ${join(out, 'report.md')} (${files.length} plots), ${results.meta.minutes.toFixed(1)} min`)
log(`loss accounting: ${JSON.stringify(tot)}`)

if (quick) {
  const bad = []
  if (tot.lost || tot.duplicated || tot.unexpected || tot.receiptsMissing || tot.unsettled) bad.push(`loss accounting ${JSON.stringify(tot)}`)
  for (const e of ['exp1', 'exp2', 'exp3', 'exp4']) if (only.has(Number(e.slice(3))) && !(results[e]?.length > 0)) bad.push(`${e} produced no rows`)
  if (bad.length) {
    log(`FAILED: ${bad.join('; ')}`)
    process.exit(1)
  }
  log('quick evaluation: every record committed exactly once')
}
