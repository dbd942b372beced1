#!/usr/bin/env node
// Issue 15: the papers' machine-shop run. OPC UA sources beside a thin node: the machine-tool simulator
// (node-opcua server) and one bridge per batch size k ∈ {1, 10, 100, 1000} samples per record, each bridge
// subscribed to its own variable and writing rotated JSONL files into the thin node's inbox; 15 s blocks, 660 s.
//   node scripts/eval/opcua.mjs [--quick] [--out DIR] [--seconds S] [--block-time MS] [--sampling MS] [--batches 1,10,100,1000]
// Measures per k: time between data packets on the thin node (arrival at the bridge, and the server's sampling
// spacing), tx → block and sample → block latency, loss (every sample the bridge received is in exactly one
// committed record, in order). Writes DIR/opcua-results.json, DIR/opcua-report.md and DIR/opcua-*.svg.
// --quick: 60 s, exits non-zero on any loss, duplicate, reordering or missing receipt (never on speed).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { gql, ROOT, waitFor } from '../bench/lib.mjs'
import { committedTxs, dist } from './account.mjs'
import { startDevnet } from './devnet.mjs'
import { barChart, lineChart } from './svg.mjs'

const args = process.argv.slice(2)
const flag = (k) => args.includes(k)
const val = (k) => {
  const i = args.indexOf(k)
  return i >= 0 ? args[i + 1] : undefined
}
const quick = flag('--quick')
const out = resolve(val('--out') ?? join(ROOT, 'docs/eval'))
const seconds = Number(val('--seconds') ?? (quick ? 60 : 660))
const blockTimeMs = Number(val('--block-time') ?? 15_000)
const samplingMs = Number(val('--sampling') ?? 20)
const batches = (val('--batches') ?? '1,10,100,1000').split(',').map(Number)
const log = (m) => process.stderr.write(`[opcua-eval ${new Date().toISOString().slice(11, 19)}] ${m}\n`)

const { createBridge, createFileOutput, createSimulator, parseBridgeLine, SIM_VARIABLES, simNodeId } = await import(
  join(ROOT, 'packages/opcua/dist/index.js')
)

const PAPER = { interPacketMs: { mean: 22.1, sd: 0.4 }, loss: 0, blockTimeMs: 15_000, seconds: 660 }

function meanSd(xs) {
  if (xs.length === 0) return { n: 0, mean: NaN, sd: NaN }
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1))
  return { n: xs.length, mean, sd }
}
const isoMs = (s, pico = 0) => Date.parse(s) + pico / 1e8

