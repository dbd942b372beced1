import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type AnchorError, type AnchorProof, checkEthAnchor, createEthAnchor } from '@profichain/anchor'
import { decodeEthCalldata, fromHex, sha256, toHex, utf8 } from '@profichain/core'
import { JsonRpcProvider, Wallet } from 'ethers'
import ganache from 'ganache'
import { chromium } from 'playwright-core'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, cli, freePort, portBase, readJson, ROOT, tempDir, waitFor } from './helpers.js'

// Public anchoring against a real Ethereum JSON-RPC node (ganache 7.9 over HTTP), DESIGN §13, docs/anchoring.md.
const FUNDED = `0x${'11'.repeat(32)}`
const EMPTY = `0x${'22'.repeat(32)}`
const ORIGIN = 'test.example/profichain/anchor'

type Server = ReturnType<typeof ganache.server>
const servers: Server[] = []
async function startChain(port: number): Promise<Server> {
  const server = ganache.server({
    logging: { quiet: true },
    chain: { chainId: 1337 },
    wallet: { accounts: [{ secretKey: FUNDED, balance: 10n ** 20n }, { secretKey: EMPTY, balance: 0n }] },
  } as never)
  await server.listen(port, '127.0.0.1')
  servers.push(server)
  return server
}
let devnetChild: ChildProcess | undefined
afterAll(async () => {
  for (const s of servers) await s.close().catch(() => undefined)
  const c = devnetChild
  if (c && c.exitCode === null && c.signalCode === null) {
    const exited = new Promise((r) => c.once('exit', r))
    process.kill(-(c.pid as number), 'SIGINT')
    await exited
  }
})

async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
  return ((await res.json()) as { result: unknown }).result
}
// The explorer's anchors view in Debian's Chromium (as test/explorer.test.ts: same binary lookup, same skip rule).
const CHROMIUM = process.env.PLAYWRIGHT_CHROMIUM ?? process.env.CHROME_PATH ?? '/usr/bin/chromium'
const HAVE_CHROMIUM = existsSync(CHROMIUM)
if (!HAVE_CHROMIUM)
  console.warn(
    `devnet --anchor: the explorer's anchors view check is SKIPPED: no Chromium at ${CHROMIUM}. Install it with ` +
      '`apt-get install -y --no-install-recommends chromium` (Debian/Ubuntu; .ci/run does this) or point PLAYWRIGHT_CHROMIUM (or CHROME_PATH) at a Chromium/Chrome binary.',
  )
const ARTIFACTS = process.env.EXPLORER_ARTIFACTS ?? join(ROOT, 'tmp', 'explorer-artifacts')

/**
 * Opens /explorer on `api`, goes to the anchors view by keyboard and returns its table's text; then verifies
 * `file` with `receipt` (a Chainpoint receipt with an eth branch) and returns the steps and the eth note.
 * Every request to another host fails the test, as does a script error. Screenshots: anchors.png, verify-eth.png.
 */
