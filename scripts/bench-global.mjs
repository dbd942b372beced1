#!/usr/bin/env node
// Issue 13 benchmark (docs/benchmarks.md, "Global network"):
//  1. witness: how many partner checkpoints per second one witness checks and cosigns (c2sp tlog-witness
//     add-checkpoint with a consistency proof, state in memory, one core; pure CPU: Ed25519 verify + sign +
//     RFC 9162 proof check).
//  2. end to end: two one-validator companies in this process (real LevelDB, real sockets, an embedded
//     MQTT broker), 1 s blocks and the default checkpoint intervals; records dropped into A's inbox one per
//     second; for each, time from its commit on A (its block's timestamp) to the moment its receipt on A
//     carries the branch into B's chain (B's anchor block final, entanglement proof back). p50/p99.
// Usage: node scripts/bench-global.mjs [--records 20] [--witness-seconds 3] [--skip-e2e]   (build first: npx tsc -b)
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { keyPairFromSeed, utf8 } from '@profichain/core'
import {
  addCheckpoint,
  consistencyProof,
  createBroker,
  formatAddCheckpoint,
  formatCheckpoint,
  leafHash,
  noteVerifier,
  rootOf,
  signNote,
} from '@profichain/global'
import { createNode, loadConfig } from '@profichain/node'
import { pino } from 'pino'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(ROOT, 'packages/cli/bin/profichain.js')
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const RECORDS = arg('records', 20)
const WITNESS_SECONDS = arg('witness-seconds', 3)

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function witnessBench() {
  const key = keyPairFromSeed(new Uint8Array(32).fill(1))
  const witnessKey = keyPairFromSeed(new Uint8Array(32).fill(2))
  const origin = 'bench.example/log'
  const leaves = []
  for (let i = 0; i < 20_000; i++) leaves.push(leafHash(utf8(`block ${i}`)))
  // Subtree hashes from a cache of complete power-of-two subtrees would be faster; rootOf is fine here.
  const cache = new Map()
  const subtree = (s, e) => {
    const k = `${s}:${e}`
    let v = cache.get(k)
    if (!v) cache.set(k, (v = rootOf(leaves.slice(s, e))))
    return v
  }
  // Checkpoints growing by 100 leaves from size 10 000: precompute the requests (the timed part is the witness).
  const requests = []
  for (let size = 10_000, old = 0; requests.length < 100; old = size, size += 100) {
    const text = formatCheckpoint({ origin, size, root: subtree(0, size), extensions: [] })
    const note = signNote(text, [{ name: origin, keyPair: key }])
    const proof = old > 0 ? await consistencyProof(old, size, subtree) : []
    requests.push(formatAddCheckpoint({ oldSize: old, proof, note }))
  }
  let state
  const deps = {
    logs: (o) => (o === origin ? { origin, verifiers: [noteVerifier(origin, key.publicKey)], threshold: 1 } : undefined),
    state: {
      get: async () => state,
      compareAndSwap: async (_o, expected, next) => {
        if ((expected?.size ?? -1) !== (state?.size ?? -1)) return false
        state = next
        return true
      },
    },
    signer: { name: 'witness.example/log', keyPair: witnessKey },
    now: () => Math.floor(Date.now() / 1000),
  }
  let checks = 0
  const t0 = performance.now()
  while (performance.now() - t0 < WITNESS_SECONDS * 1000) {
    state = undefined
    for (const body of requests) {
      const r = await addCheckpoint(body, deps)
      if (r.status !== 200) throw new Error(`witness answered ${r.status}: ${r.body}`)
      checks++
    }
  }
  const seconds = (performance.now() - t0) / 1000
  return { checksPerSecond: Math.round(checks / seconds), checks, seconds: Number(seconds.toFixed(1)) }
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => res(p))
    })
  })
}

async function company(name, base, brokerUrl) {
  const dir = join(base, name)
  execFileSync(process.execPath, [CLI, 'init', '--data-dir', dir, '--network', `net-${name}`, '--origin', `${name}.example/profichain`, '--api-port', String(await freePort()), '--p2p-port', String(await freePort()), '--block-time', '1000'])
  let toml = await readFile(join(dir, 'config.toml'), 'utf8')
  toml = toml.replace('empty_blocks = false', 'empty_blocks = true').replace('# network = true', 'network = false')
  await writeFile(join(dir, 'config.toml'), `${toml}\n[broker]\nurl = "${brokerUrl}"\n`)
  return { name, dir }
}

function selfOf(c) {
  return JSON.parse(execFileSync(process.execPath, [CLI, 'partner', 'list', '--data-dir', c.dir, '--json'], { encoding: 'utf8' })).self
}

function partner(c, other) {
  const s = selfOf(other)
  execFileSync(process.execPath, [CLI, 'partner', 'add', '--data-dir', c.dir, '--name', other.name, '--origin', s.origin, ...s.vkeys.flatMap((v) => ['--vkey', v]), '--encryption-key', s.encryptionKey])
}

async function e2eBench() {
  const base = await mkdtemp(join(tmpdir(), 'profichain-bench-global-'))
  const broker = createBroker({ host: '127.0.0.1', port: 0 }, {})
  await broker.start()
  const A = await company('alpha', base, broker.urls[0])
  const B = await company('beta', base, broker.urls[0])
  partner(A, B)
  partner(B, A)
  const nodes = []
  for (const c of [A, B]) {
    const node = await createNode({ config: await loadConfig(join(c.dir, 'config.toml')), logger: pino({ level: 'silent' }) })
    await node.start()
    nodes.push(node)
  }
  const [a] = nodes
  const committedAt = new Map() // txId → block timestamp
  a.on('block', (b) => {
    for (const tx of b.txs) if (tx.body.metadata?.source === 'file') committedAt.set(tx.body.metadata.path, b.header.timestamp)
  })
  const latencies = []
  const pending = new Set()
  for (let i = 0; i < RECORDS; i++) {
    const name = `r${i}.txt`
    await writeFile(join(A.dir, 'inbox', name), `record ${i} ${Date.now()}\n`)
    pending.add(name)
    await new Promise((r) => setTimeout(r, 1000))
  }
  const deadline = Date.now() + 120_000
  while (pending.size > 0 && Date.now() < deadline) {
    for (const name of [...pending]) {
      const text = await readFile(join(A.dir, 'receipts', `${name}.chp.json`), 'utf8').catch(() => undefined)
      if (text && JSON.parse(text).branches?.[0]?.branches?.length > 0 && committedAt.has(name)) {
        latencies.push(Date.now() - committedAt.get(name))
        pending.delete(name)
      }
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  for (const n of nodes) await n.stop()
  await broker.stop()
  latencies.sort((x, y) => x - y)
  return { records: RECORDS, reached: latencies.length, p50Ms: pct(latencies, 50), p99Ms: pct(latencies, 99), maxMs: latencies[latencies.length - 1] }
}

const witness = await witnessBench()
console.log(JSON.stringify({ witness }, null, 2))
if (!process.argv.includes('--skip-e2e')) console.log(JSON.stringify({ commitToPartnerChain: await e2eBench() }, null, 2))