async function main() {
  await mkdir(out, { recursive: true })
  log(`devnet: 1 full node (validator) + 1 thin node, block time ${blockTimeMs} ms`)
  const devnet = await startDevnet({ thin: 1, blockTimeMs, network: 'opcua-eval', log })
  let sim
  const bridges = []
  try {
    sim = await createSimulator({ port: 0, minSamplingIntervalMs: Math.min(10, samplingMs), minPublishingIntervalMs: Math.min(10, samplingMs) })
    const thin = devnet.thins[0]
    const fast = SIM_VARIABLES.filter((v) => v.fast)
    const startHeight = (await gql(devnet.full.api, '{ status { height } }')).status.height
    for (const [i, k] of batches.entries()) {
      const v = fast[i % fast.length]
      const output = createFileOutput({ dir: join(thin.inbox, `opcua-k${k}`), stateDir: join(devnet.dir, `opcua-state-k${k}`), publisherId: `k${k}`, rotate: { maxMs: 1000 } })
      const bridge = createBridge(
        {
          publisherId: `k${k}`,
          samplesPerRecord: k,
          // A record of k samples is written when full; a partial one only at the end of the run.
          maxRecordDelayMs: 3_600_000,
          servers: [{ endpointUrl: sim.endpointUrl, items: [{ nodeId: simNodeId(v.path), name: v.path.split('/').slice(-2).join('.'), samplingIntervalMs: samplingMs, publishingIntervalMs: samplingMs, queueSize: 1000 }] }],
        },
        { output },
      )
      await bridge.start()
      bridges.push({ k, bridge, sub: `opcua-k${k}`, variable: v.path })
    }
    log(`running ${seconds} s: one variable per bridge, sampling and publishing every ${samplingMs} ms, k = ${batches.join(', ')}`)
    const t0 = Date.now()
    while (Date.now() - t0 < seconds * 1000) {
      await new Promise((r) => setTimeout(r, Math.min(15_000, seconds * 1000 - (Date.now() - t0))))
      log(`${Math.round((Date.now() - t0) / 1000)} s: ${bridges.map((b) => `k${b.k} ${b.bridge.stats().received}`).join(', ')} samples`)
    }
    for (const b of bridges) await b.bridge.stop()
    await sim.stop()
    sim = undefined

    // Wait until every line the bridges wrote is committed (its receipt written on the thin node).
    const lineCount = async (sub) => {
      let n = 0
      const dir = join(thin.dataDir, 'processed', sub)
      for (const f of await readdir(dir).catch(() => [])) n += (await readFile(join(dir, f), 'utf8')).split('\n').length - 1
      return n
    }
    const receipted = async (sub) => {
      let n = 0
      const dir = join(thin.dataDir, 'receipts', sub)
      for (const f of await readdir(dir).catch(() => [])) {
        const ids = new Set()
        for (const l of (await readFile(join(dir, f), 'utf8')).split('\n')) {
          try {
            ids.add(JSON.parse(l).txId)
          } catch {}
        }
        n += ids.size
      }
      return n
    }
    for (const b of bridges) {
      await waitFor(async () => (await readdir(join(thin.inbox, b.sub))).filter((f) => !f.startsWith('.')).length === 0, { timeoutMs: 120_000, what: `inbox ${b.sub} drained` })
      await waitFor(async () => (await receipted(b.sub)) === (await lineCount(b.sub)), { timeoutMs: blockTimeMs * 6 + 60_000, everyMs: 1000, what: `receipts of ${b.sub}` })
    }
    const head = (await gql(devnet.full.api, '{ status { height } }')).status.height
    const { txs, blocks } = await committedTxs(devnet.full.api, startHeight + 1, head)
    const byLine = new Map(txs.map((t) => [`${t.path}#${t.line}`, t]))

    const rows = []
    for (const b of bridges) {
      const st = b.bridge.stats()
      const dir = join(thin.dataDir, 'processed', b.sub)
      const files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort()
      const samples = []
      const txToBlock = []
      const sampleToBlock = []
      let lines = 0
      let missing = 0
      let recordBytes = 0
      let records = 0
      for (const f of files) {
        const ls = (await readFile(join(dir, f), 'utf8')).split('\n').slice(0, -1)
        for (const [j, line] of ls.entries()) {
          lines++
          const t = byLine.get(`${b.sub}/${f}#${j + 1}`)
          if (!t) {
            missing++
            continue
          }
          const p = parseBridgeLine(line)
          if (p.kind !== 'data') continue
          records++
          recordBytes += Buffer.byteLength(line)
          txToBlock.push(t.blockTs - t.timestamp)
          for (const m of p.message.Messages) {
            samples.push(m)
            const dv = Object.values(m.Payload)[0]
            sampleToBlock.push(t.blockTs - isoMs(dv.SourceTimestamp, dv.SourcePicoseconds ?? 0))
          }
        }
      }
      // Loss / order: sequence numbers 1..n exactly, as many as the bridge received.
      let outOfOrder = 0
      samples.forEach((m, i) => {
        if (m.SequenceNumber !== i + 1) outOfOrder++
      })
      const arrival = []
      const source = []
      for (let i = 1; i < samples.length; i++) {
        arrival.push(Date.parse(samples[i].Timestamp) - Date.parse(samples[i - 1].Timestamp))
        const a = Object.values(samples[i - 1].Payload)[0]
        const c = Object.values(samples[i].Payload)[0]
        source.push(isoMs(c.SourceTimestamp, c.SourcePicoseconds ?? 0) - isoMs(a.SourceTimestamp, a.SourcePicoseconds ?? 0))
      }
      rows.push({
        k: b.k,
        variable: b.variable,
        received: st.received,
        committedSamples: samples.length,
        lost: st.received - samples.length,
        duplicates: st.duplicates,
        outOfOrder,
        lines,
        linesWithoutTx: missing,
        records,
        bytesPerSample: samples.length ? recordBytes / samples.length : NaN,
        interArrivalMs: meanSd(arrival),
        interSampleMs: meanSd(source),
        txToBlockMs: dist(txToBlock),
        sampleToBlockMs: dist(sampleToBlock),
        arrivalHist: hist(arrival),
      })
      log(`k=${b.k}: ${samples.length}/${st.received} samples committed in ${records} records; inter-arrival ${fmt(meanSd(arrival).mean)} ± ${fmt(meanSd(arrival).sd)} ms; tx→block p50 ${fmt(dist(txToBlock).p50)} ms`)
    }
    const res = {
      quick,
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavg: loadavg(), node: process.version },
      config: { seconds, blockTimeMs, samplingMs, batches, blocks: blocks.length },
      paper: PAPER,
      rows,
    }
    await writeFile(join(out, 'opcua-results.json'), `${JSON.stringify(res, null, 2)}\n`)
    await writeFile(join(out, 'opcua-report.md'), report(res))
    await writeFile(
      join(out, 'opcua-latency.svg'),
      barChart({
        title: `OPC UA machine-shop run${quick ? ' (QUICK)' : ''}: latency per batch size`,
        xLabel: 'samples per record (k)',
        yLabel: 'ms',
        groups: rows.map((r) => String(r.k)),
        series: [
          { name: 'tx→block p50', values: rows.map((r) => r.txToBlockMs.p50) },
          { name: 'tx→block p99', values: rows.map((r) => r.txToBlockMs.p99) },
          { name: 'sample→block p50', values: rows.map((r) => r.sampleToBlockMs.p50) },
        ],
      }),
    )
    await writeFile(
      join(out, 'opcua-interpacket.svg'),
      lineChart({
        title: `Time between data packets on the thin node${quick ? ' (QUICK)' : ''}`,
        xLabel: 'inter-arrival time (ms)',
        yLabel: 'share of packets',
        series: rows.map((r) => ({ name: `k=${r.k}`, points: r.arrivalHist })),
        hLines: [],
      }),
    )
    const bad = rows.filter((r) => r.lost !== 0 || r.duplicates !== 0 || r.outOfOrder !== 0 || r.linesWithoutTx !== 0 || r.committedSamples === 0)
    if (bad.length) {
      log(`FAILED: loss/duplicates/order/receipts in k = ${bad.map((r) => r.k).join(', ')}`)
      process.exitCode = 1
    } else log(`no sample lost, duplicated or reordered; report: ${join(out, 'opcua-report.md')}`)
  } finally {
    for (const b of bridges) await b.bridge.stop().catch(() => {})
    await sim?.stop().catch(() => {})
    await devnet.stop()
  }
}

