// Benchmark of @profichain/processing: batch signature checks and Merkle roots, inline vs worker pool.
// Run directly (`node scripts/bench/processing.mjs [--quick]`, after `tsc -b`) or through scripts/bench.mjs,
// which calls run({ quick }) and collects the rows.
import { randomBytes } from 'node:crypto'
import { availableParallelism, loadavg } from 'node:os'
import { pathToFileURL } from 'node:url'
import {
  createTransaction,
  encodeStrippedTx,
  generateKeyPair,
  leafHash,
  merkleRoot,
  sha256,
  toHex,
} from '@profichain/core'
import { createTxVerifier } from '@profichain/processing'

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * Time each case `runs` times after one warm-up, interleaving the cases run by run so that a change in
 * machine load (other processes) hits every case alike instead of skewing whichever ran last.
 */
async function timeInterleaved(cases, runs) {
  for (const c of cases) await c.fn()
  const ms = cases.map(() => [])
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < cases.length; k++) {
      const t = performance.now()
      await cases[k].fn()
      ms[k].push(performance.now() - t)
    }
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

  // verifiedIds: 0 — the same txs are verified in every run; remembered ids would measure set lookups.
  const verifiers = [0, 1, 2].map((threads) => createTxVerifier({ threads, verifiedIds: 0 }))
  try {
    const cases = verifiers.map((v) => ({
      fn: async () => {
        const r = await v.verifyStrippedTxs(txs)
        if (!r.every(Boolean)) throw new Error('bench: a valid tx failed to verify')
      },
    }))
    const ms = await timeInterleaved(cases, runs)
    verifiers.forEach((v, k) => {
      rows.push({
        name: `processing: verify ${n} stripped txs, threads=${v.threads}`,
        unit: 'verifications/s',
        median: Math.round(n / (median(ms[k]) / 1000)),
        runs,
      })
    })

    for (const size of [10_000, 100_000]) {
      const ids = Array.from({ length: size }, (_, i) =>
        sha256(new Uint8Array([i & 255, (i >> 8) & 255, i >> 16])),
      )
      const expected = toHex(merkleRoot(ids.map(leafHash)))
      const merkleVerifiers = [verifiers[0], verifiers[2]]
      const mcases = merkleVerifiers.map((v) => ({
        fn: async () => {
          if (toHex(await v.merkleRoot(ids)) !== expected) throw new Error('bench: Merkle root mismatch')
        },
      }))
      const mms = await timeInterleaved(mcases, runs)
      merkleVerifiers.forEach((v, k) => {
        rows.push({
          name: `processing: Merkle root of ${size} txIds, threads=${v.threads}`,
          unit: 'ms',
          median: Number(median(mms[k]).toFixed(2)),
          runs,
        })
      })
    }
  } finally {
    await Promise.all(verifiers.map((v) => v.close()))
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (loadavg()[0] > availableParallelism() / 4) {
    console.warn(
      `warning: load average ${loadavg()[0].toFixed(2)} on ${availableParallelism()} cores; pool numbers will be understated`,
    )
  }
  const rows = await run({ quick: process.argv.includes('--quick') })
  console.log(`cores: ${availableParallelism()}, load average at start: ${loadavg()[0].toFixed(2)}`)
  console.table(rows)
}
