import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const CLI = join(ROOT, 'packages/cli/bin/profichain.js')

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `profichain-${prefix}-`))
}

/** A TCP port on 127.0.0.1 that was free a moment ago (listen on 0, read the port, close). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => res(p))
    })
  })
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Run the real `profichain` command in a child process. */
export function cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * A GraphQL query against a node's API (`api` = its base URL): the data, or an Error with the errors' messages.
 * `token` adds the bearer token mutations need; `timeoutMs` bounds the request (default 30 s: a loaded CI machine).
 */
export async function gql<T>(api: string, query: string, variables: Record<string, unknown> = {}, opts: { token?: string; timeoutMs?: number } = {}): Promise<T> {
  const res = await fetch(`${api}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
  })
  const body = (await res.json()) as { data?: T; errors?: Array<{ message: string }> }
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '))
  return body.data as T
}

/** Poll `check` until it returns a truthy value or the deadline passes (then throw with `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v as T
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export interface RunningNode {
  child: ChildProcess
  output: () => string
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** `profichain start` as a separate process; resolves once it logged "node started". */
export async function startNode(dataDir: string, timeoutMs = 60_000): Promise<RunningNode> {
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
  await waitFor(
    'node start',
    () => {
      if (child.exitCode !== null) throw new Error(`node exited with ${child.exitCode}:\n${out.slice(-3000)}`)
      return out.includes('"msg":"node started"')
    },
    timeoutMs,
  )
  return {
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      return exited
    },
  }
}

/** All files below `dir`, as paths relative to it. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  async function walk(d: string) {
    let entries: import('node:fs').Dirent[]
    try {
      entries = await readdir(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else out.push(relative(dir, p))
    }
  }
  await walk(dir)
  return out.sort()
}

export async function readJson<T = unknown>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** Two hosts on one machine: network namespaces A and B joined by a veth pair (needs root). */
export interface TwoNamespaces {
  /** False when namespaces cannot be made here (not root); the caller skips with the printed reason. */
  ok: boolean
  ns: { A: string; B: string }
  ip: { A: string; B: string }
  /** Cut (false) or heal (true) the link between the two sides. */
  setLink(up: boolean): void
  /** Delete both namespaces (their veth ends go with them). */
  remove(): void
}

/**
 * Make namespaces `<prefix>A<id>` / `<prefix>B<id>` with addresses 10.<subnet>.<id>.1/.2 (a random id, so
 * parallel runs do not collide). `what` names the test in the message printed when it cannot be done.
 */
export function twoNamespaces(prefix: string, subnet: number, what: string): TwoNamespaces {
  const id = Math.floor(Math.random() * 200) + 20
  const ns = { A: `${prefix}A${id}`, B: `${prefix}B${id}` }
  const ip = { A: `10.${subnet}.${id}.1`, B: `10.${subnet}.${id}.2` }
  const veth = { A: `${prefix}va${id}`, B: `${prefix}vb${id}` }
  const sh = (args: string[]): void => {
    execFileSync(args[0], args.slice(1), { stdio: 'pipe' })
  }
  let ok = false
  try {
    sh(['ip', 'netns', 'add', ns.A])
    sh(['ip', 'netns', 'add', ns.B])
    sh(['ip', 'link', 'add', veth.A, 'type', 'veth', 'peer', 'name', veth.B])
    for (const side of ['A', 'B'] as const) {
      sh(['ip', 'link', 'set', veth[side], 'netns', ns[side]])
      sh(['ip', 'netns', 'exec', ns[side], 'ip', 'addr', 'add', `${ip[side]}/24`, 'dev', veth[side]])
      sh(['ip', 'netns', 'exec', ns[side], 'ip', 'link', 'set', veth[side], 'up'])
      sh(['ip', 'netns', 'exec', ns[side], 'ip', 'link', 'set', 'lo', 'up'])
    }
    ok = true
  } catch (err) {
    process.stderr.write(`${what} skipped: cannot create network namespaces here (${(err as Error).message.split('\n')[0]})\n`)
  }
  return {
    ok,
    ns,
    ip,
    setLink(up) {
      for (const side of ['A', 'B'] as const) sh(['ip', 'netns', 'exec', ns[side], 'ip', 'link', 'set', veth[side], up ? 'up' : 'down'])
    },
    remove() {
      for (const n of Object.values(ns)) {
        try {
          sh(['ip', 'netns', 'del', n])
        } catch {
          // never made, or already gone
        }
      }
    },
  }
}

/**
 * A random base for a test's fixed ports. Below Linux's ephemeral range (32768+, where the kernel hands out ports
 * for outgoing connections and `port: 0` listeners), and in a slice of its own per vitest worker
 * (`VITEST_POOL_ID`), so e2e files running side by side never pick the same ports. Ports base..base+span are
 * the test's to use.
 */
export function portBase(span = 1000): number {
  const slices = 4
  const id = Number(process.env.VITEST_POOL_ID ?? '1')
  const lo = 10_000
  const size = Math.floor((32_000 - lo) / slices)
  const start = lo + ((((id - 1) % slices) + slices) % slices) * size
  return start + Math.floor(Math.random() * (size - span))
}

/**
 * `profichain init --type full` in `dir` with the API token set and the device ingest API on, on ports from
 * `portBase()`: p2p = base, API = base + 1, ingest API = base + 2. `initArgs` adds init flags, `edit` changes
 * the config text before it is written, `ingestToml` adds lines to its [ingest_api] section.
 */
export async function initIngestNode(
  dir: string,
  opts: { token: string; initArgs?: string[]; edit?: (toml: string) => string; ingestToml?: string },
): Promise<{ api: string; ingestPort: number; network: string }> {
  const base = portBase()
  const init = await cli(['init', '--type', 'full', '--data-dir', dir, '--p2p-port', String(base), '--api-port', String(base + 1), ...(opts.initArgs ?? [])])
  if (init.code !== 0) throw new Error(`profichain init failed (${init.code}): ${init.stderr}`)
  const cfg = join(dir, 'config.toml')
  const toml = (opts.edit ?? ((t: string) => t))(await readFile(cfg, 'utf8'))
    .replace('# token = "change-me-to-a-long-random-string"', `token = "${opts.token}"`)
    .replace(/^# ingest_api = true.*$/m, 'ingest_api = true')
  const section = toml.indexOf('\n[ingest_api]')
  if (section < 0) throw new Error('the config written by init has no [ingest_api] section')
  const ingest = `port = ${base + 2}${opts.ingestToml ? `\n${opts.ingestToml}` : ''}`
  await writeFile(cfg, toml.slice(0, section) + toml.slice(section).replace(/^port = \d+$/m, ingest))
  const network = (JSON.parse(await readFile(join(dir, 'genesis.json'), 'utf8')) as { network: string }).network
  return { api: `http://127.0.0.1:${base + 1}`, ingestPort: base + 2, network }
}
