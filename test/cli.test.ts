// The `profichain` command as a user meets it: help that teaches, one-line errors, exit codes.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type ChainpointProof, decodeHeader, encodeHeaderBody, fromHex, type NativeReceipt } from '@profichain/core'
import { cli, CLI, type CliResult, listFiles, portBase, readJson, ROOT, type RunningNode, startNode, tempDir, waitFor } from './helpers.js'

const COMMANDS = ['init', 'start', 'keys', 'proof', 'verify', 'audit', 'status', 'devnet']

/** The CLI with extra environment variables (the shared helper passes none). */
function cliEnv(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

function randomBase(): number {
  return portBase()
}

const running: RunningNode[] = []
const groups: ChildProcess[] = []
afterAll(async () => {
  for (const n of running) await n.stop('SIGKILL')
  for (const g of groups) {
    try {
      if (g.exitCode === null && g.signalCode === null && g.pid) process.kill(-g.pid, 'SIGKILL')
    } catch {}
  }
})

describe('profichain CLI', () => {
  it('lists every command and shows an example in each command help', async () => {
    const top = await cli(['--help'])
    expect(top.code).toBe(0)
    for (const c of COMMANDS) expect(top.stdout).toContain(c)
    const helps = await Promise.all(COMMANDS.map((c) => cli([c, '--help'])))
    helps.forEach((h, i) => {
      expect(h.code, COMMANDS[i]).toBe(0)
      expect(h.stdout, COMMANDS[i]).toMatch(/Example:\n {2}profichain /)
    })
    // verify documents its exit codes
    const v = helps[COMMANDS.indexOf('verify')].stdout
    expect(v).toMatch(/Exit codes:[\s\S]*0 {2}VERIFIED[\s\S]*1 {2}FAILED[\s\S]*2 {2}usage[\s\S]*3 {2}proof consistent, anchor NOT checked/)
    expect(v).toMatch(/--token/)
  })

  it('exits 2 on usage errors and 1 with one clear line on operator errors', async () => {
    expect((await cli(['no-such-command'])).code).toBe(2)
    expect((await cli(['init', '--type', 'giant', '--data-dir', '/tmp/x'])).code).toBe(2)
    const missing = await cli(['start', '--data-dir', '/nonexistent/profichain'])
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
    expect(missing.stderr).toMatch(/^error: no config at .*run "profichain init/)
  })

  it('refuses to init over an existing node and reports a bad receipt precisely', async () => {
    const dir = join(await tempDir('cli'), 'n')
    expect((await cli(['init', '--data-dir', dir])).code).toBe(0)
    const again = await cli(['init', '--data-dir', dir])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/already holds a node/)
    const keys = await cli(['keys', '--data-dir', dir])
    expect(JSON.parse(keys.stdout).publicKey).toMatch(/^[0-9a-f]{64}$/)
    const file = join(dir, 'data.txt')
    await writeFile(file, 'x')
    await writeFile(join(dir, 'receipt.json'), '{"not":"a receipt"}')
    const v = await cli(['verify', file, '--receipt', join(dir, 'receipt.json')])
    expect(v.code).toBe(1)
    expect(v.stdout).toMatch(/neither a Chainpoint v5 proof nor a ProfichainReceipt/)
    await writeFile(join(dir, 'broken.json'), '{')
    const b = await cli(['verify', file, '--receipt', join(dir, 'broken.json')])
    expect(b.code).toBe(1)
    expect(b.stderr).toMatch(/is not valid JSON/)
  })

  it('refuses init --type thin (or archive) without --genesis: such a network would never make a block (issue 10 item 16)', async () => {
    const base = await tempDir('cli-thin')
    for (const type of ['thin', 'archive']) {
      const r = await cli(['init', '--type', type, '--data-dir', join(base, type)])
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toMatch(new RegExp(`a ${type} node does not produce blocks`))
      expect(r.stderr).toMatch(/--genesis <genesis\.json of that network>/)
      expect(r.stderr).toMatch(/--type full or --type producer/)
      expect((await listFiles(base)).filter((f) => f.startsWith(`${type}/`))).toEqual([]) // nothing half-created
    }
    // With the genesis of a network (here a full node's), a thin node joins it.
    expect((await cli(['init', '--type', 'full', '--data-dir', join(base, 'full')])).code).toBe(0)
    const joined = await cli(['init', '--type', 'thin', '--data-dir', join(base, 'thin'), '--genesis', join(base, 'full', 'genesis.json')])
    expect(joined.code, joined.stderr).toBe(0)
  })
})

describe('verify and the API commands against a real node (issue 10 items 10–13, 17)', () => {
  const TOKEN = 'a-long-enough-test-token-1234'
  let dir: string
  let api: string
  let work: string
  let payloadFile: string
  let receiptFile: string
  let nativeFile: string
  let proof: ChainpointProof
  let native: NativeReceipt

  it('starts a token-protected node and gets a receipt for a file', async () => {
    const base = await tempDir('cli-verify')
    dir = join(base, 'node')
    work = join(base, 'work')
    await mkdir(work)
    const p = randomBase()
    api = `127.0.0.1:${p + 1}` // no scheme on purpose: http:// is assumed
    expect((await cli(['init', '--type', 'full', '--data-dir', dir, '--p2p-port', String(p), '--api-port', String(p + 1)])).code).toBe(0)
    const cfg = join(dir, 'config.toml')
    await writeFile(
      cfg,
      (await readFile(cfg, 'utf8')).replace('# token = "change-me-to-a-long-random-string"', `token = "${TOKEN}"`).replace('stable_ms = 500', 'stable_ms = 100'),
    )
    running.push(await startNode(dir))
    payloadFile = join(work, 'report.txt')
    await writeFile(payloadFile, 'batch 42: pressure within limits\n')
    await writeFile(join(dir, 'inbox', 'report.txt'), await readFile(payloadFile))
    const name = await waitFor('a receipt', async () => (await listFiles(join(dir, 'receipts'))).find((f) => f.endsWith('.chp.json')), 60_000, 100)
    receiptFile = join(dir, 'receipts', name)
    proof = await readJson<ChainpointProof>(receiptFile)
    nativeFile = join(work, 'native.json')
    const pr = await cli(['proof', '--api', api, '--token', TOKEN, '--file', payloadFile, '--format', 'native', '--out', nativeFile])
    expect(pr.code, pr.stderr).toBe(0)
    native = await readJson<NativeReceipt>(nativeFile)
  })

  it('status and proof accept --api without a scheme and a token from --token or PROFICHAIN_API_TOKEN (flag wins)', async () => {
    const s = await cli(['status', '--api', api, '--token', TOKEN, '--json'])
    expect(s.code, s.stderr).toBe(0)
    expect(JSON.parse(s.stdout).height).toBeGreaterThanOrEqual(1)
    expect((await cliEnv(['status', '--api', api], { PROFICHAIN_API_TOKEN: TOKEN })).code).toBe(0)
    expect((await cliEnv(['status', '--api', api, '--token', TOKEN], { PROFICHAIN_API_TOKEN: 'wrong-token-wrong-token' })).code).toBe(0)
    const no = await cliEnv(['status', '--api', api], { PROFICHAIN_API_TOKEN: '' })
    expect(no.code).toBe(1)
    expect(no.stderr).toMatch(/wants a bearer token/)
    const bad = await cli(['status', '--api', 'http://[::1', '--token', TOKEN])
    expect(bad.code).toBe(2)
    expect(bad.stderr).not.toMatch(/Invalid URL/)
  })

  it('without an anchor check says "proof consistent, anchor NOT checked" and exits 3, never VERIFIED/0 (item 10)', async () => {
    const c = await cli(['verify', payloadFile, '--receipt', receiptFile])
    expect(c.code, c.stdout + c.stderr).toBe(3)
    expect(c.stdout).toMatch(/proof consistent, anchor NOT checked/)
    expect(c.stdout).not.toMatch(/VERIFIED/)
    const n = await cli(['verify', payloadFile, '--receipt', nativeFile])
    expect(n.code, n.stdout + n.stderr).toBe(3)
    expect(n.stdout).toMatch(/anchor NOT checked/)
    // Anchored: the node agrees (Chainpoint), or the validator set (native).
    const ng = await cli(['verify', payloadFile, '--receipt', nativeFile, '--genesis', join(dir, 'genesis.json')])
    expect(ng.code, ng.stdout).toBe(0)
    expect(ng.stdout).toMatch(/VERIFIED/)
  })

  it('verify --api takes --token or PROFICHAIN_API_TOKEN, says which node it asked, and exits 0 (items 12, 13)', async () => {
    // Anchor hash URIs reveal only block hashes: they stay public on a token-protected node (item 13).
    const noToken = await cliEnv(['verify', payloadFile, '--receipt', receiptFile, '--api', api], { PROFICHAIN_API_TOKEN: '' })
    expect(noToken.code, noToken.stdout + noToken.stderr).toBe(0)
    expect(noToken.stdout).toMatch(/VERIFIED/)
    const flag = await cli(['verify', payloadFile, '--receipt', receiptFile, '--api', api, '--token', TOKEN])
    expect(flag.code, flag.stdout + flag.stderr).toBe(0)
    expect(flag.stdout).toMatch(/VERIFIED/)
    expect(flag.stdout).toContain(`asked node http://${api}`)
    const env = await cliEnv(['verify', payloadFile, '--receipt', receiptFile, '--api', api], { PROFICHAIN_API_TOKEN: TOKEN })
    expect(env.code, env.stdout + env.stderr).toBe(0)
    const nat = await cliEnv(['verify', payloadFile, '--receipt', nativeFile, '--api', api], { PROFICHAIN_API_TOKEN: TOKEN })
    expect(nat.code, nat.stdout + nat.stderr).toBe(0)
  })

  async function verifyForged(name: string, file: Uint8Array | string, receipt: unknown): Promise<CliResult> {
    const f = join(work, `${name}.bin`)
    const r = join(work, `${name}.chp.json`)
    await writeFile(f, file)
    await writeFile(r, JSON.stringify(receipt))
    return cli(['verify', f, '--receipt', r, '--api', api, '--token', TOKEN])
  }

  it('rejects a receipt whose "file" is a header body or stripped-tx bytes, even though the node has that block (item 11)', async () => {
    const header = decodeHeader(fromHex(native.header))
    const ops = proof.branches[0].ops
    const headerForgery = { ...proof, hash: native.blockHash, branches: [{ label: 'profichain', ops: [ops.at(-1)] }] }
    const h = await verifyForged('header', encodeHeaderBody(header), headerForgery)
    expect(h.code, h.stdout).toBe(1)
    expect(h.stdout).toMatch(/ERR_RECEIPT_STRUCTURE/)
    expect(h.stdout).toMatch(/FAILED/)
    const txForgery = { ...proof, hash: native.txId, branches: [{ label: 'profichain', ops: ops.slice(ops.findIndex((o) => 'op' in o) + 1) }] }
    const t = await verifyForged('stripped-tx', fromHex(native.tx), txForgery)
    expect(t.code, t.stdout).toBe(1)
    expect(t.stdout).toMatch(/ERR_RECEIPT_STRUCTURE/)
  })

  it('binds anchor_id to the height in the URI and in the proof; a foreign URI host is named, the --api node asked (item 12)', async () => {
    const height = native.height
    const withAnchor = (anchor: { anchor_id: string; uris: string[] }) => ({
      ...proof,
      branches: [{ label: 'profichain', ops: [...proof.branches[0].ops.slice(0, -1), { anchors: [{ type: 'cal', ...anchor }] }] }],
    })
    const uri = (proof.branches[0].ops.at(-1) as { anchors: Array<{ uris: string[] }> }).anchors[0].uris[0]
    const wrong = await verifyForged('wrong-id', await readFile(payloadFile), withAnchor({ anchor_id: String(height + 1), uris: [uri] }))
    expect(wrong.code, wrong.stdout).toBe(1)
    expect(wrong.stdout).toMatch(/ERR_RECEIPT_ANCHOR: anchor_id \d+ is not the height/)
    expect(wrong.stdout).not.toContain(`block ${height + 1} =`)
    const foreign = uri.replace(/^http:\/\/[^/]+/, 'http://anchors.example.com:9')
    const f = await verifyForged('foreign-host', await readFile(payloadFile), withAnchor({ anchor_id: String(height), uris: [foreign] }))
    expect(f.code, f.stdout).toBe(0)
    expect(f.stdout).toContain('names node http://anchors.example.com:9')
    expect(f.stdout).toContain(`asked node http://${api}`)
  })
})

/** The quick start's commands as the README has them, with the test's ports. */
async function quickStartCommands(apiPort: number): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 5))
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1])
  const block = blocks.find((b) => b.includes('inbox'))
  expect(block, 'README quick start drops a file into an inbox').toBeDefined()
  return (block as string)
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .map((l) => l.replaceAll(':8600', `:${apiPort}`).replaceAll('npx profichain', `"${process.execPath}" "${CLI}"`))
}

