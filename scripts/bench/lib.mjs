// Shared helpers of the end-to-end benchmarks (node.mjs, network.mjs): statistics, processes, API, load files,
// CPU profile summaries. No `run` export: scripts/bench.mjs imports every file here and runs those that have one.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const CLI = join(ROOT, 'packages/cli/bin/profichain.js')

export function median(xs) {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs, p) {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Poll `fn` until it returns a truthy value or the deadline passes (then throw with `what`). */
export async function waitFor(fn, { timeoutMs = 30_000, everyMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** A random high TCP port that is free now (port 0 is no option: receipts embed the API port). */
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000)
    const ok = await new Promise((res) => {
      const s = createServer()
      s.once('error', () => res(false))
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)))
    })
    if (ok) return port
  }
  throw new Error('no free port found')
}

/** `count` consecutive free ports starting at a random base (devnet counts ports up from its base). */
export async function freePortRange(count) {
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000)
    let ok = true
    for (let p = base; p < base + count && ok; p++) {
      ok = await new Promise((res) => {
        const s = createServer()
        s.once('error', () => res(false))
        s.listen(p, '127.0.0.1', () => s.close(() => res(true)))
      })
    }
    if (ok) return base
  }
  throw new Error('no free port range found')
}

/** Run the profichain CLI to completion; reject on a non-zero exit with its output. */
export function cli(args, opts = {}) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.stderr.on('data', (d) => (out += d))
    c.on('error', reject)
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`profichain ${args.join(' ')} exited ${code}: ${out}`))))
  })
}

/** Start a long-running process (node flags + CLI args), output appended to logFile. */
export function spawnCli(args, { logFile, nodeFlags = [], cwd, env } = {}) {
  // A node daemon gets the flags the bin's shebang and `profichain devnet` give it (daemonNodeFlags).
  const daemon = args[0] === 'start' && !(process.env.NODE_OPTIONS ?? '').includes('--max-semi-space-size') ? ['--max-semi-space-size=64'] : []
  const child = spawn(process.execPath, [...daemon, ...nodeFlags, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd, env: env ?? process.env })
  if (logFile) {
    const out = createWriteStream(logFile, { flags: 'a' })
    child.stdout.pipe(out)
    child.stderr.pipe(out)
  } else {
    child.stdout.resume()
    child.stderr.resume()
  }
  return child
}

/**
 * SIGINT (or `signal`); a second SIGINT after `secondMs` (the node then exits at once, still writing a
 * --cpu-prof profile); SIGKILL after `graceMs`. Resolves when the process is gone.
 */
export function stopChild(child, { signal = 'SIGINT', graceMs = 20_000, secondMs } = {}) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((res) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs)
    const t2 = secondMs !== undefined ? setTimeout(() => child.kill('SIGINT'), secondMs) : undefined
    child.once('exit', () => {
      clearTimeout(t)
      clearTimeout(t2)
      res()
    })
    child.kill(signal)
  })
}

export async function gql(api, query, variables = {}) {
  const res = await fetch(`${api}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  })
  const body = await res.json()
  if (body.errors) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`)
  return body.data
}

/**
 * Start an initialised node (`profichain start --data-dir <dataDir>`, log in <dir>/node.log, a CPU profile in
 * <dir>/prof with `profile`) and wait until /healthz answers. The handle stops it (SIGINT, then SIGKILL) or
 * kills it and removes <dir>; a node that does not come up is cleaned up and reported with its log's tail.
 */
export async function startBenchNode({ dir, dataDir, apiPort, profile = false }) {
  const profDir = join(dir, 'prof')
  const child = spawnCli(['start', '--data-dir', dataDir], { logFile: join(dir, 'node.log'), nodeFlags: profile ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [] })
  const api = `http://127.0.0.1:${apiPort}`
  const node = {
    dir,
    dataDir,
    api,
    child,
    profDir,
    stop: () => stopChild(child, { graceMs: 30_000, secondMs: 10_000 }),
    async cleanup() {
      await stopChild(child, { signal: 'SIGKILL', graceMs: 1000 })
      await rm(dir, { recursive: true, force: true })
    },
  }
  try {
    await waitHealthy(api, child)
  } catch (err) {
    const log = await readFile(join(dir, 'node.log'), 'utf8').catch(() => '')
    await node.cleanup()
    throw new Error(`${err.message}\n${log.slice(-2000)}`)
  }
  return node
}