async function explorerAnchors(api: string, file: string, receipt: string) {
  await mkdir(ARTIFACTS, { recursive: true })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const blocked: string[] = []
    const host = new URL(api).host
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url())
      if ((u.protocol === 'http:' && u.host === host) || u.protocol === 'blob:' || u.protocol === 'data:') return route.continue()
      blocked.push(route.request().url())
      return route.abort()
    })
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (e) => pageErrors.push(e.message))
    await page.goto(`${api}/explorer`)
    await page.waitForSelector('#blocks')
    // Keyboard: the nav link is a tab stop; Enter opens the view, which the nav then marks as current.
    await page.focus('#nav a[href="#/anchors"]')
    await page.keyboard.press('Enter')
    await page.waitForSelector('main h1:text-is("Public anchors")')
    await page.waitForSelector('#anchors tbody tr')
    const table = (await page.textContent('#anchors')) ?? ''
    const current = await page.getAttribute('#nav a[href="#/anchors"]', 'aria-current')
    const label = await page.textContent('#nav a[href="#/anchors"]')
    await page.screenshot({ path: join(ARTIFACTS, 'anchors.png'), fullPage: true })
    await page.goto(`${api}/explorer#/verify`)
    await page.setInputFiles('#verify-file', file)
    await page.setInputFiles('#verify-receipt', receipt)
    await page.click('#verify-button')
    await page.waitForSelector('#verify-outcome.ok, #verify-outcome.fail')
    const steps = await page.$$eval('#verify-steps li', (ls) => ls.map((l) => l.getAttribute('data-status')))
    const eth = await page.$eval('#verify-eth', (e) => ({ hidden: (e as HTMLElement).hidden, status: e.getAttribute('data-status'), cls: e.className, text: e.textContent ?? '' }))
    const outcome = (await page.textContent('#verify-outcome')) ?? ''
    await page.screenshot({ path: join(ARTIFACTS, 'verify-eth.png'), fullPage: true })
    return { table, current, label, steps, eth, outcome, blocked, pageErrors }
  } finally {
    await browser.close()
  }
}

