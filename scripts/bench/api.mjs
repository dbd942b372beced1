// Benchmark of @profichain/api: latency of transaction(id) and receipt(txId) over a store with many txs,
// and requests/s under concurrent keep-alive load. The server runs in a worker thread (its own event loop),
// the client in the main thread. Run directly (`node scripts/bench/api.mjs [--quick]`, after `tsc -b`) or
// through scripts/bench.mjs, which calls run({ quick }) and collects the rows.
import { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { AuthorityConsensus, createGenesis } from '@profichain/consensus'
import {
  blockHash,
  createBlock,
  createTransaction,
  keyPairFromSeed,
  stripTx,
  toHex,
  txIdHex,
} from '@profichain/core'
import { BlockTree } from '@profichain/store'

const NETWORK = 'bench-api'
const BLOCK_TIME = 1000

const seed = (n) => {
  const s = new Uint8Array(32)
  s[0] = n
  s[31] = 3
  return keyPairFromSeed(s)
}

function genesisOf(timestamp) {
  return createGenesis({
    network: NETWORK,
    validators: [seed(1)],
    // The records' origins are members (only members and their devices may originate records).
    members: [2, 3, 4, 5].map((n) => ({ name: `press-line-${n}`, publicKey: toHex(seed(n).publicKey), roles: ['thin'] })),
    consensus: { type: 'authority', backoffMs: 500 },
    blockTimeMs: BLOCK_TIME,
    maxBlockBytes: 64 * 1024 * 1024,
    timestamp,
  })
}

/** Fill a store with `count` small txs in blocks of `perBlock`; returns every txId. */
async function buildStore(path, genesis, count, perBlock) {
  const consensus = new AuthorityConsensus(genesis)
  const tree = await BlockTree.open({ path, genesis, consensus, retention: { mode: 'all' } })
  const producer = seed(1)
  const origins = [seed(2), seed(3), seed(4), seed(5)]
  const ids = []
  let seq = 0
  try {
    for (let done = 0; done < count; done += perBlock) {
      const n = Math.min(perBlock, count - done)
      const txs = []
      for (let i = 0; i < n; i++) {
        const k = done + i
        txs.push(
          createTransaction(origins[k % origins.length], {
            network: NETWORK,
            seq: seq++,
            timestamp: genesis.timestamp + k,
            payload: new Uint8Array(Buffer.from(`reading ${k} ${'x'.repeat(48)}`)),
            metadata: { device: `press-${k % 16}`, contentType: 'text/plain' },
          }),
        )
      }
      const parent = tree.head().header
      const block = createBlock({
        network: NETWORK,
        height: parent.height + 1,
        timestamp: parent.timestamp + BLOCK_TIME,
        prevHash: blockHash(parent),
        producer: producer.publicKey,
        txs: txs.map(stripTx),
      })
      const sealed = await consensus.seal(block, parent, producer, tree.chain)
      await tree.addBlock(sealed, {
        payloads: new Map(txs.map((t) => [txIdHex(t), t.payload])),
        signaturesChecked: true,
      })
      for (const t of txs) ids.push(txIdHex(t))
    }
  } finally {
    await tree.close()
  }
  return ids
}

/** Worker side: open the store read-only in practice and serve the API on an ephemeral port. */
async function serve({ path, genesisTimestamp }) {
  const { createApiServer } = await import('@profichain/api')
  const genesis = genesisOf(genesisTimestamp)
  const tree = await BlockTree.open({
    path,
    genesis,
    consensus: new AuthorityConsensus(genesis),
    retention: { mode: 'all' },
  })
  const server = createApiServer(
    { port: 0 },
    {
      tree,
      status: () => ({
        type: 'archive',
        nodeId: 'bench',
        network: NETWORK,
        version: '0.1.0',
        syncing: false,
        peers: 0,
      }),
      peers: () => [],
      events: new EventEmitter(),
      anchorBase: () => 'http://127.0.0.1:8545',
      ready: () => true,
    },
  )
  const { url } = await server.start()
  parentPort.postMessage({ url })
  parentPort.once('message', async () => {
    await server.stop()
    await tree.close()
    parentPort.postMessage({ stopped: true })
  })
}

if (!isMainThread && workerData?.apiBench) await serve(workerData)

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

async function post(url, query, variables) {
  const r = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  })
  const body = await r.json()
  if (r.status !== 200 || body.errors)
    throw new Error(`bench query failed: ${r.status} ${JSON.stringify(body.errors ?? body)}`)
  return body
}

