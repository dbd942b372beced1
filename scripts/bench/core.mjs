#!/usr/bin/env node
// Core micro-benchmarks (signatures, hashing, tx building, Merkle, receipts) against the built dist.
// Usage: node scripts/bench/core.mjs [--quick]   (build first: npx tsc -b packages/core)
// As a module: `await run({ quick })` returns rows { name, unit, median, runs }; every median is over ≥ 5 runs.
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import * as core from '../../packages/core/dist/index.js'

const SEED = Uint8Array.from({ length: 32 }, (_, i) => i + 1)

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Run `once` (returns the number of operations done) `runs` times after one warm-up; ops/s per run. */
function rate(runs, once) {
  once()
  const out = []
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    const ops = once()
    out.push(ops / ((performance.now() - t0) / 1000))
  }
  return out
}

/** Milliseconds per call of `once`, `runs` times after one warm-up. */
function millis(runs, once) {
  once()
  const out = []
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    once()
    out.push(performance.now() - t0)
  }
  return out
}

function makeTxs(key, n, payloadBytes) {
  const payload = new Uint8Array(payloadBytes).fill(0x61)
  return Array.from({ length: n }, (_, i) =>
    core.createTransaction(key, {
      network: 'bench',
      seq: i,
      timestamp: 1_700_000_000_000 + i,
      payload,
      metadata: { path: `data/${i}.bin`, 'content-type': 'application/octet-stream' },
    }),
  )
}

export async function run({ quick = false } = {}) {
  const runs = quick ? 5 : 7
  const scale = quick ? 0.25 : 1
  const n = (x) => Math.max(50, Math.round(x * scale))
  const rows = []
  const add = (name, unit, values) => rows.push({ name, unit, median: median(values), runs: values.length })

  const node = core.createNodeBackend()
  const noble = core.createNobleBackend()
  core.setCrypto(node)
  const key = core.keyPairFromSeed(SEED)
  const txs = makeTxs(key, n(2000), 1024)
  const bodies = txs.map((t) => core.encodeTxBody(t.body))
  const sigs = txs.map((t) => t.signature)
  const pub = key.publicKey

  for (const [be, signN, verifyN] of [
    [node, n(20000), n(8000)],
    [noble, n(1000), n(500)],
  ]) {
    add(
      `ed25519 sign (${be.name})`,
      'ops/s',
      rate(runs, () => {
        for (let i = 0; i < signN; i++) be.sign(SEED, bodies[i % bodies.length])
        return signN
      }),
    )
    add(
      `ed25519 verify (${be.name})`,
      'ops/s',
      rate(runs, () => {
        for (let i = 0; i < verifyN; i++)
          if (!be.verify(pub, bodies[i % bodies.length], sigs[i % sigs.length]))
            throw new Error('bad signature')
        return verifyN
      }),
    )
  }

  add(
    'txId (encode stripped + SHA-256)',
    'ops/s',
    rate(runs, () => {
      // Fresh objects: txId memoises per object.
      for (const t of txs) core.txId({ body: t.body, signature: t.signature })
      return txs.length
    }),
  )

  const payload = new Uint8Array(1024).fill(0x62)
  const createN = n(10000)
  add(
    'createTransaction 1 KiB (node)',
    'ops/s',
    rate(runs, () => {
      for (let i = 0; i < createN; i++)
        core.createTransaction(key, {
          network: 'bench',
          seq: i,
          timestamp: 1_700_000_000_000,
          payload,
          metadata: { path: 'a.bin' },
        })
      return createN
    }),
  )

  const leaves = Array.from({ length: 10_000 }, (_, i) => core.sha256(Uint8Array.of(i & 0xff, i >> 8)))
  add(
    'Merkle root of 10k leaves',
    'ms',
    millis(runs, () => core.merkleRoot(leaves)),
  )

  // One block of 1000 txs; receipts for every tx from precomputed levels.
  const blockTxs = txs.slice(0, Math.min(1000, txs.length)).map((t) => core.stripTx(t))
  const block = core.createBlock({
    network: 'bench',
    height: 10,
    timestamp: 1_700_000_001_000,
    prevHash: core.ZERO_HASH,
    producer: key.publicKey,
    txs: blockTxs,
  })
  block.header.signatures.push(core.signHeader(block.header, key))
  const levels = core.merkleLevels(core.blockLeaves(blockTxs))
  const inputs = blockTxs.map((tx, i) => ({
    tx,
    header: block.header,
    leafIndex: i,
    auditPath: core.auditPathFromLevels(levels, i),
    anchorBase: 'http://127.0.0.1:8545',
  }))
  add(
    'Chainpoint receipts built',
    'ops/s',
    rate(runs, () => {
      for (const input of inputs) core.buildChainpointReceipt(input)
      return inputs.length
    }),
  )
  const natives = inputs.map((input) => core.buildNativeReceipt(input))
  const validators = [key.publicKey]
  add(
    'native receipts verified (node)',
    'ops/s',
    rate(runs, () => {
      for (const r of natives) core.verifyNativeReceipt(r, { validators })
      return natives.length
    }),
  )
  return rows
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await run({ quick: process.argv.includes('--quick') })
  const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2))
  const w = Math.max(...rows.map((r) => r.name.length))
  console.log(`${'benchmark'.padEnd(w)}  ${'median'.padStart(12)}  unit   runs`)
  for (const r of rows)
    console.log(`${r.name.padEnd(w)}  ${fmt(r.median).padStart(12)}  ${r.unit.padEnd(5)}  ${r.runs}`)
}
