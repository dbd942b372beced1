// Start and stop a devnet (`profichain devnet`: 1 full node + N thin nodes, each its own process) for the evaluation.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePortRange, spawnCli, stopChild, waitFor } from '../bench/lib.mjs'

/** Start a fresh devnet in a tmp dir; resolves once devnet.json is written. Returns { info, full, thins, dir, stop() }. */
export async function startDevnet({ thin = 2, blockTimeMs = 1000, network = 'eval', keep = false, log = () => {} } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'pc-eval-devnet-'))
  const p2p = await freePortRange(thin + 1)
  const api = await freePortRange(thin + 1)
  const logFile = join(dir, 'devnet.log')
  const child = spawnCli(
    ['devnet', '--dir', dir, '--thin', String(thin), '--block-time', String(blockTimeMs), '--p2p-port', String(p2p), '--api-port', String(api), '--network', network],
    { logFile },
  )
  const stop = async () => {
    // The devnet process forwards SIGTERM to its nodes and waits for them (20 s each, then SIGKILL).
    await stopChild(child, { signal: 'SIGINT', graceMs: 45_000 })
    if (!keep) await rm(dir, { recursive: true, force: true, maxRetries: 5 }).catch(() => {})
  }
  try {
    const info = await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          const out = await readFile(logFile, 'utf8').catch(() => '')
          throw new Error(`devnet exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${out.slice(-2000)}`)
        }
        try {
          return JSON.parse(await readFile(join(dir, 'devnet.json'), 'utf8'))
        } catch {
          return undefined
        }
      },
      { timeoutMs: 120_000, everyMs: 250, what: 'devnet.json' },
    )
    const full = info.nodes.find((n) => n.type === 'full')
    const thins = info.nodes.filter((n) => n.type === 'thin')
    // Thin nodes must be connected to the full node, else their records wait for the next redial.
    await waitFor(
      async () => {
        const res = await fetch(`${full.api}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ status { peers } }' }),
        })
        return (await res.json()).data.status.peers >= thin
      },
      { timeoutMs: 60_000, everyMs: 250, what: `${thin} peers on the full node` },
    )
    log(`devnet up: ${dir} (block time ${blockTimeMs} ms, ${thin} thin nodes)`)
    return { dir, info, full, thins, blockTimeMs, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