const root = (n: number) => sha256(utf8(`root ${n}`))
const metric = async (r: Registry, name: string) => (await r.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n')

/** Mine a block every `ms` until `p` settles (instamine puts the tx in a block; depth needs more). */
function mineWhile<T>(url: string, p: Promise<T>, ms = 100): Promise<T> {
  let done = false
  const loop = async () => {
    while (!done) {
      await rpc(url, 'evm_mine').catch(() => undefined)
      await new Promise((r) => setTimeout(r, ms))
    }
  }
  void loop()
  return p.finally(() => { done = true })
}

describe('public anchoring on a local Ethereum chain (ganache)', () => {
  it('anchors a root in calldata at the confirmation depth; checkEthAnchor verifies it and refuses other data or depth', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    await startChain(port)
    const registry = new Registry()
    const a = createEthAnchor({ rpcUrl: url, privateKey: FUNDED, dir: join(await tempDir('anchor'), 'db'), confirmations: 3, pollMs: 50 }, { registry })
    await a.open()
    const p = await mineWhile(url, a.submit({ origin: ORIGIN, size: 5, root: root(5) }))
    expect(p).toMatchObject({ kind: 'eth', chainId: 1337, origin: ORIGIN, size: 5, root: toHex(root(5)), nonce: 0 })
    expect(p.confirmations).toBeGreaterThanOrEqual(3)
    expect(decodeEthCalldata(fromHex(p.calldata))).toEqual({ origin: ORIGIN, size: 5, root: root(5) })
    const tx = await new JsonRpcProvider(url).getTransaction(p.txHash)
    expect(tx?.data).toBe(`0x${p.calldata}`)
    const check = await checkEthAnchor(url, { txHash: p.txHash, calldata: p.calldata, minDepth: 3, chainId: 1337 })
    expect(check).toMatchObject({ txHash: p.txHash, blockNumber: p.ethBlockNumber, chainId: 1337 })
    await expect(checkEthAnchor(url, { txHash: p.txHash, calldata: `${p.calldata.slice(0, -2)}00` })).rejects.toMatchObject({ code: 'ERR_ANCHOR_CHECK' })
    await expect(checkEthAnchor(url, { txHash: p.txHash, calldata: p.calldata, minDepth: 1000 })).rejects.toMatchObject({ code: 'ERR_ANCHOR_CHECK' })
    await expect(checkEthAnchor(url, { txHash: `0x${'99'.repeat(32)}`, calldata: p.calldata })).rejects.toMatchObject({ code: 'ERR_ANCHOR_CHECK' })
    // Same root again: nothing is paid twice.
    expect((await a.submit({ origin: ORIGIN, size: 5, root: root(5) })).txHash).toBe(p.txHash)
    expect(await a.anchors()).toEqual([p])
    expect(await metric(registry, 'profichain_anchor_submissions_total')).toContain('profichain_anchor_submissions_total 1')
    expect(await metric(registry, 'profichain_anchor_cost_wei_total')).toContain(`profichain_anchor_cost_wei_total ${Number(BigInt(p.gasUsed) * BigInt(p.effectiveGasPrice))}`)
    await a.close()
  })

  it('a reorg before the confirmation depth (evm_revert) re-sends the same tx; it is paid once', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    await startChain(port)
    const registry = new Registry()
    const a = createEthAnchor({ rpcUrl: url, privateKey: FUNDED, dir: join(await tempDir('anchor'), 'db'), confirmations: 4, pollMs: 50 }, { registry })
    await a.open()
    const snap = await rpc(url, 'evm_snapshot')
    const reorged = new Promise((resolve) => a.once('reorg', resolve))
    const mined = new Promise<{ txHash: string }>((resolve) => a.once('mined', resolve))
    const done = a.submit({ origin: ORIGIN, size: 9, root: root(9) })
    // The anchor has seen its tx in a block (depth 1 < 4): drop that block, and the tx with it, from the chain.
    const { txHash } = await mined
    const provider = new JsonRpcProvider(url)
    expect(await rpc(url, 'evm_revert', [snap])).toBe(true)
    expect(await provider.getTransactionReceipt(txHash)).toBeNull()
    await reorged
    const p = await mineWhile(url, done)
    expect(p.txHash).toBe(txHash)
    expect(await provider.getTransactionCount(new Wallet(FUNDED).address)).toBe(1)
    expect(await metric(registry, 'profichain_anchor_reorgs_total')).toContain('profichain_anchor_reorgs_total 1')
    await a.close()
  })

  it('RPC down for a while (before the first call, and again while waiting for depth): retried and counted, the same tx anchored; nothing lost', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const registry = new Registry()
    const a = createEthAnchor({ rpcUrl: url, privateKey: FUNDED, dir: join(await tempDir('anchor'), 'db'), confirmations: 3, pollMs: 50 }, { registry })
    await a.open()
    const failed = new Promise<AnchorError>((resolve) => a.once('failure', resolve))
    const mined = new Promise<{ txHash: string }>((resolve) => a.once('mined', resolve))
    const done = a.submit({ origin: ORIGIN, size: 3, root: root(3) })
    expect((await failed).code).toBe('ERR_ANCHOR_RPC')
    const first = await startChain(port)
    const { txHash } = await mined
    // Down again before the depth is reached; the node comes back without our tx (a fresh dev chain).
    const failedAgain = new Promise<AnchorError>((resolve) => a.once('failure', resolve))
    await first.close()
    expect((await failedAgain).code).toBe('ERR_ANCHOR_RPC')
    await startChain(port)
    const p = await mineWhile(url, done)
    expect(p).toMatchObject({ size: 3, txHash, nonce: 0 })
    expect(await new JsonRpcProvider(url).getTransaction(txHash)).not.toBeNull()
    expect(await metric(registry, 'profichain_anchor_failures_total')).toMatch(/reason="rpc"} [2-9]|reason="rpc"} \d{2,}/)
    await a.close()
  })

  it('insufficient funds: a clear error, counted, no crash; once funded the same anchor goes through', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    await startChain(port)
    const registry = new Registry()
    const a = createEthAnchor({ rpcUrl: url, privateKey: EMPTY, dir: join(await tempDir('anchor'), 'db'), confirmations: 2, pollMs: 50 }, { registry })
    await a.open()
    const err = (await a.submit({ origin: ORIGIN, size: 4, root: root(4) }).catch((e: unknown) => e)) as AnchorError
    expect(err.code).toBe('ERR_ANCHOR_FUNDS')
    expect(err.message).toContain(a.address)
    expect(err.message).toContain('fund it')
    expect(await metric(registry, 'profichain_anchor_failures_total')).toContain('reason="funds"} 1')
    expect(await a.inFlight()).toMatchObject({ size: 4 })
    const funder = new Wallet(FUNDED, new JsonRpcProvider(url))
    await (await funder.sendTransaction({ to: a.address, value: 10n ** 18n })).wait()
    const p = (await mineWhile(url, a.resume())) as AnchorProof
    expect(p).toMatchObject({ size: 4, nonce: 0 })
    expect(await a.inFlight()).toBeUndefined()
    await a.close()
  })

  it('restart mid-flight: the persisted tx is resumed (same hash, same nonce), never paid twice', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    await startChain(port)
    const dir = join(await tempDir('anchor'), 'db')
    const a = createEthAnchor({ rpcUrl: url, privateKey: FUNDED, dir, confirmations: 3, pollMs: 50 })
    await a.open()
    const submitted = new Promise<{ txHash: string }>((resolve) => a.once('submitted', resolve))
    const first = a.submit({ origin: ORIGIN, size: 7, root: root(7) })
    const { txHash } = await submitted
    await a.close()
    await expect(first).rejects.toMatchObject({ code: 'ERR_ANCHOR_STOPPED' })
    const b = createEthAnchor({ rpcUrl: url, privateKey: FUNDED, dir, confirmations: 3, pollMs: 50 })
    await b.open()
    expect(await b.inFlight()).toMatchObject({ origin: ORIGIN, size: 7 })
    // The next checkpoint's submit first finishes the one in flight, then anchors the new one.
    const p8 = await mineWhile(url, b.submit({ origin: ORIGIN, size: 8, root: root(8) }))
    const all = await b.anchors()
    expect(all.map((x) => x.size)).toEqual([8, 7])
    expect(all[1].txHash).toBe(txHash)
    expect(p8.nonce).toBe(1)
    expect(await new JsonRpcProvider(url).getTransactionCount(new Wallet(FUNDED).address)).toBe(2)
    await b.close()
  })
})

