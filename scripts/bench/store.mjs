#!/usr/bin/env node
// Store benchmarks: txs/s applied in 10k-tx blocks, lookups/s by txId with ≥ 1M stored txs (quick: 100k),
// bytes on disk per stripped tx and per archived 1 KiB tx (after compaction).
// Usage: node scripts/bench/store.mjs [--quick] [--pipeline [--retention all|none|put]| --devices] [--records N]
//        (build first: npx tsc -b packages/store;
//        --pipeline: only the commit pipeline of own records, outbox → block → receipt → ack (N: 60000), with
//        main-thread CPU per phase, other threads' CPU and bytes written per record; --retention: the store's
//        policy (default all); `put`: none, and each record's payload kept by `putPayload` after its ack
//        unless `hasPayload` says it is kept (a member's record the policy drops, kept later; the ingest
//        gateway does this for device records, whose payloads the store keeps at the ack since layout 3);
//        --devices: only device records, gateway check → mempool → producer filter → block → JSON receipts,
//        main-thread CPU per phase (N: 40000); with --outbox also the gateway's durable path: outbox add (groups
//        of 500, synced), the receipts writer's ack, then the gateway's putPayload of each record whose payload
//        the store does not keep (`hasPayload`), under a producer (non-archive) node's default retention (the
//        member's own records only; a full node is an archive: retention all), with other threads' CPU and bytes
//        written per record)
// As a module: `await run({ quick })` returns rows { name, unit, median, runs }.
// Tx signatures are random bytes and blocks are added with `signaturesChecked: true`, as the node does after
// its worker pool checked them: this measures the store, not Ed25519.
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Level } from 'level'
import * as core from '../../packages/core/dist/index.js'
import { BlockTree, checkIncomingTx } from '../../packages/store/dist/index.js'

const NETWORK = 'bench'
const BLOCK_TXS = 10_000
const producer = core.keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => i + 1))
const origin = randomBytes(32)

const genesis = {
  version: 1,
  network: NETWORK,
  timestamp: 1_700_000_000_000,
  // The txs' origin is a member: only members may originate records (the store refuses other origins).
  members: [{ name: 'origin', publicKey: Buffer.from(origin).toString('hex'), roles: ['thin'] }],
  validators: [],
  consensus: { type: 'authority', backoffMs: 500 },
  blockTimeMs: 1000,
  maxBlockBytes: 256 * 1024 * 1024,
  maxTxBytes: 1024 * 1024,
}
const consensus = {
  type: 'work',
  genesis,
  seal: async (b) => b,
  validateHeader: async () => {},
  work: () => 1n,
  producerDelay: async () => 0,
  isFinal: () => false,
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

let seq = 0
function makeTxs(n, payloadBytes) {
  const out = []
  for (let i = 0; i < n; i++) {
    const payload = payloadBytes > 0 ? randomBytes(payloadBytes) : randomBytes(8)
    const s = seq++
    out.push({
      body: {
        version: core.FORMAT_VERSION,
        network: NETWORK,
        kind: 'record',
        origin,
        seq: s,
        timestamp: 1_700_000_001_000 + s,
        payloadHash: core.sha256(payload),
        payloadSize: payload.byteLength,
        metadata: { path: `line/${s}`, 'content-type': 'application/json' },
      },
      signature: randomBytes(64),
      payload,
    })
  }
  return out
}

function makeBlock(parent, txs) {
  const b = core.createBlock({
    network: NETWORK,
    height: parent.height + 1,
    timestamp: parent.timestamp + 1000,
    prevHash: core.blockHash(parent),
    producer: producer.publicKey,
    txs: txs.map(core.stripTx),
  })
  b.header.signatures.push(core.signHeader(b.header, producer))
  return b
}

/** Fill a store with `blocks` 10k-tx blocks; returns tx/s per block (timing only addBlock) and the txIds. */
async function fill(tree, blocks, payloadBytes) {
  const rates = []
  const ids = []
  for (let k = 0; k < blocks; k++) {
    const txs = makeTxs(BLOCK_TXS, payloadBytes)
    const block = makeBlock(tree.head().header, txs)
    const payloads = new Map(txs.map((t) => [core.txIdHex(t), t.payload]))
    for (const t of txs) ids.push(core.txId(t))
    const t0 = performance.now()
    await tree.addBlock(block, { payloads, signaturesChecked: true })
    rates.push(BLOCK_TXS / ((performance.now() - t0) / 1000))
  }
  return { rates, ids }
}

async function du(dir) {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    total += e.isDirectory() ? await du(p) : (await stat(p)).size
  }
  return total
}