function hist(xs) {
  if (xs.length === 0) return []
  const bins = new Map()
  for (const x of xs) {
    const b = Math.round(x)
    bins.set(b, (bins.get(b) ?? 0) + 1)
  }
  return [...bins.entries()].sort((a, b) => a[0] - b[0]).filter(([b]) => b <= 200).map(([b, n]) => [b, n / xs.length])
}

const fmt = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–')

function report(res) {
  const q = res.quick ? ' — QUICK MODE (not the paper-length run)' : ''
  const l = [
    `# OPC UA machine-shop run${q}`,
    '',
    `${res.when}, ${res.machine.cpus} cores, load ${res.machine.loadavg.map((x) => x.toFixed(1)).join('/')}, Node ${res.machine.node}. ` +
      `${res.config.seconds} s, block time ${res.config.blockTimeMs} ms, sampling and publishing every ${res.config.samplingMs} ms, one variable per bridge, ${res.config.blocks} blocks.`,
    '',
    '| k samples/record | samples received | committed | lost | dup | out of order | records | B/sample | inter-arrival ms (mean ± sd) | sampling spacing ms (mean ± sd) | tx→block ms p50 / p99 / max | sample→block ms p50 / max |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...res.rows.map(
      (r) =>
        `| ${r.k} | ${r.received} | ${r.committedSamples} | ${r.lost} | ${r.duplicates} | ${r.outOfOrder} | ${r.records} | ${fmt(r.bytesPerSample, 0)} | ${fmt(r.interArrivalMs.mean, 2)} ± ${fmt(r.interArrivalMs.sd, 2)} | ${fmt(r.interSampleMs.mean, 2)} ± ${fmt(r.interSampleMs.sd, 2)} | ${fmt(r.txToBlockMs.p50, 0)} / ${fmt(r.txToBlockMs.p99, 0)} / ${fmt(r.txToBlockMs.max, 0)} | ${fmt(r.sampleToBlockMs.p50, 0)} / ${fmt(r.sampleToBlockMs.max, 0)} |`,
    ),
    '',
    `Paper: a data packet every ${res.paper.interPacketMs.mean} ms ± ${res.paper.interPacketMs.sd} ms on the thin node, no packet lost, 15 s blocks, 660 s.`,
    '',
    '![latency](opcua-latency.svg) ![inter-packet](opcua-interpacket.svg)',
    '',
  ]
  return l.join('\n')
}

await main()