/** Sequential latencies (ms) of `n` requests, after `warm` unmeasured ones. */
async function latencies(url, query, ids, n, warm = 200) {
  const out = []
  for (let i = 0; i < n + warm; i++) {
    const id = ids[(i * 7919) % ids.length]
    const t = performance.now()
    await post(url, query, { id })
    if (i >= warm) out.push(performance.now() - t)
  }
  return out.sort((a, b) => a - b)
}

/** `concurrency` keep-alive clients sending `total` requests; returns requests per second. */
async function throughput(url, query, ids, total, concurrency) {
  let next = 0
  const t = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++
        await post(url, query, { id: ids[(i * 104729) % ids.length] })
      }
    }),
  )
  return total / ((performance.now() - t) / 1000)
}

const TX_QUERY =
  'query($id: String!) { transaction(id: $id) { id height index timestamp payloadHash confirmations metadata { key value } } }'
const RECEIPT_QUERY = 'query($id: String!) { receipt(txId: $id) }'

export async function run({ quick = false } = {}) {
  const count = quick ? 100_000 : 1_000_000
  const perBlock = 10_000
  const label = quick ? '100k' : '1M'
  const dir = await mkdtemp(join(tmpdir(), 'profichain-bench-api-'))
  const path = join(dir, 'db')
  const genesisTimestamp = Date.now() - 10 * 365 * 24 * 3600 * 1000
  const rows = []
  let worker
  try {
    const t0 = performance.now()
    const ids = await buildStore(path, genesisOf(genesisTimestamp), count, perBlock)
    process.stderr.write(`  api: stored ${count} txs in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    worker = new Worker(fileURLToPath(import.meta.url), {
      workerData: { apiBench: true, path, genesisTimestamp },
    })
    const { url } = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    const n = quick ? 1000 : 3000
    const tx = await latencies(url, TX_QUERY, ids, n)
    rows.push({ name: `transaction(id) p50, ${label} txs`, unit: 'ms', median: pct(tx, 50), runs: n })
    rows.push({ name: `transaction(id) p99, ${label} txs`, unit: 'ms', median: pct(tx, 99), runs: n })
    const rc = await latencies(url, RECEIPT_QUERY, ids, n)
    rows.push({
      name: `receipt(txId) p50, ${label} txs (${perBlock / 1000}k-tx blocks)`,
      unit: 'ms',
      median: pct(rc, 50),
      runs: n,
    })
    rows.push({
      name: `receipt(txId) p99, ${label} txs (${perBlock / 1000}k-tx blocks)`,
      unit: 'ms',
      median: pct(rc, 99),
      runs: n,
    })
    const total = quick ? 5000 : 20000
    const rates = []
    for (let r = 0; r < 3; r++) rates.push(await throughput(url, TX_QUERY, ids, total, 32))
    rates.sort((a, b) => a - b)
    rows.push({
      name: 'transaction(id) under 32 concurrent keep-alive clients',
      unit: 'req/s',
      median: rates[1],
      runs: 3,
    })
    const srates = []
    for (let r = 0; r < 3; r++)
      srates.push(await throughput(url, '{ status { height headHash } }', ids, total, 32))
    srates.sort((a, b) => a - b)
    rows.push({
      name: 'status under 32 concurrent keep-alive clients',
      unit: 'req/s',
      median: srates[1],
      runs: 3,
    })
  } finally {
    if (worker) {
      await new Promise((resolve) => {
        worker.once('message', resolve)
        worker.once('exit', resolve)
        worker.postMessage('stop')
      })
      await worker.terminate()
    }
    await rm(dir, { recursive: true, force: true })
  }
  return rows
}

if (isMainThread && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run({ quick: process.argv.includes('--quick') })
  for (const r of rows)
    console.log(
      `${r.name.padEnd(60)} ${r.median.toFixed(r.median < 10 ? 3 : 0).padStart(10)} ${r.unit}  (${r.runs})`,
    )
}
