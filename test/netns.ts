// Node processes on two "hosts" (network namespaces A and B joined by a veth pair, `twoNamespaces` in
// helpers.ts; needs root), shared by test/partition.test.ts and test/quorum.test.ts: start a node inside its
// side's namespace, talk to its API or run the CLI there, and stop them all keeping each node's output beside
// its data dir (node.log) for post-mortems.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CLI, type TwoNamespaces, twoNamespaces, waitFor } from './helpers.js'

export { type TwoNamespaces, twoNamespaces }

export type Side = 'A' | 'B'

/** One node process on one side; `out` collects its stdout and stderr. */
export interface NetnsNode {
  name: string
  side: Side
  dir: string
  proc?: ChildProcess
  out: string
}

/** Start `m` (`profichain start --data-dir m.dir`) in its side's namespace; resolves once it logged "node started". */
export async function startIn(net: TwoNamespaces, m: NetnsNode, timeoutMs = 60_000): Promise<void> {
  m.out = ''
  m.proc = spawn('ip', ['netns', 'exec', net.ns[m.side], process.execPath, CLI, 'start', '--data-dir', m.dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  m.proc.stdout?.on('data', (d) => {
    m.out += d
  })
  m.proc.stderr?.on('data', (d) => {
    m.out += d
  })
  await waitFor(
    `${m.name} started`,
    () => {
      if (m.proc?.exitCode !== null) throw new Error(`${m.name} exited:\n${m.out.slice(-2000)}`)
      return m.out.includes('"msg":"node started"')
    },
    timeoutMs,
  )
}

/** Stop one node with `signal` and wait until it exited (nothing to do if it is not running). */
export async function stopNode(m: NetnsNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!m.proc || m.proc.exitCode !== null) return
  const done = new Promise((r) => m.proc?.once('exit', r))
  m.proc.kill(signal)
  await done
}

/** After the tests: each node's output into `<dir>/node.log`, every node killed, the namespaces removed. */
export async function stopAll(net: TwoNamespaces, nodes: NetnsNode[]): Promise<void> {
  for (const m of nodes) await writeFile(join(m.dir, 'node.log'), m.out).catch(() => {})
  for (const m of nodes) await stopNode(m, 'SIGKILL')
  net.remove()
}

/** Run the CLI inside a side's namespace (throws on a non-zero exit); its stdout. */
export function cliIn(net: TwoNamespaces, side: Side, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', net.ns[side], process.execPath, CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
}

/** A GraphQL query to the API at `port` on the loopback of a side's namespace (where nodes' APIs listen). */
export function gqlIn<T>(net: TwoNamespaces, side: Side, port: number, query: string, variables: Record<string, unknown> = {}): T {
  const out = execFileSync(
    'ip',
    ['netns', 'exec', net.ns[side], 'curl', '-s', '-m', '5', '-H', 'content-type: application/json', '-d', JSON.stringify({ query, variables }), `http://127.0.0.1:${port}/graphql`],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 },
  )
  const body = JSON.parse(out) as { data?: T; errors?: Array<{ message: string }> }
  if (body.errors?.length) throw new Error(body.errors[0].message)
  return body.data as T
}