async function compactedSize(path) {
  const db = new Level(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  await db.compactRange(new Uint8Array([0]), new Uint8Array([0xff, 0xff]))
  await db.close()
  return du(path)
}

async function withTree(retention, fn) {
  const path = await mkdtemp(join(tmpdir(), 'pc-bench-store-'))
  const tree = await BlockTree.open({ path, genesis, consensus, retention })
  try {
    return await fn(tree, path)
  } finally {
    await tree.close().catch(() => undefined)
    await rm(path, { recursive: true, force: true })
  }
}

/**
 * The commit pipeline of own records through the store, in process and in order: outbox add (groups of
 * 2,000 1 KiB records, synced) → mempool → a block of everything pending every 10,000 records (payloads
 * from the mempool, as the producer hands them) → one Chainpoint receipt per record → outbox ack.
 * Returns records/s for the whole path (no signing, no files: the store's share of a line burst).
 */
async function pipeline(tree, records, { put = false } = {}) {
  const GROUP = 2000
  // Main-thread CPU per phase (LevelDB's threads not included; wall time where /proc is missing).
  const ph = { generate: 0, outboxAdd: 0, mempoolAdd: 0, select: 0, makeBlock: 0, addBlock: 0, putPayload: 0, receipts: 0, ack: 0 }
  let t = mainThreadMs()
  const lap = (name) => {
    const now = mainThreadMs()
    ph[name] += now - t
    t = now
  }
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const threads0 = threadCpu()
  const written0 = writeBytes()
  for (let done = 0; done < records; ) {
    for (let n = 0; n < 10_000 && done < records; n += GROUP, done += GROUP) {
      t = mainThreadMs()
      const txs = makeTxs(GROUP, 1024)
      lap('generate')
      await tree.outbox.addMany(txs.map((tx) => ({ tx })))
      lap('outboxAdd')
      await tree.mempool.add(txs, { checked: true, durableElsewhere: true })
      lap('mempoolAdd')
    }
    const txs = await tree.mempool.select(genesis.maxBlockBytes, 50_000)
    lap('select')
    const block = makeBlock(tree.head().header, txs)
    const payloads = new Map(txs.map((t) => [core.txIdHex(t), t.payload]))
    lap('makeBlock')
    await tree.addBlock(block, { payloads, signaturesChecked: true })
    lap('addBlock')
    const hash = core.blockHash(block.header)
    for (let i = 0; i < txs.length; i++) {
      const loc = { tx: txs[i], txId: core.txIdHex(txs[i]), blockHash: hash, height: block.header.height, index: i }
      if (!(await tree.receiptAt(loc, 'chainpoint', 'http://127.0.0.1:1'))) throw new Error('no receipt')
    }
    lap('receipts')
    await tree.outbox.ack(txs.map((t) => core.txIdHex(t)))
    lap('ack')
    if (put) {
      // After the ack, as the node's ingest API does (its `committed` event follows the receipts writer's ack).
      for (const tx of txs) {
        const id = core.txIdHex(tx)
        if (!(await tree.hasPayload(id))) await tree.putPayload(id, tx.payload)
      }
      lap('putPayload')
    }
  }
  const cpu = process.cpuUsage(cpu0)
  const threads = threadCpu(threads0)
  const written = writeBytes() - written0
  const perRecord = (ms) => Math.round((ms * 1000) / records)
  const phases = Object.fromEntries(Object.entries(ph).map(([k, v]) => [k, perRecord(v)]))
  // CPU time (all threads: main, LevelDB, libuv) per record: far steadier than the rate on a shared machine.
  return {
    rate: records / ((performance.now() - t0) / 1000),
    cpuUs: (cpu.user + cpu.system) / records,
    phases,
    threadsUs: Object.fromEntries(Object.entries(threads).map(([k, v]) => [k, perRecord(v)])),
    bytesWritten: Math.round(written / records),
  }
}

/**
 * Device records (issue 14) through the store's commit path, in process: the gateway's check
 * (`checkIncomingTx`), the mempool's add (durable elsewhere: the outbox, not measured here), the producer's
 * origin filter, the block's import, the receipts as JSON text (the ingest API's frames). 20 registered
 * devices, seqs in order, each record with its own origin bytes (as decoded from the wire); blocks of
 * 5,000. Returns main-thread CPU µs per record per phase (the first block, warm-up, not counted).
 */
async function devicePipeline(records, { outbox = false } = {}) {
  const ROUND = 5000
  const member = core.keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => i + 11))
  const g = {
    ...genesis,
    network: NETWORK,
    members: [{ name: 'owner', publicKey: Buffer.from(member.publicKey).toString('hex'), roles: ['thin'] }],
  }
  const devices = Array.from({ length: 20 }, (_, d) => core.keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, j) => (d * 7 + j + 3) & 0xff)))
  const seqs = devices.map(() => 0)
  const path = await mkdtemp(join(tmpdir(), 'pc-bench-store-'))
  const retention = outbox ? { mode: 'rules', rules: [{ origin: Buffer.from(member.publicKey).toString('hex') }] } : { mode: 'all' }
  const tree = await BlockTree.open({ path, genesis: g, consensus: { ...consensus, genesis: g }, retention })
  try {
    const reg = devices.map((d, i) =>
      core.createDeviceTx(member, { network: NETWORK, seq: i, device: { deviceId: `d${i}`, publicKey: d.publicKey, model: 'bench' } }),
    )
    await tree.addBlock(makeBlock(tree.head().header, reg), { payloads: new Map(reg.map((t) => [core.txIdHex(t), t.payload])) })
    const ph = { gateway: 0, ...(outbox ? { outboxAdd: 0 } : {}), mempoolAdd: 0, producerFilter: 0, addBlock: 0, receiptsJson: 0, ...(outbox ? { ack: 0, putPayload: 0 } : {}) }
    let counted = 0
    let threads0
    let written0
    for (let r = 0; counted < records; r++) {
      const txs = []
      for (let i = 0; i < ROUND; i++) {
        const d = i % devices.length
        const payload = randomBytes(1024)
        const s = seqs[d]++
        txs.push({
          body: {
            version: core.FORMAT_VERSION,
            network: NETWORK,
            kind: 'record',
            origin: devices[d].publicKey.slice(),
            seq: s,
            timestamp: 1_700_000_001_000 + s,
            payloadHash: core.sha256(payload),
            payloadSize: payload.byteLength,
            metadata: {},
          },
          signature: randomBytes(64),
          payload,
        })
      }
      let t = mainThreadMs()
      const lap = (name) => {
        const now = mainThreadMs()
        if (r > 0) ph[name] += now - t
        t = now
      }
      if (r === 1) {
        threads0 = threadCpu()
        written0 = writeBytes()
      }
      // As the gateway: its batch lookup of the txIds first, then the check of each record.
      await tree.getTxs(txs.map((tx) => core.txIdHex(tx)))
      for (const tx of txs) if (!checkIncomingTx(tx, { store: tree, signatureChecked: true }).ok) throw new Error('refused')
      lap('gateway')
      if (outbox) {
        for (let i = 0; i < txs.length; i += 500) await tree.outbox.addMany(txs.slice(i, i + 500).map((tx) => ({ tx })))
        lap('outboxAdd')
      }
      await tree.mempool.add(txs, { checked: true, durableElsewhere: true })
      lap('mempoolAdd')
      const chosen = tree.filterOrigins(await tree.mempool.select(g.maxBlockBytes, 50_000))
      lap('producerFilter')
      const block = makeBlock(tree.head().header, chosen)
      const payloads = new Map(chosen.map((x) => [core.txIdHex(x), x.payload]))
      t = mainThreadMs()
      await tree.addBlock(block, { payloads, signaturesChecked: true })
      lap('addBlock')
      const locs = await tree.getTxs(chosen.map((x) => core.txIdHex(x)))
      const jsons = await tree.chainpointJsonsAt(locs, 'http://127.0.0.1:1')
      if (jsons.some((j) => j === undefined)) throw new Error('no receipt')
      lap('receiptsJson')
      if (outbox) {
        const ids = chosen.map((x) => core.txIdHex(x))
        const hash = core.blockHash(block.header)
        await tree.outbox.ack(ids, { blockHashes: ids.map(() => hash) })
        lap('ack')
        for (const x of chosen) {
          const id = core.txIdHex(x)
          if (!(await tree.hasPayload(id))) await tree.putPayload(id, x.payload)
        }
        lap('putPayload')
      }
      if (r > 0) counted += chosen.length
    }
    const out = Object.fromEntries(Object.entries(ph).map(([k, v]) => [k, Math.round((v * 10_000) / counted) / 10]))
    const threads = threadCpu(threads0)
    return {
      phases: out,
      total: Math.round((Object.values(ph).reduce((a, b) => a + b, 0) * 10_000) / counted) / 10,
      threadsUs: Object.fromEntries(Object.entries(threads).map(([k, v]) => [k, Math.round((v * 1000) / counted)])),
      bytesWritten: Math.round((writeBytes() - written0) / counted),
    }
  } finally {
    await tree.close().catch(() => undefined)
    await rm(path, { recursive: true, force: true })
  }
}