function sh(cmd: string, cwd: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', cmd], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** Every node of the devnet logged a clean stop and none a forced exit; all their processes are gone. */
async function expectCleanStop(devnetDir: string): Promise<void> {
  const info = await readJson<{ nodes: Array<{ name: string; dataDir: string; pid: number }> }>(join(devnetDir, 'devnet.json.seen'))
  for (const n of info.nodes) {
    await waitFor(`${n.name} exited`, () => {
      try {
        process.kill(n.pid, 0)
        return false
      } catch {
        return true
      }
    }, 30_000)
    const log = await readFile(join(n.dataDir, 'node.log'), 'utf8')
    expect(log, n.name).toContain('"msg":"node stopped"')
    expect(log, n.name).not.toMatch(/again: exiting without a clean stop/)
  }
}

/** Start a devnet in its own process group; resolves once devnet.json is written (kept as devnet.json.seen). */
async function startDevnet(cmd: string, args: string[], cwd: string, devnetDir: string): Promise<{ child: ChildProcess; exited: Promise<number | null>; out: () => string }> {
  const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  groups.push(child)
  let out = ''
  child.stdout?.on('data', (d) => (out += d))
  child.stderr?.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
  await waitFor('devnet.json', async () => {
    if (child.exitCode !== null) throw new Error(`devnet exited: ${out}`)
    const text = await readFile(join(devnetDir, 'devnet.json'), 'utf8').catch(() => undefined)
    if (text) await writeFile(join(devnetDir, 'devnet.json.seen'), text) // the devnet removes it when it stops
    return text !== undefined
  }, 120_000, 200)
  return { child, exited, out: () => out }
}

describe('devnet and the README quick start (issue 10 items 15, 17)', () => {
  it('runs the README quick start as written; one Ctrl-C (SIGINT to the process group) stops every node cleanly', async () => {
    const cwd = await tempDir('cli-quick')
    const base = randomBase()
    const d = await startDevnet(process.execPath, [CLI, 'devnet', '--dir', '.devnet', '--thin', '1', '--p2p-port', String(base), '--api-port', String(base + 10)], cwd, join(cwd, '.devnet'))
    for (const cmd of await quickStartCommands(base + 10)) {
      if (cmd.includes(' verify ')) {
        // The receipt comes "a moment later": retry until the file is processed and its receipt verifies.
        const r = await waitFor(`README: ${cmd}`, async () => {
          const v = await sh(cmd, cwd)
          return v.code === 0 ? v : undefined
        }, 90_000, 250)
        expect(r.stdout).toMatch(/VERIFIED/)
      } else {
        const r = await sh(cmd, cwd)
        expect(r.code, `README: ${cmd}\n${r.stderr}`).toBe(0)
      }
    }
    process.kill(-(d.child.pid as number), 'SIGINT')
    expect(await d.exited, d.out()).toBe(0)
    await expectCleanStop(join(cwd, '.devnet'))
  })

  it('SIGINT to `npm run devnet` alone (not its group) reaches the devnet and stops every node cleanly', async () => {
    const dir = join(await tempDir('cli-npm'), 'devnet')
    const base = randomBase()
    const d = await startDevnet('npm', ['run', 'devnet', '--', '--dir', dir, '--thin', '1', '--p2p-port', String(base), '--api-port', String(base + 10)], ROOT, dir)
    process.kill(d.child.pid as number, 'SIGINT')
    await waitFor('npm to exit after SIGINT', () => d.child.exitCode !== null || d.child.signalCode !== null, 60_000)
    expect(d.out()).toMatch(/SIGINT: stopping all nodes/)
    await expectCleanStop(dir)
  })
})
