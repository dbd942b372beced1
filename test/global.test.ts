import { createServer } from 'node:net'
import { createRequire } from 'node:module'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Broker, createBroker } from '@profichain/global'
import { createNode, loadConfig, type ProfichainNode } from '@profichain/node'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, readJson, tempDir, waitFor } from './helpers.js'

const require = createRequire(import.meta.url)
const { parse } = require('chainpoint-parse') as {
  parse: (o: unknown) => { branches: Array<{ anchors: Array<{ expected_value: string; uris?: string[] }>; branches?: Array<{ label?: string; anchors: Array<{ expected_value: string; anchor_id: string; uris?: string[] }> }> }> }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => res(p))
    })
  })
}

interface Company {
  name: string
  dir: string
  origin: string
  apiPort: number
  node?: ProfichainNode
}

/** A one-validator company: fast blocks (empty ones too), checkpoints every 300 ms at depth 1, the broker. */
async function company(name: string, brokerUrl: string): Promise<Company> {
  const dir = join(await tempDir(`global-${name}`), name)
  const apiPort = await freePort()
  const origin = `${name}.example/profichain/plant`
  const r = await cli(['init', '--data-dir', dir, '--network', `net-${name}`, '--origin', origin, '--api-port', String(apiPort), '--p2p-port', String(await freePort()), '--block-time', '250', '--line-mode'])
  expect(r.code, r.stderr).toBe(0)
  const g = await readJson<Record<string, unknown>>(join(dir, 'genesis.json'))
  await writeFile(join(dir, 'genesis.json'), `${JSON.stringify({ ...g, checkpoint: { depth: 1, intervalMs: 300 } }, null, 2)}\n`)
  let toml = await readFile(join(dir, 'config.toml'), 'utf8')
  toml = toml.replace('empty_blocks = false', 'empty_blocks = true').replace('# network = true', 'network = false')
  toml += `\n[broker]\nurl = "${brokerUrl}"\n`
  await writeFile(join(dir, 'config.toml'), toml)
  return { name, dir, origin, apiPort }
}

async function selfOf(c: Company): Promise<{ origin: string; vkeys: string[]; encryptionKey: string }> {
  const r = await cli(['partner', 'list', '--data-dir', c.dir, '--json'])
  expect(r.code, r.stderr).toBe(0)
  return (JSON.parse(r.stdout) as { self: { origin: string; vkeys: string[]; encryptionKey: string } }).self
}

async function partner(c: Company, other: Company): Promise<void> {
  const s = await selfOf(other)
  const r = await cli(['partner', 'add', '--data-dir', c.dir, '--name', other.name, '--origin', s.origin, ...s.vkeys.flatMap((v) => ['--vkey', v]), '--encryption-key', s.encryptionKey])
  expect(r.code, r.stderr).toBe(0)
  expect(r.stdout).toContain('profichain partner add')
}

async function start(c: Company): Promise<ProfichainNode> {
  const config = await loadConfig(join(c.dir, 'config.toml'))
  const node = await createNode({ config, logger: pino({ level: process.env.PROFICHAIN_TEST_LOG ?? 'silent' }) })
  await node.start()
  c.node = node
  return node
}

async function blockHashAt(c: Company, network: string, height: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${c.apiPort}/networks/${network}/blocks/${height}/hash`)
  return (await res.text()).trim()
}

type CrossReceipt = { branches: Array<{ branches?: unknown[] }> }

describe('global network: two companies countersign each other through a broker', () => {
  let broker: Broker
  let brokerPort: number
  const a: Company[] = []

  beforeAll(async () => {
    brokerPort = await freePort()
    broker = createBroker({ host: '127.0.0.1', port: brokerPort }, {})
    await broker.start()
    const url = `mqtt://127.0.0.1:${brokerPort}`
    const A = await company('alpha', url)
    const B = await company('beta', url)
    a.push(A, B)
    await partner(A, B)
    await partner(B, A)
    await start(A)
    await start(B)
  })

  afterAll(async () => {
    for (const c of a) await c.node?.stop()
    await broker?.stop()
  })

  it("a record on A gets a receipt that reaches B's chain (chainpoint-parse, verify), and the other way round; a broker restart loses nothing", async () => {
    const [A, B] = a
    await writeFile(join(A.dir, 'inbox', 'reading-a.json'), '{"t": 21.5}\n')
    await writeFile(join(B.dir, 'inbox', 'reading-b.json'), '{"t": 19.0}\n')
    // The broker goes away and comes back on the same port while the checkpoints and proofs are on their way.
    await waitFor('first checkpoint of A', async () => (await A.node?.checkpoints?.checkpoints.latest())?.checkpoint.size ?? 0 > 0, 20_000)
    await broker.stop()
    await new Promise((r) => setTimeout(r, 500))
    broker = createBroker({ host: '127.0.0.1', port: brokerPort }, {})
    await broker.start()

    for (const [from, to] of [
      [A, B],
      [B, A],
    ] as const) {
      const file = join(from.dir, 'receipts', `reading-${from.name[0]}.json.chp.json`)
      const receipt = await waitFor(
        `${from.name}'s receipt upgraded with ${to.name}'s branch`,
        async () => {
          const r = (await readJson<CrossReceipt>(file).catch(() => undefined)) as CrossReceipt | undefined
          return r?.branches?.[0]?.branches?.length ? r : undefined
        },
        35_000,
        200,
      )
      const parsed = parse(receipt)
      const nested = parsed.branches[0].branches?.[0]
      expect(nested).toBeDefined()
      const anchor = nested!.anchors[0]
      const toNetwork = `net-${to.name}`
      expect(anchor.uris?.[0]).toContain(`/networks/${toNetwork}/blocks/${anchor.anchor_id}/hash`)
      expect(anchor.expected_value).toBe(await blockHashAt(to, toNetwork, Number(anchor.anchor_id)))
      const processed = join(from.dir, 'processed', `reading-${from.name[0]}.json`)
      const v = await cli([
        'verify', processed, '--receipt', file,
        '--api', `http://127.0.0.1:${from.apiPort}`,
        '--genesis', join(from.dir, 'genesis.json'),
        '--partner-genesis', join(to.dir, 'genesis.json'),
        '--partner-api', `http://127.0.0.1:${to.apiPort}`,
      ])
      expect(v.code, v.stdout + v.stderr).toBe(0)
      expect(v.stdout).toContain(`cosigned by ${to.origin}`)
      expect(v.stdout).toMatch(new RegExp(`asked node http://127.0.0.1:${to.apiPort}: its canonical block ${anchor.anchor_id} of "${toNetwork}"`))
    }
  })
})