export async function waitHealthy(api, child, timeoutMs = 60_000) {
  await waitFor(
    async () => {
      if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`node exited (${child.exitCode ?? child.signalCode}) before it was ready`)
      try {
        return (await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(1000) })).ok
      } catch {
        return false
      }
    },
    { timeoutMs, everyMs: 200, what: `${api}/healthz` },
  )
}

/** Canonical head height. */
export async function height(api) {
  return (await gql(api, '{ status { height } }')).status.height
}

/** {height, txCount, timestamp} of canonical blocks from..to (paged). */
export async function blocksRange(api, from, to) {
  const out = []
  let after = null
  for (;;) {
    const d = await gql(
      api,
      'query($from:Int,$to:Int,$after:String){ blocks(from:$from,to:$to,first:100,after:$after){ nodes { height txCount timestamp } pageInfo { hasNextPage endCursor } } }',
      { from, to, after },
    )
    out.push(...d.blocks.nodes)
    if (!d.blocks.pageInfo.hasNextPage) return out
    after = d.blocks.pageInfo.endCursor
  }
}

/** Height of the canonical block holding the payload with this SHA-256 (hex) and the tx's (signing) timestamp. */
export async function heightOfPayload(api, payloadHash) {
  const d = await gql(api, 'query($h:String){ transactions(filter:{payloadHash:$h}, first:2){ nodes { height timestamp } } }', { h: payloadHash })
  const n = d.transactions.nodes
  return { count: n.length, height: n[0]?.height ?? null, txTimestamp: n[0]?.timestamp ?? null }
}

/** A prometheus counter/gauge value from /metrics. */
export async function metric(api, name) {
  const text = await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const m = text.match(new RegExp(`^${name} ([0-9.e+]+)$`, 'm'))
  return m ? Number(m[1]) : Number.NaN
}

/** Several metrics from ONE scrape of /metrics (each scrape renders the whole registry on the node's main thread). */
export async function metricsOf(api, names) {
  const text = await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  return names.map((name) => {
    const m = text.match(new RegExp(`^${name} ([0-9.e+]+)$`, 'm'))
    return m ? Number(m[1]) : Number.NaN
  })
}

export const sha256hex = (b) => createHash('sha256').update(b).digest('hex')

/** One JSON line of exactly `bytes` bytes (without the newline), unique by tag. */
export function jsonLine(tag, bytes = 1024) {
  const head = JSON.stringify({ tag, v: '' })
  return JSON.stringify({ tag, v: 'x'.repeat(Math.max(0, bytes - head.length)) })
}

/** Write atomically into an inbox: `<name>.tmp` then rename (the watcher ignores *.tmp). */
export async function drop(inbox, name, data) {
  const p = join(inbox, name)
  await writeFile(`${p}.tmp`, data)
  await rename(`${p}.tmp`, p)
}

/**
 * Aggregate a V8 .cpuprofile: self time by function (name + file:line) and by package
 * (@profichain/<pkg>, node_modules/<pkg>, node: internals, (gc), (idle), (program)).
 */
export async function summariseProfile(file, top = 25) {
  const prof = JSON.parse(await readFile(file, 'utf8'))
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const self = new Map()
  const dts = prof.timeDeltas
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dts[i] ?? 0))
  const total = dts.reduce((a, b) => a + b, 0)
  const parent = new Map()
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // Self time charged to the nearest Profichain frame on the stack (who asked for the hashing, encoding, I/O).
  const ours = new Map()
  const incl = new Map()
  const oursKey = (id) => {
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur).callFrame
      if (/packages\/[^/]+\/(dist|src)\//.test(cf.url ?? '') && !cf.url.includes('node_modules/')) return `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`
    }
    return '(outside profichain code)'
  }
  const fns = new Map()
  const pkgs = new Map()
  for (const [id, us] of self) {
    const n = byId.get(id)
    const cf = n.callFrame
    const url = cf.url ?? ''
    const pkg = packageOf(url, cf.functionName)
    const fnKey = `${cf.functionName || '(anonymous)'} ${shortUrl(url)}:${cf.lineNumber + 1}`
    fns.set(fnKey, (fns.get(fnKey) ?? 0) + us)
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us)
    const ok = oursKey(id)
    ours.set(ok, (ours.get(ok) ?? 0) + us)
    const seen = new Set()
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur).callFrame
      if (!/packages\/[^/]+\/(dist|src)\//.test(f.url ?? '') || f.url.includes('node_modules/')) continue
      const k = `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`
      if (seen.has(k)) continue
      seen.add(k)
      incl.set(k, (incl.get(k) ?? 0) + us)
    }
  }
  const sorted = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ name: k, ms: Math.round(us / 1000), pct: Math.round((1000 * us) / total) / 10 }))
  return { totalMs: Math.round(total / 1000), functions: sorted(fns), packages: sorted(pkgs), callers: sorted(ours), inclusive: sorted(incl) }
}

