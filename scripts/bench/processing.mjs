// Benchmark of @profichain/processing: batch signature checks and Merkle roots, inline vs worker pool.
// Run directly (`node scripts/bench/processing.mjs [--quick]`, after `tsc -b`) or through scripts/bench.mjs,
// which calls run({ quick }) and collects the rows.
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'
import {
  createTransaction,
  encodeStrippedTx,
  generateKeyPair,
  leafHash,
  merkleRoot,
  toHex,
  txId,
} from '@profichain/core'
import { createTxVerifier } from '@profichain/processing'

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Time fn() `runs` times after one warm-up; returns the per-run milliseconds. */
async function time(fn, runs) {
  await fn()
  const ms = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    await fn()
    ms.push(performance.now() - t)
  }
  return ms
}

function makeStrippedTxs(n, origins) {
  const keys = Array.from({ length: origins }, () => generateKeyPair())
  const out = new Array(n)
  for (let i = 0; i < n; i++) {
    const tx = createTransaction(keys[i % origins], {
      network: 'bench',
      seq: Math.floor(i / origins),
      timestamp: 1_700_000_000_000 + i,
      payload: randomBytes(64),
      metadata: { path: `line-${i}.csv`, 'content-type': 'text/csv' },
    })
    out[i] = encodeStrippedTx(tx)
  }
  return out
}

export async function run({ quick = false } = {}) {
  const runs = quick ? 5 : 7
  const rows = []
  const n = 10_000
  const txs = makeStrippedTxs(n, 100)

  for (const threads of [0, 1, 2]) {
    const v = createTxVerifier({ threads })
    try {
      const ms = await time(async () => {
        const r = await v.verifyStrippedTxs(txs)
        if (!r.every(Boolean)) throw new Error('bench: a valid tx failed to verify')
      }, runs)
      rows.push({
        name: `processing: verify ${n} stripped txs, threads=${threads}`,
        unit: 'verifications/s',
        median: Math.round(n / (median(ms) / 1000)),
        runs,
      })
    } finally {
      await v.close()
    }
  }

  for (const size of [10_000, 100_000]) {
    const ids = Array.from({ length: size }, (_, i) =>
      txId({
        body: {
          version: 1,
          network: 'b',
          kind: 'record',
          origin: new Uint8Array(32),
          seq: i,
          timestamp: i,
          payloadHash: new Uint8Array(32),
          payloadSize: 0,
          metadata: {},
        },
        signature: new Uint8Array(64),
      }),
    )
    const expected = toHex(merkleRoot(ids.map(leafHash)))
    for (const threads of [0, 2]) {
      const v = createTxVerifier({ threads })
      try {
        const ms = await time(async () => {
          if (toHex(await v.merkleRoot(ids)) !== expected) throw new Error('bench: Merkle root mismatch')
        }, runs)
        rows.push({
          name: `processing: Merkle root of ${size} txIds, threads=${threads}`,
          unit: 'ms',
          median: Number(median(ms).toFixed(2)),
          runs,
        })
      } finally {
        await v.close()
      }
    }
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await run({ quick: process.argv.includes('--quick') })
  console.log(`cores: ${availableParallelism()}`)
  console.table(rows)
}
