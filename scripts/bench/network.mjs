#!/usr/bin/env node
// Issue 6: a 3-process network from `profichain devnet --thin 2` (one full node = the validator, two thin
// nodes ingesting), 1 s blocks. JSONL files of 1 KiB lines go into the thin nodes' inboxes (round-robin); the
// records travel by gossip to the full node, which seals them. Committed tx/s and commit latency (drop time →
// timestamp of the block holding the record, sampled by payload hash on the full node's API) with a step-up
// search; a step counts only with zero loss: the full node's chain holds exactly as many txs as lines were sent
// (sum of txCount over the new blocks) and no sampled record twice.
// In the same run: the machine limit for the same work in plain Node (scripts/bench-limit-net.mjs: three processes
// that only read, hash, sign, sync, send, verify, seal and receipt; `--no-limit` skips it); the sustained rate is
// stated as a share of it.
// Usage: node scripts/bench/network.mjs [--quick] [--rates 2000,5000] [--seconds 10] [--runs 3] [--profile] [--no-limit]   (build first: npx tsc -b)
// --profile profiles every node process (cpu-prof-hook.mjs, preloaded through NODE_OPTIONS) and prints, per node, where its
// main thread's time goes (see lib.mjs summariseProfile); the profiles are written when the devnet stops
// (BENCH_KEEP_PROFILES=1 keeps the files and prints their directory).
// As a module: `await run({ quick })` returns rows { name, unit, median, runs }.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { blocksRange, freePortRange, height, profileTable, spawnCli, StepUpTally, stopChild, summariseProfile, waitFor } from './lib.mjs'
import { netLimit } from '../bench-limit-net.mjs'
import { sustained, trial } from './node.mjs'

/** Start `profichain devnet` (1 full + `thin` thin nodes) in a tmp dir; resolves once devnet.json exists. */
export async function startDevnet({ thin = 2, env } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'pc-bench-net-'))
  const n = thin + 1
  const p2p = await freePortRange(n)
  const apiBase = await freePortRange(n)
  const child = spawnCli(['devnet', '--dir', dir, '--thin', String(thin), '--p2p-port', String(p2p), '--api-port', String(apiBase)], {
    logFile: join(tmpdir(), `${dir.split('/').pop()}.devnet.log`),
    env,
  })
  let info
  const net = {
    dir,
    child,
    get info() {
      return info
    },
    async stop() {
      await stopChild(child, { graceMs: 40_000 })
      // Should the devnet process have died first, its nodes must not outlive the benchmark.
      for (const nd of info?.nodes ?? []) {
        try {
          process.kill(nd.pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      await rm(dir, { recursive: true, force: true })
      await rm(join(tmpdir(), `${dir.split('/').pop()}.devnet.log`), { force: true })
    },
  }
  try {
    info = await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`devnet exited (${child.exitCode ?? child.signalCode})`)
        return readFile(join(dir, 'devnet.json'), 'utf8').then(JSON.parse, () => undefined)
      },
      { timeoutMs: 120_000, everyMs: 250, what: 'devnet.json' },
    )
    // Ready when every thin node is connected (gossip has a mesh to publish into).
    await waitFor(async () => (await Promise.all(info.nodes.map((x) => peersOf(x.api)))).every((p) => p >= 1), {
      timeoutMs: 60_000,
      everyMs: 250,
      what: 'peers connected',
    })
  } catch (err) {
    const log = await readFile(join(tmpdir(), `${dir.split('/').pop()}.devnet.log`), 'utf8').catch(() => '')
    await net.stop()
    throw new Error(`${err.message}\n${log.slice(-2000)}`)
  }
  return net
}