/** CPU ms of this process's main thread (Linux /proc schedstat, ns resolution), else wall ms. */
function mainThreadMs() {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6
  } catch {
    return performance.now()
  }
}

/** Bytes this process caused to be written to disk so far (Linux /proc/self/io write_bytes; 0 elsewhere). */
function writeBytes() {
  try {
    return Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}

/** CPU ms of this process's main thread and of all its other threads (Linux /proc/self/task; zeros elsewhere). */
function threadCpu(base) {
  const out = { main: 0, others: 0 }
  let tasks = []
  try {
    tasks = readdirSync('/proc/self/task')
  } catch {
    return out
  }
  for (const id of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${id}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ms = (Number(f[11]) + Number(f[12])) * 10
      out[Number(id) === process.pid ? 'main' : 'others'] += ms
    } catch {
      // the thread ended meanwhile
    }
  }
  if (base) for (const k of Object.keys(out)) out[k] -= base[k]
  return out
}

export async function run({ quick = false, only, records, retention = 'all' } = {}) {
  const rows = []
  const add = (name, unit, values) => rows.push({ name, unit, median: median(values), runs: values.length })
  const bigBlocks = quick ? 10 : 100
  const lookupRuns = quick ? 3 : 5
  const lookups = quick ? 20_000 : 50_000

  if (only === 'devices') {
    const runs = []
    for (let r = 0; r < (quick ? 1 : 3); r++) runs.push(await devicePipeline(records ?? 40_000, { outbox: retention === 'outbox' }))
    for (const d of runs)
      console.log(
        `device records, main-thread CPU µs/record by phase ${JSON.stringify(d.phases)}; CPU µs/record by thread ${JSON.stringify(d.threadsUs)}; bytes written/record ${d.bytesWritten}`,
      )
    add('device records: gateway check → mempool → producer filter → block → JSON receipts, main-thread CPU', 'µs/record', runs.map((d) => d.total))
    return rows
  }
  // Own records through outbox → mempool → block → receipt → ack (the commit pipeline of a line burst).
  const pipe = []
  for (let r = 0; r < (quick ? 1 : 3); r++) {
    const policy = { mode: retention === 'put' ? 'none' : retention }
    pipe.push(await withTree(policy, (tree) => pipeline(tree, records ?? (quick ? 20_000 : 60_000), { put: retention === 'put' })))
  }
  add(`commit pipeline, own 1 KiB records: outbox → mempool → 10k-tx blocks → receipt → ack (retention ${retention})`, 'records/s', pipe.map((p) => p.rate))
  add('commit pipeline: CPU time per record (all threads, tx generation included)', 'µs/record', pipe.map((p) => p.cpuUs))
  if (only === 'pipeline') {
    for (const p of pipe) console.log(`main-thread CPU µs/record by phase ${JSON.stringify(p.phases)}; CPU µs/record by thread ${JSON.stringify(p.threadsUs)}; bytes written/record ${p.bytesWritten}`)
    return rows
  }

  // Header chain + stripped txs (retention none): apply rate, lookups with ≥ 1M txs, bytes per stripped tx.
  await withTree({ mode: 'none' }, async (tree, path) => {
    const { rates, ids } = await fill(tree, bigBlocks, 0)
    add('apply 10k-tx blocks, stripped (retention none)', 'tx/s', rates)
    const single = []
    const batched = []
    for (let r = 0; r < lookupRuns; r++) {
      const pick = Array.from({ length: lookups }, () => ids[Math.floor(Math.random() * ids.length)])
      let t0 = performance.now()
      for (const id of pick) if (!(await tree.getTx(id))) throw new Error('lookup miss')
      single.push(lookups / ((performance.now() - t0) / 1000))
      t0 = performance.now()
      for (let i = 0; i < pick.length; i += 100) {
        const got = await tree.getTxs(pick.slice(i, i + 100))
        if (got.some((g) => g === undefined)) throw new Error('lookup miss')
      }
      batched.push(lookups / ((performance.now() - t0) / 1000))
    }
    add(
      `getTx lookups by txId, ${ids.length.toLocaleString('en-US')} txs stored (one at a time)`,
      'lookups/s',
      single,
    )
    add(
      `getTxs lookups by txId, ${ids.length.toLocaleString('en-US')} txs stored (batches of 100)`,
      'lookups/s',
      batched,
    )
    await tree.close()
    add('bytes on disk per stripped tx (headers, indexes, leaves included; compacted)', 'bytes/tx', [
      (await compactedSize(path)) / ids.length,
    ])
  })

  // Archive (retention all) with 1 KiB random payloads.
  await withTree({ mode: 'all' }, async (tree, path) => {
    const { rates, ids } = await fill(tree, quick ? 3 : 10, 1024)
    add('apply 10k-tx blocks, archive with 1 KiB payloads', 'tx/s', rates)
    await tree.close()
    add('bytes on disk per archived 1 KiB tx (compacted)', 'bytes/tx', [
      (await compactedSize(path)) / ids.length,
    ])
  })
  return rows
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--records')
  const rows = await run({
    quick: process.argv.includes('--quick'),
    only: process.argv.includes('--pipeline') ? 'pipeline' : process.argv.includes('--devices') ? 'devices' : undefined,
    records: at > 0 ? Number(process.argv[at + 1]) : undefined,
    retention: process.argv.includes('--outbox')
      ? 'outbox'
      : process.argv.includes('--retention')
        ? process.argv[process.argv.indexOf('--retention') + 1]
        : undefined,
  })
  for (const r of rows)
    console.log(
      `${r.name.padEnd(90)} ${Math.round(r.median).toLocaleString('en-US').padStart(12)} ${r.unit} (median of ${r.runs})`,
    )
}