describe('devnet --anchor', () => {
  it('starts a local Ethereum chain and anchors; the receipt file gets an eth branch that verify checks with --eth-rpc and reports UNCHECKED without', async () => {
    const dir = join(await tempDir('adevnet'), 'd')
    const base = portBase()
    const rpcPort = await freePort()
    devnetChild = spawn(process.execPath, [CLI, 'devnet', '--dir', dir, '--anchor', '--anchor-port', String(rpcPort), '--thin', '0', '--block-time', '250', '--p2p-port', String(base), '--api-port', String(base + 100)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    devnetChild.stdout?.on('data', (d) => (out += d))
    devnetChild.stderr?.on('data', (d) => (out += d))
    const info = await waitFor('devnet.json', async () => {
      if (devnetChild!.exitCode !== null) throw new Error(`devnet exited: ${out}`)
      return readJson<{ anchor: string; nodes: Array<{ dataDir: string; inbox: string; api: string }> }>(join(dir, 'devnet.json')).catch(() => undefined)
    }, 150_000) // ganache + a node as child processes: over 60 s once on a CI machine busy with other test files
    expect(info.anchor).toBe(`http://127.0.0.1:${rpcPort}`)
    const [n] = info.nodes
    await writeFile(join(n.inbox, 'r.txt'), 'anchored record')
    // The record's block enters the block log, a checkpoint covers it, the anchor gets 2 confirmations, and
    // the node rewrites the receipt file with the eth branch.
    const receipt = join(n.dataDir, 'receipts', 'r.txt.chp.json')
    await waitFor('eth branch in the receipt file', async () => {
      const r = await readJson<{ branches: Array<{ branches?: Array<{ label: string }> }> }>(receipt).catch(() => undefined)
      return r?.branches[0].branches?.some((b) => b.label === 'eth_anchor_branch')
    }, 90_000, 200)
    const q = await fetch(`${n.api}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ publicAnchors { kind chainId txHash size confirmations } }' }) })
    const anchors = ((await q.json()) as { data: { publicAnchors: Array<{ kind: string; chainId: number; txHash: string }> } }).data.publicAnchors
    expect(anchors[0]).toMatchObject({ kind: 'eth', chainId: 1337 })
    const file = join(n.dataDir, 'processed', 'r.txt')
    // The native receipt carries the tx fields and the stated depth.
    const native = join(dir, 'r.native.json')
    expect((await cli(['proof', '--api', n.api, '--file', file, '--format', 'native', '--out', native])).code).toBe(0)
    const nat = await readJson<{ ethAnchors: Array<{ chainId: number; txHash: string; confirmations: number }> }>(native)
    expect(nat.ethAnchors[0]).toMatchObject({ chainId: 1337 })
    expect(nat.ethAnchors[0].confirmations).toBeGreaterThanOrEqual(2)
    // A receipt that names another tx for the anchor must fail the check.
    const forged = structuredClone(nat)
    forged.ethAnchors[0].txHash = `0x${'77'.repeat(32)}`
    const forgedFile = join(dir, 'r.forged.json')
    await writeFile(forgedFile, JSON.stringify(forged))
    const [checked, unchecked, nv, bad] = await Promise.all([
      cli(['verify', file, '--receipt', receipt, '--eth-rpc', info.anchor]),
      cli(['verify', file, '--receipt', receipt]),
      cli(['verify', file, '--receipt', native, '--genesis', join(n.dataDir, 'genesis.json'), '--eth-rpc', info.anchor]),
      cli(['verify', file, '--receipt', forgedFile, '--eth-rpc', info.anchor]),
    ])
    expect(checked.stdout).toMatch(/✓ eth anchor: checkpoint \d+ of .* in tx 0x[0-9a-f]{64}: on chain 1337 in block \d+/)
    expect(checked.code).toBe(0)
    expect(unchecked.stdout).toContain('UNCHECKED')
    expect(unchecked.code).toBe(3)
    expect(nv.stdout).toContain(`in tx ${nat.ethAnchors[0].txHash}: on chain 1337`)
    expect(nv.code).toBe(0)
    expect(bad.stdout).toContain('ERR_ANCHOR_CHECK')
    expect(bad.code).toBe(1)
    const metrics = await (await fetch(`${n.api}/metrics`)).text()
    expect(metrics).toMatch(/profichain_anchor_submissions_total [1-9]/)
    // The explorer on the full node lists the anchor's tx, and shows the receipt's eth step as not checked (never green).
    if (HAVE_CHROMIUM) {
      const v = await explorerAnchors(n.api, file, receipt)
      expect(v.label).toBe('Public anchors')
      expect(v.current).toBe('')
      expect(v.table).toContain(nat.ethAnchors[0].txHash)
      expect(v.table).toContain('eth 1337')
      expect(v.table).toMatch(/\d+ wei \(0\.\d+ ETH\)/)
      expect(v.steps).toEqual(Array(8).fill('ok'))
      expect(v.eth).toMatchObject({ hidden: false, status: 'unchecked', cls: 'step unchecked' })
      expect(v.eth.text).toContain('public anchor: not checked in the browser (use profichain verify --eth-rpc)')
      expect(v.eth.text).toContain(nat.ethAnchors[0].txHash)
      expect(v.outcome).toContain('public anchor is not checked in the browser')
      expect(v.blocked, 'requests to other hosts').toEqual([])
      expect(v.pageErrors, 'script errors in the page').toEqual([])
    }
    // Ctrl-C stops the nodes and the chain; a stopped node's proof carries the eth branch too.
    const exited = new Promise((r) => devnetChild!.once('exit', r))
    process.kill(-(devnetChild.pid as number), 'SIGINT')
    await exited
    const stopped = await cli(['proof', '--data-dir', n.dataDir, '--file', file, '--format', 'native'])
    expect(stopped.code).toBe(0)
    expect((JSON.parse(stopped.stdout) as { ethAnchors: Array<{ txHash: string }> }).ethAnchors[0].txHash).toBe(nat.ethAnchors[0].txHash)
  })
})
