// End to end (issue 6): separate node processes talking over real libp2p connections on loopback.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTransaction, generateKeyPair, readKeyFile, toHex } from '@profichain/core'
import type { DevnetNodeInfo } from '@profichain/cli'
import { createNetwork } from '@profichain/network'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, gql as nodeGql, listFiles, readJson, type RunningNode, startNode, tempDir, waitFor } from './helpers.js'

type DevnetNode = DevnetNodeInfo

let dir: string
let devnetProc: ChildProcess
let nodes: DevnetNode[]
const restarted: RunningNode[] = []

const gql = <T>(api: string, query: string, variables: Record<string, unknown> = {}) => nodeGql<T>(api, query, variables, { timeoutMs: 10_000 })

const status = (api: string) =>
  gql<{ status: { height: number; headHash: string; peers: number } }>(api, '{ status { height headHash peers } }').then((d) => d.status)

/** Drop `n` small records as files into a node's inbox (atomic rename), named with a prefix. */
async function drop(inbox: string, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const tmp = join(inbox, `${prefix}-${i}.json.tmp`)
    await writeFile(tmp, JSON.stringify({ prefix, i, noise: randomBytes(16).toString('hex') }))
    await rename(tmp, join(inbox, `${prefix}-${i}.json`))
  }
}

async function receipts(node: DevnetNode, prefix: string): Promise<number> {
  return (await listFiles(join(node.dataDir, 'receipts'))).filter((f) => f.startsWith(`${prefix}-`)).length
}