function shortUrl(url) {
  const m = url.match(/packages\/([^/]+)\/(?:dist|src)\/(.*)$/)
  if (m) return `${m[1]}/${m[2]}`
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 13)
  return url.replace(/^file:\/\//, '')
}

function packageOf(url, fn) {
  if (!url) return fn.startsWith('(') ? fn : '(native)'
  const m = url.match(/packages\/([^/]+)\/(?:dist|src)\//)
  if (m && !url.includes('node_modules/')) return `@profichain/${m[1]}`
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`
  return url
}

/** Newest main-thread *.cpuprofile in dir (names are CPU.<date>.<time>.<pid>.<thread>.<seq>), or undefined. */
export async function newestProfile(dir) {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0').sort()
  return files.length ? join(dir, files[files.length - 1]) : undefined
}

/** Print a profile summary as markdown lines. */
export function profileTable(sum, title) {
  const lines = [`${title} (${sum.totalMs} ms sampled)`, '', '| self time | % | function |', '|---:|---:|---|']
  for (const f of sum.functions) lines.push(`| ${f.ms} ms | ${f.pct} | \`${f.name}\` |`)
  lines.push('', '| self time | % | package |', '|---:|---:|---|')
  for (const p of sum.packages) lines.push(`| ${p.ms} ms | ${p.pct} | ${p.name} |`)
  lines.push('', '| self time below | % | nearest Profichain frame |', '|---:|---:|---|')
  for (const p of sum.callers) lines.push(`| ${p.ms} ms | ${p.pct} | \`${p.name}\` |`)
  lines.push('', '| inclusive | % | Profichain function (time on the stack) |', '|---:|---:|---|')
  for (const p of sum.inclusive) lines.push(`| ${p.ms} ms | ${p.pct} | \`${p.name}\` |`)
  return lines.join('\n')
}

/**
 * Collects the outcome of step-up searches over several runs: the last sustained step of each run (its
 * offered rate and latency) and the peak committed rate of any step; `rows()` gives the medians.
 * `isSustained(step)` decides whether a step passed.
 */
export class StepUpTally {
  constructor(isSustained) {
    this.isSustained = isSustained
    this.best = []
    this.p50s = []
    this.p99s = []
    this.peak = []
    this.runs = 0
  }

  add(steps) {
    this.runs++
    const ok = steps.filter(this.isSustained)
    const top = ok[ok.length - 1]
    this.best.push(top ? top.offeredPerS : 0)
    if (top) {
      this.p50s.push(top.p50)
      this.p99s.push(top.p99)
    }
    this.peak.push(Math.max(...steps.map((s) => s.committedPerS)))
  }

  rows(label, unit, peakLabel) {
    return [
      { name: `${label}: max sustained committed rate (p99 ≤ 2 s, zero loss)`, unit, median: median(this.best), runs: this.runs },
      { name: `${label}: commit latency p50 at that rate`, unit: 'ms', median: median(this.p50s), runs: this.p50s.length },
      { name: `${label}: commit latency p99 at that rate`, unit: 'ms', median: median(this.p99s), runs: this.p99s.length },
      { name: `${label}: peak committed rate (any step, ${peakLabel} / span of their blocks)`, unit, median: median(this.peak), runs: this.runs },
    ]
  }
}