async function peersOf(api) {
  try {
    const res = await fetch(`${api}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ status { peers } }' }),
      signal: AbortSignal.timeout(2000),
    })
    return (await res.json()).data.status.peers
  } catch {
    return 0
  }
}

/** One step on the network: lines into the thin inboxes, commits counted on the full node. */
async function networkTrial(net, rate, seconds, log) {
  const full = net.info.nodes.find((x) => x.type === 'full')
  const thins = net.info.nodes.filter((x) => x.type === 'thin')
  const h0 = await height(full.api)
  const g0 = await Promise.all(net.info.nodes.map((x) => gossipCounters(x.api)))
  const cpu0 = await Promise.all(net.info.nodes.map((x) => cpuMs(x.pid)))
  const main0 = await Promise.all(net.info.nodes.map((x) => cpuMs(x.pid, x.pid)))
  const r = await trial({ api: full.api, inboxes: thins.map((t) => t.inbox), mode: 'jsonl', rate, seconds, settleMs: 30_000 })
  // Exact count: every tx in the new canonical blocks (the metric counts canonical blocks, also on reorgs).
  const h1 = await height(full.api)
  const inChain = (await blocksRange(full.api, h0 + 1, h1)).reduce((a, b) => a + b.txCount, 0)
  r.inChain = inChain
  if (inChain !== r.sent) {
    r.lost = Math.max(0, r.sent - inChain)
    r.extra = Math.max(0, inChain - r.sent)
  }
  log(
    `network ${rate}/s: sent ${r.sent} (fed at ${Math.round(r.offeredPerS)}/s) in chain ${inChain} → ${Math.round(r.committedPerS)}/s in ${r.blocks} blocks (max ${r.maxTxsPerBlock}/block), latency p50 ${r.p50} ms p99 ${r.p99} ms (drop→signed p50 ${r.signP50} p99 ${r.signP99}), lost ${r.lost} extra ${r.extra} dup ${r.duplicates} ${sustained(r) ? 'OK' : 'NOT SUSTAINED'}`,
  )
  // Gossip per node over the step: tx messages in/out and their mean size (≈ txs per message at 1 KiB lines),
  // block gossip and sync bytes received (blocks fetched again by sync show up as sync bytes beside block bytes).
  const g1 = await Promise.all(net.info.nodes.map((x) => gossipCounters(x.api)))
  const cpu1 = await Promise.all(net.info.nodes.map((x) => cpuMs(x.pid)))
  const main1 = await Promise.all(net.info.nodes.map((x) => cpuMs(x.pid, x.pid)))
  // CPU time (all threads: main, pool workers, libuv) each node spent on the step, per record sent: on a
  // shared machine a steadier A/B figure than rates or latencies.
  r.cpuUsPerTx = Object.fromEntries(net.info.nodes.map((x, i) => [x.name, Math.round(((cpu1[i] - cpu0[i]) * 1000) / r.sent)]))
  r.mainUsPerTx = Object.fromEntries(net.info.nodes.map((x, i) => [x.name, Math.round(((main1[i] - main0[i]) * 1000) / r.sent)]))
  log(`  CPU per record (all threads / main thread): ${Object.entries(r.cpuUsPerTx).map(([k, v]) => `${k} ${v} / ${r.mainUsPerTx[k]} µs`).join(', ')}`)
  const kib = (bytes, n) => (n > 0 ? Math.round(bytes / n / 1024) : 0)
  log(
    `  gossip tx messages: ${net.info.nodes
      .map((x, i) => {
        const d = Object.fromEntries(Object.keys(g1[i]).map((k) => [k, g1[i][k] - g0[i][k]]))
        return `${x.name} in ${d.in} (${kib(d.inBytes, d.in)} KiB each) out ${d.out} (${kib(d.outBytes, d.out)} KiB each; renewed ${d.renewed}, deferred ${d.deferred}) blocks in ${kib(d.blockBytes, 1)} KiB, sync in ${kib(d.syncBytes, 1)} KiB`
      })
      .join(', ')}`,
  )
  return r
}

/** utime + stime of a process (or, with `tid`, of one of its threads) in ms (Linux /proc; NaN elsewhere). */
async function cpuMs(pid, tid) {
  const stat = await readFile(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return f.length > 13 ? ((Number(f[11]) + Number(f[12])) * 1000) / 100 : Number.NaN
}

/** The tx topic's gossip counters of one node (from /metrics; 0 when the node does not answer). */
async function gossipCounters(api) {
  const text = await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text(), () => '')
  const get = (name, labels = '\\{topic="tx"\\}') => Number(text.match(new RegExp(`^profichain_network_${name}_total${labels} ([0-9.e+]+)$`, 'm'))?.[1] ?? 0)
  return {
    in: get('gossip_received'),
    inBytes: get('gossip_received_bytes'),
    out: get('gossip_published'),
    outBytes: get('gossip_published_bytes'),
    blockBytes: get('gossip_received_bytes', '\\{topic="block"\\}'),
    syncBytes: get('sync_received_bytes', ''),
    // Tx batches the seen cache refused (republished own records) and sent in another order or deferred.
    renewed: get('publish_renewed', ''),
    deferred: get('publish_deferred', ''),
  }
}

/** Per node process: the summary of its main thread's profile (files are CPU.<date>.<time>.<pid>.<thread>.<seq>). */
async function printProfiles(dir, nodes, log) {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0')
  for (const nd of nodes) {
    const f = files.find((x) => Number(x.split('.')[3]) === nd.pid)
    if (f) log(`\n${profileTable(await summariseProfile(join(dir, f), 30), `CPU profile of ${nd.name} (${nd.type})`)}\n`)
  }
  // BENCH_KEEP_PROFILES=1 keeps the .cpuprofile files (for python3 prof.py-style drill-downs).
  if (process.env.BENCH_KEEP_PROFILES) log(`profiles kept in ${dir}`)
  else await rm(dir, { recursive: true, force: true })
}

export async function run({ quick = false, log = (l) => process.stderr.write(`  ${l}\n`), opts = {} } = {}) {
  const runs = quick ? 1 : (opts.runs ?? 3)
  const seconds = opts.seconds ?? (quick ? 3 : 8)
  // Issue 12 asks for ≥ 5,000 tx/s: start at 500 (the 250 step cost a minute per run in a 10-min bench).
  // Steps of 1,000/s from 2,000 to 5,000, and 2,500 (2,000 passed and 3,000 failed in every quiet run of sessions 6 and 7).
  const rates = opts.rates ?? (quick ? [250, 500] : [500, 1000, 2000, 2500, 3000, 4000, 5000, 10000])
  // The same work with nothing but the unavoidable steps, in three plain-Node processes on the same cores.
  const limit = opts.noLimit ? undefined : await netLimit({ records: quick ? 5000 : 20_000, runs: quick ? 1 : 3 })
  if (limit) log(`machine limit (plain Node, 3 processes): ${Math.round(limit.perS)} records/s (runs ${limit.runs.map((x) => Math.round(x)).join(', ')})`)
  const tally = new StepUpTally(sustained)
  for (let i = 0; i < runs; i++) {
    const profDir = opts.profile ? await mkdtemp(join(tmpdir(), 'pc-bench-net-prof-')) : undefined
    const hook = fileURLToPath(new URL('../cpu-prof-hook.mjs', import.meta.url))
    const env = profDir ? { ...process.env, PC_CPU_PROF_DIR: profDir, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${hook}` } : undefined
    const net = await startDevnet({ thin: 2, env })
    try {
      const steps = []
      for (const rate of rates) {
        const r = await networkTrial(net, rate, seconds, log)
        steps.push(r)
        if (!sustained(r)) break
      }
      tally.add(steps)
    } finally {
      const nodes = net.info?.nodes ?? []
      await net.stop()
      if (profDir) await printProfiles(profDir, nodes, log)
    }
  }
  const [best, p50, p99, peak] = tally.rows('2 thin + 1 full, 1 KiB JSONL lines', 'tx/s', 'txs')
  const share = limit && typeof best.median === 'number' ? ` = ${Math.round((100 * best.median) / limit.perS)} % of the machine limit` : ''
  // Issue 12 targets beside the figures.
  const rows = [{ ...best, name: `${best.name}${share}`, target: '≥ 5,000 tx/s (stretch 10,000)' }, p50, { ...p99, target: 'p99 ≤ 2,000 ms' }, peak]
  if (limit) {
    rows.push({
      name: 'machine limit, plain Node, 3 processes: read + SHA-256 + sign + synced outbox + TLS → verify (2 threads) + 1 s synced blocks → block check (signatures, root) + synced receipts',
      unit: 'records/s',
      median: limit.perS,
      runs: limit.runs.length,
    })
  }
  return rows
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const val = (k) => {
    const i = args.indexOf(k)
    return i >= 0 ? args[i + 1] : undefined
  }
  const rows = await run({
    quick: args.includes('--quick'),
    opts: {
      rates: val('--rates')?.split(',').map(Number),
      seconds: val('--seconds') ? Number(val('--seconds')) : undefined,
      runs: val('--runs') ? Number(val('--runs')) : undefined,
      profile: args.includes('--profile'),
      noLimit: args.includes('--no-limit'),
    },
  })
  for (const r of rows) console.log(`${r.name}: ${typeof r.median === 'number' ? Math.round(r.median) : r.median} ${r.unit} (runs ${r.runs})`)
}