/** Metadata paths of every canonical tx on a node whose path starts with `prefix-` (duplicates kept). */
async function pathsWithPrefix(api: string, prefix: string): Promise<string[]> {
  const out: string[] = []
  let after: string | null = null
  for (;;) {
    const d: { transactions: { nodes: Array<{ meta: string | null }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await gql(
      api,
      'query($a: String) { transactions(first: 100, after: $a) { nodes { meta(key: "path") } pageInfo { hasNextPage endCursor } } }',
      { a: after },
    )
    for (const n of d.transactions.nodes) if (n.meta?.startsWith(`${prefix}-`)) out.push(n.meta)
    if (!d.transactions.pageInfo.hasNextPage) break
    after = d.transactions.pageInfo.endCursor
  }
  return out
}

/** Exactly once: `n` records with this prefix, no path twice. */
async function expectCommittedOnce(api: string, prefix: string, n: number): Promise<void> {
  const paths = await pathsWithPrefix(api, prefix)
  expect(new Set(paths).size).toBe(n)
  expect(paths.length).toBe(n)
}

async function allAgree(): Promise<boolean> {
  const sts = await Promise.all(nodes.map((n) => status(n.api)))
  return sts.every((s) => s.headHash === sts[0].headHash)
}

beforeAll(async () => {
  dir = await tempDir('net')
  const base = 21_000 + Math.floor(Math.random() * 15_000)
  devnetProc = spawn(process.execPath, [CLI, 'devnet', '--dir', dir, '--thin', '3', '--p2p-port', String(base), '--api-port', String(base + 10)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  devnetProc.stderr?.on('data', (d) => {
    err += d
  })
  await waitFor('devnet.json', async () => {
    if (devnetProc.exitCode !== null) throw new Error(`devnet exited: ${err}`)
    return (await listFiles(dir)).includes('devnet.json')
  }, 120_000, 200)
  nodes = (await readJson<{ nodes: DevnetNode[] }>(join(dir, 'devnet.json'))).nodes
  await waitFor('every node connected', async () => (await Promise.all(nodes.map((n) => status(n.api)))).every((s) => s.peers >= 1), 60_000, 250)
}, 180_000)

afterAll(async () => {
  for (const r of restarted) await r.stop('SIGKILL')
  if (devnetProc && devnetProc.exitCode === null) {
    const done = new Promise((r) => devnetProc.once('exit', r))
    devnetProc.kill('SIGTERM')
    await done
  }
  for (const n of nodes ?? []) {
    try {
      process.kill(n.pid, 'SIGKILL')
    } catch {}
  }
})

describe('a 4-node devnet (1 full + 3 thin, separate processes)', () => {
  it('commits files dropped on thin nodes, and all nodes agree on the head', async () => {
    const [full, t1, t2] = nodes
    await Promise.all([drop(t1.inbox, 'a1', 40), drop(t2.inbox, 'a2', 40)])
    await waitFor('receipts on both thin nodes', async () => (await receipts(t1, 'a1')) === 40 && (await receipts(t2, 'a2')) === 40, 120_000, 250)
    await expectCommittedOnce(full.api, 'a1', 40)
    await expectCommittedOnce(full.api, 'a2', 40)
    await waitFor('one head on all nodes', allAgree, 30_000, 250)
  })

  it('a thin node SIGKILLed mid-ingest catches up after restart, losing and doubling nothing', async () => {
    const full = nodes[0]
    const t1 = nodes[1]
    const writing = drop(t1.inbox, 'k1', 150)
    await waitFor('some k1 files processed', async () => (await listFiles(join(t1.dataDir, 'processed'))).filter((f) => f.startsWith('k1-')).length >= 20, 60_000, 20)
    process.kill(t1.pid, 'SIGKILL')
    await writing
    // The rest of the network keeps committing meanwhile.
    await drop(nodes[2].inbox, 'k2', 20)
    await waitFor('k2 receipts', async () => (await receipts(nodes[2], 'k2')) === 20, 60_000, 250)
    const again = await startNode(t1.dataDir)
    restarted.push(again)
    t1.pid = again.child.pid ?? -1
    await waitFor('all k1 receipts after restart', async () => (await receipts(t1, 'k1')) === 150, 120_000, 250)
    await expectCommittedOnce(full.api, 'k1', 150)
    await waitFor('one head on all nodes', allAgree, 30_000, 250)
  })

  it('records ingested while the producer is down are committed once after it restarts', async () => {
    const full = nodes[0]
    process.kill(full.pid, 'SIGKILL')
    await Promise.all([drop(nodes[2].inbox, 'p2', 50), drop(nodes[3].inbox, 'p3', 50)])
    await waitFor('files accepted by the thin nodes', async () => {
      const a = (await listFiles(join(nodes[2].dataDir, 'processed'))).filter((f) => f.startsWith('p2-')).length
      const b = (await listFiles(join(nodes[3].dataDir, 'processed'))).filter((f) => f.startsWith('p3-')).length
      return a === 50 && b === 50
    }, 60_000, 100)
    expect(await receipts(nodes[2], 'p2')).toBe(0) // nothing can be committed without the producer
    const again = await startNode(full.dataDir)
    restarted.push(again)
    full.pid = again.child.pid ?? -1
    await waitFor('p2 and p3 receipts', async () => (await receipts(nodes[2], 'p2')) === 50 && (await receipts(nodes[3], 'p3')) === 50, 120_000, 250)
    await expectCommittedOnce(full.api, 'p2', 50)
    await expectCommittedOnce(full.api, 'p3', 50)
    await waitFor('one head on all nodes', allAgree, 60_000, 250)
  })

  it('refuses a non-member, rejects forged records from a member, and keeps committing', async () => {
    const full = nodes[0]
    const genesis = await readJson<{ network: string; members: Array<{ publicKey: string; addrs?: string[] }> }>(join(dir, 'genesis.json'))
    const handlers = {
      headers: () => [],
      block: () => null,
      blocks: () => [],
      payloads: (ids: Uint8Array[]) => ids.map(() => null),
      status: () => ({ height: 0, headHash: new Uint8Array(32), genesisHash: new Uint8Array(32) }),
    }
    // A stranger with its own key: the full node's gater drops it, so no request succeeds.
    const stranger = createNetwork(
      { network: genesis.network, listen: ['/ip4/127.0.0.1/tcp/0'], members: genesis.members },
      { key: generateKeyPair(), handlers, originAllowed: () => true, onTxBatch: () => 'ignore', onBlock: () => 'ignore' },
    )
    await stranger.start()
    try {
      await expect(stranger.request(full.peerId, { kind: 'status' }, { timeoutMs: 5000 })).rejects.toThrow()
    } finally {
      await stranger.stop()
    }

    // A member gone rogue: thin-3's key (its process is stopped first) publishes garbage and forged records.
    const t3 = nodes[3]
    process.kill(t3.pid, 'SIGKILL')
    const rogueKey = await readKeyFile(join(t3.dataDir, 'node.key'))
    const rogue = createNetwork(
      { network: genesis.network, listen: ['/ip4/127.0.0.1/tcp/0'], members: genesis.members, bootstrap: full.multiaddrs },
      { key: rogueKey, handlers, originAllowed: () => true, onTxBatch: () => 'ignore', onBlock: () => 'ignore' },
    )
    await rogue.start()
    try {
      await waitFor('rogue connected', () => rogue.peers().some((p) => p.peerId === full.peerId), 30_000, 100)
      const forged = createTransaction(rogueKey, { network: genesis.network, seq: 999_999, payload: new TextEncoder().encode('forged') })
      forged.signature = new Uint8Array(64).fill(7)
      // Whichever live member the rogue's gossip reaches first (the full node or a thin node, all validate
      // before forwarding) must reject it: count rejections over all of them.
      const live = nodes.slice(0, 3)
      const rejected = async () => {
        let n = 0
        for (const m of live) {
          const text = await fetch(`${m.api}/metrics`).then((r) => r.text())
          // Labelled by topic and reason: one line per pair, summed.
          for (const line of text.matchAll(/^profichain_network_gossip_rejected_total\{[^}]*\} (\d+)$/gm)) n += Number(line[1])
        }
        return n
      }
      expect(await rejected()).toBe(0)
      const sent = await rogue.publishTxs([forged])
      await waitFor(`a member rejected the forged batch (publish ${JSON.stringify(sent)}, rogue ${JSON.stringify(rogue.stats())})`, async () => (await rejected()) >= 1, 30_000, 250)
      // Honest records still get committed.
      await drop(nodes[1].inbox, 'g1', 10)
      await waitFor('g1 receipts', async () => (await receipts(nodes[1], 'g1')) === 10, 60_000, 250)
      const forgedCommitted = await gql<{ transactions: { nodes: unknown[] } }>(full.api, 'query($o: String) { transactions(filter: { origin: $o }, first: 5) { nodes { id } } }', {
        o: toHex(rogueKey.publicKey),
      })
      // thin-3's genuine records from the previous test are there; none of the forged seq.
      const seqs = await gql<{ transactions: { nodes: Array<{ seq: number }> } }>(full.api, 'query($o: String) { transactions(filter: { origin: $o }, first: 100) { nodes { seq } } }', {
        o: toHex(rogueKey.publicKey),
      })
      expect(seqs.transactions.nodes.some((n) => n.seq === 999_999)).toBe(false)
      expect(forgedCommitted.transactions.nodes.length).toBeGreaterThan(0)
    } finally {
      await rogue.stop()
    }
    expect((await status(full.api)).height).toBeGreaterThan(0)
  })
})
